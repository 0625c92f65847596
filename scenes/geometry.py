"""Triangle-mesh primitives (boxes, spheres, cylinders, quads) as plain numpy arrays, and the objects
a scene is made of. World frame: z up, metres."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .textures import Material

# (xmin, ymin, xmax, ymax) of an object's floor footprint.
Rect = tuple[float, float, float, float]


@dataclass
class Mesh:
    vertices: np.ndarray  # (N, 3) float64
    triangles: np.ndarray  # (M, 3) int64 indices into vertices

    def __post_init__(self) -> None:
        self.vertices = np.asarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.triangles = np.asarray(self.triangles, dtype=np.int64).reshape(-1, 3)
        if len(self.triangles) and (self.triangles.min() < 0 or self.triangles.max() >= len(self.vertices)):
            raise ValueError("mesh triangles index vertices that do not exist")

    def footprint(self) -> Rect:
        lo, hi = self.vertices[:, :2].min(axis=0), self.vertices[:, :2].max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    @property
    def top(self) -> float:
        return float(self.vertices[:, 2].max())


@dataclass
class SceneObject:
    """A mesh with one material. `obstacle` objects stand on the floor and keep cameras out of their
    footprint; walls, floor, ceiling and wall decorations are not obstacles."""

    name: str
    mesh: Mesh
    material: Material
    obstacle: bool = True
    # (width, depth, height) in metres drawn from scenes.catalog for kinds it lists; None otherwise.
    size: tuple[float, float, float] | None = None


def merge(meshes: list[Mesh]) -> Mesh:
    vertices, triangles, offset = [], [], 0
    for mesh in meshes:
        vertices.append(mesh.vertices)
        triangles.append(mesh.triangles + offset)
        offset += len(mesh.vertices)
    return Mesh(np.concatenate(vertices), np.concatenate(triangles))


def _rotate_z(points: np.ndarray, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return points @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


_BOX_CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
# Two triangles per face, counter-clockwise seen from outside (the renderer does not rely on it).
_BOX_TRIANGLES = np.array(
    [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
)


def box(center: tuple[float, float, float], size: tuple[float, float, float], yaw: float = 0.0) -> Mesh:
    """Box of `size` (x, y, z extents) centred at `center`, turned by `yaw` radians about z."""
    size = np.asarray(size, dtype=np.float64)
    if np.any(size <= 0):
        raise ValueError(f"box size must be positive, got {tuple(size)}")
    vertices = _rotate_z(_BOX_CORNERS * size, yaw) + np.asarray(center, dtype=np.float64)
    return Mesh(vertices, _BOX_TRIANGLES.copy())


def box_on_floor(x: float, y: float, z_bottom: float, size: tuple[float, float, float], yaw: float = 0.0) -> Mesh:
    return box((x, y, z_bottom + size[2] / 2.0), size, yaw)


def quad(corners: np.ndarray) -> Mesh:
    """A planar quadrilateral from 4 corners in order around its edge."""
    return Mesh(np.asarray(corners, dtype=np.float64), np.array([[0, 1, 2], [0, 2, 3]]))


def sphere(center: tuple[float, float, float], radius: float, segments: int = 24) -> Mesh:
    """UV sphere: `segments` around, half as many rings from pole to pole."""
    if radius <= 0:
        raise ValueError(f"sphere radius must be positive, got {radius}")
    rings = max(segments // 2, 3)
    theta = np.linspace(0.0, math.pi, rings + 1)[1:-1]
    phi = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    body = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    vertices = np.concatenate([[[0.0, 0.0, 1.0]], body, [[0.0, 0.0, -1.0]]])
    south = len(vertices) - 1
    triangles = []
    for j in range(segments):
        k = (j + 1) % segments
        triangles.append([0, 1 + j, 1 + k])
        last = 1 + (rings - 2) * segments
        triangles.append([south, last + k, last + j])
        for i in range(rings - 2):
            a, b = 1 + i * segments + j, 1 + i * segments + k
            triangles += [[a, a + segments, b + segments], [a, b + segments, b]]
    return Mesh(vertices * radius + np.asarray(center, dtype=np.float64), np.array(triangles))


def cylinder(base_center: tuple[float, float, float], radius: float, height: float, segments: int = 24) -> Mesh:
    """Upright closed cylinder standing on `base_center`."""
    if radius <= 0 or height <= 0:
        raise ValueError(f"cylinder radius and height must be positive, got {radius}, {height}")
    phi = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    ring = np.stack([np.cos(phi) * radius, np.sin(phi) * radius, np.zeros_like(phi)], axis=1)
    top = ring + [0.0, 0.0, height]
    vertices = np.concatenate([ring, top, [[0.0, 0.0, 0.0], [0.0, 0.0, height]]])
    bottom_center, top_center = 2 * segments, 2 * segments + 1
    triangles = []
    for j in range(segments):
        k = (j + 1) % segments
        triangles += [[j, k, segments + k], [j, segments + k, segments + j]]
        triangles += [[bottom_center, k, j], [top_center, segments + j, segments + k]]
    return Mesh(vertices + np.asarray(base_center, dtype=np.float64), np.array(triangles))


def rects_overlap(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def distance_to_rect(x: float, y: float, rect: Rect) -> float:
    """Distance in the floor plane from (x, y) to a footprint (0 inside it)."""
    dx = max(rect[0] - x, 0.0, x - rect[2])
    dy = max(rect[1] - y, 0.0, y - rect[3])
    return math.hypot(dx, dy)
