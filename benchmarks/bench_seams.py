"""Seams of depth at other aspect ratios: each inference geometry of mirror_model.predict, measured.

For every geometry (grid, windows, blend, letterbox) and aspect ratio (16:9, 1:1, 9:16), prints:
- photos: real photos (examples/photos/*.jpg and gradio's media_assets photos) centre-cropped to
  the aspect ratio: the seam ratio of the predicted depth (analysis.spatial.seam_ratio, the larger
  of columns and rows) over the same measure for the depth of the same photo's 4:3 centre crop, the
  model's training shape, predicted with the default geometry (a 4:3 frame is one training-size
  window in every geometry). Geometric mean over photos, and the worst photo; target <= 1.5;
- |dlog|: the mean |log D - log D(4:3 crop)| where the two crops of a photo overlap, averaged
  over photos: how much the depth of the same pixels changes with the framing alone;
- video: the 16:9 real video (examples/photos/earth.mp4), the seam ratio per frame likewise;
- rooms: held-out procedural rooms (bundle test seeds) rendered at the aspect ratio with the
  training camera's focal length in pixels (16:9 and 1:1: the 4:3 sensor cropped; 9:16: the 16:9
  one upright), each room also rendered at 4:3 from the same viewpoint: seam ratio over the 4:3
  render's, AbsRel against the exact depth, and AbsRel with each map median-scaled (structure
  without the scale, which each geometry sets by how much it enlarges the frame); AbsRel of the
  4:3 renders, and of the 4:3 frames shipped with ground truth (examples/scenes, examples/video),
  which must not change;
- CPU milliseconds per frame (informative only, nothing asserts on them).

    python -m benchmarks.bench_seams                # the bundled model, every geometry
    python -m benchmarks.bench_seams --geometries grid,windows --rooms 8 --video-frames 4
    python -m benchmarks.bench_seams --aspect-training    # training with other aspect ratios: 3 seeds x 2, slow

`--aspect-training` trains the bundled recipe on a smaller budget twice per seed, on the 4:3
frames alone and with a crop bucket per other aspect ratio (mirror_model.cached_training), and
compares the rooms at every aspect ratio (AbsRel, median-scaled AbsRel, seam ratio vs 4:3).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ASPECTS = {"16:9": 16 / 9, "1:1": 1.0, "9:16": 9 / 16}
ROOM_SIZES = {"4:3": (240, 320), "16:9": (180, 320), "1:1": (240, 240), "9:16": (320, 180)}  # (H, W)
REFERENCE_ASPECT = 4 / 3
TRAINING_SIZE = (240, 320)  # the bundled model's training frames (H, W)
TEST_SEED = 300  # the bundle command's own test seed (mirror_model.bundle.SPLITS["test"]); the factorial bundle never saw it
PHOTO_SUFFIXES = (".jpg", ".jpeg")
MIN_PHOTO_SIDE = 200  # leaves out icons and logos


def crop_box(shape: tuple[int, ...], aspect: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest centred crop whose width / height is `aspect`."""
    height, width = shape[:2]
    if width / height > aspect:
        new_w = round(height * aspect)
        return 0, (width - new_w) // 2, height, new_w
    new_h = round(width / aspect)
    return (height - new_h) // 2, 0, new_h, width


def centre_crop(image: np.ndarray, aspect: float) -> np.ndarray:
    top, left, height, width = crop_box(image.shape, aspect)
    return image[top : top + height, left : left + width]


def shared_log_difference(shape: tuple[int, ...], aspect: float, depth: np.ndarray, reference: np.ndarray) -> float:
    """Mean |log depth - log reference depth| where the `aspect` crop and the 4:3 crop of a picture
    of `shape` overlap: how much framing alone changes the depth of the same pixels."""
    box, ref_box = crop_box(shape, aspect), crop_box(shape, REFERENCE_ASPECT)
    top, left = max(box[0], ref_box[0]), max(box[1], ref_box[1])
    bottom, right = min(box[0] + box[2], ref_box[0] + ref_box[2]), min(box[1] + box[3], ref_box[1] + ref_box[3])
    mine = depth[top - box[0] : bottom - box[0], left - box[1] : right - box[1]]
    theirs = reference[top - ref_box[0] : bottom - ref_box[0], left - ref_box[1] : right - ref_box[1]]
    return float(np.mean(np.abs(np.log(mine) - np.log(theirs))))


