"""The standing real-data check: depth models on real pictures with ground truth that ship in packages.

    python -m mirror_model.real_check --model synthetic-tiny --model depthclip-tiny --out outputs/real_check

Scenes (common.real_rgbd): Middlebury 2014 "Motorcycle" (metric depth from disparity and
calibration) and the Middlebury 2006 "Aloe" from OpenCV's sample data (disparity only: the depth
*order* is known, not the metres). `--data bundled` (the default) reads the project's small copies
in examples/real/, so the check needs neither package; `--data packages` reads the installed
packages at their own sizes; a folder path reads that folder in the bundled layout, whose
sources.json must name every scene's source (a folder of procedural scenes is not real data and
is refused).

Each model predicts depth at the picture's own size (`load_predictor(...).predict(rgb)`), scored on
the pixels with ground truth:

* Spearman: rank correlation of predicted and true depth (common.depth_metrics); scale-free, so it
  asks only whether the model orders the scene's pixels by distance.
* AbsRel and δ1 after median scaling (the prediction times median(true)/median(predicted)), from
  common.depth_metrics.compute_depth_metrics: how far off the *shape* of the depth is, once the
  unknown scale of a model trained on another world is taken out. Metric scenes only.

Beside them, two baselines scored the same way:

* constant: every pixel at the image's true median depth (the oracle constant). Its Spearman is
  undefined (a constant has no order) and reported as NaN.
* row prior "lower pixels are nearer": depth linear in the image row, the top row twice as far as
  the bottom row (d = 2 - row / (H - 1)); after median scaling only its shape matters, and its
  Spearman is that of any depth that falls steadily down the picture.

Writes real_check.json, real_check.md (the table and one verdict line per model) and
real_check.png (RGB | true depth | each model's depth, on the true depth's colour scale after median
scaling); prints the table and the verdicts.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np

from common import real_rgbd
from common.depth_metrics import compute_depth_metrics, spearman_rank_correlation
from common.jsonio import json_safe
from common.validate import number_argument

from . import presets

BUNDLED_DIR = presets.REPO_ROOT / "examples" / "real"
CONSTANT = "constant (true median)"
ROW_PRIOR = "row prior (linear)"
BASELINES = (CONSTANT, ROW_PRIOR)
SCORE_KEYS = ("spearman", "abs_rel", "d1")
SMALL_SIDE = 96  # --size small: scenes shrunk by a whole factor until the longer side is about this


# ---------------------------------------------------------------- baselines and scores

def constant_depth(shape: tuple[int, int]) -> np.ndarray:
    """A flat map (all ones); median scaling turns it into the image's true median depth."""
    return np.ones(shape, dtype=np.float32)


def row_prior_depth(shape: tuple[int, int]) -> np.ndarray:
    """"Lower pixels are nearer": depth linear in the row, 2 at the top row and 1 at the bottom
    (unitless; median scaling sets the metres). (H, W) float32."""
    height, width = shape
    rows = np.arange(height, dtype=np.float64) / max(height - 1, 1)
    return np.repeat((2.0 - rows)[:, None], width, axis=1).astype(np.float32)


def score_depth(pred: np.ndarray, scene: real_rgbd.RealScene) -> dict[str, float]:
    """Spearman with the true depth order on the valid pixels; median-scaled AbsRel and δ1 on a
    metric scene (NaN on a rank-only one). `pred`: (H, W) depth at the scene's size."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != scene.size:
        raise ValueError(f"{scene.name}: prediction is {pred.shape}, the scene {scene.size}")
    valid = scene.valid & np.isfinite(pred)
    scores = {"spearman": spearman_rank_correlation(pred[valid], scene.depth_order()[valid]),
              "abs_rel": math.nan, "d1": math.nan}
    if scene.metric:
        metrics = compute_depth_metrics(pred, scene.depth_m, median_scaling=True, mask=valid)
        scores["abs_rel"], scores["d1"] = metrics["abs_rel"], metrics["d1"]
    return scores


def mean_scores(per_scene: dict[str, dict[str, dict[str, float]]], names: list[str]) -> dict[str, dict[str, float]]:
    """Per predictor, each score's mean over the scenes where it is defined (NaN where none is)."""
    means: dict[str, dict[str, float]] = {}
    for name in names:
        means[name] = {}
        for key in SCORE_KEYS:
            values = [scores[name][key] for scores in per_scene.values() if math.isfinite(scores[name][key])]
            means[name][key] = float(np.mean(values)) if values else math.nan
    return means


