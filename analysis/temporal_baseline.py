"""The video's own brightness as a pseudo depth: the reference level of the temporal measures when
there is no ground truth.

Flicker, OPW and the drift measures of a depth video mix what the model does with what the camera
does (the true depth changes as the camera moves). Without ground truth there is no "perfect
model" to compare with, but the input video itself is there: its luminance changes with the same
camera motion, occlusions and cuts. Measured exactly like depth (same pairs, same optical flow),
it gives a level that a plain viewer can read: a depth video that flickers more than the picture
it came from is unstable beyond anything in the clip; one that flickers less is steady. The level
is a yardstick, not ground truth: a flat, textureless picture can be steadier than its true depth,
and lighting changes (not in depth) raise the picture's level.

Luminance is Rec. 601 luma, Y = 0.299 R + 0.587 G + 0.114 B, in [0, 1]; pure black pixels carry no
value (they count as "no depth", as in every measure).
"""
from __future__ import annotations

import numpy as np

from common.frames import FrameSample, FrameSource

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601
BRIGHTNESS_NAME = "the video itself (brightness)"


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 luma in [0, 1] (ITU-R BT.601 weights)."""
    return (np.asarray(rgb, dtype=np.float32)[..., :3] @ LUMA_WEIGHTS) / np.float32(255.0)


class BrightnessSource:
    """A temporal-study source whose "depth" is each frame's luminance: measured like every
    source, shown in no depth video and in no value column, but as the table's reference level
    (`is_baseline`; analysis.temporal.run_temporal_study's `baseline`)."""

    is_reference = False
    is_baseline = True
    name = BRIGHTNESS_NAME
    note = "the input video's luminance measured as if it were depth: the reference level without ground truth"

    def prepare(self, frames: FrameSource) -> None:
        pass

    def depths(self, batch: list[FrameSample]) -> list[np.ndarray]:
        return [luminance(sample.rgb) for sample in batch]


BASELINE_CURVES = ("flicker", "opw")  # the per-frame measures brightness is a reference level for (no depth error)


def trim_baseline_curves(curves_by_source: dict[str, dict], name: str = BRIGHTNESS_NAME) -> dict[str, dict]:
    """The per-frame curves with the baseline's cut to BASELINE_CURVES: its error against ground
    truth or its drift would be a picture's brightness read as metres, meaningless."""
    return {source: ({k: v for k, v in curves.items() if k in BASELINE_CURVES} if source == name else curves)
            for source, curves in curves_by_source.items()}  # fmt: skip
