"""Mirror depth inference cost on CPU.

Prints, for the bundled tiny ViT CLIP at 240x320: median milliseconds of the image encoder, the
decoder and the whole cached forward pass per thread count; how much the text-side cache saves
(the text encoder run that an uncached forward would add); trainable parameter counts of mirror +
decoder for RN50 and ViT-B-16 (random init, nothing downloaded) with their image-side and text-side
cost; and the size of the bundled
tiny checkpoint directory.

    python -m benchmarks.bench_mirror_inference --threads 1,2 --repeats 20
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch


def _median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def bench_tiny(size: tuple[int, int], threads: list[int], repeats: int) -> None:
    from mirror_model.model import MirrorDepthConfig, build_mirror_depth

    model = build_mirror_depth(MirrorDepthConfig(clip_name="tiny-vit"), seed=0).eval()
    images = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    print(f"tiny-vit, one {size[0]}x{size[1]} frame, CPU (median of {repeats})")
    print(f"{'threads':>7} {'image enc':>10} {'decoder':>9} {'forward':>9} {'text side':>10} {'text/fwd':>9}")
    for count in threads:
        torch.set_num_threads(count)
        with torch.inference_mode():
            features = model.image_features(images)
            maps = model.similarity_maps(features, model.text_features())
            image_ms = _median_ms(lambda: model.image_features(images), repeats)
            text = model.text_features()
            decoder_ms = _median_ms(partial(lambda f, t: model.decoder(model.similarity_maps(f, t), f), features, text), repeats)
            forward_ms = _median_ms(lambda: model(images), repeats)
            text_ms = _median_ms(model._compute_text_features, repeats)
        assert maps.shape[1] == model.config.mirror_tokens
        print(
            f"{count:>7} {image_ms:>8.1f}ms {decoder_ms:>7.1f}ms {forward_ms:>7.1f}ms {text_ms:>8.1f}ms "
            f"{text_ms / forward_ms:>8.2f}x"
        )
    print("  text/fwd: the text-encoder run per frame that the cache saves, relative to the cached forward")


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
            forward_ms = _median_ms(partial(lambda m: m(images), model), repeats, warmup=1)
            text_ms = _median_ms(model._compute_text_features, repeats, warmup=1)
        print(
            f"  {name:>9}: {total:,} trainable (mirror {mirror:,}, decoder {total - mirror:,}); "
            f"frozen CLIP {frozen:,}; cached forward {forward_ms:.0f}ms, text side {text_ms:.0f}ms "
            f"({text_ms / forward_ms:.2f}x of a frame saved by the cache)"
        )


def bench_checkpoint_size() -> None:
    from mirror_model.checkpoint import init_checkpoint
    from mirror_model.model import MirrorDepthConfig

    with tempfile.TemporaryDirectory() as tmp:
        out = init_checkpoint(Path(tmp) / "tiny", MirrorDepthConfig(), seed=0)
        sizes = {f.name: f.stat().st_size for f in out.iterdir()}
    listing = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sorted(sizes.items()))
    print(f"bundled tiny checkpoint: {sum(sizes.values()) / 1e6:.2f} MB in all ({listing})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", default="240x320", help="HxW")
    parser.add_argument("--models", default="RN50,ViT-B-16", help="architectures to count parameters for ('' skips)")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    bench_tiny((height, width), [int(t) for t in args.threads.split(",")], args.repeats)
    if args.models:
        bench_real_architectures([m for m in args.models.split(",") if m], (height, width), max(3, args.repeats // 5))
    bench_checkpoint_size()


if __name__ == "__main__":
    main()