def verdict(model: str, means: dict[str, dict[str, float]]) -> dict:
    """Plain-words comparison of one model with the baselines on the mean scores."""
    ours, row, const = means[model], means[ROW_PRIOR], means[CONSTANT]
    beats_row = bool(ours["spearman"] > row["spearman"]) if math.isfinite(ours["spearman"]) else False
    if math.isfinite(ours["abs_rel"]):
        below = bool(ours["abs_rel"] < const["abs_rel"] and ours["abs_rel"] < row["abs_rel"])
        absrel_text = (f"AbsRel below constant and row prior: {'yes' if below else 'no'} "
                       f"({ours['abs_rel']:.3f} vs {const['abs_rel']:.3f} / {row['abs_rel']:.3f})")
    else:
        below = None
        absrel_text = "AbsRel below constant and row prior: n/a (no metric scene)"
    line = (f"{model}: beats the row prior on Spearman: {'yes' if beats_row else 'no'} "
            f"({ours['spearman']:.3f} vs {row['spearman']:.3f}); {absrel_text}")
    return {"beats_row_prior_spearman": beats_row, "abs_rel_below_baselines": below, "line": line}


def _cell(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def format_table(per_scene: dict[str, dict[str, dict[str, float]]], means: dict[str, dict[str, float]],
                 names: list[str]) -> str:
    """Markdown: one row per scene and predictor, then the means over scenes."""
    lines = ["| scene | predictor | Spearman ↑ | AbsRel ↓ (median-scaled) | δ1 ↑ (median-scaled) |",
             "|---|---|---:|---:|---:|"]
    for scene, scores in per_scene.items():
        for name in names:
            s = scores[name]
            lines.append(f"| {scene} | {name} | {_cell(s['spearman'])} | {_cell(s['abs_rel'])} | {_cell(s['d1'])} |")
    for name in names:
        s = means[name]
        lines.append(f"| **mean** | {name} | {_cell(s['spearman'])} | {_cell(s['abs_rel'])} | {_cell(s['d1'])} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- the check

def small_factor(scene: real_rgbd.RealScene, side: int = SMALL_SIDE) -> int:
    return max(1, max(scene.size) // side)


def load_scenes(data: str, size: str, limit: int | None, opencv_samples: str | None) -> tuple[list[real_rgbd.RealScene], list[str]]:
    """The scenes to score and notes on any that are missing. Raises FileNotFoundError/ImportError
    with what to install when there is none."""
    notes: list[str] = []
    if data == "packages":
        scenes, notes = real_rgbd.load_package_scenes(opencv_samples or real_rgbd.DEBIAN_OPENCV_SAMPLES)
        if not scenes:
            raise FileNotFoundError("no packaged real scene is installed: " + "; ".join(notes))
    else:
        if opencv_samples is not None:
            raise ValueError("--opencv-samples is read only with --data packages")
        folder = BUNDLED_DIR if data == "bundled" else Path(data)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--data {folder.name} is a file; give bundled, packages or a folder in the examples/real layout")
        if not folder.is_dir():
            raise FileNotFoundError(f"--data {folder.name}: no such folder (use bundled, packages or a folder in the "
                                    f"examples/real layout)")
        scenes = real_rgbd.load_bundled_scenes(folder)
        sources = real_rgbd.read_sources(folder)
        unsourced = [scene.name for scene in scenes if not isinstance(sources.get(scene.name), dict)
                     or not sources[scene.name].get("source")]
        if unsourced:
            raise ValueError(f"--data {folder.name}: no source in {real_rgbd.SOURCES_FILE} for {', '.join(unsourced[:3])}; "
                             f"this check scores real pictures of known origin only")
    if limit:
        scenes = scenes[:limit]
    if size == "small":
        scenes = [real_rgbd.downscale_scene(scene, small_factor(scene)) for scene in scenes]
    return scenes, notes


def run_check(predictors: dict, scenes: list[real_rgbd.RealScene], progress: bool = True
              ) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, np.ndarray]]]:
    """Scores per scene and predictor (models, then the baselines) and the models' depth maps."""
    from tqdm import tqdm

    per_scene: dict[str, dict[str, dict[str, float]]] = {}
    maps: dict[str, dict[str, np.ndarray]] = {}
    with tqdm(total=len(scenes) * len(predictors), desc="real check", unit="prediction", disable=not progress) as bar:
        for scene in scenes:
            per_scene[scene.name], maps[scene.name] = {}, {}
            for name, predictor in predictors.items():
                depth = predictor.predict(scene.rgb)
                maps[scene.name][name] = depth
                per_scene[scene.name][name] = score_depth(depth, scene)
                bar.update(1)
            per_scene[scene.name][CONSTANT] = score_depth(constant_depth(scene.size), scene)
            per_scene[scene.name][ROW_PRIOR] = score_depth(row_prior_depth(scene.size), scene)
    return per_scene, maps


