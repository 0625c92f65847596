"""The factorial experiment that tests the paper's claim on the procedural world: does a learned
static prompt unlock knowledge that a frozen *pretrained* text encoder holds, beyond what a random
text encoder, or none at all, lets mirror reach through a bottleneck of s << D outputs?

    python -m mirror_model.claim --out docs/results/factorial --runs runs/factorial --seeds 0,1,2

Arms, each trained (mirror + decoder, cached features, SILog, AdamW, one-cycle cosine schedule,
early stopping on the validation split only) for every seed:

    image tower {pretrained, random} x text path {pretrained text encoder, random text encoder,
    none: the s outputs learned directly in the joint space}, plus a fixed human prompt through
    the pretrained text encoder with a trained decoder, on each image tower.

Beside them, untrained references on the same test images: DepthCLIP (as published) on each image
tower with the pretrained text encoder, and the oracle constant (each image's true median depth).
The random image tower (fixed seed) is shared by every arm and seed, so CLIP features are cached
once per image tower (RUNS/cache) and reused; a random text encoder is drawn anew for every seed.
Data: train / val / test from three disjoint scene seeds (fresh rooms; the test seed is used
by nothing else in the project). Every test figure is per image, so differences are paired per
image; intervals are a hierarchical bootstrap (per draw: resample each arm's seeds with
replacement, then the test images, the same images for both arms; 95% percentile interval), so
they include seed variance. Verdicts: (a) the pretrained text encoder beats a random one, (b) it
beats no text encoder, (c) the model selected on validation (among the paper's model's seeds) beats the oracle constant (mean AbsRel
<= 0.7x the constant's and the paired interval wholly below 0). Writes table.md, results.json and
learning_curves.png to --out; runs already in --runs (same recipe) are reused.

The runs go through the grid runner (common.grid): one after another in this process, --jobs N
local processes at a time, or --cluster ADDRESS to run each as a task on a Ray cluster (the
folders on a filesystem every machine shares: docs/grids.md). A run that fails is retried once;
runs that fail again are listed (exit status 1) after the report of the runs that finished.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from common.grid import GridError, GridRun, add_grid_arguments, check_grid_arguments, run_grid, same_settings

from .clip_backbone import WeightsUnavailableError

SIZE = (240, 320)
SPLIT_SEEDS = {"train": 4100, "val": 4200, "test": 4300}  # disjoint from bundle.SPLITS and every study's seeds
DEFAULT_CLIP = "world-vit-256/procedural-world"
RANDOM_IMAGE_SEED = 0  # the one random image tower every arm and seed shares (its features are cached once)
SHOWN = ("abs_rel", "d1", "abs_rel_median_scaled", "d1_median_scaled")
CONSTANT = "oracle constant (each image's true median)"
RATIO_TARGET = 0.7  # claim (c): mean AbsRel at most this share of the constant's


@dataclass(frozen=True)
class Arm:
    slug: str
    label: str
    image_tower: str  # "pretrained" | "random"
    text_path: str  # "pretrained" | "random" | "none"
    train_source: str = "learned"  # "prompt": a fixed human prompt, only the decoder learns


ARMS = tuple(
    [Arm(f"{image}-image.{text}-text", f"{image} image tower, {label}", image, text)
     for image in ("pretrained", "random")
     for text, label in (("pretrained", "pretrained text encoder + mirror"), ("random", "random text encoder + mirror"),
                         ("none", "no text encoder (s outputs learned in the joint space)"))]
    + [Arm(f"{image}-image.human-prompt", f"{image} image tower, fixed human prompt through the pretrained text encoder",
           image, "pretrained", "prompt") for image in ("pretrained", "random")]
)  # fmt: skip
ARM_BY_SLUG = {arm.slug: arm for arm in ARMS}


@dataclass
class Recipe:
    """Everything a run's numbers depend on; a saved run is reused only under the same recipe."""

    clip: str = DEFAULT_CLIP
    mirror_tokens: int = 16
    train_count: int = 4000
    val_count: int = 48
    test_count: int = 96
    steps: int = 10000
    batch_size: int = 8
    lr: float = 2e-3
    val_every: int = 250
    patience: int = 8
    split_seeds: dict = field(default_factory=lambda: dict(SPLIT_SEEDS))

    def clip_parts(self) -> tuple[str, str]:
        name, _, tag = self.clip.partition("/")
        if not tag:
            raise ValueError(f"--clip must be NAME/TAG of a pretrained CLIP (e.g. {DEFAULT_CLIP}), got '{self.clip}'")
        return name, tag


