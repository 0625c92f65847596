"""The captioned world as the world CLIP and its probes read it: images, captions, the regions of
every view (box, distance, caption) and, when the folder has them, per-pixel depths.

Folder format (written by python -m scenes.captioned): `images.npy` (N, H, W, 3) uint8,
`captions.jsonl` (one record per image) and optionally `depth.npy` (N, H, W) float16 metres (0 = no
depth). Regions of an image, in this order of preference:
- the record's "regions": a list of {"box": [top, left, bottom, right] in the image's own pixels
  (exclusive end), "distance_m": metres (median depth of the region's object), "caption": text};
- else, for a whole view ("kind": "view"), every visible object in its "facts" (box and distance_m
  as above), captioned by scenes.captions.region_caption with a seed of (room seed, view, object);
- else none (region views, whose "box" is in their parent view's pixels, give no regions of their own).

Distance words are the world's own five, nearest first (scenes.captions.DISTANCE_WORDS, the words
DepthCLIP asks about minus "giant" and "unseen"); WORD_TEMPLATE puts one in a sentence as DepthCLIP does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenes.captioned import DEPTH_STEP, read_captioned, read_captioned_depths
from scenes.captions import DISTANCE_WORDS, VisibleObject, distance_word, region_caption

WORDS = tuple(word for _, word in DISTANCE_WORDS)  # nearest first
WORD_TEMPLATE = "this object is {}"  # DepthCLIP's "This object is {word}" (CLIP's tokenizer lower-cases)


@dataclass(frozen=True)
class Region:
    box: tuple[int, int, int, int]  # top, left, bottom, right in the image's own pixels (exclusive end)
    distance_m: float
    caption: str

    @property
    def word(self) -> int:
        """Index into WORDS of the region's distance word."""
        return word_index(self.distance_m)


@dataclass
class WorldData:
    images: np.ndarray  # (N, H, W, 3) uint8, memory-mapped
    captions: list[str]
    regions: list[list[Region]]  # per image, in that image's pixels
    depth: np.ndarray | None  # (N, H, W) float16 metres, 0 = none; None when the folder has no depth.npy
    name: str

    def __len__(self) -> int:
        return len(self.captions)

    def region_count(self) -> int:
        return sum(len(r) for r in self.regions)


def word_index(metres: float) -> int:
    return WORDS.index(distance_word(float(metres)))


def word_prompts(template: str = WORD_TEMPLATE) -> list[str]:
    return [template.format(word) for word in WORDS]


def regions_of(record: dict) -> list[Region]:
    """The regions of one record (see the module's notes for where they come from)."""
    if "regions" in record:
        return [Region(tuple(int(v) for v in r["box"]), float(r["distance_m"]), str(r["caption"])) for r in record["regions"]]
    if record.get("kind") != "view" or "facts" not in record:
        return []
    regions = []
    for obj in record["facts"].get("objects", []):
        fact = VisibleObject(**{**obj, "box": tuple(int(v) for v in obj["box"])})
        seed = int(np.random.SeedSequence([int(record.get("room_seed", 0)), int(record.get("view", 0)),
                                           fact.object_id]).generate_state(1)[0])  # fmt: skip
        regions.append(Region(fact.box, fact.distance_m, region_caption(fact, seed)))
    return regions


class SampledDepth:
    """The captioned folder's `depths.npy` (every `step`-th pixel from pixel step // 2) read as
    full-resolution (N, H, W) depth: indexing the first axis returns the chosen images with each
    sample repeated over its step x step block (nearest), so patch medians see the same depths."""

    def __init__(self, sampled: np.ndarray, size: tuple[int, int], step: int):
        self.sampled, self.step = sampled, int(step)
        self.shape = (len(sampled), *size)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        chosen = np.asarray(self.sampled[first])
        full = np.repeat(np.repeat(chosen, self.step, axis=-2), self.step, axis=-1)
        full = full[..., : self.shape[1], : self.shape[2]]
        if rest:  # the remaining indices address (H, W), behind the image axis when one is kept
            full = full[(slice(None), *rest)] if full.ndim == 3 else full[rest]
        return full


def read_world(folder: str | Path) -> WorldData:
    """A captioned folder; FileNotFoundError or ValueError (one line) when it is not one. Per-pixel
    depth comes from `depth.npy` (full resolution) or the sampled `depths.npy` that
    python -m scenes.captioned writes (read through SampledDepth)."""
    folder = Path(folder)
    images, records = read_captioned(folder)
    depth = None
    if not (folder / "depth.npy").is_file() and (folder / "depths.npy").is_file():
        depth = SampledDepth(read_captioned_depths(folder), images.shape[1:3], DEPTH_STEP)
    if (folder / "depth.npy").is_file():
        depth = np.load(folder / "depth.npy", mmap_mode="r")
        if depth.shape != images.shape[:3]:
            raise ValueError(f"{folder.name}: depth.npy is {depth.shape}, images are {images.shape[:3]}")
    height, width = images.shape[1:3]
    regions = []
    for record in records:
        kept = []
        for region in regions_of(record):
            top, left, bottom, right = region.box
            if 0 <= top < bottom <= height and 0 <= left < right <= width:
                kept.append(region)
        regions.append(kept)
    return WorldData(images, [r["caption"] for r in records], regions, depth, folder.name)


def box_weights(boxes: np.ndarray, grid: tuple[int, int], stride: int) -> np.ndarray:
    """How much of each patch every box covers: (R, 4) boxes (top, left, bottom, right, pixels) ->
    (R, gh, gw) weights in [0, 1] (1 = the patch lies wholly inside the box)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows = np.arange(grid[0]) * stride
    cols = np.arange(grid[1]) * stride
    over_rows = np.clip(np.minimum(boxes[:, 2:3], rows + stride) - np.maximum(boxes[:, 0:1], rows), 0, stride) / stride
    over_cols = np.clip(np.minimum(boxes[:, 3:4], cols + stride) - np.maximum(boxes[:, 1:2], cols), 0, stride) / stride
    return over_rows[:, :, None] * over_cols[:, None, :]


def patch_depths(depth: np.ndarray, stride: int) -> np.ndarray:
    """(B, H, W) metres -> (B, H//stride, W//stride) median of each patch's valid (> 0) depths; nan
    where a patch has none. Edge pixels beyond the last whole patch are dropped, as the ViT drops them."""
    depth = np.asarray(depth, dtype=np.float32)
    batch, height, width = depth.shape
    gh, gw = height // stride, width // stride
    blocks = depth[:, : gh * stride, : gw * stride].reshape(batch, gh, stride, gw, stride).transpose(0, 1, 3, 2, 4)
    blocks = blocks.reshape(batch, gh, gw, stride * stride)
    blocks = np.where(blocks > 1e-3, blocks, np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan patches give nan, as documented
            return np.nanmedian(blocks, axis=-1)