def draw_figure(scenes: list[real_rgbd.RealScene], maps: dict[str, dict[str, np.ndarray]],
                per_scene: dict[str, dict[str, dict[str, float]]], path: Path) -> Path:
    """One row per scene: RGB | true depth | each model's depth. On a metric scene every map uses the
    true depth's colour range (2nd-98th percentile) after median scaling; on a rank-only scene the
    truth is shown as 1/disparity and each map in its own range. Near is warm."""
    from common.depth_io import colorize_depth, display_range
    from common.panel_grid import save_panel_grid

    models = list(next(iter(maps.values())).keys()) if maps else []
    rows = []
    for scene in scenes:
        if scene.metric:
            truth = scene.depth_m
            vmin, vmax = display_range(truth)
            truth_title = f"true depth {vmin:.1f}-{vmax:.1f} m"
        else:
            truth = np.where(scene.valid, 1.0 / np.where(scene.valid, scene.disparity_px, 1.0), 0.0).astype(np.float32)
            vmin = vmax = None
            truth_title = "true order (1/disparity)"
        panels = [(scene.rgb, f"{scene.name} ({scene.size[1]}x{scene.size[0]})"), (colorize_depth(truth, vmin, vmax), truth_title)]
        for name in models:
            depth = maps[scene.name][name].astype(np.float32)
            if scene.metric:
                ratio = float(np.median(scene.depth_m[scene.valid])) / max(float(np.median(depth[scene.valid])), 1e-6)
                depth = depth * np.float32(ratio)
            s = per_scene[scene.name][name]
            title = f"{name}\nSpearman {_cell(s['spearman'], 2)}" + (f", AbsRel {_cell(s['abs_rel'], 2)}" if scene.metric else "")
            panels.append((colorize_depth(depth, vmin, vmax), title))
        rows.append(panels)
    return save_panel_grid(rows, path, cell_inches=(3.2, 2.6), dpi=100)


def meaningful(info) -> bool:
    """Whether a model's depth can mean anything: a mirror model must be trained; a zero-shot one
    needs no training, only a pretrained CLIP."""
    return bool(info.trained) if info.kind == "mirror" else bool(info.clip_pretrained)


