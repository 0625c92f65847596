"""The experiment that tests the paper's claim on the procedural world: does a learned static prompt
unlock knowledge that a frozen *pretrained* text encoder holds?

    python -m mirror_model.claim --out docs/results/claim            # all twins, then the table
    python -m mirror_model.claim --out docs/results/claim --clip random --no-report   # a subset

Trained twins, each with the same budget (steps, batch, learning-rate schedule, seed, data) on the
same cached-feature trainer (mirror_model.cached_training), evaluated on the same 120 held-out rooms:

    {pretrained world CLIP, random world CLIP} x {learned mirror, fixed human prompt with the
    decoder trained on it, prompt + mirror trained together} x maps only, and the learned mirror
    with the maps + image path (the text-free shortcut) on both CLIPs.

Beside them: inference-time swaps on the pretrained learned-mirror twin (zeros, random, human prompt;
each feeds s rows, so the decoder reads s positions that all hold comparable inputs), the DepthCLIP
zero-shot head on each CLIP, and a constant prediction at each image's true median depth. Every row
is reported raw and median-scaled. Writes `table.md` and `results.json` in --out; the trained twins
live in --runs.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import SIZE, render_split, train_world_model

SHOWN = ("abs_rel", "d1")


@dataclass(frozen=True)
class Twin:
    slug: str
    label: str
    pretrained: bool
    train_source: str  # "learned" | "prompt" | "prompt+mirror"
    image_path: bool = False


TWINS = tuple(
    Twin(f"{clip}-{slug}", f"{clip} CLIP, {label}", clip == "pretrained", source, image)
    for clip in ("pretrained", "random")
    for slug, label, source, image in (
        ("mirror", "learned mirror (maps only)", "learned", False),
        ("prompt", "fixed human prompt, decoder trained", "prompt", False),
        ("prompt-mirror", "prompt + mirror trained together", "prompt+mirror", False),
        ("mirror-image-path", "learned mirror, maps + image path", "learned", True),
    )
)


def evaluate_rows(predictor, dataset, source: str | None) -> dict[str, float]:
    from .evaluate import evaluate_predictor

    raw = evaluate_predictor(predictor, dataset, "synthetic", source=source, progress=False)["metrics"]
    scaled = evaluate_predictor(predictor, dataset, "synthetic", source=source, median_scaling=True, progress=False)["metrics"]
    return {**{k: raw[k] for k in SHOWN}, **{f"{k}_median_scaled": scaled[k] for k in SHOWN}}


def run_twins(data_dir: Path, runs: Path, steps: int, seed: int, which: str) -> None:
    """Train (or reuse) every twin of the chosen CLIP(s) and evaluate it on the held-out rooms."""
    from .data import build_dataset
    from .predict import load_predictor

    test_set = build_dataset("synthetic", data_dir / "test")
    caches: dict[bool, object] = {}
    for twin in TWINS:
        if which != "all" and twin.pretrained != (which == "pretrained"):
            continue
        folder = runs / twin.slug
        result_path = folder / "result.json"
        if result_path.is_file():
            continue
        summary, caches[twin.pretrained] = train_world_model(
            data_dir, folder, steps, seed, twin.train_source, twin.image_path, twin.pretrained,
            cache=caches.get(twin.pretrained), extra_card={"training_data": f"claim twin {twin.slug}"})
        predictor = load_predictor(str(folder / "best"), mirror_source=twin.train_source)
        rows = {twin.label: evaluate_rows(predictor, test_set, twin.train_source)}
        if twin.slug == "pretrained-mirror":
            for source in ("zeros", "random", "prompt"):
                rows[f"{twin.label}, swapped at inference for {source}"] = evaluate_rows(predictor, test_set, source)
        untrained = load_predictor(str(folder / "best"), untrained=True, mirror_source=twin.train_source)
        rows[f"{twin.label}: untrained twin"] = evaluate_rows(untrained, test_set, twin.train_source)
        result = {"twin": twin.__dict__, "steps": steps, "seed": seed, "best_step": summary["best_step"],
                  "minutes": summary["minutes"], "rows": rows}  # fmt: skip
        result_path.write_text(json.dumps(result, indent=2) + "\n")


def reference_rows(data_dir: Path) -> dict[str, dict[str, float]]:
    """DepthCLIP on both CLIPs and the constant-at-true-median baseline."""
    from common.depth_metrics import MetricAccumulator

    from .data import build_dataset
    from .model_info import describe_model
    from .predict import DepthPredictor
    from .zeroshot import ZeroShotConfig, build_zeroshot

    test_set = build_dataset("synthetic", data_dir / "test")
    rows = {}
    for label, pretrained in (("pretrained", "procedural-world"), ("random", None)):
        model = build_zeroshot(ZeroShotConfig(clip_name="world-vit", clip_pretrained=pretrained, input_size=SIZE), seed=0)
        info = describe_model(f"depthclip-{label}", model, weights_from="untrained", trained=False, default_source=None)
        rows[f"DepthCLIP zero-shot (as published) on the {label} CLIP"] = evaluate_rows(DepthPredictor(model, info), test_set, None)
    accumulators = {k: MetricAccumulator() for k in ("raw", "scaled")}
    for index in range(len(test_set)):
        gt = test_set[index]["depth"][0].numpy()
        constant = np.full_like(gt, float(np.median(gt[gt > 1e-3])))
        accumulators["raw"].update(constant, gt, max_depth=10.0)
        accumulators["scaled"].update(constant, gt, max_depth=10.0, median_scaling=True)
    raw, scaled = accumulators["raw"].mean(), accumulators["scaled"].mean()
    rows["constant at each image's true median (reference)"] = {
        **{k: raw[k] for k in SHOWN}, **{f"{k}_median_scaled": scaled[k] for k in SHOWN}}
    return rows


def write_report(runs: Path, data_dir: Path, out: Path, command: str) -> str:
    rows: dict[str, dict[str, float]] = {}
    meta = {}
    for twin in TWINS:
        path = runs / twin.slug / "result.json"
        if path.is_file():
            result = json.loads(path.read_text())
            rows.update(result["rows"])
            meta[twin.slug] = {k: result[k] for k in ("steps", "seed", "best_step", "minutes")}
    rows.update(reference_rows(data_dir))
    header = "| model (120 held-out rooms) | AbsRel ↓ | δ1 ↑ | AbsRel, median-scaled ↓ | δ1, median-scaled ↑ |\n|---|---:|---:|---:|---:|"
    lines = [f"| {name} | {r['abs_rel']:.3f} | {r['d1']:.3f} | {r['abs_rel_median_scaled']:.3f} | {r['d1_median_scaled']:.3f} |"
             for name, r in rows.items()]  # fmt: skip
    table = "\n".join([header, *lines])
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(f"`{command}`\n\n{table}\n")
    (out / "results.json").write_text(json.dumps({"command": command, "runs": meta, "rows": rows}, indent=2) + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.claim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/results/claim", help="where table.md and results.json go")
    parser.add_argument("--runs", default="runs/claim", help="where the trained twins go (reused when present)")
    parser.add_argument("--data-dir", default="data/synthetic")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip", choices=("all", "pretrained", "random"), default="all", help="which twins to train")
    parser.add_argument("--no-report", action="store_true", help="train only; write the table later")
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.claim", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    data_dir = Path(args.data_dir)
    for split, count in (("train", 1000), ("val", 48), ("test", 120)):
        render_split(data_dir, split, count)
    try:
        run_twins(data_dir, Path(args.runs), args.steps, args.seed, args.clip)
        if not args.no_report:
            print(write_report(Path(args.runs), data_dir, Path(args.out), command))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
