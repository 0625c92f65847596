"""Depth inference: RGB frames (any size, uint8) -> float32 depth maps in metres at the input size.

API:
    predictor = load_predictor("synthetic-tiny")       # preset, checkpoint directory or Hub repo id
    depth = predictor.predict(rgb)                      # (H, W, 3) uint8 -> (H, W) float32 metres
    depths = predictor.predict([rgb1, rgb2])            # lists are batched
    zeros = predictor.predict(rgb, source="zeros")      # a text-side ablation, for this call only
    print(predictor.info.message)                       # ModelInfo: which weights, trained or not

A predictor holds no per-request state: the text-side source is an argument of `predict`, so
threads sharing one predictor (the app's users) never see each other's choices.

Geometry (one code path for the app, the CLI, evaluation and training validation: all of them
call `predict`). The default, "grid", runs the model once per frame at the frame's own patch grid:
with `scale="fit"` (pictures of unknown scale: the app, the CLI, video) the frame is resized,
keeping its aspect ratio, to about the area of the training input (240x320 for the bundled model),
each side snapped to a multiple of the patch stride, so a 16:9 frame becomes 208x368 (13x23
patches) and a 4:3 frame exactly the training input; with `scale="native"` (data sets whose
training crops were taken at native resolution: NYU 416x544, KITTI 352x704) it keeps its size,
snapped to the stride, and the whole frame goes through in one pass, as BTS and AdaBins evaluate
full frames. CLIP's ViT positional embeddings are resized (bicubic, from CLIP's own pretraining
grid) to whatever grid the input has, by the same function in training and here, so a 13x23 grid
gets the table a 15x20 training grid got, stretched to its shape. The depth map is resized back
to the frame's own size.

The other geometries, selectable with `geometry=` (or `--geometry`), were measured against it
(benchmarks/bench_seams.py, docs/seams.md): "windows" covers the frame with evenly spaced
overlapping windows of the training size and averages them (each window predicts its own scale,
so every join is a straight edge: seam ratios 4-5x those of the same photos at 4:3); "blend"
aligns each window's scale and shift to its overlap and feathers the joins; "letterbox" pads the
frame with grey to the training aspect ratio and crops the depth back (no seams, but the frame gets
fewer pixels and the model sees the padding).

CLI:
    python -m mirror_model.predict --model synthetic-tiny --input examples/ --out outputs/depth
writes NAME.npy (float32 metres), NAME_depth.png (16-bit millimetres) and NAME_color.png.
"""
from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.image_io import load_rgb, to_rgb_uint8
from common.validate import MAX_PIXELS_ENV, default_max_pixels, number_argument

from . import checkpoint as ckpt
from . import clip_backbone, presets, text_sources
from .model import MirrorDepth, build_mirror_depth
from .model_info import ModelInfo, describe_model
from .zeroshot import build_zeroshot

log = logging.getLogger(__name__)

SCALES = ("fit", "native")
GEOMETRIES = ("grid", "windows", "blend", "letterbox")
DEFAULT_GEOMETRY = "grid"  # chosen by measurement: benchmarks/bench_seams.py, docs/seams.md
LETTERBOX_GREY = 0.5  # the padding colour of the letterbox geometry, in [0, 1]
PRECISIONS = ("fp32", "int8")
# Chosen by measurement (benchmarks/bench_inference_options.py, docs/mirror-depth.md "Sizes and speed"):
# on a CPU, int8 dynamic quantisation of the image tower's MLPs; elsewhere fp32.
CPU_PRECISION = "int8"


def window_starts(length: int, window: int) -> list[int]:
    """Evenly spaced starts of `window`-long windows covering `length` (one window if it fits)."""
    if length <= window:
        return [0]
    count = -(-(length - window) // window) + 1  # the fewest windows that cover the length
    return [round(i * (length - window) / (count - 1)) for i in range(count)]


def grid_size(frame_hw: tuple[int, int], input_size: tuple[int, int], stride: int, scale: str = "fit") -> tuple[int, int]:
    """(H, W) a frame is resized to for one pass of the model at the frame's own patch grid.

    "fit": the frame's aspect ratio at about the area of `input_size` (the training input), each
    side rounded to a multiple of `stride`; a frame with the input's aspect ratio gets exactly the
    input size when that is a multiple of the stride (240x320 at stride 16). "native": the frame's
    own size rounded to the stride. At least one stride per side. (Depth Anything V2's
    `infer_image` also keeps the aspect ratio and snaps to the patch size.)"""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    height, width = frame_hw
    if scale == "fit":
        aspect = width / height
        height = math.sqrt(input_size[0] * input_size[1] / aspect)
        width = height * aspect
    return tuple(max(stride, round(side / stride) * stride) for side in (height, width))


@dataclass(frozen=True)
class Plan:
    """How one frame goes through the model: resized to `size`, placed at `offset` on a `canvas`
    (larger than `size` only for the letterbox), the canvas cut into `window`-sized model inputs at
    `corners`, and their depths joined by `join` ("mean" or "aligned")."""

    size: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int]
    window: tuple[int, int]
    corners: tuple[tuple[int, int], ...]
    join: str = "mean"