# ---------------------------------------------------------------- data and caches

def render_splits(data_dir: Path, recipe: Recipe) -> dict[str, Path]:
    from .bundle import render_split

    counts = {"train": recipe.train_count, "val": recipe.val_count, "test": recipe.test_count}
    return {split: render_split(data_dir, split, counts[split], seed=recipe.split_seeds[split]) for split in counts}


def model_config(arm: Arm, recipe: Recipe, seed: int):
    from .model import MirrorDepthConfig

    name, tag = recipe.clip_parts()
    return MirrorDepthConfig(clip_name=name, clip_pretrained=tag, mirror_tokens=recipe.mirror_tokens, input_size=SIZE,
                             text_path=arm.text_path, image_tower=arm.image_tower, random_text_seed=seed,
                             random_image_seed=RANDOM_IMAGE_SEED)  # fmt: skip


def cache_key(tower: str, recipe: Recipe) -> dict:
    """What the cached features of one image tower depend on (RUNS/cache/TOWER/meta.json)."""
    return {"clip": recipe.clip, "tower": tower, "random_image_seed": RANDOM_IMAGE_SEED,
            "train_count": recipe.train_count, "train_seed": recipe.split_seeds["train"], "size": list(SIZE)}  # fmt: skip


def cache_ready(tower: str, recipe: Recipe, runs: Path) -> str | None:
    """The tower's name when its feature cache in RUNS is built for this recipe, else None."""
    meta = runs / "cache" / tower / "meta.json"
    return tower if meta.is_file() and json.loads(meta.read_text()) == cache_key(tower, recipe) else None


def tower_cache(tower: str, recipe: Recipe, runs: Path, train_dir: Path):
    """The cached CLIP features of the training frames for one image tower: built once, saved in
    RUNS/cache/TOWER (fp16 .npy, memory-mapped when read) and reused by every arm and seed."""
    import torch

    from .cached_training import FeatureCache, build_cache, load_frames
    from .model import build_mirror_depth

    folder = runs / "cache" / tower
    if cache_ready(tower, recipe, runs) is None:
        arm = next(a for a in ARMS if a.image_tower == tower)
        model = build_mirror_depth(model_config(arm, recipe, 0), seed=0)
        cache = build_cache(model, *load_frames(train_dir, SIZE))
        folder.mkdir(parents=True, exist_ok=True)
        for name, tensor in (("features", cache.features), ("depths", cache.depths)):
            np.save(folder / f"{name}.tmp.npy", tensor.numpy())
            (folder / f"{name}.tmp.npy").replace(folder / f"{name}.npy")
        (folder / "meta.json").write_text(json.dumps(cache_key(tower, recipe)) + "\n")
    # copy-on-write maps: read lazily from disk, never written back
    features = torch.from_numpy(np.load(folder / "features.npy", mmap_mode="c"))
    return FeatureCache(features, torch.from_numpy(np.load(folder / "depths.npy", mmap_mode="c")))


def build_tower_cache(tower: str, recipe: Recipe, runs: Path, train_dir: Path, threads: int | None = None) -> str:
    """One grid run: build (or keep) the tower's feature cache; returns the tower's name."""
    _set_threads(threads)
    tower_cache(tower, recipe, runs, train_dir)
    return tower


