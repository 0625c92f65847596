"""Cost of the temporal study relative to pure inference on the same frames, and its memory.

Builds a clip from the bundled camera walk (examples/video, played forward and back to the asked
length, 240x320), then times on the same frames:

- pure inference: the model on every frame, batch by batch, frames already decoded;
- the study as before this pipeline: every stage in one thread, optical flow at full size;
- the study as it runs now: decoding, flow, inference and measuring overlapped in worker threads,
  flow at 160 px (the default).

Both end-to-end times are printed as ratios to pure inference (the same run, the same machine), so
they compare across machines; pure inference is timed right before and right after each study and
the two are averaged, so a machine whose load changes during the run skews the ratios less. The
depth video is written, as the CLI does by default. Memory:
the peak of Python-tracked allocations (numpy included) for a quarter of the clip and for all of
it; flat means a ratio near 1. CPU time (all threads) is printed as a ratio too: it is the work
done, which does not depend on how busy the machine is, while the pipelined wall-clock time can
only beat it where cores are free.

    python -m benchmarks.bench_temporal --frames 240 --threads 1
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_clip(path: Path, frames: int) -> Path:
    from common.frames import open_frames
    from common.video_io import write_video

    walk = [sample.rgb for sample in open_frames(ROOT / "examples" / "video")]
    order = list(range(len(walk))) + list(range(len(walk) - 2, 0, -1))  # forward and back: continuous motion
    return write_video(path, (walk[order[i % len(order)]] for i in range(frames)), fps=10.0)


CPU: dict[str, float] = {}  # CPU seconds (all threads of the process) of the last timed run, by kind


def time_inference(predictor, clip: Path, batch: int) -> float:
    from common.frames import open_frames

    rgbs = [sample.rgb for sample in open_frames(clip)]
    predictor.predict(rgbs[:batch])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(rgbs), batch):
        predictor.predict(rgbs[i:i + batch])
    CPU["inference"] = time.process_time() - cpu
    return time.perf_counter() - start


def time_study(predictor, clip: Path, out: Path, batch: int, pipeline: bool, flow_max_side: int | None,
               max_frames: int | None = None) -> float:  # fmt: skip
    from analysis.temporal import TemporalConfig, run_temporal_study

    start, cpu = time.perf_counter(), time.process_time()
    run_temporal_study(clip, predictor, out, config=TemporalConfig(flow_max_side=flow_max_side), batch_size=batch,
                       pipeline=pipeline, progress=False, max_frames=max_frames)  # fmt: skip
    CPU["study"] = time.process_time() - cpu
    return time.perf_counter() - start


def peak_memory_mb(predictor, clip: Path, out: Path, batch: int, max_frames: int) -> float:
    tracemalloc.start()
    try:
        time_study(predictor, clip, out, batch, True, 160, max_frames)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    import torch

    from analysis.temporal import FLOW_MAX_SIDE
    from mirror_model.predict import load_predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for inference")
    parser.add_argument("--model", default="synthetic-tiny")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = load_predictor(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = build_clip(tmp / "clip.mp4", args.frames)
        inferences = [time_inference(predictor, clip, args.batch)]
        inference_cpu = CPU["inference"]
        before = time_study(predictor, clip, tmp / "before", args.batch, pipeline=False, flow_max_side=None)
        before_cpu = CPU["study"]
        inferences.append(time_inference(predictor, clip, args.batch))
        now = time_study(predictor, clip, tmp / "now", args.batch, pipeline=True, flow_max_side=FLOW_MAX_SIDE)
        now_cpu = CPU["study"]
        inferences.append(time_inference(predictor, clip, args.batch))
        quarter = peak_memory_mb(predictor, clip, tmp / "mem_q", args.batch, max(2, args.frames // 4))
        whole = peak_memory_mb(predictor, clip, tmp / "mem_w", args.batch, args.frames)
    print(f"{args.model}, {args.frames} frames of 240x320, batch {args.batch}, {args.threads} torch thread(s)")
    around_before, around_now = (inferences[0] + inferences[1]) / 2, (inferences[1] + inferences[2]) / 2
    print("pure inference                     " + " / ".join(f"{t:.2f}" for t in inferences)
          + f" s  ({1000 * inferences[0] / args.frames:.1f} ms per frame)")
    print(f"study, sequential, full-size flow  {before:7.2f} s  {before / around_before:5.2f}x inference  "
          f"(CPU time {before_cpu / inference_cpu:.2f}x inference's)")
    print(f"study, pipelined, flow at {FLOW_MAX_SIDE} px   {now:7.2f} s  {now / around_now:5.2f}x inference  "
          f"(CPU time {now_cpu / inference_cpu:.2f}x inference's)")
    print("  wall-clock ratios need idle cores for the worker threads; the CPU-time ratio is the work, whatever the load")
    print(f"peak traced memory: {quarter:.1f} MB at {max(2, args.frames // 4)} frames, {whole:.1f} MB at {args.frames} "
          f"frames ({whole / quarter:.2f}x)")


if __name__ == "__main__":
    main()
