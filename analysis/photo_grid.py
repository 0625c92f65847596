"""Real photographs beside the depth that each of several models gives them: the README's
before/after picture of what a model change did to depth on pictures the model never saw.

    python -m analysis.photo_grid --depths before=DIR --model after=synthetic-tiny \\
        --photos examples/photos --out docs/results/real-photos/grid.png

A column is a model (`--model LABEL=MODEL`, predicted here) or depth maps saved earlier
(`--depths LABEL=DIR`: DIR/NAME.npy in metres, as `python -m mirror_model.predict` writes them,
e.g. by an older revision of the project whose model needs weights that are gone); saved columns
come first.

No ground truth exists for these photos, so each depth map is shown in its own range (2nd-98th
percentile; near is warm) and the panel title gives its median in metres: the grid shows
structure and, roughly, scale. Photos are read with the project's readers (EXIF orientation,
size checks) and predicted at the predictor's default geometry (one pass at the frame's own patch
grid; docs/seams.md). The scored comparison on real pictures with ground truth is
`python -m mirror_model.real_check`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common.image_io import IMAGE_SUFFIXES as PHOTO_SUFFIXES  # whatever the project's picture reader takes

MAX_SIDE = 512  # photos are shown and predicted at most this long: the grid is a picture, not a benchmark


def parse_model(text: str, flag: str = "--model", what: str = "MODEL") -> tuple[str, str]:
    """`LABEL=SPEC` or `SPEC` -> (label, spec); a SPEC alone is labelled by its last path part (a
    preset's name, a folder's name: never a server path). Raises ValueError naming `flag` when
    either part is empty."""
    label, _, spec = text.partition("=") if "=" in text else (Path(text.rstrip("/")).name, "", text)
    if not label.strip() or not spec.strip():
        raise ValueError(f"{flag} {text!r}: give LABEL={what} or {what}")
    return label.strip(), spec.strip()


def check_out(out: Path) -> None:
    """ValueError unless OUT can be written as a PNG: a .png name, not a folder, no file above it."""
    if out.is_dir():
        raise ValueError(f"--out {out.name} is a folder; give a .png file name")
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {out.name}: give a .png file name (e.g. outputs/photo_grid.png)")
    if any(part.exists() and not part.is_dir() for part in out.parents):
        raise ValueError(f"--out {out.name}: a file stands where its folder would be")


def depth_title(depth: np.ndarray) -> str:
    """The panel title: the median of the map's finite, positive depths in metres."""
    valid = depth[np.isfinite(depth) & (depth > 0)]
    return f"median {float(np.median(valid)):.1f} m" if valid.size else "no valid depth"


def load_saved_depth(folder: Path, photo: Path, shape: tuple[int, int]) -> np.ndarray:
    """FOLDER/STEM.npy (float metres, 2-D) resized to `shape` (H, W). Raises ValueError when it is
    missing, not a 2-D numeric map, or of another aspect ratio than the photo (a map of another
    picture, or of a crop: stretching it would show wrong structure)."""
    import cv2

    path = folder / f"{photo.stem}.npy"
    if not path.is_file():
        raise ValueError(f"--depths {folder.name}: no {path.name} for {photo.name}")
    try:
        depth = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise ValueError(f"--depths {folder.name}: {path.name} is not a readable .npy file") from None
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number) or min(depth.shape) < 1:
        raise ValueError(f"--depths {folder.name}: {path.name} is not a 2-D depth map")
    height, width = shape
    if abs(depth.shape[0] * width / depth.shape[1] - height) > max(1.0, 0.01 * height):
        raise ValueError(f"--depths {folder.name}: {path.name} is {depth.shape[1]}x{depth.shape[0]}, another shape than "
                         f"{photo.name} ({width}x{height} as shown); give maps predicted on these photos")
    return cv2.resize(np.asarray(depth, dtype=np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def list_photos(folder: Path, limit: int | None) -> list[Path]:
    """The photos in `folder` (sorted by name), at most `limit`. Raises ValueError when none."""
    if not folder.is_dir():
        raise ValueError(f"--photos {folder.name}: not a folder")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise ValueError(f"--photos {folder.name}: no pictures in it ({', '.join(s[1:] for s in PHOTO_SUFFIXES)})")
    return photos[:limit] if limit else photos


def shrink(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """(H, W, 3) uint8 with its longer side at most `max_side` (area resampling, aspect kept)."""
    import cv2

    height, width = rgb.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA)


def draw_grid(photos: list[tuple[str, np.ndarray]], depths: dict[str, list[np.ndarray]], path: Path) -> Path:
    """One row per photo: the photo, then each model's depth (own 2-98 % range, near warm)."""
    from common.depth_io import colorize_depth
    from common.panel_grid import save_panel_grid

    rows = []
    for row, (name, rgb) in enumerate(photos):
        panels = [(rgb, name if row else f"photo\n{name}")]
        for label, maps in depths.items():
            depth = maps[row]
            title = depth_title(depth)
            panels.append((colorize_depth(depth), f"{label}\n{title}" if row == 0 else title))
        rows.append(panels)
    return save_panel_grid(rows, path, cell_inches=(2.6, 2.2), dpi=90)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from common.image_io import load_rgb
    from mirror_model.predict import load_predictor

    parser = argparse.ArgumentParser(
        prog="python -m analysis.photo_grid",
        description="A grid of real photos with each model's depth beside them (before/after pictures).")
    parser.add_argument("--model", action="append", default=[],
                        help="LABEL=MODEL (preset, checkpoint folder or Hub repo id); repeat, one column each")
    parser.add_argument("--depths", action="append", default=[],
                        help="LABEL=DIR of saved maps (NAME.npy, metres, as mirror_model.predict writes); repeat")
    parser.add_argument("--photos", default="examples/photos",
                        help="folder of photos (.jpg, .png, .webp, .bmp, .tif, ...) (default: examples/photos)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", default="outputs/photo_grid.png", help="PNG to write (default: outputs/photo_grid.png)")
    args = parser.parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be at least 1")
        if not args.model and not args.depths:
            raise ValueError("give at least one --model or --depths column")
        check_out(Path(args.out))
        models = [parse_model(text) for text in args.model]
        saved = [parse_model(text, "--depths", "DIR") for text in args.depths]
        labels = [label for label, _ in saved + models]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"column label {twice[0]!r} is given twice; give each --model and --depths its own LABEL=")
        paths = list_photos(Path(args.photos), args.limit)
        predictors = {label: load_predictor(spec, args.device) for label, spec in models}
        photos = [(p.name, shrink(load_rgb(p))) for p in paths]
        depths = {label: [load_saved_depth(Path(folder), path, rgb.shape[:2]) for path, (_, rgb) in zip(paths, photos)]
                  for label, folder in saved}
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    depths.update({label: [] for label in predictors})
    for _, rgb in tqdm(photos, desc="photos", unit="photo"):
        for label, predictor in predictors.items():
            depths[label].append(predictor.predict(rgb))
    out = draw_grid(photos, depths, Path(args.out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