def _set_threads(threads: int | None) -> None:
    """The same torch thread count wherever a run runs (this process, another, a cluster worker)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


# ---------------------------------------------------------------- per-image evaluation

def per_image_metrics(predictor, test_dir: Path, source: str | None = None, batch: int = 8) -> dict[str, list]:
    """AbsRel and δ1 of every test image, raw and median-scaled, with the protocol of
    mirror_model.evaluate for the procedural scenes (whole frame, 10 m cap, the predictor's "fit"
    geometry): the mean of each list is what evaluate_predictor reports."""
    from common.depth_metrics import compute_depth_metrics
    from common.image_io import load_rgb

    from .data import MAX_DEPTH, build_dataset
    from .evaluate import predict_with_tta

    dataset = build_dataset("synthetic", test_dir)
    result: dict[str, list] = {key: [] for key in (*SHOWN, "names")}
    for start in range(0, len(dataset), batch):
        indices = range(start, min(start + batch, len(dataset)))
        frames = [load_rgb(dataset.pairs[i][0]) for i in indices]
        for index, depth in zip(indices, predict_with_tta(predictor, frames, False, source)):
            gt = dataset[index]["depth"][0].numpy()
            if not (gt > 1e-3).any():
                continue
            raw = compute_depth_metrics(depth, gt, max_depth=MAX_DEPTH["synthetic"])
            scaled = compute_depth_metrics(depth, gt, max_depth=MAX_DEPTH["synthetic"], median_scaling=True)
            result["abs_rel"].append(raw["abs_rel"])
            result["d1"].append(raw["d1"])
            result["abs_rel_median_scaled"].append(scaled["abs_rel"])
            result["d1_median_scaled"].append(scaled["d1"])
            result["names"].append(dataset.pairs[index][0].stem)
    return result


def constant_metrics(test_dir: Path) -> dict[str, list]:
    """The oracle constant: every pixel at the image's own true median depth."""
    from common.depth_metrics import compute_depth_metrics

    from .data import MAX_DEPTH, build_dataset

    dataset = build_dataset("synthetic", test_dir)
    result: dict[str, list] = {key: [] for key in (*SHOWN, "names")}
    for index in range(len(dataset)):
        gt = dataset[index]["depth"][0].numpy()
        valid = gt > 1e-3
        if not valid.any():
            continue
        constant = np.full_like(gt, float(np.median(gt[valid & (gt < MAX_DEPTH["synthetic"])])))
        raw = compute_depth_metrics(constant, gt, max_depth=MAX_DEPTH["synthetic"])
        scaled = compute_depth_metrics(constant, gt, max_depth=MAX_DEPTH["synthetic"], median_scaling=True)
        for key, value in (("abs_rel", raw["abs_rel"]), ("d1", raw["d1"]), ("abs_rel_median_scaled", scaled["abs_rel"]),
                           ("d1_median_scaled", scaled["d1"]), ("names", dataset.pairs[index][0].stem)):  # fmt: skip
            result[key].append(value)
    return result


# ---------------------------------------------------------------- runs

def run_folder(arm: Arm, seed: int, runs: Path) -> Path:
    return runs / arm.slug / f"seed{seed}"


def finished_run(arm: Arm, seed: int, recipe: Recipe, runs: Path) -> dict | None:
    """The saved result of arm x seed in RUNS (its result.json) when made under this recipe; None
    when the run is missing or unfinished. Raises ValueError for a run made under another recipe."""
    folder = run_folder(arm, seed, runs)
    path = folder / "result.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    if not same_settings(result["recipe"], asdict(recipe)):
        raise ValueError(f"{runs.name}/{arm.slug}/seed{seed} was made with another recipe; give another --runs folder "
                         f"or the recipe it was made with")
    return result


def run_arm(arm: Arm, seed: int, recipe: Recipe, runs: Path, splits: dict[str, Path], progress: bool = True,
            threads: int | None = None) -> dict:
    """Train (or reuse) one arm at one seed and evaluate it per test image; returns its result,
    also saved as RUNS/ARM/seedSEED/result.json. The feature cache of its image tower must be
    built (build_tower_cache) or is built here."""
    from .cached_training import CachedTrainConfig, train_cached
    from .model import build_mirror_depth
    from .predict import load_predictor

    _set_threads(threads)
    saved = finished_run(arm, seed, recipe, runs)
    if saved is not None:
        return saved
    folder = run_folder(arm, seed, runs)
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished run starts over
    cache = tower_cache(arm.image_tower, recipe, runs, splits["train"])
    model = build_mirror_depth(model_config(arm, recipe, seed), seed=seed)
    config = CachedTrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr, seed=seed,
                               train_source=arm.train_source, val_every=recipe.val_every, patience=recipe.patience,
                               extra_card={"training_data": f"factorial arm {arm.slug}, seed {seed}: {recipe.train_count} "
                                                            f"procedural scenes (seed {recipe.split_seeds['train']})"})  # fmt: skip
    summary = train_cached(model, cache, splits["val"], folder, config, progress=progress)
    predictor = load_predictor(str(folder / "best"), mirror_source=arm.train_source)
    result = {"arm": asdict(arm), "seed": seed, "recipe": asdict(recipe),
              "training": {k: summary[k] for k in ("best_val_abs_rel", "best_step", "last_step", "stopped_early", "minutes")},
              "curve": [[h["step"], h["val"]["abs_rel"]] for h in summary["history"]],
              "test": per_image_metrics(predictor, splits["test"], arm.train_source)}  # fmt: skip
    (folder / "result.json").write_text(json.dumps(result) + "\n")
    return result


