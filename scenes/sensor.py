"""A camera model for rendered colour images: what a real camera adds between the scene's light and
the file, so a model trained on renders meets the blur, noise and compression of photographs.

`apply_sensor(rgb, rng, config)` takes a rendered (H, W, 3) uint8 image (display-encoded with the
renderer's 2.2 gamma), works in linear light and returns the new image with a JSON-serialisable
record of what it applied. Depth is never touched: every effect here changes colour only, and
none moves a pixel's content more than a blur radius.

Order, as in a camera: optics (defocus, motion blur during the exposure, vignetting), exposure
gain with saturation at full well, sensor noise, white balance, display encoding, JPEG. Noise is
Poisson-Gaussian (Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for
single-image raw-data", IEEE TIP 2008): a signal x in [0, 1] is read as a * Poisson(x / a) plus
Gaussian read noise of standard deviation b, so its variance is a * x + b^2.

Every effect happens with its own probability; its parameters are drawn whether it happens or not,
so one seed gives the same parameters under any probabilities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from .photo_manifest import to_encoded, to_linear


@dataclass(frozen=True)
class SensorConfig:
    """Ranges (low, high) each effect's parameter is drawn from, uniformly unless noted, and the
    probability `p_*` that the effect is applied. Defaults aim at indoor phone and webcam pictures."""

    exposure_ev: tuple[float, float] = (-0.7, 0.7)  # stops; linear gain 2**ev
    p_exposure: float = 0.8
    white_balance: float = 0.12  # red and blue gains are exp(U(-w, w)) relative to green
    p_white_balance: float = 0.7
    vignetting: tuple[float, float] = (0.05, 0.4)  # share of light lost in the corners (1 - v r^2)
    p_vignetting: float = 0.5
    defocus_px: tuple[float, float] = (0.6, 2.0)  # Gaussian sigma, or disc radius, in pixels
    p_defocus: float = 0.2
    disc_share: float = 0.5  # of defocus blurs, those with a disc kernel (a lens aperture) instead of a Gaussian
    motion_px: tuple[float, float] = (2.0, 8.0)  # streak length in pixels, any direction
    p_motion: float = 0.15
    shot_noise: tuple[float, float] = (1e-4, 4e-3)  # a: variance per unit linear signal (log-uniform)
    read_noise: tuple[float, float] = (5e-4, 5e-3)  # b: standard deviation in linear units (log-uniform)
    p_noise: float = 0.9
    jpeg_quality: tuple[int, int] = (60, 95)
    p_jpeg: float = 0.5

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("p_") or field.name == "disc_share":
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{field.name} is a probability and must be within 0..1, got {value}")
            elif isinstance(value, tuple):
                low, high = value
                if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                    raise ValueError(f"{field.name} must be a finite (low, high) range with low <= high, got {value}")
        positive = {"vignetting": (0.0, 1.0), "defocus_px": (0.0, 50.0), "motion_px": (0.0, 100.0),
                    "shot_noise": (0.0, 1.0), "read_noise": (0.0, 1.0), "jpeg_quality": (1, 100)}
        for name, (lowest, highest) in positive.items():
            low, high = getattr(self, name)
            if low < lowest or high > highest or (name in ("shot_noise", "read_noise") and low <= 0):
                raise ValueError(f"{name} must lie within {lowest}..{highest} (noise levels above 0), got {(low, high)}")
        if not 0.0 <= self.white_balance <= 1.0:
            raise ValueError(f"white_balance must be within 0..1, got {self.white_balance}")

    @classmethod
    def off(cls) -> SensorConfig:
        """The identity: no effect is ever applied (apply_sensor returns the input unchanged)."""
        return cls(**{field.name: 0.0 for field in fields(cls) if field.name.startswith("p_")})

    def only(self, *effects: str) -> SensorConfig:
        """This config with the named effects ('exposure', 'noise', ...) always on and the rest off."""
        names = {field.name[2:] for field in fields(self) if field.name.startswith("p_")}
        unknown = set(effects) - names
        if unknown:
            raise ValueError(f"unknown effect(s) {', '.join(sorted(unknown))}: expected some of {', '.join(sorted(names))}")
        return replace(self, **{f"p_{name}": 1.0 if name in effects else 0.0 for name in names})


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def disc_kernel(radius: float) -> np.ndarray:
    """A normalised disc (a defocused lens's point spread), each pixel weighted by the share of it
    inside the circle (4x4 supersampling)."""
    half = int(math.ceil(radius))
    offsets = (np.arange(4) + 0.5) / 4 - 0.5
    grid = np.arange(-half, half + 1)
    ys = (grid[:, None] + offsets[None, :]).reshape(-1)
    inside = (ys[:, None] ** 2 + ys[None, :] ** 2) <= radius**2
    kernel = inside.reshape(len(grid), 4, len(grid), 4).mean(axis=(1, 3)).astype(np.float32)
    return kernel / kernel.sum()


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised straight streak `length` pixels long at `angle_deg` (a camera moving during
    the exposure), drawn anti-aliased."""
    import cv2

    size = 2 * int(math.ceil(length / 2)) + 1
    kernel = np.zeros((size, size), dtype=np.float32)
    centre = (size - 1) / 2
    columns = np.arange(size)
    # Each pixel of the middle row weighted by how much of the streak [centre - L/2, centre + L/2] it covers.
    covered = np.minimum(columns + 0.5, centre + length / 2) - np.maximum(columns - 0.5, centre - length / 2)
    kernel[size // 2] = np.clip(covered, 0.0, None)
    rotation = cv2.getRotationMatrix2D((centre, centre), angle_deg, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size), flags=cv2.INTER_LINEAR)
    return kernel / kernel.sum()


def _draw(rng: np.random.Generator, config: SensorConfig) -> dict:
    """Every effect's on/off and parameters, in a fixed order."""
    draws = {}
    draws["exposure_ev"] = (rng.random() < config.p_exposure, float(rng.uniform(*config.exposure_ev)))
    gains = np.exp(rng.uniform(-config.white_balance, config.white_balance, size=2))
    draws["white_balance"] = (rng.random() < config.p_white_balance, [float(gains[0]), 1.0, float(gains[1])])
    draws["vignetting"] = (rng.random() < config.p_vignetting, float(rng.uniform(*config.vignetting)))
    kind = "disc" if rng.random() < config.disc_share else "gaussian"
    draws["defocus"] = (rng.random() < config.p_defocus, {"kind": kind, "size_px": float(rng.uniform(*config.defocus_px))})
    motion = {"length_px": float(rng.uniform(*config.motion_px)), "angle_deg": float(rng.uniform(0.0, 180.0))}
    draws["motion_blur"] = (rng.random() < config.p_motion, motion)
    noise = {"shot": _log_uniform(rng, *config.shot_noise), "read": _log_uniform(rng, *config.read_noise)}
    draws["noise"] = (rng.random() < config.p_noise, noise)
    draws["jpeg_quality"] = (rng.random() < config.p_jpeg, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
    return draws


def apply_sensor(rgb: np.ndarray, rng: np.random.Generator, config: SensorConfig = SensorConfig()) -> tuple[np.ndarray, dict]:
    """(image, params): `rgb` (H, W, 3) uint8 as a camera would have recorded it, and what was
    applied (effect name -> parameters, None when not applied; JSON-serialisable). The same rng
    state gives the same result. ValueError for anything but an (H, W, 3) uint8 array."""
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"apply_sensor needs an (H, W, 3) uint8 image, got shape {rgb.shape} of {rgb.dtype}")
    draws = _draw(rng, config)
    params = {name: value if applied else None for name, (applied, value) in draws.items()}
    if all(value is None for value in params.values()):
        return rgb.copy(), params

    image = to_linear(rgb)
    height, width = image.shape[:2]
    border = cv2.BORDER_REFLECT
    if params["defocus"] is not None:
        size = params["defocus"]["size_px"]
        if params["defocus"]["kind"] == "gaussian":
            image = cv2.GaussianBlur(image, (0, 0), sigmaX=size, borderType=border)
        else:
            image = cv2.filter2D(image, -1, disc_kernel(size), borderType=border)
    if params["motion_blur"] is not None:
        streak = motion_kernel(params["motion_blur"]["length_px"], params["motion_blur"]["angle_deg"])
        image = cv2.filter2D(image, -1, streak, borderType=border)
    if params["vignetting"] is not None:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        radius2 = ((x - (width - 1) / 2) ** 2 + (y - (height - 1) / 2) ** 2) / (((width - 1) / 2) ** 2 + ((height - 1) / 2) ** 2 or 1.0)
        image = image * (1.0 - params["vignetting"] * radius2)[..., None]
    if params["exposure_ev"] is not None:
        image = image * np.float32(2.0 ** params["exposure_ev"])
    image = np.clip(image, 0.0, 1.0)  # the sensor saturates at full well
    if params["noise"] is not None:
        shot, read = params["noise"]["shot"], params["noise"]["read"]
        image = (rng.poisson(image / shot) * shot + rng.normal(0.0, read, size=image.shape)).astype(np.float32)
    if params["white_balance"] is not None:
        image = image * np.asarray(params["white_balance"], dtype=np.float32)
    out = to_encoded(image)
    if params["jpeg_quality"] is not None:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, params["jpeg_quality"]])
        if not ok:
            raise RuntimeError("OpenCV could not encode the JPEG")
        out = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(out), params