def real_photos() -> dict[str, np.ndarray]:
    """Photographs that ship with the project and with gradio (one copy per file name; the larger)."""
    from common.image_io import load_rgb

    folders = [REPO / "examples" / "photos"]
    try:
        import gradio

        folders.append(Path(gradio.__file__).parent / "media_assets" / "images")
    except ImportError:
        pass
    photos: dict[str, np.ndarray] = {}
    for folder in folders:
        for path in sorted(folder.glob("*")):
            if path.suffix.lower() not in PHOTO_SUFFIXES:
                continue
            image = load_rgb(path)
            if min(image.shape[:2]) < MIN_PHOTO_SIDE:
                continue
            name = path.stem
            if name not in photos or image.size > photos[name].size:
                photos[name] = image
    return photos


def video_frames(count: int) -> list[np.ndarray]:
    from common.video_io import read_video_frames

    path = REPO / "examples" / "photos" / "earth.mp4"
    if count <= 0 or not path.is_file():
        return []
    frames = [frame for _, _, frame in read_video_frames(path)]
    step = max(1, len(frames) // count)
    return frames[::step][:count]


def example_frames() -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB, depth in metres) of the procedural 4:3 frames shipped with ground truth (examples/scenes, examples/video)."""
    from common.depth_io import read_depth_png
    from common.image_io import load_rgb
    from common.scene_folder import rgbd_pairs

    pairs = []
    for folder in (REPO / "examples" / "scenes", REPO / "examples" / "video"):
        if folder.is_dir():
            pairs += [(load_rgb(rgb), read_depth_png(depth)) for rgb, depth in rgbd_pairs(folder)]
    return pairs


def rendered_rooms(count: int, size: tuple[int, int], seed: int = TEST_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB, depth in metres) of `count` held-out procedural rooms rendered at `size` (H, W) with the
    training camera's focal length in pixels; room i is the same room and viewpoint at every size."""
    from common.camera import intrinsics_for
    from scenes.generate import render_scene, scene_seed

    focal = intrinsics_for(TRAINING_SIZE)[0, 0]
    fov = math.degrees(2 * math.atan(size[1] / 2 / focal))
    frames = [render_scene(scene_seed(seed, index), size, fov) for index in range(count)]
    return [(frame.rgb, frame.depth) for frame in frames]


def _seam(depth: np.ndarray) -> float:
    from analysis.spatial import seam_ratio

    return seam_ratio(depth).ratio


def geometric_mean(values: list[float]) -> float:
    return float(math.exp(np.mean(np.log(values)))) if values else math.nan


def _abs_rel(preds: list[np.ndarray], gts: list[np.ndarray], median_scaling: bool = False) -> float:
    from common.depth_metrics import MetricAccumulator

    accumulator = MetricAccumulator()
    for pred, gt in zip(preds, gts):
        accumulator.update(pred, gt, median_scaling=median_scaling)
    return accumulator.mean()["abs_rel"]


