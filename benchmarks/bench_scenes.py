"""How long one procedural RGB-D scene takes to render, and how that scales with image size.

    python -m benchmarks.bench_scenes [--repeats 7] [--world room|outdoor]

Times a full render_scene call (room generation, camera search, ray casting, shading) as the median
over several seeds, after one warm-up render. Prints figures and ratios; it asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import time

from tqdm import tqdm

from scenes.generate import render_scene, render_video


def median_seconds(size: tuple[int, int], repeats: int, world: str = "room") -> float:
    times = []
    for seed in tqdm(range(repeats), desc=f"{world} {size[0]}x{size[1]}", unit="scene", leave=False):
        start = time.perf_counter()
        render_scene(seed, size, world=world)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time procedural RGB-D scene rendering.")
    parser.add_argument("--repeats", type=int, default=7, help="scenes per size (default 7)")
    parser.add_argument("--video-frames", type=int, default=24, help="frames in the timed video (default 24)")
    parser.add_argument("--world", choices=("room", "outdoor"), default="room",
                        help="stills of this world; outdoor is also timed against rooms, interleaved (default room)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.video_frames < 1:
        parser.error("--repeats and --video-frames must be at least 1")

    render_scene(0, (60, 80))  # warm-up: open3d/Embree initialisation is a one-off cost
    if args.world == "outdoor":
        outdoor, rooms = [], []
        for _ in range(3):  # interleaved, so both see the same load
            outdoor.append(median_seconds((240, 320), args.repeats, "outdoor"))
            rooms.append(median_seconds((240, 320), args.repeats, "room"))
        out_ms, room_ms = statistics.median(outdoor) * 1000, statistics.median(rooms) * 1000
        print(f"240x320 outdoor {out_ms:.0f} ms, rooms {room_ms:.0f} ms per scene (medians of 3 x {args.repeats} seeds): "
              f"{out_ms / room_ms:.2f}x")
        return 0
    small = median_seconds((120, 160), args.repeats)
    full = median_seconds((240, 320), args.repeats)
    start = time.perf_counter()
    render_video(0, args.video_frames, (240, 320))
    per_frame = (time.perf_counter() - start) / args.video_frames

    verdict = "well under a second" if full < 0.5 else ("under a second" if full < 1.0 else "NOT under a second")
    print(f"scene 120x160: median {small * 1000:.0f} ms over {args.repeats} seeds")
    print(f"scene 240x320: median {full * 1000:.0f} ms over {args.repeats} seeds ({verdict})")
    print(f"ratio 240x320 / 120x160: {full / small:.2f} (4x the pixels)")
    print(f"video 240x320: {per_frame * 1000:.0f} ms per frame over {args.video_frames} frames (room built once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
