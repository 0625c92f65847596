"""Mirror depth inference cost on CPU.

Prints, for the bundled architecture (world-vit CLIP) at 240x320: median milliseconds of the image
encoder, the decoder and the whole cached forward pass per thread count, and the forward's ratio to
the image encoder alone, for the bundled decoder and the one it replaced; how much the text-side cache saves
(the text encoder run that an uncached forward would add); trainable parameter counts of mirror +
decoder for RN50 and ViT-B-16 (random init, nothing downloaded) with their image-side and text-side
cost; and the size of the bundled
tiny checkpoint directory.

    python -m benchmarks.bench_mirror_inference --threads 1,2 --repeats 20
"""
from __future__ import annotations

import argparse
import statistics
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


DECODERS = {
    "bundled: maps only, resize-conv": {},
    "before: maps + image path, transposed conv": dict(hidden=96, stage_channels=(64, 32, 16, 16), image_channels=32,
                                                       upsample="transposed"),
}


def bench_tiny(size: tuple[int, int], threads: list[int], repeats: int) -> None:
    """The bundled architecture (world-vit CLIP; cost does not depend on the weights) with the
    bundled decoder and the one it replaced: whole forward relative to the image encoder alone."""
    from mirror_model.decoder import DecoderConfig
    from mirror_model.model import MirrorDepthConfig, build_mirror_depth

    images = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    print(f"world-vit, one {size[0]}x{size[1]} frame, batch 1, CPU (median of {repeats})")
    print(f"{'decoder':<45} {'threads':>7} {'image enc':>10} {'decoder':>9} {'forward':>9} {'fwd/enc':>8} {'text/fwd':>9}")
    for label, decoder in DECODERS.items():
        config = MirrorDepthConfig(clip_name="world-vit-256", input_size=size, mirror_tokens=16, decoder=DecoderConfig(**decoder))
        model = build_mirror_depth(config, seed=0).eval()
        for count in threads:
            torch.set_num_threads(count)
            with torch.inference_mode():
                features = model.image_features(images)
                text = model.text_features()
                assert model.similarity_maps(features, text).shape[1] == model.config.mirror_tokens
                image_ms = _median_ms(partial(lambda m: m.image_features(images), model), repeats)
                decoder_ms = _median_ms(partial(lambda m, f, t: m.decoder(m.similarity_maps(f, t), f), model, features, text),
                                        repeats)  # fmt: skip
                forward_ms = _median_ms(partial(lambda m: m(images), model), repeats)
                text_ms = _median_ms(model._compute_text_features, repeats)
            print(f"{label:<45} {count:>7} {image_ms:>8.1f}ms {decoder_ms:>7.1f}ms {forward_ms:>7.1f}ms "
                  f"{forward_ms / image_ms:>7.2f}x {text_ms / forward_ms:>8.2f}x")
    print("  fwd/enc: the whole cached forward over the image encoder alone (target <= 1.25x)")
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
    """Sizes of the bundled mirror checkpoint and of the world CLIP it sits on."""
    root = Path(__file__).resolve().parents[1] / "checkpoints"
    for name in ("mirror-synthetic-tiny", "world-clip-256"):
        folder = root / name
        if folder.is_dir():
            sizes = {f.name: f.stat().st_size for f in folder.iterdir()}
            listing = ", ".join(f"{file} {size / 1e6:.2f} MB" for file, size in sorted(sizes.items()))
            print(f"checkpoints/{name}: {sum(sizes.values()) / 1e6:.2f} MB ({listing})")


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