def run(model: str, geometries: list[str], video_count: int, room_count: int, device: str) -> list[dict]:
    from tqdm import tqdm

    from mirror_model.predict import load_predictor

    predictor = load_predictor(model, device=device)
    photos = real_photos()
    video = video_frames(video_count)
    rooms = {name: rendered_rooms(room_count, size) for name, size in tqdm(ROOM_SIZES.items(), desc="rendering rooms")}
    print(predictor.info.message)
    print(f"{len(photos)} photos ({', '.join(photos)}), {len(video)} video frames, {room_count} rooms per aspect ratio")

    photo_ref = {name: predictor.predict(centre_crop(image, REFERENCE_ASPECT)) for name, image in photos.items()}
    video_ref = [predictor.predict(centre_crop(frame, REFERENCE_ASPECT)) for frame in video]
    examples = example_frames()
    room_ref = predictor.predict([rgb for rgb, _ in rooms["4:3"]])
    room_ref_abs_rel = _abs_rel(room_ref, [gt for _, gt in rooms["4:3"]])
    rows = []
    with tqdm(total=len(geometries) * len(ASPECTS), desc="geometries x aspects", unit="run") as bar:
        for geometry in geometries:
            four_three = predictor.predict([rgb for rgb, _ in rooms["4:3"]], geometry=geometry)
            four_three_abs_rel = _abs_rel(four_three, [gt for _, gt in rooms["4:3"]])
            examples_abs_rel = _abs_rel(predictor.predict([rgb for rgb, _ in examples], geometry=geometry),
                                        [gt for _, gt in examples]) if examples else math.nan
            for aspect_name, aspect in ASPECTS.items():
                started = time.perf_counter()
                ratios, shifts = {}, []
                for name, image in photos.items():
                    depth = predictor.predict(centre_crop(image, aspect), geometry=geometry)
                    ratios[name] = _seam(depth) / _seam(photo_ref[name])
                    shifts.append(shared_log_difference(image.shape, aspect, depth, photo_ref[name]))
                video_ratios = [_seam(predictor.predict(centre_crop(frame, aspect), geometry=geometry)) / _seam(ref)
                                for frame, ref in zip(video, video_ref)]
                room_rgb, room_gt = [rgb for rgb, _ in rooms[aspect_name]], [gt for _, gt in rooms[aspect_name]]
                room_pred = predictor.predict(room_rgb, geometry=geometry)
                elapsed = (time.perf_counter() - started) * 1000.0 / (len(photos) + len(video) + len(room_rgb))
                rows.append({
                    "geometry": geometry, "aspect": aspect_name,
                    "photo_seam_vs_43": geometric_mean(list(ratios.values())),
                    "photo_worst": max(ratios.values()), "worst_photo": max(ratios, key=ratios.get),
                    "photo_log_shift": float(np.mean(shifts)), "video_seam_vs_43": geometric_mean(video_ratios),
                    "room_seam_vs_43": geometric_mean([_seam(d) / _seam(r) for d, r in zip(room_pred, room_ref)]),
                    "abs_rel_43": four_three_abs_rel, "abs_rel_43_default": room_ref_abs_rel,
                    "abs_rel_examples_43": examples_abs_rel, "examples": len(examples),
                    "abs_rel_room": _abs_rel(room_pred, room_gt),
                    "abs_rel_room_median": _abs_rel(room_pred, room_gt, median_scaling=True), "ms_per_frame": elapsed,
                })
                bar.update(1)
    return rows


def print_table(rows: list[dict]) -> None:
    header = (f"{'geometry':<10} {'aspect':<6} {'photos':>7} {'worst (photo)':>22} {'|dlog|':>7} {'video':>6} "
              f"{'rooms':>6} {'AbsRel':>7} {'median':>7} {'AbsRel 4:3':>10} {'ms/frame':>9}")
    print("\nseam ratio at the aspect ratio / seam ratio of the same picture at 4:3 (photos, video, rooms: "
          "geometric means; target <= 1.5); AbsRel of the rooms at the aspect ratio (plain, median-scaled) and at 4:3")
    print(header)
    print("-" * len(header))
    for row in rows:
        worst = f"{row['photo_worst']:.2f} ({row['worst_photo']})"
        print(f"{row['geometry']:<10} {row['aspect']:<6} {row['photo_seam_vs_43']:>7.2f} {worst:>22} "
              f"{row['photo_log_shift']:>7.3f} {row['video_seam_vs_43']:>6.2f} {row['room_seam_vs_43']:>6.2f} "
              f"{row['abs_rel_room']:>7.4f} {row['abs_rel_room_median']:>7.4f} {row['abs_rel_43']:>10.4f} "
              f"{row['ms_per_frame']:>9.1f}")
    firsts = {row["geometry"]: row for row in rows}
    if firsts:
        count = next(iter(firsts.values()))["examples"]
        print(f"\nAbsRel of the {count} shipped 4:3 frames with ground truth (examples/scenes, examples/video): "
              + ", ".join(f"{name} {row['abs_rel_examples_43']:.4f}" for name, row in firsts.items()))


TRAINING_VARIANTS = {"4:3 only": (), "+16:9, 1:1, 9:16 crops": (16 / 9, 1.0, 9 / 16)}


