"""Mirror ablation study: the same images through every text-side source of one trained model,
plus the DepthCLIP zero-shot head on the same CLIP.

    python -m analysis.ablation --model synthetic-tiny --input examples/scenes --out outputs/ablation

An input folder with rgb/ and depth/ (16-bit PNG, millimetres) gets metrics; a folder of pictures
or a single picture gets depth and difference maps only. Writes `table.md`, `metrics.json`,
`ablation_grid.png` (pictures x sources, with difference maps to the learned mirror) and the raw
maps as .npy.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common import scene_folder
from common.depth_io import colorize_depth, read_depth_png
from common.depth_metrics import MetricAccumulator, format_metrics_table
from common.image_io import IMAGE_SUFFIXES, load_rgb
from mirror_model.model_info import describe_model
from mirror_model.predict import DepthPredictor, load_predictor
from mirror_model.text_sources import SOURCES as ABLATION_SOURCES
from mirror_model.zeroshot import ZeroShotConfig, ZeroShotDepth

ZEROSHOT = "zero-shot (DepthCLIP)"
REFERENCE = "learned"
CLEAR_MARGIN = 0.05  # a relative AbsRel gap below this is called a tie in the tab's conclusion


@dataclass
class AblationResult:
    names: list[str]  # picture names
    depths: dict[str, list[np.ndarray]]  # variant -> depth per picture (metres)
    differences: dict[str, list[np.ndarray]]  # variant -> depth − reference depth per picture
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # variant -> mean metrics (with GT)
    mean_abs_difference: dict[str, float] = field(default_factory=dict)  # variant -> mean |Δ| (m) to the reference
    reference_median_m: float = 0.0  # the learned mirror's median depth, averaged over the pictures

    def table(self, keys: tuple[str, ...] | None = None) -> str:
        """Markdown: metrics when ground truth was given (all of METRIC_KEYS, or `keys`), and the mean
        |Δ| to the learned mirror."""
        lines = []
        if self.metrics:
            lines += [format_metrics_table(self.metrics, **({"keys": keys} if keys else {})), ""]
        lines += ["| variant | mean abs. difference to learned mirror (m) |", "|---|---:|"]
        lines += [f"| {name} | {value:.4f} |" for name, value in self.mean_abs_difference.items()]
        return "\n".join(lines)

    def conclusion(self, labels: dict[str, str] | None = None, margin: float = CLEAR_MARGIN) -> str:
        """One or two plain sentences drawn from the numbers shown. With ground truth: whether the
        learned mirror's AbsRel is clearly lowest (by more than `margin`, relative), about level
        with the best other source, or beaten; without it, how far the other sources move the depth,
        relative to the learned mirror's median depth. Every verdict is about the pictures given
        (one picture is weak evidence). `labels` gives display names. An empty string when the
        learned mirror is not among the variants shown or nothing else is."""
        labels = labels or {}
        name = lambda variant: labels.get(variant, variant)  # noqa: E731
        others = [variant for variant in self.depths if variant != REFERENCE]
        if REFERENCE not in self.depths or not others:
            return ""  # nothing to compare the learned mirror with (or it was not run)
        caveat = " This is one picture's evidence; docs/analysis.md measures the ablation over 96 test rooms."
        if self.metrics and REFERENCE in self.metrics:
            own = self.metrics[REFERENCE]["abs_rel"]
            best = min(others, key=lambda variant: self.metrics[variant]["abs_rel"])
            rival = self.metrics[best]["abs_rel"]
            if own < rival * (1.0 - margin):
                return (f"**What this shows:** the learned mirror gives the most accurate depth here (AbsRel {own:.3f}); "
                        f"the best replacement, {name(best)}, is {rival / max(own, 1e-9):.2f}x as far off ({rival:.3f})."
                        + caveat)
            if own <= rival * (1.0 + margin):
                return (f"**What this shows:** the learned mirror (AbsRel {own:.3f}) and {name(best)} ({rival:.3f}) are about "
                        f"equally accurate here (within {margin:.0%}): on this picture the swap makes no clear difference."
                        + caveat)
            return (f"**What this shows:** on this picture the learned mirror is *not* the most accurate: {name(best)} "
                    f"gets AbsRel {rival:.3f} against the mirror's {own:.3f}." + caveat)
        median = self.reference_median_m
        largest = max(others, key=lambda variant: self.mean_abs_difference.get(variant, 0.0))
        change = self.mean_abs_difference.get(largest, 0.0)
        share = f", {change / median:.0%} of the median depth ({median:.2f} m)" if median > 0 else ""
        return (f"**What this shows:** the largest change comes from {name(largest)}: it moves each pixel's depth by "
                f"{change:.2f} m on average{share}. Without ground truth this says how much the text side matters, "
                "not which answer is right: add a ground-truth depth (or pick a room example) to score them.")


def zeroshot_predictor(predictor):
    """A DepthCLIP zero-shot predictor on the very CLIP of `predictor` (weights shared, not copied)."""
    model = predictor.model
    config = ZeroShotConfig(clip_name=model.config.clip_name, clip_pretrained=model.config.clip_pretrained,
                            input_size=tuple(model.config.input_size), max_depth=model.config.max_depth)
    zeroshot = ZeroShotDepth(config, model.clip, model.clip_info)
    info = describe_model(f"DepthCLIP zero-shot on {predictor.info.name}'s CLIP", zeroshot,
                          weights_from=predictor.info.weights_from, trained=False, default_source=None,
                          description="DepthCLIP zero-shot head (7 distance words, fixed bins) on the same frozen CLIP")
    return DepthPredictor(zeroshot, info, predictor.device, predictor.batch_size)


def run_ablation(
    predictor,
    images: list[np.ndarray],
    ground_truths: list[np.ndarray | None] | None = None,
    names: list[str] | None = None,
    sources: tuple[str, ...] = ABLATION_SOURCES,
    zeroshot: bool = True,
    data_kind: str | None = None,
) -> AblationResult:
    """Depth of every picture under every text-side source of one predictor (each call names its own
    source, so the predictor is never changed)."""
    if predictor.info.kind != "mirror":
        raise ValueError("the mirror ablation needs a mirror model; the selected model is a zero-shot baseline")
    if not images:
        raise ValueError("the ablation needs at least one picture")
    unknown = [source for source in sources if source not in ABLATION_SOURCES]
    if unknown:
        raise ValueError(f"unknown mirror sources {unknown}; choose from {', '.join(ABLATION_SOURCES)}")
    names = names or [f"picture {i + 1}" for i in range(len(images))]
    depths: dict[str, list[np.ndarray]] = {}
    variants = list(dict.fromkeys([REFERENCE, *sources]))  # the reference is always computed
    for source in variants:
        depths[source] = predictor.predict(list(images), source=source)
    if zeroshot:
        depths[ZEROSHOT] = zeroshot_predictor(predictor).predict(list(images))
    reference = depths[REFERENCE]
    shown = [name for name in depths if name in sources or name == ZEROSHOT]
    differences = {name: [d - r for d, r in zip(depths[name], reference)] for name in shown}
    result = AblationResult(names, {name: depths[name] for name in shown}, differences)
    result.reference_median_m = float(np.mean([np.median(depth) for depth in reference]))
    result.mean_abs_difference = {name: float(np.mean([np.abs(d).mean() for d in differences[name]])) for name in shown}
    if ground_truths is not None and any(gt is not None for gt in ground_truths):
        for name in shown:
            accumulator = MetricAccumulator()
            for depth, gt in zip(depths[name], ground_truths):
                if gt is not None and (gt > 1e-3).any():
                    accumulator.update(depth, gt, dataset=data_kind, max_depth=predictor.max_depth)
            result.metrics[name] = accumulator.mean()
    return result


def colorize_difference(difference: np.ndarray, limit: float | None = None) -> np.ndarray:
    """Signed depth difference to RGB (blue: nearer than the reference, red: farther), symmetric range."""
    from matplotlib import colormaps

    limit = float(np.percentile(np.abs(difference), 98)) if limit is None else float(limit)
    limit = max(limit, 1e-6)
    normalised = np.clip(difference / (2 * limit) + 0.5, 0.0, 1.0)
    return (colormaps["coolwarm"](normalised)[..., :3] * 255 + 0.5).astype(np.uint8)


def ablation_figure(result: AblationResult, images: list[np.ndarray], max_pictures: int = 4):
    """matplotlib figure: per picture, one row of depth maps and one of differences to the learned mirror."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    variants = list(result.depths)
    count = min(max_pictures, len(images))
    fig, axes = plt.subplots(2 * count, len(variants) + 1, figsize=(2.6 * (len(variants) + 1), 2.2 * 2 * count),
                             squeeze=False)
    for row in range(count):
        depth_axes, diff_axes = axes[2 * row], axes[2 * row + 1]
        depth_axes[0].imshow(images[row])
        depth_axes[0].set_title(result.names[row], fontsize=8)
        diff_axes[0].axis("off")
        vmax = float(np.percentile(result.depths[REFERENCE if REFERENCE in result.depths else variants[0]][row], 98))
        for column, name in enumerate(variants, start=1):
            depth_axes[column].imshow(colorize_depth(result.depths[name][row], vmin=0.0, vmax=vmax))
            depth_axes[column].set_title(name, fontsize=8)
            diff_axes[column].imshow(colorize_difference(result.differences[name][row]))
            diff_axes[column].set_title(f"Δ to learned, mean |Δ| {np.abs(result.differences[name][row]).mean():.2f} m",
                                        fontsize=7)
        for axis in (*depth_axes, *diff_axes):
            axis.set_xticks([])
            axis.set_yticks([])
    fig.tight_layout()
    return fig


