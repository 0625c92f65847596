"""Mirror depth inference cost on CPU, for the bundled model.

The bundled model is `checkpoints/mirror-synthetic-tiny` (world-vit-256 CLIP, s = 16 mirror tokens,
maps-only resize-convolution decoder), loaded as the app loads it (`load_predictor("synthetic-tiny")`).
Prints, per torch thread count, for one 240x320 frame at batch 1 in fp32: the median milliseconds of the
image encoder, of everything after it (similarity maps, decoder, resize to full resolution,
sigmoid) and of the whole cached forward, and the forward's ratio to the encoder (target <= 1.25x);
at 1 thread also that ratio in the thread's own CPU time, which other processes on a shared machine
disturb far less than wall-clock time. Then `DepthPredictor.predict`'s own overhead per frame
(uint8 numpy -> tensor, resize, depth back to numpy) over the model forward, the text encoder run
the text-side cache saves, parameter counts of full-size CLIPs (random init, nothing downloaded)
and the checkpoint sizes. The 1-minute load average is printed beside the figures.

    python -m benchmarks.bench_mirror_inference --threads 1,2 --repeats 60
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from benchmarks.runtime import load_average, positive_counts


def interleaved_medians(fns: dict, repeats: int, clock=time.perf_counter, warmup: int = 3, progress: str | None = None) -> dict:
    """Median milliseconds of each callable, timed in turn within every round, so that a change of
    machine load during the run touches all of them alike."""
    from tqdm import tqdm

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in tqdm(range(repeats), desc=progress, unit="round", leave=False, disable=progress is None, file=sys.stderr):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append((clock() - start) * 1000.0)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_bundled(size: tuple[int, int], threads: list[int], repeats: int) -> None:
    """Encoder, after-encoder and whole forward of the bundled model, per thread count."""
    from mirror_model.predict import load_predictor

    predictor = load_predictor("synthetic-tiny", device="cpu", precision="fp32")
    model = predictor.model
    config = model.config
    images = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    print(f"bundled model: {predictor.info.message}")
    print(f"  {config.clip_name}, s = {config.mirror_tokens}, decoder {config.decoder.upsample}, fp32; one {size[0]}x{size[1]} "
          f"frame, batch 1, CPU; median of {repeats} interleaved rounds; load average {load_average()} at start")
    print(f"{'threads':>7} {'clock':>10} {'image enc':>10} {'after enc':>10} {'forward':>9} {'fwd/enc':>8}")
    with torch.inference_mode():
        features = model.image_features(images)
        fns = {"encoder": partial(model.image_features, images),
               "after": partial(model.depth_from_features, features, size),
               "forward": partial(model, images)}
        for count in threads:
            torch.set_num_threads(count)
            clocks = [("wall", time.perf_counter)] + ([("thread CPU", time.thread_time)] if count == 1 else [])
            for clock_name, clock in clocks:
                ms = interleaved_medians(fns, repeats, clock, progress=f"{count} thread(s), {clock_name}")
                print(f"{count:>7} {clock_name:>10} {ms['encoder']:>8.2f}ms {ms['after']:>8.2f}ms {ms['forward']:>7.2f}ms "
                      f"{ms['forward'] / ms['encoder']:>7.2f}x")
    print(f"  after enc: similarity maps + decoder + resize + sigmoid; fwd/enc target <= 1.25x; load average {load_average()} at end")


def bench_predict_overhead(size: tuple[int, int], repeats: int) -> None:
    """DepthPredictor.predict on a uint8 frame vs the model forward on the same frame as a tensor."""
    from mirror_model.predict import load_predictor

    torch.set_num_threads(1)
    predictor = load_predictor("synthetic-tiny", device="cpu", precision=None)  # as the app loads it
    frame = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    images = torch.from_numpy(frame).permute(2, 0, 1)[None].float().div(255.0)

    def forward() -> None:
        with torch.inference_mode():
            predictor.model(images)

    ms = interleaved_medians({"predict": partial(predictor.predict, frame), "forward": forward}, repeats,
                             time.thread_time, progress="predict overhead")
    print(f"DepthPredictor.predict ({predictor.precision}, as the app loads it on a CPU), one {size[0]}x{size[1]} uint8 frame, "
          f"1 thread, thread CPU time: {ms['predict']:.2f}ms; "
          f"model forward {ms['forward']:.2f}ms; overhead (numpy -> tensor, resize, back) {ms['predict'] - ms['forward']:.2f}ms "
          f"per frame; load average {load_average()}")


def bench_text_cache(repeats: int) -> None:
    """The text encoder run that the cache saves per frame, for the bundled model."""
    from mirror_model.predict import load_predictor

    torch.set_num_threads(1)
    model = load_predictor("synthetic-tiny", device="cpu").model
    with torch.inference_mode():
        ms = interleaved_medians({"text": model._compute_text_features}, repeats, time.thread_time)
    print(f"text side (saved by the cache on every frame): {ms['text']:.2f}ms at 1 thread, thread CPU time")


def bench_real_architectures(names: list[str], size: tuple[int, int], repeats: int) -> None:
    """Parameter counts, and image-side vs text-side cost, of full-size CLIPs (random weights)."""
    from mirror_model import clip_backbone
    from mirror_model.model import MirrorDepth, MirrorDepthConfig

    torch.set_num_threads(1)
    images = torch.rand(1, 3, *size)
    print(f"full-size CLIPs, random init, 1 thread, {size[0]}x{size[1]} (median of {repeats}):")
    for name in names:
        clip, info = clip_backbone.load_clip(name, None)
        model = MirrorDepth(MirrorDepthConfig(clip_name=name), clip, info).eval()
        mirror = model.mirror.numel()
        total = model.num_trainable_parameters()
        frozen = sum(p.numel() for p in clip.parameters())
        with torch.inference_mode():
            ms = interleaved_medians({"forward": partial(model, images), "text": model._compute_text_features}, repeats, warmup=1)
        print(
            f"  {name:>9}: {total:,} trainable (mirror {mirror:,}, decoder {total - mirror:,}); "
            f"frozen CLIP {frozen:,}; cached forward {ms['forward']:.0f}ms, text side {ms['text']:.0f}ms "
            f"({ms['text'] / ms['forward']:.2f}x of a frame saved by the cache)"
        )


def bench_checkpoint_size() -> None:
    """Sizes of the bundled mirror checkpoint and of the world CLIP it sits on."""
    root = Path(__file__).resolve().parents[1] / "checkpoints"
    for name in ("mirror-synthetic-tiny", "world-clip-256"):
        folder = root / name
        if folder.is_dir():
            sizes = {f.name: f.stat().st_size for f in folder.iterdir()}
            listing = ", ".join(f"{file} {size / 1e6:.2f} MB" for file, size in sorted(sizes.items()))
            print(f"checkpoints/{name}: {sum(sizes.values()) / 1e6:.2f} MB ({listing})")


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 240x320, got {text!r}") from None
    if min(height, width) < 16:
        raise argparse.ArgumentTypeError("each side must be at least 16 pixels (one patch)")
    return height, width


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_mirror_inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=positive_counts, default=[1, 2], help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=60, help="timed rounds per figure (default 60)")
    parser.add_argument("--size", type=_size, default=(240, 320), help="frame size HxW (default 240x320)")
    parser.add_argument("--models", default="RN50,ViT-B-16", help="full-size architectures to count parameters for ('' skips)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    bench_bundled(args.size, args.threads, args.repeats)
    bench_predict_overhead(args.size, args.repeats)
    bench_text_cache(max(3, args.repeats // 5))
    if args.models:
        bench_real_architectures([m for m in args.models.split(",") if m], args.size, max(3, args.repeats // 10))
    bench_checkpoint_size()
    return 0


if __name__ == "__main__":
    sys.exit(main())
