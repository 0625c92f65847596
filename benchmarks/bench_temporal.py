"""Cost of the temporal study relative to pure inference on the same frames.

Builds two clips from the bundled camera walk (examples/video, played forward and back to the asked
length): one at its own 240x320 and one 16:9 at 360x640 (the walk's middle rows, upscaled; 640 px
is the study's default longest side). For each clip and each torch thread count it times, in one
process:

- pure inference: the same frames, already decoded, through `predictor.predict` in batches of the
  study's batch size;
- the study as the command line runs it (`run_temporal_study`: decoding, optical flow at 160 px,
  inference, every measure, the colourised depth video, the report and its figures).

The study's time is printed as a ratio to pure inference timed right before and right after it
(averaged), so the ratio compares across machines and a load that changes during the run skews it
less; the 1-minute load average is printed beside. Start-up (loading the model, the first call's
imports) is excluded: a short study runs once before anything is timed. CPU time (all threads,
and the ffmpeg encoder's process) is printed as a ratio too: it is the work done, which does not
depend on how busy the machine is, while the wall-clock ratio can only beat it where a core is free.

    python -m benchmarks.bench_temporal --frames 120 --threads 1 2
    python -m benchmarks.bench_temporal --frames 120 --threads 1 --stages   # where the study's CPU time goes
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDE_SIZE = (360, 640)  # 16:9 at the study's default longest side


def walk_frames() -> list:
    from common.frames import open_frames

    return [sample.rgb for sample in open_frames(ROOT / "examples" / "video")]


def widescreen(rgb, size: tuple[int, int] = WIDE_SIZE):
    """The frame's middle rows at 16:9, resized to `size` (H, W)."""
    import cv2

    h, w = rgb.shape[:2]
    rows = round(w * size[0] / size[1])
    top = (h - rows) // 2
    return cv2.resize(rgb[top:top + rows], (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def build_clip(path: Path, frames: int, wide: bool = False) -> Path:
    """An mp4 of `frames` frames: the walk forward and back (continuous motion), 10 fps."""
    from common.video_io import write_video

    walk = walk_frames()
    if wide:
        walk = [widescreen(rgb) for rgb in walk]
    order = list(range(len(walk))) + list(range(len(walk) - 2, 0, -1))
    return write_video(path, (walk[order[i % len(order)]] for i in range(frames)), fps=10.0)


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished child processes (the encoder)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def time_inference(predictor, rgbs: list, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds of predicting every frame, batch by batch."""
    start, cpu = time.perf_counter(), cpu_seconds()
    for i in range(0, len(rgbs), batch):
        predictor.predict(rgbs[i:i + batch])
    return time.perf_counter() - start, cpu_seconds() - cpu


def time_study(predictor, clip: Path, out: Path, batch: int, pipeline: bool = True,
               max_frames: int | None = None) -> tuple[float, float]:  # fmt: skip
    """(wall, CPU) seconds of the whole study, as the command line runs it."""
    from analysis.temporal import run_temporal_study

    start, cpu = time.perf_counter(), cpu_seconds()
    run_temporal_study(clip, predictor, out, batch_size=batch, pipeline=pipeline, progress=False, max_frames=max_frames)
    return time.perf_counter() - start, cpu_seconds() - cpu


STAGES = ("decoding", "inference", "optical flow", "measures", "depth video colours", "depth video encoder (ffmpeg)")


def stage_seconds(predictor, clip: Path, out: Path, batch: int) -> dict[str, float]:
    """CPU seconds of each stage of the study, run one after the other in this thread (the study's
    own functions, its default configuration), and of the whole sequential study; "the rest" is
    what the study spends beyond the stages: opening, queues, figures, report and files."""
    import numpy as np

    from analysis.flow import flow_between, flow_image
    from analysis.temporal import TemporalAnalyzer, TemporalConfig
    from common.frames import open_frames
    from common.video_io import VideoWriter, side_by_side

    config, spent = TemporalConfig(), dict.fromkeys(STAGES, 0.0)
    source = open_frames(clip)
    frames, analyzer, writer = iter(source), TemporalAnalyzer(config), VideoWriter(out / "stages.mp4", source.fps)
    previous, colours, children = None, None, cpu_seconds() - time.process_time()

    def timed(stage: str, work, *args):
        start = time.process_time()
        result = work(*args)
        spent[stage] += time.process_time() - start
        return result

    def next_batch() -> list:
        return [sample for _, sample in zip(range(batch), frames)]

    while batch_samples := timed("decoding", next_batch):
        depths = timed("inference", predictor.predict, [sample.rgb for sample in batch_samples])
        for sample, depth in zip(batch_samples, depths):
            grey = timed("optical flow", flow_image, sample.rgb, config.flow_max_side)
            flows = None if previous is None else timed("optical flow", flow_between, previous, grey, sample.rgb.shape[:2],
                                                        config.flow_method)  # fmt: skip
            previous = grey
            timed("measures", analyzer.add, sample, depth, flows)
            if colours is None:  # as the study: fixed colours from the first frame's 2nd and 98th percentiles
                colours = [float(v) for v in np.percentile(depth[depth > 0], [2, 98])]
            frame = timed("depth video colours", side_by_side, sample.rgb, [depth], [colours[0]], [colours[1]])
            timed("depth video encoder (ffmpeg)", writer.write, frame)
    timed("depth video encoder (ffmpeg)", writer.close)
    spent["depth video encoder (ffmpeg)"] += cpu_seconds() - time.process_time() - children  # the encoder's own process
    spent["whole study, sequential"] = time_study(predictor, clip, out / "study", batch, pipeline=False)[1]
    spent["the rest"] = spent["whole study, sequential"] - sum(spent[stage] for stage in STAGES)
    return spent


def peak_memory_mb(predictor, clip: Path, out: Path, batch: int, max_frames: int) -> float:
    tracemalloc.start()
    try:
        time_study(predictor, clip, out, batch, max_frames=max_frames)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per clip (default 120)")
    parser.add_argument("--batch", type=int, default=8, help="frames per prediction batch, as the study's --batch (default 8)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to time (default 1 2)")
    parser.add_argument("--clips", nargs="+", choices=("4:3", "16:9"), default=["4:3", "16:9"], help="which clips (default both)")
    parser.add_argument("--model", default="synthetic-tiny")
    parser.add_argument("--sequential", action="store_true", help="also time the study with every stage in one thread")
    parser.add_argument("--memory", action="store_true", help="also report the peak traced memory at a quarter and all of the clip")
    parser.add_argument("--stages", action="store_true",
                        help="also report each stage's CPU time (run alone, one after the other) at the first thread count")
    args = parser.parse_args()
    if args.frames < 2 or args.batch < 1 or min(args.threads) < 1:
        parser.error("--frames must be at least 2, --batch and --threads at least 1")

    import torch
    from tqdm import tqdm

    from mirror_model.predict import load_predictor

    predictor = load_predictor(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = {name: build_clip(tmp / f"clip{i}.mp4", args.frames, wide=name == "16:9") for i, name in enumerate(args.clips)}
        time_study(predictor, clips[args.clips[0]], tmp / "warm-up", args.batch, max_frames=2 * args.batch)  # start-up
        from common.frames import open_frames

        jobs = [(name, threads) for name in args.clips for threads in args.threads]
        for name, threads in tqdm(jobs, desc="bench_temporal", unit="run"):
            torch.set_num_threads(threads)
            rgbs = [sample.rgb for sample in open_frames(clips[name])]
            predictor.predict(rgbs[:args.batch])  # warm-up at this size and thread count
            loads = [load()]
            before = time_inference(predictor, rgbs, args.batch)
            study = time_study(predictor, clips[name], tmp / "out", args.batch)
            after = time_inference(predictor, rgbs, args.batch)
            sequential = time_study(predictor, clips[name], tmp / "seq", args.batch, pipeline=False) if args.sequential else None
            loads.append(load())
            rows.append((name, rgbs[0].shape[:2], threads, before, after, study, sequential, loads))
        stages = {}
        if args.stages:
            torch.set_num_threads(args.threads[0])
            for name in tqdm(args.clips, desc="stages", unit="clip"):
                stages[name] = stage_seconds(predictor, clips[name], tmp, args.batch)
        if args.memory:
            clip, quarter_frames = clips[args.clips[0]], max(2, args.frames // 4)
            quarter = peak_memory_mb(predictor, clip, tmp / "mem_q", args.batch, quarter_frames)
            whole = peak_memory_mb(predictor, clip, tmp / "mem_w", args.batch, args.frames)

    print(f"{args.model}, {args.frames} frames per clip, batch {args.batch}; start-up excluded; "
          "ratio = study / mean of pure inference before and after it")  # fmt: skip
    print(f"{'clip':14} {'threads':>7} {'pure inference (s)':>19} {'ms/frame':>8} {'study (s)':>10} {'ratio':>7} {'CPU ratio':>10}"
          "  load (1 min)")  # fmt: skip
    for name, (h, w), threads, before, after, study, sequential, loads in rows:
        inference, inference_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        print(f"{f'{name} {h}x{w}':14} {threads:>7} {f'{before[0]:.2f} / {after[0]:.2f}':>19} {1000 * inference / args.frames:>8.1f} "
              f"{study[0]:>10.2f} {study[0] / inference:>6.2f}x {study[1] / inference_cpu:>9.2f}x  "
              f"{loads[0]:.1f} -> {loads[1]:.1f}")  # fmt: skip
        if sequential is not None:
            print(f"{'  sequential':14} {threads:>7} {'':>19} {'':>8} {sequential[0]:>10.2f} {sequential[0] / inference:>6.2f}x "
                  f"{sequential[1] / inference_cpu:>9.2f}x")  # fmt: skip
    print("the wall-clock ratio needs a free core for the worker threads; the CPU ratio is the work, whatever the load")
    for name, spent in stages.items():
        print(f"CPU seconds by stage, {name} clip, {args.threads[0]} torch thread(s); x = times the stage's own inference")
        for stage, seconds in spent.items():
            print(f"  {stage:30} {seconds:6.2f} s  {seconds / spent['inference']:5.2f}x")
    if args.memory:
        print(f"peak traced memory: {quarter:.1f} MB at {quarter_frames} frames, {whole:.1f} MB at {args.frames} frames "
              f"({whole / quarter:.2f}x)")


if __name__ == "__main__":
    main()