def read_inputs(path: Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    """Pictures (and ground-truth depth when a depth/ folder sits beside rgb/)."""
    if path.is_file():
        return [path.stem], [load_rgb(path)], [None]
    rgb_dir = path / "rgb" if (path / "rgb").is_dir() else path
    files = sorted(p for p in rgb_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{path}: no pictures found (expected images or an rgb/ folder)")
    depth_dir, scale = path / "depth", scene_folder.folder_depth_scale(path)
    gts = [read_depth_png(depth_dir / f"{p.stem}.png", scale) if (depth_dir / f"{p.stem}.png").is_file() else None for p in files]
    return [p.stem for p in files], [load_rgb(p) for p in files], gts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.ablation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="synthetic-tiny", help="preset, mirror checkpoint folder or Hub repo id")
    parser.add_argument("--input", required=True, help="a picture, a folder of pictures, or a folder with rgb/ and depth/")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--sources", default=",".join(ABLATION_SOURCES), help="comma-separated mirror sources")
    parser.add_argument("--no-zeroshot", action="store_true", help="leave out the DepthCLIP zero-shot baseline")
    parser.add_argument("--limit", type=int, default=16, help="use at most this many pictures")
    args = parser.parse_args(argv)

    try:
        names, images, gts = read_inputs(Path(args.input))
        names, images, gts = names[: args.limit], images[: args.limit], gts[: args.limit]
        predictor = load_predictor(args.model)
        sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
        result = run_ablation(predictor, images, gts, names, sources, zeroshot=not args.no_zeroshot)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = result.table()
    (out / "table.md").write_text(f"{predictor.info.message}\n\n{table}\n")
    (out / "metrics.json").write_text(json.dumps({"model": predictor.info.message, "pictures": names,
                                                  "metrics": result.metrics,
                                                  "mean_abs_difference_to_learned": result.mean_abs_difference},
                                                 indent=2) + "\n")
    for variant, maps in result.depths.items():
        slug = variant.replace("+", "_plus_").replace(" ", "_").replace("(", "").replace(")", "")
        np.save(out / f"depth_{slug}.npy", np.stack(maps))
    figure = ablation_figure(result, images)
    figure.savefig(out / "ablation_grid.png", dpi=60)
    print(predictor.info.message)
    print(table)
    print(f"wrote {out}/table.md, metrics.json, ablation_grid.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
