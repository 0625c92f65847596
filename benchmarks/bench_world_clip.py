"""World CLIP pretraining cost on the CPU: one full training step (global + region + word terms,
forward, backward, AdamW) of world-vit-256 at 128x160, in fp32 and under bf16 autocast, with 1 and
2 torch threads. Prints the median milliseconds per step, the bf16/fp32 ratio per thread count,
the 2-thread speed-up, and how far the first bf16 loss is from the fp32 one.

    python -m benchmarks.bench_world_clip --batch-size 64 --steps 4 --threads 1,2

The batch is random pixels with captions and four boxed regions per image; the cost of a step does
not depend on what the pixels show.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def synthetic_world(count: int, size: tuple[int, int] = (128, 160), seed: int = 0):
    from mirror_model.world_data import Region, WorldData

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, *size, 3), dtype=np.uint8)
    kinds = ("sofa", "table", "wall", "shelf", "crate", "floor")
    words = ("extremely close", "close", "not in distance", "a little remote", "far")
    captions, regions = [], []
    for _ in range(count):
        picked = [(kinds[int(rng.integers(len(kinds)))], float(rng.uniform(0.5, 8.0))) for _ in range(4)]
        captions.append("; ".join(f"a {kind} about {metres:.0f} metres away" for kind, metres in picked[:2]))
        boxes = []
        for kind, metres in picked:
            top, left = int(rng.integers(0, size[0] // 2)), int(rng.integers(0, size[1] // 2))
            boxes.append(Region((top, left, top + size[0] // 2, left + size[1] // 2), metres,
                                f"this {kind} is {words[min(4, int(metres // 1.6))]}"))
        regions.append(boxes)
    return WorldData(images, captions, regions, None, "synthetic")


def step_times(data, batch_size: int, steps: int, bf16: bool, threads: int, clip_name: str) -> tuple[float, float]:
    """(median ms per training step, loss of the first step)."""
    from mirror_model import clip_backbone
    from mirror_model.world_clip import PretrainConfig, autocast, batch_losses, make_batch, tokenize
    from mirror_model.world_data import word_prompts

    torch.set_num_threads(threads)
    config = PretrainConfig(clip_name=clip_name, batch_size=batch_size, bf16=bf16)
    model, _ = clip_backbone.load_clip(clip_name, None, seed=0)
    model.train()
    for param in model.parameters():
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    words = tokenize(word_prompts(), clip_name)
    rng = np.random.default_rng(0)
    times, first = [], None
    for step in range(steps + 2):  # two warm-up steps
        batch = make_batch(data, np.sort(rng.choice(len(data), batch_size, replace=False)), rng, config.regions_per_view)
        start = time.perf_counter()
        with autocast(bf16):
            loss = batch_losses(model, batch, config, words)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 2:
            times.append((time.perf_counter() - start) * 1000.0)
        first = float(loss.detach()) if first is None else first
    return statistics.median(times), first


def cpu_has(flag: str) -> str:
    """'yes'/'no' from the CPU flags Linux reports; 'unknown' elsewhere."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return "unknown"
    return "yes" if flag in flags.split() else "no"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_world_clip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per setting (after 2 warm-up steps)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--clip", default="world-vit-256")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    data = synthetic_world(max(4 * args.batch_size, 64))
    print(f"{args.clip} pretraining step, batch {args.batch_size} at 128x160 (+4 regions per image), CPU "
          f"(torch kernels {torch.backends.cpu.get_cpu_capability()}, avx512_bf16: {cpu_has('avx512_bf16')}, "
          f"amx_bf16: {cpu_has('amx_bf16')}); median of {args.steps}")
    print(f"{'threads':>7} {'precision':>9} {'ms/step':>9} {'first loss':>10}")
    results = {}
    for count in threads:
        for bf16 in (False, True):
            ms, loss = step_times(data, args.batch_size, args.steps, bf16, count, args.clip)
            results[(count, bf16)] = (ms, loss)
            print(f"{count:>7} {'bf16' if bf16 else 'fp32':>9} {ms:>9.0f} {loss:>10.4f}")
    for count in threads:
        (fp32, loss32), (bf16, loss16) = results[(count, False)], results[(count, True)]
        print(f"{count} thread(s): bf16/fp32 step time {bf16 / fp32:.2f}x; first-loss difference {abs(loss16 - loss32):.4f}")
    if 1 in threads and 2 in threads:
        for bf16 in (False, True):
            print(f"{'bf16' if bf16 else 'fp32'}: 2 threads / 1 thread step time "
                  f"{results[(2, bf16)][0] / results[(1, bf16)][0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