def feather_weights(window: tuple[int, int]) -> torch.Tensor:
    """(h, w) tent weights: largest at the window's centre, falling linearly towards its edges
    (never 0), so a join fades from one window to the next instead of stepping."""
    ramps = [torch.minimum(torch.arange(n) + 0.5, n - 0.5 - torch.arange(n)) / (n / 2) for n in window]
    return ramps[0][:, None] * ramps[1][None, :]


def _fit_scale_shift(depth: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Least-squares s, t with s * depth + t ~ target (1-D tensors); (1, 0) when degenerate or s <= 0."""
    if depth.numel() < 2 or float(depth.std()) == 0.0:
        return 1.0, 0.0
    design = torch.stack([depth, torch.ones_like(depth)], dim=1).double()
    solution = torch.linalg.lstsq(design, target.double()[:, None]).solution[:, 0]
    scale, shift = float(solution[0]), float(solution[1])
    return (scale, shift) if scale > 0 else (1.0, 0.0)


def join_aligned(depths: list[torch.Tensor], corners: list[tuple[int, int]], canvas: tuple[int, int]) -> torch.Tensor:
    """Window depths (B, h, w) at `corners` -> (B, *canvas): each window is fitted (scale and shift,
    least squares) onto what the windows before it left in their overlap, then all are blended with
    feathered weights; finally the whole map is rescaled to the median of the plain average, so the
    metric scale stays the windows' consensus rather than the first window's."""
    batch, (win_h, win_w) = depths[0].shape[0], depths[0].shape[-2:]
    weights = feather_weights((win_h, win_w))
    total = torch.zeros(batch, *canvas)
    weight_sum = torch.zeros(canvas)
    plain = torch.zeros(batch, *canvas)
    count = torch.zeros(canvas)
    for depth, (top, left) in zip(depths, corners):
        area = (slice(top, top + win_h), slice(left, left + win_w))
        plain[(slice(None), *area)] += depth
        count[area] += 1
        covered = weight_sum[area] > 0
        aligned = depth.clone()
        if covered.any():
            for b in range(batch):
                mosaic = total[b][area][covered] / weight_sum[area][covered]
                scale, shift = _fit_scale_shift(depth[b][covered], mosaic)
                # a negative shift must not push the nearest pixels to or below zero
                aligned[b] = (scale * depth[b] + shift).clamp_min(float(depth[b].min()) * 0.5)
        total[(slice(None), *area)] += aligned * weights
        weight_sum[area] += weights
    joined = total / weight_sum
    plain = plain / count
    for b in range(batch):
        joined[b] *= plain[b].median() / joined[b].median()
    return joined


HUB_REPO_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class DepthPredictor:
    """Wraps a depth model (MirrorDepth or ZeroShotDepth) with resizing, batching and its ModelInfo."""

    def __init__(self, model: nn.Module, info: ModelInfo, device: str | torch.device = "cpu", batch_size: int = 8,
                 geometry: str = DEFAULT_GEOMETRY, precision: str = "fp32"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.precision = precision  # what load_predictor made of the model (PRECISIONS); a label here
        self.info = info
        self.batch_size = max(1, int(batch_size))
        self.input_size: tuple[int, int] = tuple(model.config.input_size)
        self.max_depth: float = float(model.config.max_depth)
        self.stride: int = int(model.stride)
        self.geometry = self.check_geometry(geometry)

    @property
    def kind(self) -> str:
        return self.info.kind

    @staticmethod
    def check_geometry(geometry: str) -> str:
        if geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
        return geometry

    def check_source(self, source: str | None) -> str | None:
        """The text-side source a call will use (None for zero-shot models); a ValueError otherwise."""
        if not isinstance(self.model, MirrorDepth):
            if source not in (None, "learned"):
                raise ValueError(f"model '{self.info.name}' is a zero-shot baseline; it has no mirror to swap")
            return None
        return text_sources.check_source(source or self.info.default_source or "learned")

    def plan(self, frame_hw: tuple[int, int], scale: str = "fit", geometry: str | None = None) -> Plan:
        """How a frame of `frame_hw` (H, W) goes through the model (see the module's notes on geometry)."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        geometry = self.check_geometry(geometry or self.geometry)
        (height, width), (win_h, win_w) = frame_hw, self.input_size
        if geometry == "grid":
            size = grid_size(frame_hw, self.input_size, self.stride, scale)
            return Plan(size, size, (0, 0), size, ((0, 0),))
        if geometry == "letterbox":
            if scale != "fit":
                raise ValueError("the letterbox geometry resizes the frame to fit one window; use scale='fit'")
            factor = min(win_h / height, win_w / width)
            size = (min(win_h, max(1, round(height * factor))), min(win_w, max(1, round(width * factor))))
            offset = ((win_h - size[0]) // 2, (win_w - size[1]) // 2)
            return Plan(size, (win_h, win_w), offset, (win_h, win_w), ((0, 0),))
        factor = max(win_h / height, win_w / width) if scale == "fit" else 1.0
        size = (max(win_h, round(height * factor)), max(win_w, round(width * factor)))
        corners = tuple((top, left) for top in window_starts(size[0], win_h) for left in window_starts(size[1], win_w))
        return Plan(size, size, (0, 0), (win_h, win_w), corners, "aligned" if geometry == "blend" else "mean")

    def _run_plan(self, images: torch.Tensor, plan: Plan, source: str | None) -> torch.Tensor:
        """(B, 3, *plan.size) images -> (B, *plan.size) depth, through the plan's windows and join."""
        if plan.canvas != plan.size:  # letterbox: a grey canvas with the frame at its offset
            canvas = torch.full((images.shape[0], 3, *plan.canvas), LETTERBOX_GREY, device=images.device)
            top, left = plan.offset
            canvas[..., top : top + plan.size[0], left : left + plan.size[1]] = images
            images = canvas
        win_h, win_w = plan.window
        depths = []
        for top, left in plan.corners:
            crop = images[..., top : top + win_h, left : left + win_w]
            with torch.inference_mode():
                out = self.model(crop) if source is None else self.model(crop, source=source)
            depths.append(out[:, 0].float().cpu())
        if len(depths) == 1:
            joined = depths[0]
        elif plan.join == "aligned":
            joined = join_aligned(depths, list(plan.corners), plan.canvas).clamp_max(self.max_depth)
        else:
            total = torch.zeros(images.shape[0], *plan.canvas)
            count = torch.zeros(plan.canvas)
            for depth, (top, left) in zip(depths, plan.corners):
                total[:, top : top + win_h, left : left + win_w] += depth
                count[top : top + win_h, left : left + win_w] += 1
            joined = total / count
        top, left = plan.offset
        return joined[:, top : top + plan.size[0], left : left + plan.size[1]]

    def _resize(self, image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
        import cv2

        height, width = size_hw
        if image.shape[:2] == (height, width):
            return image
        shrinking = image.shape[0] * image.shape[1] > height * width
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def predict(
        self, rgb: np.ndarray | list[np.ndarray], source: str | None = None, scale: str = "fit",
        geometry: str | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """(H, W, 3) uint8 -> (H, W) float32 metres; a list of frames -> a list of maps (batched).

        `source` picks the text side for this call (text_sources.SOURCES); None uses the predictor's
        default (the learned mirror unless it was loaded with another). `scale` is "fit" or
        "native" and `geometry` one of GEOMETRIES, None for the predictor's own (see the module's
        notes on geometry)."""
        source = self.check_source(source)
        single = isinstance(rgb, np.ndarray)
        frames = [rgb] if single else list(rgb)
        for index, frame in enumerate(frames):
            if not isinstance(frame, np.ndarray):
                raise ValueError(f"frame {index}: expected a numpy array (H, W, 3) uint8, got {type(frame).__name__}")
        frames = [to_rgb_uint8(frame, name=f"frame {i}") for i, frame in enumerate(frames)]
        depths: list[np.ndarray | None] = [None] * len(frames)
        groups: dict[Plan, list[int]] = {}  # frames with one plan run as one batch
        for index, frame in enumerate(frames):
            groups.setdefault(self.plan(frame.shape[:2], scale, geometry), []).append(index)
        for plan, indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                batch = np.stack([self._resize(frames[i], plan.size) for i in chunk])
                images = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
                for i, depth in zip(chunk, self._run_plan(images, plan, source).numpy()):
                    depths[i] = self._resize(depth, frames[i].shape[:2]).astype(np.float32, copy=False)
        return depths[0] if single else depths


# ---------------------------------------------------------------- loading

def _pick_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' requested but CUDA is not available here; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device '{device}': use cpu, cuda or cuda:N") from None


def _from_checkpoint_dir(name: str, directory: Path, weights_from: str, untrained: bool, clip_weights: str | None,
                         source: str):
    card = ckpt.read_card(directory)
    if untrained:
        from .model import MirrorDepthConfig

        config = MirrorDepthConfig.from_dict(card["config"])
        model = build_mirror_depth(config, seed=presets.TINY_SEED, clip_weights=clip_weights)
        info = describe_model(name, model, weights_from="untrained", trained=False, card=card, default_source=source,
                              where=f"config of {_shown_path(directory)}, weights not loaded on request")
        return model, info
    model = ckpt.load_checkpoint(directory, clip_weights=clip_weights)
    trained = bool(card.get("trained", False))
    if not trained:
        log.warning("%s: checkpoint %s holds an UNTRAINED model", name, _shown_path(directory))
    info = describe_model(name, model, weights_from=weights_from if trained else "untrained", trained=trained, card=card,
                          where=_shown_path(directory), default_source=source)
    return model, info


def _shown_path(directory: Path) -> str:
    """Bundled checkpoints are named relative to the project, so messages read the same everywhere."""
    try:
        return str(Path(directory).resolve().relative_to(presets.REPO_ROOT))
    except ValueError:
        return str(directory)


HUB_FILES = (ckpt.CARD_FILE, ckpt.MODEL_FILE, ckpt.CLIP_FILE)  # all a checkpoint holds; nothing else is fetched
DEFAULT_HUB_MAX_BYTES = 1 << 30


def _download_from_hub(repo_id: str, max_bytes: int | None = DEFAULT_HUB_MAX_BYTES) -> Path:
    """A Hub checkpoint's files (card.json, model.safetensors, clip.safetensors; nothing else),
    from the local cache or, when the Hub is reachable and their total size is under `max_bytes`,
    downloaded."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(HUB_FILES), local_files_only=True))
    except Exception:  # not cached: try the network below
        pass
    if not clip_backbone.hub_reachable():
        raise ValueError(
            f"'{repo_id}' is not a preset or local directory, and the Hugging Face Hub is unreachable to fetch it; "
            f"presets: {', '.join(presets.PRESETS)}"
        )
    try:
        from huggingface_hub import HfApi

        siblings = HfApi().model_info(repo_id, files_metadata=True).siblings or []
    except Exception as err:
        raise ValueError(f"could not find '{repo_id}' on the Hugging Face Hub ({type(err).__name__})") from err
    sizes = {s.rfilename: int(s.size or 0) for s in siblings if s.rfilename in HUB_FILES}
    if ckpt.CARD_FILE not in sizes or ckpt.MODEL_FILE not in sizes:
        raise ValueError(f"'{repo_id}' is not a mirror checkpoint (it needs {ckpt.CARD_FILE} and {ckpt.MODEL_FILE})")
    total = sum(sizes.values())
    if max_bytes and total > max_bytes:
        raise ValueError(f"'{repo_id}' is {total / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(HUB_FILES)))
    except Exception as err:
        raise ValueError(f"could not download '{repo_id}' from the Hugging Face Hub ({type(err).__name__})") from err


def load_predictor(
    spec: str = presets.DEFAULT_PRESET,
    device: str | None = None,
    mirror_source: str = "learned",
    untrained: bool = False,
    clip_weights: str | None = None,
    batch_size: int = 8,
    hub_max_bytes: int | None = DEFAULT_HUB_MAX_BYTES,
    geometry: str = DEFAULT_GEOMETRY,
    precision: str | None = "fp32",
) -> DepthPredictor:
    """A ready predictor for a preset name, a checkpoint directory or a Hugging Face Hub repo id.

    `untrained=True` builds a mirror model's architecture from its seed without trained weights
    (a reference for ablations). `clip_weights` is a local CLIP weights file for pretrained CLIPs.
    A Hub repo id fetches only the checkpoint's files, at most `hub_max_bytes` in all.
    `geometry` is how frames of any aspect ratio meet the model (GEOMETRIES; module notes).
    `precision` (PRECISIONS) is how a mirror model's image tower computes: "fp32", or "int8" (its
    MLPs dynamically quantised, CPU only: clip_backbone.quantize_image_tower_int8); None picks
    CPU_PRECISION on a CPU and fp32 elsewhere (the app and the predict CLI: inference for users).
    The default is fp32, so every evaluation and study reproduces its published figures exactly.
    Zero-shot baselines always run in fp32.
    """
    text_sources.check_source(mirror_source)
    DepthPredictor.check_geometry(geometry)
    target = _pick_device(device)
    if precision is None:
        precision = CPU_PRECISION if target.type == "cpu" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "int8" and target.type != "cpu":
        raise ValueError(f"precision 'int8' runs on a CPU only, not on device '{target}'; use fp32 there")
    if spec in presets.PRESETS:
        preset = presets.get_preset(spec)
        if preset.kind == "zeroshot":
            if mirror_source != "learned":
                raise ValueError(f"model '{spec}' is a zero-shot baseline; it has no mirror to swap")
            model = build_zeroshot(preset.zeroshot, seed=preset.seed, clip_weights=clip_weights)
            # A CLIP pretrained by this project (checkpoints/) counts as bundled weights, not as untrained.
            origins = {"open_clip": "open_clip", "file": "file", "project": "bundled"}
            origin = origins.get(model.clip_info.weights_from if model.clip_info else "", "untrained")
            info = describe_model(spec, model, weights_from=origin, trained=origin != "untrained",
                                  description=preset.description, default_source=None,
                                  card={"kind": "zeroshot", "config": model.config.to_dict(), "bins_m": list(model.config.bins_m())})
            if not info.trained:
                log.warning("%s", info.message)
            return DepthPredictor(model, info, target, batch_size, geometry)  # fp32: the baseline as published
        if not untrained and ckpt.has_weights(preset.checkpoint_dir):
            model, info = _from_checkpoint_dir(spec, preset.checkpoint_dir, "bundled", False, clip_weights, mirror_source)
        else:
            why = "requested" if untrained else "no bundled weights yet"
            model = build_mirror_depth(preset.fallback_config, seed=preset.seed, clip_weights=clip_weights)
            info = describe_model(spec, model, weights_from="untrained", trained=False, where=why, default_source=mirror_source)
            log.warning("%s", info.message)
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            model, info = _from_checkpoint_dir(path.name, path, "file", untrained, clip_weights, mirror_source)
        elif path.exists():
            raise ValueError(f"'{spec}' is a file; --model takes a preset, a checkpoint directory or a Hub repo id")
        elif HUB_REPO_PATTERN.match(spec) and not spec.startswith((".", "/", "~")):
            local = _download_from_hub(spec, hub_max_bytes)
            model, info = _from_checkpoint_dir(spec, local, "hub", untrained, clip_weights, mirror_source)
        else:
            raise ValueError(
                f"'{spec}' is not a preset ({', '.join(presets.PRESETS)}), an existing checkpoint directory "
                f"or a Hugging Face Hub repo id (owner/name)"
            )
    if precision == "int8":
        clip_backbone.quantize_image_tower_int8(model.clip)  # the text side (text tower, cached) stays fp32
    return DepthPredictor(model, info, target, batch_size, geometry, precision)


# ---------------------------------------------------------------- CLI

def _input_files(path: Path, pattern: str) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{path}: no files matching '{pattern}'")
        return files
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    return [path]


def output_stems(files: list[Path]) -> dict[Path, str]:
    """A distinct output name for every input: its stem, or, where stems clash (a.png and a.jpg, or
    A.png and a.png on a case-insensitive disk), stem_suffix; a numbered name if even that is taken."""
    counts: dict[str, int] = {}
    for path in files:
        counts[path.stem.casefold()] = counts.get(path.stem.casefold(), 0) + 1
    taken: set[str] = set()
    names: dict[Path, str] = {}
    for path in files:
        name = path.stem if counts[path.stem.casefold()] == 1 else f"{path.stem}_{path.suffix.lstrip('.')}"
        candidate, number = name, 2
        while candidate.casefold() in taken:
            candidate, number = f"{name}_{number}", number + 1
        taken.add(candidate.casefold())
        names[path] = candidate
    return names


def write_outputs(out_dir: Path, stem: str, depth: np.ndarray) -> list[Path]:
    """NAME.npy (float32 metres), NAME_depth.png (uint16 mm) and NAME_color.png (near = warm)."""
    import cv2

    from common.depth_io import colorize_depth, write_depth_png

    out_dir.mkdir(parents=True, exist_ok=True)
    npy = out_dir / f"{stem}.npy"
    np.save(npy, depth.astype(np.float32))
    png = write_depth_png(out_dir / f"{stem}_depth.png", depth)
    color = out_dir / f"{stem}_color.png"
    if not cv2.imwrite(str(color), cv2.cvtColor(colorize_depth(depth), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {color}")
    return [npy, png, color]


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(
        prog="python -m mirror_model.predict", description="Predict metric depth for images with a mirror or zero-shot model."
    )
    parser.add_argument("--model", default=presets.DEFAULT_PRESET,
                        help=f"preset ({', '.join(presets.PRESETS)}), checkpoint directory or Hub repo id")
    parser.add_argument("--input", required=True, help="an image file or a directory of images")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--mirror-source", default="learned", choices=text_sources.SOURCES, help="text-side ablation source")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--geometry", default=DEFAULT_GEOMETRY, choices=GEOMETRIES,
                        help="how a frame of any aspect ratio meets the model: grid = one pass at the frame's own patch "
                        "grid (default); windows = averaged training-size windows; blend = windows aligned and feathered; "
                        "letterbox = padded to the training aspect ratio")
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help=f"image tower arithmetic: fp32, or int8 (dynamic quantisation, CPU only); default {CPU_PRECISION} "
                        "on a CPU, fp32 elsewhere")
    parser.add_argument("--batch-size", type=number_argument(minimum=1, maximum=1024, integer=True), default=8)
    parser.add_argument("--max-pixels", type=number_argument(minimum=0, integer=True), default=None,
                        help=f"refuse images with more pixels than this, read from the file header before decoding "
                        f"(default {default_max_pixels():,} or {MAX_PIXELS_ENV}; 0 = no limit)")
    parser.add_argument("--pattern", default="*", help="glob for directory input (default: every file)")
    parser.add_argument(clip_backbone.WEIGHTS_FLAG, dest="clip_weights", default=None,
                        help=f"local CLIP weights file (or set {clip_backbone.WEIGHTS_ENV})")
    parser.add_argument("--untrained", action="store_true", help="use the architecture without trained weights")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    max_pixels = default_max_pixels() if args.max_pixels is None else (args.max_pixels or None)
    hint = " (or raise --max-pixels)"
    try:
        if any(part.exists() and not part.is_dir() for part in (Path(args.out), *Path(args.out).parents)):
            raise ValueError(f"--out {Path(args.out).name}: a file stands where the output folder would be")
        files = _input_files(Path(args.input), args.pattern)
        if not Path(args.input).is_dir():
            load_rgb(files[0], max_pixels, hint)  # a bad single image fails before the model loads
        predictor = load_predictor(
            args.model, args.device, args.mirror_source, args.untrained, args.clip_weights, args.batch_size,
            geometry=args.geometry, precision=args.precision,
        )
    except (ValueError, FileNotFoundError, clip_backbone.WeightsUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"model: {predictor.info.message}")
    if predictor.kind == "mirror":
        print(f"mirror source: {predictor.info.default_source}")
    if not predictor.info.trained:
        print("WARNING: this model is UNTRAINED; its depth maps are not meaningful.", file=sys.stderr)

    out_dir = Path(args.out)
    single = not Path(args.input).is_dir()
    written, skipped = 0, 0
    stems = output_stems(files)
    with tqdm(total=len(files), desc="depth", unit="image", disable=single) as progress:
        for start in range(0, len(files), predictor.batch_size):
            batch: list[tuple[str, np.ndarray]] = []
            for path in files[start : start + predictor.batch_size]:
                try:
                    batch.append((stems[path], load_rgb(path, max_pixels, hint)))
                except (ValueError, OSError, MemoryError) as err:  # unreadable, too large, vanished, no permission
                    reason = str(err) if isinstance(err, ValueError) else f"{path}: could not be read ({type(err).__name__})"
                    tqdm.write(f"warning: skipped {reason}", file=sys.stderr)
                    skipped += 1
            if not batch:
                progress.update(min(predictor.batch_size, len(files) - start))
                continue
            depths = predictor.predict([image for _, image in batch])
            for (stem, _), depth in zip(batch, depths):
                write_outputs(out_dir, stem, depth)
                written += 1
            progress.update(min(predictor.batch_size, len(files) - start))
    if not written:
        print(f"error: {args.input}: none of the {len(files)} files is a readable image", file=sys.stderr)
        return 2
    print(f"wrote {written} depth maps to {out_dir}" + (f" (skipped {skipped} unreadable files)" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
