"""A scene: objects, lights, the room bounds cameras must stay inside, and for open scenes the sky."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import Rect, SceneObject, distance_to_rect
from .textures import fractal_noise

SCENE_KINDS = ("room", "outdoor")


@dataclass(frozen=True)
class Light:
    """`point` lights sit at `position`, fall off mildly with distance and always cast shadows;
    `directional` lights shine along `direction` (the way the light travels) from infinitely far:
    a soft fill without shadows by default (daylight through windows), or the sun with `shadows`."""

    kind: str
    intensity: tuple[float, float, float]
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] = (0.0, 0.0, -1.0)
    falloff_distance: float = 3.0  # point lights: intensity halves at this distance
    shadows: bool = False  # directional lights only: cast shadow rays towards the light

    def __post_init__(self) -> None:
        if self.kind not in ("point", "directional"):
            raise ValueError(f"unknown light kind {self.kind!r}: expected 'point' or 'directional'")


def _unit(vector: tuple[float, float, float]) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(v)
    if not norm > 0:
        raise ValueError(f"a direction must be non-zero, got {tuple(vector)}")
    return v / norm


@dataclass(frozen=True)
class Sky:
    """What a ray that hits nothing sees in an open scene: emitted linear RGB, not a surface.

    A gradient from `horizon` to `zenith` (by the sine of the ray's elevation), a glow and disc
    around the sun, and clouds: fractal value noise on a flat cloud layer seen through the ray
    (so clouds shrink and thin towards the horizon as real ones do). Rays below the horizon that
    miss the ground see `horizon` (distant haze). `cloud_cover` 0 is clear, 1 overcast.
    `ground_bounce` is the share of sky light that reaches downward-facing surfaces from the ground.
    """

    zenith: tuple[float, float, float] = (0.10, 0.22, 0.60)
    horizon: tuple[float, float, float] = (0.55, 0.65, 0.80)
    sun_direction: tuple[float, float, float] = (0.0, 0.0, 1.0)  # unit vector towards the sun
    sun_colour: tuple[float, float, float] = (1.0, 0.95, 0.85)
    sun_glow: float = 0.3
    cloud_cover: float = 0.3
    cloud_colour: tuple[float, float, float] = (0.85, 0.85, 0.88)
    ground_bounce: float = 0.35
    seed: int = 0

    def __post_init__(self) -> None:
        _unit(self.sun_direction)
        if not 0.0 <= self.cloud_cover <= 1.0:
            raise ValueError(f"cloud_cover must be in [0, 1], got {self.cloud_cover}")
        if not 0.0 <= self.ground_bounce <= 1.0:
            raise ValueError(f"ground_bounce must be in [0, 1], got {self.ground_bounce}")

    def radiance(self, directions: np.ndarray) -> np.ndarray:
        """(N, 3) float32 linear RGB seen along (N, 3) world directions (any length)."""
        d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        up = np.clip(d[:, 2], 0.0, 1.0)
        zenith, horizon = np.asarray(self.zenith), np.asarray(self.horizon)
        colour = horizon + (zenith - horizon) * np.sqrt(up)[:, None]
        if self.cloud_cover > 0:
            # Where each ray crosses a cloud layer 1 unit up; fading near the horizon hides the
            # noise's aliasing where the layer is seen edge-on.
            height = np.maximum(up, 0.05)
            layer = np.stack([d[:, 0] / height, d[:, 1] / height, np.zeros(len(d))], axis=1) * 1.6
            density = fractal_noise(layer, self.seed, octaves=4).astype(np.float64)
            start = 0.75 - 0.6 * self.cloud_cover  # the noise level where clouds begin
            cloud = np.clip((density - start) / 0.2, 0.0, 1.0) * np.clip(up / 0.15, 0.0, 1.0)
            # Thicker cloud is darker underneath.
            shade = 1.0 - 0.35 * np.clip((density - start - 0.2) / 0.3, 0.0, 1.0)
            cloud_colour = np.asarray(self.cloud_colour) * shade[:, None]
            colour += (cloud_colour - colour) * cloud[:, None]
        if self.sun_glow > 0:
            cosine = np.clip(d @ _unit(self.sun_direction), 0.0, 1.0)
            glow = self.sun_glow * (0.25 * cosine**6 + cosine**200) + 4.0 * (cosine > 0.99996)
            colour += glow[:, None] * np.asarray(self.sun_colour)
        return colour.astype(np.float32)


@dataclass
class Scene:
    """Objects and lights. `ambient` is a grey level or a linear RGB colour; with a `sky` it is sky
    light, so it reaches upward-facing surfaces fully and downward ones by `sky.ground_bounce`.
    `kind` is "room" (closed: every ray hits something) or "outdoor" (open: misses are sky)."""

    objects: list[SceneObject]
    lights: list[Light] = field(default_factory=list)
    ambient: float | tuple[float, float, float] = 0.3
    # Axis-aligned interior (xmin, ymin, zmin, xmax, ymax, zmax); None for an open scene.
    room: tuple[float, float, float, float, float, float] | None = None
    sky: Sky | None = None
    kind: str = "room"
    # The open3d ray-casting structure, built on first render and reused for every later view.
    raycaster: object | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in SCENE_KINDS:
            raise ValueError(f"unknown scene kind {self.kind!r}: expected one of {', '.join(SCENE_KINDS)}")

    def obstacle_footprints(self) -> list[Rect]:
        return [obj.mesh.footprint() for obj in self.objects if obj.obstacle]

    def clearance(self, x: float, y: float) -> float:
        """Floor-plane distance from (x, y) to the nearest obstacle footprint or wall."""
        distances = [distance_to_rect(x, y, rect) for rect in self.obstacle_footprints()]
        if self.room is not None:
            xmin, ymin, _, xmax, ymax, _ = self.room
            distances += [x - xmin, xmax - x, y - ymin, ymax - y]
        return float(min(distances)) if distances else float("inf")

    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner of all geometry."""
        vertices = np.concatenate([obj.mesh.vertices for obj in self.objects])
        return np.stack([vertices.min(axis=0), vertices.max(axis=0)])
