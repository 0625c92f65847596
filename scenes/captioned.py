"""A captioned procedural world: image-caption pairs for contrastive pretraining of a small CLIP.

    python -m scenes.captioned --out data/world/train --rooms 600 --views 4 --size 128x160 --seed 7 --outdoor-share 0.3

Each room is built once and seen from several free viewpoints (amortising room generation). Every
view gives two pairs: the whole view with a view caption, and a region view around one visible
object with a region caption. Region views are rendered, not cropped: the camera's intrinsics are
narrowed to the region's box, so they are as sharp as whole views. Writes `images.npy` (N, H, W, 3)
uint8, `depths.npy` (N, H/4, W/4) float16 z-depth in metres (every 4th pixel row and column, from
pixel (2, 2); 0 = no hit) for patch-level objectives and probes, and `captions.jsonl` (one record
per image: caption, room, view, kind, the facts; a view's record also lists `regions`: every
visible object's box (top, left, bottom, right) in that image's own pixels, median distance in
metres, distance word and a region caption, so patches, not only whole views, meet distance words).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.camera import intrinsics_for, scale_intrinsics
from common.sizes import check_size, parse_size

from .captions import SHELL, describe_view, distance_word, region_box, region_caption, view_caption
from .generate import DEFAULT_SENSOR, camera_rng, check_world, scene_seed
from .outdoor import build_outdoor, sample_outdoor_camera
from .photos import load_library
from .render import render_view
from .room import build_room
from .sensor import SensorConfig, apply_sensor
from .views import ViewConfig, sample_camera

DEPTH_STEP = 4  # depths.npy keeps every 4th pixel: enough for 16-pixel patches, 1/16 of the bytes


def zoomed_intrinsics(intrinsics: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """K of a camera that sees only `box` (top, left, bottom, right) of the original image, at `size`."""
    top, left, bottom, right = box
    cropped = np.array(intrinsics, dtype=np.float64)
    cropped[0, 2] -= left  # the crop's own pixel grid, then resized to `size`
    cropped[1, 2] -= top
    return scale_intrinsics(cropped, (bottom - top, right - left), size)


def scene_world(seed: int, outdoor_share: float) -> str:
    """Which world a captioned scene of `seed` shows: outdoor with probability `outdoor_share`,
    from a stream of its own (so the share does not change the scenes themselves)."""
    return "outdoor" if np.random.default_rng([int(seed), 2]).random() < outdoor_share else "room"


def render_world_pairs(seed: int, views: int, size: tuple[int, int], world: str = "room",
                       sensor: SensorConfig | None = DEFAULT_SENSOR):
    """(RGBDFrame, record) pairs of one scene (a room, or an outdoor scene): for each view, the whole
    view and one region view, each through the camera model `sensor` (None: clean); every view has
    its own field of view, drawn as for stills."""
    rng, camera = np.random.default_rng(seed), camera_rng(seed)
    outdoor = check_world(world) == "outdoor"
    scene = build_outdoor(rng) if outdoor else build_room(rng)
    for view in range(views):
        intrinsics = intrinsics_for(size, ViewConfig().draw_fov(camera))
        try:
            pose = sample_outdoor_camera(scene, rng) if outdoor else sample_camera(scene, rng)
        except RuntimeError:
            return
        frame = render_view(scene, intrinsics, pose, size)
        facts = describe_view(scene, frame)
        caption_seed = int(np.random.SeedSequence([seed, view]).generate_state(1)[0])
        regions = [{"object": o.kind, "box": list(o.box), "distance_m": round(o.distance_m, 3), "word": distance_word(o.distance_m),
                    "caption": region_caption(o, caption_seed + 2 + k)} for k, o in enumerate(facts.objects)]  # fmt: skip
        record = {"kind": "view", "world": world, "view": view, "caption": view_caption(facts, caption_seed),
                  "facts": facts.to_dict(), "regions": regions}  # fmt: skip
        yield _shot(frame, camera, sensor, record)
        things = [o for o in facts.objects if o.kind not in SHELL] or list(facts.objects)
        if not things:
            continue
        obj = things[int(rng.integers(len(things)))]
        box = region_box(obj, size, aspect=size[1] / size[0])
        region = render_view(scene, zoomed_intrinsics(intrinsics, box, size), pose, size)
        yield _shot(region, camera, sensor, {"kind": "region", "world": world, "view": view,
                                             "caption": region_caption(obj, caption_seed + 1), "object": obj.kind,
                                             "distance_m": obj.distance_m, "box": list(box)})  # fmt: skip


def _shot(frame, camera: np.random.Generator, sensor: SensorConfig | None, record: dict):
    """The frame through the camera model, with what was applied added to its record."""
    if sensor is not None:
        frame.rgb, record["sensor"] = apply_sensor(frame.rgb, camera, sensor)
    return frame, record


def write_captioned(out: str | Path, rooms: int, views: int, size: tuple[int, int], seed: int, progress: bool = True,
                    outdoor_share: float = 0.0, clean: bool = False) -> Path:
    """Render `rooms` scenes x `views` views (x2 pairs) into `out`; returns the folder. A share
    `outdoor_share` of the scenes are outdoor (scene_world); `clean` leaves out the camera model."""
    if not 0.0 <= outdoor_share <= 1.0:
        raise ValueError(f"outdoor share must be between 0 and 1, got {outdoor_share}")
    if rooms < 1 or views < 1:
        raise ValueError(f"rooms and views must be at least 1, got {rooms} and {views}")
    size = check_size(size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    capacity = rooms * views * 2
    images = np.lib.format.open_memmap(out / "images.tmp.npy", mode="w+", dtype=np.uint8, shape=(capacity, *size, 3))
    depth_size = (len(range(2, size[0], DEPTH_STEP)), len(range(2, size[1], DEPTH_STEP)))
    depths = np.lib.format.open_memmap(out / "depths.tmp.npy", mode="w+", dtype=np.float16, shape=(capacity, *depth_size))
    count = 0
    with (out / "captions.jsonl").open("w") as handle:
        for room in tqdm(range(rooms), desc="rendering captioned rooms", unit="room", disable=not progress):
            room_seed = scene_seed(seed, room)
            world = scene_world(room_seed, outdoor_share)
            for frame, record in render_world_pairs(room_seed, views, size, world, None if clean else DEFAULT_SENSOR):
                images[count] = frame.rgb
                depths[count] = frame.depth[2::DEPTH_STEP, 2::DEPTH_STEP]
                handle.write(json.dumps({"index": count, "room": room, "room_seed": room_seed, **record}) + "\n")
                count += 1
    for name, array in (("images", images), ("depths", depths)):
        array.flush()
        final = np.lib.format.open_memmap(out / f"{name}.npy", mode="w+", dtype=array.dtype, shape=(count, *array.shape[1:]))
        final[:] = array[:count]
        final.flush()
        del final
        (out / f"{name}.tmp.npy").unlink()
    del images, depths
    (out / "meta.json").write_text(json.dumps({"rooms": rooms, "views": views, "size": list(size), "seed": seed, "pairs": count,
                                               "outdoor_share": outdoor_share, "clean": clean,
                                               "photo_library": load_library().identity}, indent=1) + "\n")  # fmt: skip
    return out


def read_captioned_depths(folder: str | Path) -> np.ndarray:
    """(N, H/4, W/4) float16 z-depths in metres (memory-mapped) of a folder written by write_captioned;
    entry [i, r, c] is image i's depth at pixel (2 + 4r, 2 + 4c)."""
    path = Path(folder) / "depths.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{Path(folder).name}: no depths.npy (written by python -m scenes.captioned since regions were added)")
    return np.load(path, mmap_mode="r")


