"""A scene: objects, lights and the room bounds cameras must stay inside."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import Rect, SceneObject, distance_to_rect


@dataclass(frozen=True)
class Light:
    """`point` lights sit at `position`, fall off mildly with distance and cast shadows; `directional`
    lights shine along `direction` without shadows (a soft fill, like daylight through windows)."""

    kind: str
    intensity: tuple[float, float, float]
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] = (0.0, 0.0, -1.0)
    falloff_distance: float = 3.0  # point lights: intensity halves at this distance

    def __post_init__(self) -> None:
        if self.kind not in ("point", "directional"):
            raise ValueError(f"unknown light kind {self.kind!r}: expected 'point' or 'directional'")


@dataclass
class Scene:
    objects: list[SceneObject]
    lights: list[Light] = field(default_factory=list)
    ambient: float = 0.3
    # Axis-aligned interior (xmin, ymin, zmin, xmax, ymax, zmax); None for an open scene.
    room: tuple[float, float, float, float, float, float] | None = None
    # The open3d ray-casting structure, built on first render and reused for every later view.
    raycaster: object | None = field(default=None, repr=False, compare=False)

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