def reference_results(recipe: Recipe, runs: Path, test_dir: Path) -> dict[str, dict]:
    """DepthCLIP on each image tower (pretrained text encoder) and the oracle constant, per test
    image; saved in RUNS/references.json and reused under the same recipe."""
    saved = references_saved(recipe, runs)
    if saved is not None:
        return saved
    path = runs / "references.json"
    from . import clip_backbone
    from .model_info import describe_model
    from .predict import DepthPredictor
    from .zeroshot import ZeroShotConfig, ZeroShotDepth

    name, tag = recipe.clip_parts()
    rows = {}
    for tower in ("pretrained", "random"):
        clip, info = clip_backbone.load_clip(name, tag)
        clip = clip_backbone.with_random_towers(clip, name, image=tower, image_seed=RANDOM_IMAGE_SEED)
        model = ZeroShotDepth(ZeroShotConfig(clip_name=name, clip_pretrained=tag, input_size=SIZE), clip, info)
        described = describe_model(f"depthclip-{tower}", model, weights_from="untrained", trained=False, default_source=None)
        rows[f"DepthCLIP zero-shot, {tower} image tower"] = per_image_metrics(DepthPredictor(model, described), test_dir)
    rows[CONSTANT] = constant_metrics(test_dir)
    runs.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": references_key(recipe), "rows": rows}) + "\n")
    return rows


def references_key(recipe: Recipe) -> dict:
    return {"clip": recipe.clip, "test_count": recipe.test_count, "test_seed": recipe.split_seeds["test"]}


def references_saved(recipe: Recipe, runs: Path) -> dict[str, dict] | None:
    """The references saved in RUNS/references.json for this recipe's test set, or None."""
    path = runs / "references.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved["key"] == references_key(recipe):
            return saved["rows"]
    return None


# ---------------------------------------------------------------- statistics