def aspect_training(train_rooms: int, steps: int, seeds: list[int], room_count: int, work_dir: Path) -> dict:
    """The bundled recipe on a smaller budget (world CLIP, cached features, `train_rooms` training
    rooms of seed 100, 24 validation rooms of seed 200), trained on the 4:3 frames alone and with a
    crop bucket per other aspect ratio (cached_training.build_cache(aspects=...)), per seed; each
    model predicts the held-out rooms at every aspect ratio with the default geometry."""
    from tqdm import tqdm

    from mirror_model.bundle import world_config
    from mirror_model.cached_training import CachedTrainConfig, build_cache, load_frames, train_cached
    from mirror_model.model import build_mirror_depth
    from mirror_model.predict import load_predictor
    from scenes.io import write_scenes

    train_dir, val_dir = work_dir / "train", work_dir / "val"
    if not (train_dir / "rgb").is_dir():
        write_scenes(train_dir, train_rooms, TRAINING_SIZE, seed=100)
        write_scenes(val_dir, 24, TRAINING_SIZE, seed=200)
    rooms = {name: rendered_rooms(room_count, size) for name, size in ROOM_SIZES.items()}
    rgbs, depths = load_frames(train_dir, TRAINING_SIZE)
    results: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for label, aspects in TRAINING_VARIANTS.items():
        for seed in tqdm(seeds, desc=f"training ({label})", unit="seed"):
            model = build_mirror_depth(world_config(), seed=seed)
            cache = build_cache(model, rgbs, depths, progress=False, aspects=aspects, seed=seed)
            run_dir = work_dir / f"run-{len(aspects)}-{seed}"
            train_cached(model, cache, val_dir, run_dir, CachedTrainConfig(steps=steps, seed=seed, val_every=max(1, steps // 4)),
                         progress=False)
            predictor = load_predictor(str(run_dir / "best"))
            reference = predictor.predict([rgb for rgb, _ in rooms["4:3"]])
            for name, frames in rooms.items():
                pred, gt = predictor.predict([rgb for rgb, _ in frames]), [g for _, g in frames]
                seams = geometric_mean([_seam(d) / _seam(r) for d, r in zip(pred, reference)])
                results.setdefault(label, {}).setdefault(name, []).append(
                    (_abs_rel(pred, gt), _abs_rel(pred, gt, median_scaling=True), seams))
    print(f"\nrooms AbsRel / median-scaled AbsRel / seam ratio vs 4:3, mean ± sd over seeds {seeds} "
          f"({train_rooms} training rooms, {steps} steps, {room_count} held-out rooms per aspect ratio)")
    print(f"{'training':<24}" + "".join(f"{name:>34}" for name in ROOM_SIZES))
    for label, by_aspect in results.items():
        cells = []
        for name in ROOM_SIZES:
            values = np.array(by_aspect[name])
            spread = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(3)
            cells.append(f"{values[:, 0].mean():.4f}±{spread[0]:.4f} {values[:, 1].mean():.4f}±{spread[1]:.4f} "
                         f"{values[:, 2].mean():.2f}")
        print(f"{label:<24}" + "".join(f"{cell:>34}" for cell in cells))
    return results


def main(argv: list[str] | None = None) -> int:
    from mirror_model.predict import GEOMETRIES

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_seams", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="synthetic-tiny", help="preset, checkpoint directory or Hub repo id")
    parser.add_argument("--geometries", default=",".join(GEOMETRIES), help=f"comma-separated, from {', '.join(GEOMETRIES)}")
    parser.add_argument("--video-frames", type=int, default=8, help="frames sampled from the 16:9 video (0: none)")
    parser.add_argument("--rooms", type=int, default=24, help="held-out procedural rooms rendered per aspect ratio")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--aspect-training", action="store_true",
                        help="instead: train small models with and without other aspect ratios and compare them (slow)")
    parser.add_argument("--train-rooms", type=int, default=300, help="--aspect-training: training rooms")
    parser.add_argument("--steps", type=int, default=1000, help="--aspect-training: steps per run")
    parser.add_argument("--seeds", default="0,1,2", help="--aspect-training: comma-separated seeds")
    parser.add_argument("--work-dir", help="--aspect-training: where rooms and runs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.aspect_training:
        return _aspect_training_main(args)
    geometries = [g.strip() for g in args.geometries.split(",") if g.strip()]
    unknown = [g for g in geometries if g not in GEOMETRIES]
    if args.rooms < 1 or args.video_frames < 0:
        print("error: --rooms must be at least 1 and --video-frames at least 0", file=sys.stderr)
        return 2
    if unknown or not geometries:
        print(f"error: unknown geometry {', '.join(unknown) or '(none given)'}; choose from {', '.join(GEOMETRIES)}", file=sys.stderr)
        return 2
    try:
        rows = run(args.model, geometries, args.video_frames, args.rooms, args.device)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_table(rows)
    return 0


def _aspect_training_main(args: argparse.Namespace) -> int:
    import tempfile

    try:
        seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    except ValueError:
        seeds = []
    if not seeds or args.train_rooms < 2 or args.steps < 1 or args.rooms < 1:
        print("error: need --seeds like 0,1,2, --train-rooms >= 2, --steps >= 1 and --rooms >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        work_dir = Path(args.work_dir) if args.work_dir else Path(scratch)
        aspect_training(args.train_rooms, args.steps, seeds, args.rooms, work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
