"""Temporal consistency measures of video depth, on arrays.

- flicker: least-squares scale+shift of D_t onto D_{t-1}, then mean|s D_t + b - D_{t-1}| / mean|D_{t-1}|.
  Alignment removes a global scale/shift change, so flicker measures what alignment cannot explain.
- OPW (optical-flow-warped error, NVDS style): D_{t+1} is warped into frame t with the flow t->t+1;
  each pixel is weighted by M = exp(-alpha * ||I_t - warp(I_{t+1})||^2) (RGB in [0, 1], so a badly
  matched colour counts less) and by a validity mask (inside the image, forward-backward consistent
  flow, valid depth). Normalisation: OPW = sum(M V |D_t - warp(D_{t+1})|) / sum(M V) / mean(D_t over V),
  a unitless relative error, so clips at different depth ranges compare; unlike flicker it is not
  scale-aligned, so a global scale jump between frames shows up.
- drift relative to the first frame: the least-squares scale and shift of D_t onto D_0 (as the
  flicker fit, but against frame 0), and the robust median ratio median(D_t)/median(D_0). Both also
  move with the camera (the scene's true depth changes); noise shrinks the least-squares scale
  towards 0 (regression dilution), which the median ratio does not suffer. With ground truth, the
  per-frame scale median(D_t)/median(gt_t) isolates the model's own metric-scale drift.
- TAE (Video Depth Anything style): frame k's depth is back-projected with K, moved by the ground-truth
  relative pose into frame k+1 and projected; AbsRel of the reprojected depth against frame k+1's
  depth sampled at the landing point, in both directions, averaged.
"""
from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np

from analysis.flow import consistency_mask, optical_flow, sampling_maps, warp_with
from common.camera import backproject_grid as backproject


def _valid_depth(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0)


def fit_scale_shift(src: np.ndarray, dst: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(s, b) minimising sum (s*src + b - dst)^2 over mask (and finite values)."""
    src, dst = np.asarray(src), np.asarray(dst)
    if src.shape != dst.shape:
        raise ValueError(f"depth maps differ in shape: {src.shape} vs {dst.shape}")
    valid = np.isfinite(src) & np.isfinite(dst)
    if mask is not None:
        valid &= mask
    return fit_pixels(Pixels(src[valid].astype(np.float64)), Pixels(dst[valid].astype(np.float64)))


class Pixels:
    """The selected pixels of one depth map (1-D float64) and the sums the least-squares fit needs
    of them (mean, centred values, variance, mean magnitude), each computed on first use and kept.

    A video's frame takes part in three fits (flicker against the previous frame and against the
    next one, drift against the first frame); when every frame holds depth at every pixel, the three
    select the same pixels, so one Pixels per frame serves them all with the very same sums (the
    same operations on the same arrays), instead of selecting, converting and centring the frame
    three times."""

    def __init__(self, values: np.ndarray):
        self.values = values

    @cached_property
    def mean(self) -> np.float64:
        return self.values.mean()

    @cached_property
    def centred(self) -> np.ndarray:
        return self.values - self.mean

    @cached_property
    def variance(self) -> np.float64:
        return np.mean(self.centred**2)

    @cached_property
    def abs_mean(self) -> np.float64:
        return np.mean(np.abs(self.values))

    @classmethod
    def of_every_pixel(cls, depth: np.ndarray) -> Pixels:
        """Every pixel of a depth map in row-major order: what depth[mask] selects when the mask
        is all true."""
        return cls(np.asarray(depth).astype(np.float64, order="C").ravel())


def fit_pixels(x: Pixels, y: Pixels) -> tuple[float, float]:
    """fit_scale_shift of pixels already selected (x onto y, the same pixels of two maps)."""
    if x.values.size < 2:
        raise ValueError("fewer than 2 valid pixels to fit scale and shift")
    if x.variance <= 1e-12 * max(x.mean**2, 1e-12):  # constant source: scale undetermined, keep 1
        return 1.0, float(y.mean - x.mean)
    scale = np.mean(x.centred * y.centred) / x.variance
    return float(scale), float(y.mean - scale * x.mean)


def flicker(prev_depth: np.ndarray, depth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Scale-shift aligned frame-to-frame change (0 = a perfectly stable depth up to scale/shift)."""
    prev_depth, depth = np.asarray(prev_depth), np.asarray(depth)
    if prev_depth.shape != depth.shape:
        raise ValueError(f"depth maps differ in shape: {depth.shape} vs {prev_depth.shape}")
    valid = _valid_depth(prev_depth) & _valid_depth(depth)
    if mask is not None:
        valid &= mask
    return flicker_pixels(Pixels(prev_depth[valid].astype(np.float64)), Pixels(depth[valid].astype(np.float64)))


def flicker_pixels(prev: Pixels, current: Pixels) -> float:
    """flicker of pixels already selected (the same pixels of the previous and the current map)."""
    scale, shift = fit_pixels(current, prev)
    aligned = scale * current.values + shift
    return float(np.mean(np.abs(aligned - prev.values)) / prev.abs_mean)