def hierarchical_bootstrap(a: np.ndarray, b: np.ndarray, draws: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean of a minus mean of b, per-image values (seeds, images) with the same images in the same
    order; 95% interval from resampling each side's seeds with replacement, then the images (the
    same draw for both sides: paired per image). One seed per side gives the paired image bootstrap."""
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired comparison needs the same images: {a.shape[1]} vs {b.shape[1]}")
    rng = np.random.default_rng(seed)
    images = a.shape[1]
    values = np.empty(draws)
    for k in range(draws):
        picks = rng.integers(0, images, images)
        seeds_a, seeds_b = rng.integers(0, len(a), len(a)), rng.integers(0, len(b), len(b))
        values[k] = a[seeds_a][:, picks].mean() - b[seeds_b][:, picks].mean()
    low, high = np.percentile(values, [2.5, 97.5])
    return {"difference": float(a.mean() - b.mean()), "low": float(low), "high": float(high),
            "seeds": [len(a), len(b)], "images": images}  # fmt: skip


def verdict(comparison: dict | None, ratio: float | None = None) -> dict[str, str]:
    """'supported' when the interval of (A - B) AbsRel lies wholly below 0 (and, for claim (c), the
    AbsRel ratio is at most RATIO_TARGET); otherwise how far off; 'untested' without the runs."""
    if comparison is None:
        return {"status": "untested", "detail": "the runs it needs are missing"}
    d, low, high = comparison["difference"], comparison["low"], comparison["high"]
    figure = f"difference {d:+.4f} [{low:+.4f}, {high:+.4f}]"
    problems = []
    if d >= 0:
        problems.append("the estimate itself is not below 0")
    if high >= 0:
        problems.append(f"the interval reaches {high:+.4f} (needs to lie wholly below 0)")
    if ratio is not None:
        figure += f", AbsRel ratio {ratio:.2f}"
        if ratio > RATIO_TARGET:
            problems.append(f"ratio {ratio:.2f} > {RATIO_TARGET} by {ratio - RATIO_TARGET:.2f}")
    if problems:
        return {"status": "not supported", "detail": f"{figure}: " + "; ".join(problems)}
    return {"status": "supported", "detail": figure}


def matrix(results: list[dict], key: str = "abs_rel") -> np.ndarray:
    return np.array([r["test"][key] for r in results])


# The bundle is chosen among runs of the paper's model only: the controls answer the claims, and the
# app's text-side ablations (prompts, zeros, random through the text encoder) need a text encoder.
BUNDLE_ARMS = ("pretrained-image.pretrained-text",)


def select_best(results: dict[str, list[dict]], arms: tuple[str, ...] | None = BUNDLE_ARMS) -> dict | None:
    """The trained run with the lowest validation AbsRel (never a test figure) among the runs of
    `arms` (None: every arm)."""
    candidates = [r for slug, runs in results.items() if arms is None or slug in arms for r in runs]
    return min(candidates, key=lambda r: r["training"]["best_val_abs_rel"]) if candidates else None


def analyse(results: dict[str, list[dict]], references: dict[str, dict], draws: int = 2000) -> dict:
    """Comparisons with intervals and the three verdicts."""
    def compare(a_rows: np.ndarray | None, b_rows: np.ndarray | None) -> dict | None:
        if a_rows is None or b_rows is None or not len(a_rows) or not len(b_rows):
            return None
        return hierarchical_bootstrap(a_rows, b_rows, draws)

    def arm(slug: str, key: str = "abs_rel") -> np.ndarray | None:
        return matrix(results[slug], key) if results.get(slug) else None

    constant = np.array([references[CONSTANT]["abs_rel"]])
    comparisons = {}
    for image in ("pretrained", "random"):
        base = arm(f"{image}-image.pretrained-text")
        for other, label in (("random-text", "random text encoder"), ("none-text", "no text encoder")):
            comparisons[f"{image} image tower: pretrained text encoder - {label}"] = compare(base, arm(f"{image}-image.{other}"))
        comparisons[f"{image} image tower: learned mirror - fixed human prompt"] = compare(base, arm(f"{image}-image.human-prompt"))
        comparisons[f"{image} image tower, pretrained text encoder + mirror - oracle constant"] = compare(base, constant)
        depthclip = references.get(f"DepthCLIP zero-shot, {image} image tower")
        if depthclip:
            comparisons[f"DepthCLIP on the {image} image tower, median-scaled - oracle constant"] = compare(
                np.array([depthclip["abs_rel_median_scaled"]]), constant)
    comparisons["pretrained - random image tower (pretrained text encoder + mirror)"] = compare(
        arm("pretrained-image.pretrained-text"), arm("random-image.pretrained-text"))
    best = select_best(results)
    overall = select_best(results, arms=None)
    selected = None
    if best is not None:
        model = np.array([best["test"]["abs_rel"]])
        selected = {"arm": best["arm"]["slug"], "seed": best["seed"], "best_val_abs_rel": best["training"]["best_val_abs_rel"],
                    "test_abs_rel": float(model.mean()), "test_d1": float(np.mean(best["test"]["d1"])),
                    "constant_abs_rel": float(constant.mean()), "ratio": float(model.mean() / constant.mean()),
                    "comparison": compare(model, constant),
                    "best_overall": {"arm": overall["arm"]["slug"], "seed": overall["seed"],
                                     "best_val_abs_rel": overall["training"]["best_val_abs_rel"]}}  # fmt: skip
    verdicts = {
        "(a) the pretrained text encoder beats a random one (pretrained image tower, AbsRel)":
            verdict(comparisons["pretrained image tower: pretrained text encoder - random text encoder"]),
        "(b) the pretrained text encoder beats no text encoder (pretrained image tower, AbsRel)":
            verdict(comparisons["pretrained image tower: pretrained text encoder - no text encoder"]),
        f"(c) the model selected on validation beats the oracle constant (AbsRel <= {RATIO_TARGET}x, interval below 0)":
            verdict(selected["comparison"] if selected else None, selected["ratio"] if selected else None),
    }  # fmt: skip
    return {"comparisons": comparisons, "selected": selected, "verdicts": verdicts}


# ---------------------------------------------------------------- report

def _mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else f"{np.mean(values):.3f}"


def plot_curves(results: dict[str, list[dict]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [arm for arm in ARMS if results.get(arm.slug)]
    if not shown:
        return None
    columns = min(4, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False, sharey=True)
    for axis, arm in zip(axes.flat, shown):
        for run in results[arm.slug]:
            steps, values = zip(*run["curve"])
            line = axis.plot(steps, values, label=f"seed {run['seed']}", lw=1)[0]
            axis.plot([run["training"]["best_step"]], [run["training"]["best_val_abs_rel"]], "o", color=line.get_color(), ms=4)
        axis.set_title(arm.slug, fontsize=8)
        axis.set_xlabel("step", fontsize=8)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6)
    for axis in axes[:, 0]:
        axis.set_ylabel("validation AbsRel")
    for axis in list(axes.flat)[len(shown):]:
        axis.axis("off")
    figure.suptitle("validation AbsRel during training (dot: the step kept)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(results: dict[str, list[dict]], references: dict[str, dict], analysis: dict, recipe: Recipe,
                 out: Path, command: str) -> str:
    test_images = len(references[CONSTANT]["abs_rel"])
    lines = [f"`{command}`", "",
             f"{test_images} test rooms (scene seed {recipe.split_seeds['test']}, unseen), {SIZE[0]}x{SIZE[1]}, metrics capped at "
             f"10 m; CLIP {recipe.clip}, s = {recipe.mirror_tokens} mirror outputs; {recipe.train_count} training rooms, "
             f"{recipe.val_count} validation rooms; up to {recipe.steps} steps of batch {recipe.batch_size}, validation every "
             f"{recipe.val_every} steps, early stop after {recipe.patience} validations without a new best.", "",
             "| arm | seeds | AbsRel ↓ | δ1 ↑ | AbsRel, median-scaled ↓ | δ1, median-scaled ↑ | best step (of last) |",
             "|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for arm in ARMS:
        runs = results.get(arm.slug) or []
        if not runs:
            lines.append(f"| {arm.label} | 0 | untested | | | | |")
            continue
        per_seed = {key: [float(np.mean(r["test"][key])) for r in runs] for key in SHOWN}
        steps = ", ".join(f"{r['training']['best_step']} ({r['training']['last_step']})" for r in runs)
        lines.append(f"| {arm.label} | {len(runs)} | " + " | ".join(_mean_sd(per_seed[k]) for k in SHOWN) + f" | {steps} |")
    for name, row in references.items():
        lines.append(f"| {name} | – | " + " | ".join(f"{np.mean(row[k]):.3f}" for k in SHOWN) + " | – |")
    lines += ["", "Mean ± sd over seeds of each seed's mean over the test images.", "",
              "| difference of mean AbsRel (A - B) | estimate | 95% interval | seeds (A, B) |", "|---|---:|---|---|"]
    for name, comparison in analysis["comparisons"].items():
        if comparison is None:
            lines.append(f"| {name} | untested | | |")
        else:
            lines.append(f"| {name} | {comparison['difference']:+.4f} | [{comparison['low']:+.4f}, {comparison['high']:+.4f}] "
                         f"| {comparison['seeds'][0]}, {comparison['seeds'][1]} |")
    lines += ["", "Intervals: hierarchical bootstrap (per draw: each arm's seeds resampled with replacement, then the test "
              "images, the same images for both sides: paired per image); 95% percentiles.", ""]
    selected = analysis["selected"]
    if selected:
        lines.append(f"Selected on validation: {selected['arm']} seed {selected['seed']} (validation AbsRel "
                     f"{selected['best_val_abs_rel']:.4f}); test AbsRel {selected['test_abs_rel']:.4f}, δ1 {selected['test_d1']:.3f}, "
                     f"constant {selected['constant_abs_rel']:.4f}, ratio {selected['ratio']:.2f}. Candidates: the "
                     f"paper's model ({', '.join(BUNDLE_ARMS)}) only; the lowest validation AbsRel of any run was "
                     f"{selected['best_overall']['arm']} seed {selected['best_overall']['seed']} "
                     f"({selected['best_overall']['best_val_abs_rel']:.4f}).")
        lines.append("")
    lines += ["| claim | verdict | figures |", "|---|---|---|"]
    for claim, result in analysis["verdicts"].items():
        lines.append(f"| {claim} | {result['status']} | {result['detail']} |")
    table = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(table + "\n")
    curves = plot_curves(results, out / "learning_curves.png")
    summary = {"command": command, "recipe": asdict(recipe), "analysis": analysis,
               "arms": {slug: [{k: r[k] for k in ("seed", "training", "curve")} | {"test_mean": {k: float(np.mean(r["test"][k]))
                                                                                             for k in SHOWN}}
                               for r in runs] for slug, runs in results.items()},
               "references": {name: {k: float(np.mean(row[k])) for k in SHOWN} for name, row in references.items()},
               "learning_curves": curves.name if curves else None}  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return table


def collect(runs: Path, recipe: Recipe, seeds: list[int]) -> dict[str, list[dict]]:
    """Every finished run of the recipe in RUNS, by arm (any seed in `seeds`)."""
    results: dict[str, list[dict]] = {}
    for arm in ARMS:
        for seed in seeds:
            path = runs / arm.slug / f"seed{seed}" / "result.json"
            if path.is_file():
                result = json.loads(path.read_text())
                if same_settings(result["recipe"], asdict(recipe)):
                    results.setdefault(arm.slug, []).append(result)
    return results


def run_factorial(recipe: Recipe, data_dir: Path, runs: Path, seeds: list[int], arms: list[Arm], progress: bool = True,
                  jobs: int = 1, cluster: str | None = None, threads: int | None = None) -> dict:
    """Train (or reuse) every arm x seed through the grid runner (common.grid): first the feature
    cache of each image tower that an unfinished run needs, then the runs, in this process
    (jobs=1), in `jobs` local processes, or on the Ray cluster `cluster`. The splits are rendered
    (or reused) only when a run is left to train. Returns what was done: caches built, runs
    reused, trained and failed (name: last error, after one retry), minutes."""
    started = time.time()
    pairs = [(arm, seed) for arm in arms for seed in seeds]
    names = {(arm.slug, seed): f"{arm.slug}/seed{seed}" for arm, seed in pairs}
    pending = [(arm, seed) for arm, seed in pairs if finished_run(arm, seed, recipe, runs) is None]
    towers = [tower for tower in ("pretrained", "random") if any(arm.image_tower == tower for arm, _ in pending)]
    splits = render_splits(data_dir, recipe) if pending else None
    inner_progress = progress and jobs <= 1 and cluster is None  # one process: its training bars show too
    cpus = threads or 1
    caches = run_grid([GridRun(f"cache/{tower}", build_tower_cache, (tower, recipe, runs, splits["train"], threads),
                               finished=partial(cache_ready, tower, recipe, runs), cpus=cpus) for tower in towers],
                      jobs, cluster, progress=progress, desc="feature caches")
    ready = [(arm, seed) for arm, seed in pairs if f"cache/{arm.image_tower}" not in caches.failed]
    grid = run_grid([GridRun(names[arm.slug, seed], run_arm, (arm, seed, recipe, runs, splits, inner_progress, threads),
                             finished=partial(finished_run, arm, seed, recipe, runs), cpus=cpus) for arm, seed in ready],
                    jobs, cluster, progress=progress, desc="factorial runs")
    failed = dict(caches.failed)
    for arm, seed in pairs:  # every run of the grid that has no result, in grid order
        name = names[arm.slug, seed]
        if (arm, seed) not in ready:
            failed[name] = f"not started: the feature cache of the {arm.image_tower} image tower failed"
        elif name in grid.failed:
            failed[name] = grid.failed[name]
    return {"caches_built": [name.removeprefix("cache/") for name in caches.trained], "runs": len(pairs),
            "reused": grid.reused, "trained": grid.trained, "failed": failed, "where": grid.where,
            "minutes": round((time.time() - started) / 60, 2), "splits": splits}


def parse_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{what}: give a comma-separated list")
    return items


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]: distinct whole numbers from 0 up. Raises ValueError."""
    items = parse_list(text, "--seeds")
    if not all(item.isdigit() for item in items):
        raise ValueError(f"--seeds must be whole numbers from 0 up, comma-separated (e.g. 0,1,2); got {text!r}")
    seeds = [int(item) for item in items]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds lists a seed twice: {text!r}")
    return seeds