def read_captioned(folder: str | Path) -> tuple[np.ndarray, list[dict]]:
    """(images (N, H, W, 3) uint8, memory-mapped; records) of a folder written by write_captioned."""
    folder = Path(folder)
    if not (folder / "images.npy").is_file() or not (folder / "captions.jsonl").is_file():
        raise FileNotFoundError(f"{folder.name}: expected images.npy and captions.jsonl (write them with python -m scenes.captioned)")
    records = [json.loads(line) for line in (folder / "captions.jsonl").read_text().splitlines() if line.strip()]
    images = np.load(folder / "images.npy", mmap_mode="r")
    if len(images) != len(records):
        raise ValueError(f"{folder.name}: {len(images)} images but {len(records)} captions")
    return images, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenes.captioned", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--rooms", type=int, default=600)
    parser.add_argument("--views", type=int, default=4, help="viewpoints per room (each gives a view and a region pair)")
    parser.add_argument("--size", default="128x160", help="HEIGHTxWIDTH of every image")
    parser.add_argument("--seed", type=int, default=7, help="world seed; another seed gives unseen rooms")
    parser.add_argument("--outdoor-share", type=float, default=0.0, help="share of outdoor scenes, 0-1 (default 0)")
    parser.add_argument("--clean", action="store_true", help="no camera model (noise, blur, exposure, JPEG)")
    args = parser.parse_args(argv)
    try:
        out = write_captioned(args.out, args.rooms, args.views, parse_size(args.size), args.seed,
                              outdoor_share=args.outdoor_share, clean=args.clean)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    meta = json.loads((out / "meta.json").read_text())
    print(f"wrote {meta['pairs']} image-caption pairs from {args.rooms} scenes to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