def static_mask(flow: np.ndarray, max_motion_px: float = 0.5) -> np.ndarray:
    """Pixels that moved less than max_motion_px between the two frames."""
    return np.linalg.norm(flow, axis=-1) < max_motion_px


def opw_pair(
    depth_t: np.ndarray,
    depth_next: np.ndarray,
    rgb_t: np.ndarray,
    rgb_next: np.ndarray,
    flow: np.ndarray | None = None,
    flow_back: np.ndarray | None = None,
    alpha: float = 50.0,
    method: str = "dis",
) -> float:
    """OPW of one pair (see module doc). Without `flow`, flow t->t+1 and t+1->t are estimated and
    the forward-backward check masks occlusions; with a given `flow` the check runs only if
    `flow_back` is given too. Depth maps must be at the RGB resolution."""
    depth_t = np.asarray(depth_t, dtype=np.float32)
    if depth_t.shape != np.shape(depth_next) or depth_t.shape != np.shape(rgb_t)[:2]:
        raise ValueError(
            f"OPW needs depth and RGB at one size: depth {depth_t.shape}, next depth {np.shape(depth_next)}, rgb {np.shape(rgb_t)[:2]}"
        )
    if flow is None:
        flow = optical_flow(rgb_t, rgb_next, method)
        flow_back = optical_flow(rgb_next, rgb_t, method)
    maps = sampling_maps(flow)  # one set of sampling maps for the depth, the colours and the occlusion check
    inside = maps[2]
    warped_depth = warp_with(depth_next, maps, cv2.INTER_NEAREST)
    warped_rgb = warp_with(rgb_next, maps)
    colour_diff = np.asarray(rgb_t, dtype=np.float32) / 255.0
    colour_diff -= np.divide(warped_rgb, 255.0, out=warped_rgb)
    np.square(colour_diff, out=colour_diff)
    colour_err = colour_diff[..., 0] + colour_diff[..., 1] + colour_diff[..., 2]  # per channel: numpy sums a 3-long axis slowly
    weight = np.exp(-alpha * colour_err)
    valid = inside & _valid_depth(depth_t) & _valid_depth(warped_depth)
    if flow_back is not None:
        valid &= consistency_mask(flow, flow_back, maps=maps)
    weight = weight * valid
    total = weight.sum()
    if total <= 0:
        return float("nan")
    err = np.sum(weight * np.abs(depth_t - np.where(valid, warped_depth, 0.0))) / total
    return float(err / np.mean(depth_t[valid]))


def reproject(
    depth_src: np.ndarray, intrinsics: np.ndarray, pose_src: np.ndarray, pose_dst: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move every source pixel's 3-D point into the destination camera (poses camera-to-world).

    Returns (u, v, z): where each source pixel lands in the destination image, and its depth there.
    """
    points = backproject(depth_src, intrinsics)
    try:
        src_to_dst = np.linalg.inv(np.asarray(pose_dst, dtype=np.float64)) @ np.asarray(pose_src, dtype=np.float64)
    except np.linalg.LinAlgError:  # readers refuse such poses; this names the ground truth, never numpy's words
        raise ValueError("a ground-truth camera pose cannot be inverted (it is not a rigid motion)") from None
    moved = points @ src_to_dst[:3, :3].T + src_to_dst[:3, 3]
    z = moved[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = moved @ np.asarray(intrinsics, dtype=np.float64).T
        u = projected[..., 0] / z
        v = projected[..., 1] / z
    return u, v, z


def _sample(image: np.ndarray, u: np.ndarray, v: np.ndarray, interpolation: int) -> np.ndarray:
    return cv2.remap(np.asarray(image, dtype=np.float32), u.astype(np.float32), v.astype(np.float32), interpolation,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)  # fmt: skip


def visible_mask(
    gt_src: np.ndarray, gt_dst: np.ndarray, intrinsics: np.ndarray, pose_src: np.ndarray, pose_dst: np.ndarray, tol: float = 0.05
) -> np.ndarray:
    """Source pixels whose true 3-D point is seen (not occluded, inside the image) in the destination,
    judged from ground-truth depth: the reprojected depth matches the destination's within tol (relative)."""
    u, v, z = reproject(gt_src, intrinsics, pose_src, pose_dst)
    h, w = gt_dst.shape
    inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1) & (z > 0)
    target = _sample(gt_dst, np.where(inside, u, -1), np.where(inside, v, -1), cv2.INTER_NEAREST)
    return inside & _valid_depth(gt_src) & (target > 0) & (np.abs(z - target) < tol * np.maximum(target, 1e-6))


def _local_spread(depth: np.ndarray) -> np.ndarray:
    """(max - min) / min of depth over each pixel's 3x3 neighbourhood: large at depth edges."""
    depth = np.asarray(depth, dtype=np.float32)
    kernel = np.ones((3, 3), np.uint8)
    high = cv2.dilate(depth, kernel)
    low = cv2.erode(depth, kernel)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(low > 0, (high - low) / low, np.inf)