MIN_DRAWS = 100  # fewer bootstrap draws cannot place a 2.5th / 97.5th percentile


def check_arguments(args: argparse.Namespace) -> None:
    """ValueError for a setting no run could use, before anything is loaded, rendered or trained."""
    import math

    for flag, value, least in (("--train-count", args.train_count, 1), ("--val-count", args.val_count, 1),
                               ("--test-count", args.test_count, 1), ("--steps", args.steps, 1),
                               ("--batch-size", args.batch_size, 1), ("--val-every", args.val_every, 1),
                               ("--patience", args.patience, 1), ("--draws", args.draws, MIN_DRAWS),
                               ("--mirror-tokens", args.mirror_tokens, 1)):  # fmt: skip
        if value < least:
            raise ValueError(f"{flag} must be at least {least}, got {value}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads} (leave it out for torch's choice)")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a positive number, got {args.lr}")
    if args.report_only and args.no_report:
        raise ValueError("--report-only and --no-report together do nothing; give one")


def report_inputs(recipe: Recipe, runs: Path, data_dir: Path, seeds: list[int], render: bool) -> tuple[dict, dict]:
    """The finished runs of the recipe and the references, for the report. With render=False
    (--report-only) nothing is rendered or trained: the references come from RUNS/references.json
    or the test scenes already in DATA_DIR; a ValueError says what is missing."""
    from .bundle import rendered_split

    results = collect(runs, recipe, seeds)
    if render:
        return results, reference_results(recipe, runs, render_splits(data_dir, recipe)["test"])
    if not results:
        others = sum(1 for _ in runs.glob("*/seed*/result.json")) if runs.is_dir() else 0
        hint = (f"its {others} runs were made with another recipe: give the settings they were trained with"
                if others else "train them first (leave out --report-only)")
        raise ValueError(f"--report-only: no finished run of this recipe in --runs {runs.name}; {hint}")
    test_dir = rendered_split(data_dir, "test", recipe.test_count, recipe.split_seeds["test"])
    if test_dir is None and not references_saved(recipe, runs):
        raise ValueError(f"--report-only renders nothing: the {recipe.test_count} test scenes are not in --data-dir "
                         f"{data_dir.name} (test/); give the experiment's --data-dir")
    return results, reference_results(recipe, runs, test_dir)


