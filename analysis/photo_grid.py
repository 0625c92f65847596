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

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_SIDE = 512  # photos are shown and predicted at most this long: the grid is a picture, not a benchmark


def parse_model(text: str) -> tuple[str, str]:
    """`LABEL=SPEC` or `SPEC` (labelled by itself) -> (label, spec). Raises ValueError when empty."""
    label, _, spec = text.partition("=") if "=" in text else (text, "", text)
    if not label.strip() or not spec.strip():
        raise ValueError(f"--model {text!r}: give LABEL=MODEL or MODEL")
    return label.strip(), spec.strip()


def load_saved_depth(folder: Path, photo: Path, shape: tuple[int, int]) -> np.ndarray:
    """FOLDER/STEM.npy (float metres, 2-D) resized to `shape` (H, W). Raises ValueError when it is
    missing or not a 2-D numeric map."""
    import cv2

    path = folder / f"{photo.stem}.npy"
    if not path.is_file():
        raise ValueError(f"--depths {folder.name}: no {path.name} for {photo.name}")
    depth = np.load(path, mmap_mode="r", allow_pickle=False)
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
        raise ValueError(f"--depths {folder.name}: {path.name} is not a 2-D depth map")
    return cv2.resize(np.asarray(depth, dtype=np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def list_photos(folder: Path, limit: int | None) -> list[Path]:
    """The photos in `folder` (sorted by name), at most `limit`. Raises ValueError when none."""
    if not folder.is_dir():
        raise ValueError(f"--photos {folder.name}: not a folder")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise ValueError(f"--photos {folder.name}: no .jpg or .png pictures in it")
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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from common.depth_io import colorize_depth

    columns = 1 + len(depths)
    figure = Figure(figsize=(2.6 * columns, 2.2 * len(photos)), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(photos), columns, squeeze=False)
    for row, (name, rgb) in enumerate(photos):
        panels = [(rgb, name if row else f"photo\n{name}")]
        for label, maps in depths.items():
            depth = maps[row]
            title = f"median {float(np.median(depth)):.1f} m"
            panels.append((colorize_depth(depth), f"{label}\n{title}" if row == 0 else title))
        for axis, (image, title) in zip(axes[row], panels):
            axis.imshow(image)
            axis.set_title(title, fontsize=8)
            axis.set_axis_off()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


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
    parser.add_argument("--photos", default="examples/photos", help="folder of .jpg/.png photos (default: examples/photos)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", default="outputs/photo_grid.png", help="PNG to write (default: outputs/photo_grid.png)")
    args = parser.parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be at least 1")
        if not args.model and not args.depths:
            raise ValueError("give at least one --model or --depths column")
        models = [parse_model(text) for text in args.model]
        saved = [parse_model(text) for text in args.depths]
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