def tae_direction(
    depth_src: np.ndarray,
    depth_dst: np.ndarray,
    intrinsics: np.ndarray,
    pose_src: np.ndarray,
    pose_dst: np.ndarray,
    mask: np.ndarray | None = None,
    edge_tol: float = 0.05,
    surface_dst: np.ndarray | None = None,
) -> float:
    """AbsRel of source depth reprojected into the destination against the destination's depth there.

    Landing points next to a depth edge of `surface_dst` (ground truth when known, else depth_dst)
    are skipped: bilinear sampling across an edge would blend two surfaces."""
    u, v, z = reproject(depth_src, intrinsics, pose_src, pose_dst)
    h, w = depth_dst.shape
    inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1) & (z > 0)
    u, v = np.where(inside, u, -1), np.where(inside, v, -1)
    reference = _sample(depth_dst, u, v, cv2.INTER_LINEAR)
    # A landing point counts only if its neighbours all hold depth and lie on one surface, so
    # bilinear sampling never blends across a hole or a depth edge.
    surface = depth_dst if surface_dst is None else surface_dst
    smooth = _valid_depth(depth_dst) & _valid_depth(surface) & (_local_spread(surface) < edge_tol)
    support = _sample(smooth.astype(np.float32), u, v, cv2.INTER_LINEAR)
    valid = inside & _valid_depth(depth_src) & (support > 0.999) & (reference > 0)
    if mask is not None:
        valid &= mask
    if not valid.any():
        return float("nan")
    return float(np.mean(np.abs(z[valid] - reference[valid]) / reference[valid]))


def tae_pair(
    depth_k: np.ndarray,
    depth_k1: np.ndarray,
    intrinsics: np.ndarray,
    pose_k: np.ndarray,
    pose_k1: np.ndarray,
    gt_k: np.ndarray | None = None,
    gt_k1: np.ndarray | None = None,
    occlusion_tol: float = 0.05,
) -> float:
    """TAE of frames k and k+1: both reprojection directions averaged. With ground-truth depth,
    only points truly visible in the other frame count (occlusions are excluded)."""
    mask_fw = mask_bw = None
    if gt_k is not None and gt_k1 is not None:
        mask_fw = visible_mask(gt_k, gt_k1, intrinsics, pose_k, pose_k1, occlusion_tol)
        mask_bw = visible_mask(gt_k1, gt_k, intrinsics, pose_k1, pose_k, occlusion_tol)
    forward = tae_direction(depth_k, depth_k1, intrinsics, pose_k, pose_k1, mask_fw, surface_dst=gt_k1)
    backward = tae_direction(depth_k1, depth_k, intrinsics, pose_k1, pose_k, mask_bw, surface_dst=gt_k)
    finite = [v for v in (forward, backward) if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def least_squares_scale(preds: list[np.ndarray], gts: list[np.ndarray]) -> float:
    """One scale s minimising sum (s*pred - gt)^2 over all valid pixels of a clip."""
    num = den = 0.0
    for pred, gt in zip(preds, gts):
        valid = _valid_depth(gt) & _valid_depth(pred)
        p = np.asarray(pred, dtype=np.float64)[valid]
        num += float(np.dot(p, np.asarray(gt, dtype=np.float64)[valid]))
        den += float(np.dot(p, p))
    if den <= 0:
        raise ValueError("no valid pixels to align the clip's scale to ground truth")
    return num / den


def temporal_alignment_error(
    preds: list[np.ndarray],
    intrinsics: np.ndarray,
    poses: list[np.ndarray],
    gts: list[np.ndarray] | None = None,
    align: str = "clip",
) -> tuple[float, list[float]]:
    """TAE of a whole clip held in memory: (mean, per-pair values). align: "clip" scales all
    predictions by one least-squares factor to ground truth first (needs gts), "none" keeps them."""
    if len(preds) != len(poses) or len(preds) < 2:
        raise ValueError(f"TAE needs at least 2 frames with one pose each, got {len(preds)} depths and {len(poses)} poses")
    if align not in ("clip", "none"):
        raise ValueError(f"unknown TAE alignment {align!r}: use 'clip' or 'none'")
    if align == "clip":
        if gts is None:
            raise ValueError("clip alignment needs ground-truth depth; pass gts or use align='none'")
        scale = least_squares_scale(preds, gts)
        preds = [scale * np.asarray(p, dtype=np.float64) for p in preds]
    values = []
    for k in range(len(preds) - 1):
        gt_k, gt_k1 = (gts[k], gts[k + 1]) if gts is not None else (None, None)
        values.append(tae_pair(preds[k], preds[k + 1], intrinsics, poses[k], poses[k + 1], gt_k, gt_k1))
    finite = [v for v in values if np.isfinite(v)]
    return (float(np.mean(finite)) if finite else float("nan")), values