def main(argv: list[str] | None = None) -> int:
    defaults = Recipe()
    parser = argparse.ArgumentParser(prog="python -m mirror_model.claim", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="docs/results/factorial", help="where table.md, results.json and the figure go")
    parser.add_argument("--runs", default="runs/factorial", help="trained runs and feature caches (reused when present)")
    parser.add_argument("--data-dir", default="data/factorial", help="rendered train/val/test scenes (reused when present)")
    parser.add_argument("--clip", default=defaults.clip, help="pretrained CLIP as NAME/TAG")
    parser.add_argument("--mirror-tokens", type=int, default=defaults.mirror_tokens, help="s, well below the joint width")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated whole numbers; every arm runs each")
    parser.add_argument("--arms", default="all", help=f"comma-separated subset of: {', '.join(ARM_BY_SLUG)}")
    parser.add_argument("--train-count", type=int, default=defaults.train_count, help="training scenes (scene seed 4100)")
    parser.add_argument("--val-count", type=int, default=defaults.val_count, help="validation scenes, for early stopping "
                        "and selection (scene seed 4200)")
    parser.add_argument("--test-count", type=int, default=defaults.test_count, help="test scenes (scene seed 4300)")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="most training steps of each run")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="training images per step")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (AdamW, one-cycle cosine)")
    parser.add_argument("--val-every", type=int, default=defaults.val_every, help="steps between validations")
    parser.add_argument("--patience", type=int, default=defaults.patience, help="validations without a new best before stopping")
    parser.add_argument("--draws", type=int, default=2000, help=f"bootstrap draws (at least {MIN_DRAWS})")
    parser.add_argument("--no-report", action="store_true", help="train only (e.g. one process per arm); report later")
    parser.add_argument("--report-only", action="store_true", help="write the table from the runs there, train nothing")
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: torch's choice; on a cluster, "
                                                    "the CPUs each run asks for, default 1)")
    add_grid_arguments(parser)
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.claim", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    try:
        check_arguments(args)
        seeds = parse_seeds(args.seeds)
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        check_grid_arguments(args.jobs, args.cluster)
        slugs = list(ARM_BY_SLUG) if args.arms == "all" else parse_list(args.arms, "--arms")
        unknown = [s for s in slugs if s not in ARM_BY_SLUG]
        if unknown:
            raise ValueError(f"unknown arms {unknown}; choose from {', '.join(ARM_BY_SLUG)}")
        recipe = Recipe(clip=args.clip, mirror_tokens=args.mirror_tokens, train_count=args.train_count, val_count=args.val_count,
                        test_count=args.test_count, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        val_every=args.val_every, patience=args.patience)  # fmt: skip
        from .clip_backbone import load_clip

        clip, _ = load_clip(*recipe.clip_parts())  # a missing CLIP is said before anything is rendered or trained
        from .clip_backbone import context_length

        if not 1 <= recipe.mirror_tokens <= context_length(clip):
            raise ValueError(f"--mirror-tokens must be in 1..{context_length(clip)} (the CLIP's context length), "
                             f"got {recipe.mirror_tokens}")
        runs, data_dir = Path(args.runs), Path(args.data_dir)
        done = {"failed": {}}
        if not args.report_only:
            done = run_factorial(recipe, data_dir, runs, seeds, [ARM_BY_SLUG[s] for s in slugs], jobs=args.jobs,
                                 cluster=args.cluster, threads=args.threads)
        if not args.no_report:  # from the runs that finished; the failed ones are said below
            results, references = report_inputs(recipe, runs, data_dir, seeds, render=not args.report_only)
            analysis = analyse(results, references, args.draws)
            print(write_report(results, references, analysis, recipe, Path(args.out), command))
        if done["failed"]:
            caches = sum(name.startswith("cache/") for name in done["failed"])
            raise GridError(done["failed"], done["runs"] + caches)
    except (ValueError, FileNotFoundError, WeightsUnavailableError) as error:  # ClusterUnavailable too
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GridError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run through the importable module, so that the functions and settings sent to other
    # processes or cluster workers are found there by name (not as __main__'s).
    from mirror_model.claim import main as claim_main

    sys.exit(claim_main())
