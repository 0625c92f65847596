"""The unit every renderer returns: one RGB-D view with its camera."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RGBDFrame:
    """One rendered view.

    rgb: (H, W, 3) uint8; depth: (H, W) float32 metres along the optical axis (0 where a ray hit
    nothing); intrinsics: (3, 3) float64 pinhole K with pixel centres at integer coordinates;
    pose: (4, 4) float64 camera-to-world, OpenCV axes (x right, y down, z forward);
    object_ids: (H, W) int16 index into the scene's objects seen at each pixel (-1: nothing), the
    scene graph's answer to "what is where", from which captions are written;
    meta: JSON-serialisable facts of how the view was made (world, field of view, camera height,
    sensor effects), stored beside the pose by the dataset writers.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: np.ndarray
    pose: np.ndarray
    object_ids: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.depth.shape[0]), int(self.depth.shape[1])
