"""Command line: write a synthetic RGB-D dataset or one camera-walk video.

    python -m scenes --out data/scenes --count 200 --size 240x320 --seed 0
    python -m scenes --out data/streets --world outdoor --count 200 --size 240x320 --seed 0
    python -m scenes --out data/walk --video --frames 48 --size 240x320 --seed 1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.camera import intrinsics_for
from common.sizes import parse_size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scenes",
        description="Render procedural RGB-D scenes (rooms or outdoor) (open3d ray casting, exact metric depth) to a folder: "
        "rgb/*.png, depth/*.png (16-bit: millimetres for rooms, 256 units per metre outdoors), poses.json (each frame's "
        "pose and camera), intrinsics.json when every frame shares one camera (--fov or --video); with --video also video.mp4.",
    )
    parser.add_argument("--out", required=True, help="output folder: new, empty, or an earlier output of this command "
                        "(its frames are replaced)")
    parser.add_argument("--count", type=int, default=16, help="number of independent scenes (default 16)")
    parser.add_argument("--size", default="240x320", help="image size HEIGHTxWIDTH (default 240x320)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed; use another for a held-out set (default 0)")
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view in degrees for every frame (default: stills draw one per scene, 55-80; "
                        "videos use NYU Depth v2 intrinsics, ~63)")
    parser.add_argument("--world", default="room", choices=("room", "outdoor"),
                        help="stills of furnished rooms (10 m cap) or of streets, plazas and parks (80 m cap, depth PNGs "
                        "at 256 units per metre as KITTI's; sky = 0) (default room)")
    parser.add_argument("--clean", action="store_true",
                        help="stills without camera effects (noise, blur, exposure, white balance, JPEG; scenes.sensor)")
    parser.add_argument("--video", action="store_true", help="write one camera walk through one room instead of independent scenes")
    parser.add_argument("--frames", type=int, default=48, help="video length in frames (default 48)")
    parser.add_argument("--fps", type=float, default=10.0, help="video frame rate (default 10)")
    return parser


OWNED = ("rgb", "depth", "intrinsics.json", "poses.json", "video.mp4")  # what this command writes in --out


def clear_previous_output(out: Path) -> None:
    """Empty OUT of an earlier output of this command (the frames its poses.json names, and its
    JSON files and video), so no stale frame outlives a smaller or different set. ValueError when
    OUT holds anything else: it is then left as it is."""
    from common.scene_folder import read_pose_record

    if not out.is_dir() or not any(out.iterdir()):
        return
    record = read_pose_record(out) if (out / "poses.json").is_file() else None
    frames = record.get("frames") if isinstance(record, dict) and record.get("kind") in ("scenes", "video") else None
    frames = frames if isinstance(frames, list) else []
    names = {f"{frame['name']}.png" for frame in frames if isinstance(frame, dict) and "name" in frame}
    strangers = [entry.name for entry in out.iterdir() if entry.name not in OWNED]
    for sub in ("rgb", "depth"):
        if (out / sub).exists():
            strangers += [f"{sub}/{entry.name}" for entry in (out / sub).iterdir() if entry.name not in names or not entry.is_file()] \
                if (out / sub).is_dir() else [sub]  # fmt: skip
    if not names or strangers:
        what = ", ".join(sorted(strangers)[:3]) if strangers else "no poses.json of this command"
        raise ValueError(f"--out {out.name} is not empty and not an earlier output of this command ({what}); "
                         f"give a new or empty folder")
    for sub in ("rgb", "depth"):
        for name in names:
            (out / sub / name).unlink(missing_ok=True)
    for name in ("intrinsics.json", "poses.json", "video.mp4"):
        (out / name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .io import write_scenes, write_video  # after parsing, so --help stays fast

    try:
        size = parse_size(args.size)
        intrinsics_for(size, args.fov)  # a bad field of view is refused before any folder is made
        out_path = Path(args.out)
        if any(part.exists() and not part.is_dir() for part in (out_path, *out_path.parents)):
            raise ValueError(f"--out {out_path.name}: a file stands where the output folder would be")
        if args.video and args.world != "room":
            raise ValueError("--video renders a walk through a room; outdoor walks are not written as videos yet (drop --world)")
        clear_previous_output(out_path)
        if args.video:
            out = write_video(args.out, args.frames, size, args.seed, args.fps, args.fov)
            print(f"wrote a {args.frames}-frame video at {size[0]}x{size[1]} to {out}")
        else:
            out = write_scenes(args.out, args.count, size, args.seed, args.fov, clean=args.clean, world=args.world)
            print(f"wrote {args.count} {args.world} scenes at {size[0]}x{size[1]} to {out}")
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
