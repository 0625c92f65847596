"""Regenerate the offline RGB-D examples in examples/ (deterministic: the same files every run).

    python scripts/make_examples.py [--out examples]

examples/scenes/  4 independent rooms at 240x320: rgb/, depth/ (16-bit mm), intrinsics.json, poses.json
examples/video/   a 24-frame camera walk at 240x320: the same, plus video.mp4 (10 fps)
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenes.io import write_scenes, write_video  # noqa: E402

SIZE = (240, 320)
SCENES, SCENE_SEED = 4, 0
FRAMES, VIDEO_SEED, FPS = 24, 1, 10.0
SIZE_LIMIT_BYTES = 5 * 1024 * 1024


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the RGB-D examples (scenes and a video).")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "examples"), help="examples folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    scenes_dir, video_dir = out / "scenes", out / "video"
    for folder in (scenes_dir, video_dir):  # stale frames from an older run must not linger
        if folder.exists():
            shutil.rmtree(folder)
    write_scenes(scenes_dir, SCENES, SIZE, SCENE_SEED)
    write_video(video_dir, FRAMES, SIZE, VIDEO_SEED, FPS)
    total = folder_bytes(scenes_dir) + folder_bytes(video_dir)
    print(f"wrote {scenes_dir} and {video_dir}: {total / 1e6:.2f} MB")
    if total > SIZE_LIMIT_BYTES:
        print(f"error: examples take {total / 1e6:.2f} MB, over the {SIZE_LIMIT_BYTES / 1e6:.1f} MB budget", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