def main(argv: list[str] | None = None) -> int:
    from .predict import DEFAULT_GEOMETRY, GEOMETRIES, load_predictor

    parser = argparse.ArgumentParser(
        prog="python -m mirror_model.real_check",
        description="Score depth models on real pictures with ground truth (Middlebury Motorcycle and Aloe, from "
                    "packages) beside a constant and a row prior: Spearman, median-scaled AbsRel and δ1.")
    parser.add_argument("--model", action="append", default=None,
                        help=f"preset ({', '.join(presets.PRESETS)}), checkpoint directory or Hub repo id; repeat for "
                             f"several (default: {presets.DEFAULT_PRESET})")
    parser.add_argument("--out", default="outputs/real_check", help="output folder (default: outputs/real_check)")
    parser.add_argument("--data", default="bundled",
                        help="bundled (examples/real, the default), packages (scikit-image and Debian opencv-doc, "
                             "at their own sizes) or a folder in the examples/real layout")
    parser.add_argument("--opencv-samples", default=None,
                        help="with --data packages: the folder holding OpenCV's aloeL.jpg and aloeGT.png "
                             f"(default: {real_rgbd.DEBIAN_OPENCV_SAMPLES})")
    parser.add_argument("--size", choices=("full", "small"), default="full",
                        help=f"small: each scene shrunk until its longer side is about {SMALL_SIDE} px (for tests)")
    parser.add_argument("--limit", type=number_argument(minimum=1, integer=True), default=None, help="score only the first N scenes")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--geometry", default=None, choices=GEOMETRIES,
                        help="how frames of other shapes meet the model (default: the predictor's, grid; docs/seams.md)")
    parser.add_argument("--no-figure", action="store_true", help="skip real_check.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    geometry = args.geometry or DEFAULT_GEOMETRY
    models = args.model or [presets.DEFAULT_PRESET]
    out = Path(args.out)
    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out.name} is a file; give a folder")
        scenes, notes = load_scenes(args.data, args.size, args.limit, args.opencv_samples)
        predictors = {}
        for spec in dict.fromkeys(models):
            predictors[spec] = load_predictor(spec, args.device, geometry=geometry)
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: skipped {note}", file=sys.stderr)
    for spec, predictor in predictors.items():
        print(f"model: {predictor.info.message}")
        if not meaningful(predictor.info):
            print(f"WARNING: {spec} is UNTRAINED; its scores are not meaningful.", file=sys.stderr)

    per_scene, maps = run_check(predictors, scenes)
    names = list(predictors) + list(BASELINES)
    means = mean_scores(per_scene, names)
    verdicts = {spec: verdict(spec, means) for spec in predictors}
    table = format_table(per_scene, means, names)
    verdict_lines = [v["line"] for v in verdicts.values()]

    out.mkdir(parents=True, exist_ok=True)
    record = {
        "scenes": [{"name": s.name, "size_hw": list(s.size), "metric": s.metric, "valid_fraction": float(s.valid.mean()),
                    "source": s.source, "licence": s.licence} for s in scenes],
        "models": {spec: p.info.message for spec, p in predictors.items()},
        "baselines": {CONSTANT: "each image's true median depth (Spearman undefined: NaN)",
                      ROW_PRIOR: "depth linear in the row, top row twice the bottom row's depth, median-scaled"},
        "data": args.data, "size": args.size, "geometry": geometry,
        "scores": per_scene, "mean": means, "verdicts": verdicts,
    }
    (out / "real_check.json").write_text(json.dumps(json_safe(record), indent=1, ensure_ascii=False) + "\n")
    scene_lines = [f"- {s.name} ({s.size[1]}x{s.size[0]}, {'metric' if s.metric else 'rank-only'}): {s.source}; {s.licence}"
                   for s in scenes]
    (out / "real_check.md").write_text("# Real check\n\n" + "\n".join(scene_lines) + "\n\n" + table + "\n\n"
                                       + "\n".join(f"- {line}" for line in verdict_lines) + "\n")
    if not args.no_figure:
        draw_figure(scenes, maps, per_scene, out / "real_check.png")
    print(table)
    print()
    for line in verdict_lines:
        print(line)
    print(f"wrote real_check.json, real_check.md{'' if args.no_figure else ', real_check.png'} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
