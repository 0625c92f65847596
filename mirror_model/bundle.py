"""Build the bundled offline model `checkpoints/mirror-synthetic-tiny` with one command.

    python -m mirror_model.bundle --out checkpoints/mirror-synthetic-tiny
    python -m mirror_model.bundle --from-factorial docs/results/factorial --out checkpoints/mirror-synthetic-tiny

With --from-factorial, nothing is trained: the run that the factorial claim experiment
(python -m mirror_model.claim) selected on validation (never on test) is copied, its card carries
the experiment's whole table, comparisons and verdicts, and the references are evaluated on the
experiment's test rooms; the checkpoint budget (25 MB with the CLIP it sits on, fp16) is checked.

Otherwise it renders procedural scenes (train / val / held-out test, disjoint seeds) unless they are already
there, trains mirror + decoder (maps only: depth goes through the text side) on the frozen world
CLIP pretrained by this project (`world-vit-256/procedural-world`, made by python -m
mirror_model.world_clip) with cached CLIP features, keeps the best validation step, then evaluates
on the held-out scenes: the trained model, every inference-time text-side swap, the same
architecture untrained, and the DepthCLIP zero-shot head on the same CLIP. The folder gets the
weights (mirror + decoder only: the CLIP is the shared world-clip-256 checkpoint), the model card with
these metrics and this command, the training log and `evaluation.md`.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from .data import build_dataset
from .text_sources import SOURCES

SPLITS = {"train": 100, "val": 200, "test": 300}  # scene seeds: disjoint rooms per split
SIZE = (240, 320)
WORLD_CLIP = ("world-vit-256", "procedural-world")
MIRROR_TOKENS = 16  # s, well below the 256-wide joint space (the claim experiment's recipe)


def render_split(data_dir: Path, split: str, count: int, seed: int | None = None) -> Path:
    """DATA_DIR/SPLIT with `count` procedural scenes of scene seed `seed` (default SPLITS[split]),
    rendered unless a folder with that many scenes of that seed is already there.

    A scene seed's rooms depend on the photo library that textures them (scenes.photos), so a
    folder rendered with another library is not reused: ValueError (it is not deleted either,
    since runs and feature caches may have been made from it)."""
    from scenes.io import write_scenes

    seed = SPLITS[split] if seed is None else int(seed)
    folder = rendered_split(data_dir, split, count, seed)
    if folder is not None:
        return folder
    folder = data_dir / split
    if folder.exists():
        shutil.rmtree(folder)
    return write_scenes(folder, count=count, size=SIZE, seed=seed)


def rendered_split(data_dir: Path, split: str, count: int, seed: int) -> Path | None:
    """DATA_DIR/SPLIT when it holds `count` scenes of scene seed `seed` rendered with this
    process's photo library; None when it is missing or another set. ValueError (check_library)
    when it is that set rendered with another photo library."""
    from common.scene_folder import read_pose_record

    folder = data_dir / split
    if folder.is_dir() and len(list((folder / "rgb").glob("*.png"))) == count:
        record = read_pose_record(folder)
        if isinstance(record, dict) and record.get("seed") == seed:
            check_library(record, folder)
            return folder
    return None


def check_library(record: dict, folder: Path) -> None:
    """ValueError when the scene folder's poses.json names a photo library other than the one this
    process renders with (a folder that names none predates the record and is taken as it is)."""
    from scenes.photos import load_library

    made_with, here = record.get("photo_library"), load_library().identity
    if made_with is not None and made_with != here:
        raise ValueError(f"{folder.parent.name}/{folder.name} was rendered with photo library {made_with}, this "
                         f"machine renders with {here}: point SCENES_PHOTOS at library {made_with}, or give another "
                         f"--data-dir")


def world_config(image_path: bool = False, pretrained: bool = True):
    """The bundled architecture: the world CLIP (pretrained here, or the same one at random init),
    16 mirror tokens, a maps-only resize-convolution decoder (image path as an ablation)."""
    from .decoder import DecoderConfig
    from .model import MirrorDepthConfig

    return MirrorDepthConfig(clip_name=WORLD_CLIP[0], clip_pretrained=WORLD_CLIP[1] if pretrained else None,
                             input_size=SIZE, mirror_tokens=MIRROR_TOKENS,
                             decoder=DecoderConfig(image_channels=32 if image_path else 0))


def evaluate_variants(checkpoint: Path, test_dir: Path, limit: int | None = None) -> dict[str, dict]:
    """Held-out metrics of the trained model and its references."""
    from .checkpoint import read_card
    from .evaluate import evaluate_predictor
    from .model import MirrorDepthConfig
    from .model_info import describe_model
    from .predict import DepthPredictor, load_predictor

    dataset = build_dataset("synthetic", test_dir)
    config = MirrorDepthConfig.from_dict(read_card(checkpoint)["config"])
    rows: dict[str, dict] = {}
    trained = load_predictor(str(checkpoint))
    sources = SOURCES if config.text_path != "none" else ("learned", "zeros", "random")  # prompts need a text encoder
    for source in sources:
        label = "trained (learned mirror)" if source == "learned" else f"trained, mirror source = {source}"
        rows[label] = evaluate_predictor(trained, dataset, "synthetic", limit=limit, source=source, progress=False)["metrics"]
    untrained = load_predictor(str(checkpoint), untrained=True)
    rows["untrained twin (fresh mirror + decoder)"] = evaluate_predictor(untrained, dataset, "synthetic", limit=limit,
                                                                         progress=False)["metrics"]  # fmt: skip
    zeroshot = same_clip_depthclip(config)
    described = describe_model("depthclip-same-clip", zeroshot, weights_from="untrained", trained=False, default_source=None)
    rows["DepthCLIP zero-shot, same CLIP"] = evaluate_predictor(DepthPredictor(zeroshot, described), dataset, "synthetic",
                                                                limit=limit, progress=False)["metrics"]  # fmt: skip
    return rows


def same_clip_depthclip(config):
    """DepthCLIP (as published) on the CLIP a mirror model sits on: its image tower (random ones
    rebuilt from their seed) with the CLIP's own text encoder."""
    from . import clip_backbone
    from .presets import TINY_SEED
    from .zeroshot import ZeroShotConfig, ZeroShotDepth

    clip, info = clip_backbone.load_clip(config.clip_name, config.clip_pretrained, seed=TINY_SEED)
    if config.clip_pretrained is None:
        clip_backbone.fp16_round(clip)
    clip = clip_backbone.with_random_towers(clip, config.clip_name, image=config.image_tower,
                                            image_seed=config.random_image_seed)
    zeroshot = ZeroShotConfig(clip_name=config.clip_name, clip_pretrained=config.clip_pretrained, input_size=SIZE)
    return ZeroShotDepth(zeroshot, clip, info)


def write_evaluation(out: Path, data_dir: Path, test_count: int) -> dict[str, dict]:
    """Evaluate every variant on the held-out scenes; writes evaluation.md, returns the rows."""
    from common.depth_metrics import format_metrics_table

    rows = evaluate_variants(out, data_dir / "test")
    (out / "evaluation.md").write_text(f"# synthetic-tiny on {held_out_text(test_count)}\n\n{format_metrics_table(rows)}\n")
    return rows


def held_out_text(test_count: int) -> str:
    return (f"{test_count} held-out procedural scenes (seed {SPLITS['test']}, rooms unseen in training), "
            f"240x320, metrics capped at 10 m")


def reevaluate(out: Path, data_dir: Path, test_count: int, command: str) -> int:
    """The bundle's held-out table under the current evaluation protocol; the weights are untouched."""
    from common.depth_metrics import format_metrics_table

    card_path = out / "card.json"
    if card_path.is_file() and "factorial" in json.loads(card_path.read_text()):
        raise ValueError(f"{out.name} was bundled from the factorial, whose test rooms are its own; re-run "
                         "python -m mirror_model.bundle --from-factorial to re-evaluate it")
    render_split(data_dir, "test", test_count)
    rows = write_evaluation(out, data_dir, test_count)
    card = json.loads(card_path.read_text())
    card["metrics"] = {**card.get("metrics", {}), "test": rows["trained (learned mirror)"]}
    card["references"] = rows
    card["evaluation_command"] = command
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(format_metrics_table(rows))
    return 0


def train_world_model(data_dir: Path, run_dir: Path, steps: int, seed: int, train_source: str = "learned",
                      image_path: bool = False, pretrained: bool = True, cache=None, extra_card: dict | None = None,
                      progress: bool = True) -> tuple[dict, object]:
    """One cached-feature training run on the world CLIP; returns (summary, feature cache)."""
    import torch

    from .cached_training import CachedTrainConfig, build_cache, load_frames, train_cached
    from .model import build_mirror_depth

    torch.manual_seed(seed)
    model = build_mirror_depth(world_config(image_path, pretrained), seed=seed)
    if cache is None:
        rgbs, depths = load_frames(data_dir / "train", SIZE)
        cache = build_cache(model, rgbs, depths, progress=progress)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = CachedTrainConfig(steps=steps, seed=seed, train_source=train_source, extra_card=extra_card or {})
    summary = train_cached(model, cache, data_dir / "val", run_dir, config, progress=progress)
    return summary, cache


BUNDLE_FILES = {"card.json", "model.safetensors", "clip.safetensors", "train_log.jsonl", "metrics.json", "evaluation.md"}


def check_out(out: Path, others: dict[str, Path | None]) -> None:
    """ValueError unless OUT may be replaced by a new bundle: a folder not there yet, an empty one,
    or a previous bundle of this command (only its files, its card naming this command). OUT must
    neither lie inside nor hold any folder in `others` (flag: path; None is skipped), since
    replacing OUT deletes it first."""
    where = out.resolve()
    for flag, other in others.items():
        if other is None:
            continue
        other = other.resolve()
        if where == other or other in where.parents or where in other.parents:
            raise ValueError(f"--out {out.name} overlaps {flag} {other.name}: give the bundle its own folder")
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"--out {out.name} is a file; give a folder for the bundle")
    names = {entry.name for entry in out.iterdir()}
    if not names:
        return
    card = out / "card.json"
    strangers = sorted(names - BUNDLE_FILES) + sorted(n for n in names & BUNDLE_FILES if not (out / n).is_file())
    try:
        command = json.loads(card.read_text()).get("command", "") if card.is_file() else ""
    except (ValueError, AttributeError, OSError):
        command = ""
    if strangers or not str(command).startswith("python -m mirror_model.bundle"):
        what = f"holds {', '.join(strangers[:3])}" if strangers else "has no card written by this command"
        raise ValueError(f"--out {out.name} is not a previous bundle ({what}); it would be deleted: give a new folder")


def copy_run(run_dir: Path, out: Path) -> None:
    """OUT becomes RUN_DIR/best plus the run's logs; files get the default permissions (the
    safetensors writer makes its files private, and a bundle is meant to be shared)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(run_dir / "best", out, copy_function=shutil.copyfile)
    for log_name in ("train_log.jsonl", "metrics.json"):
        shutil.copyfile(run_dir / log_name, out / log_name)


BUDGET_MB = 25.0  # the depth model and the CLIP it sits on, together


def checkpoint_megabytes(folder: Path) -> dict[str, float]:
    """Sizes of a mirror checkpoint folder and of the project CLIP weights it loads (MB)."""
    from . import clip_backbone
    from .checkpoint import read_card

    card = read_card(folder)
    own = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6
    project = clip_backbone.PROJECT_TAGS.get((card["clip_name"], card["clip_pretrained"]))
    clip = project.stat().st_size / 1e6 if project is not None and project.is_file() else 0.0
    return {"checkpoint": round(own, 2), "clip": round(clip, 2), "total": round(own + clip, 2)}


def bundle_from_factorial(report_dir: Path, out: Path, data_dir: Path, runs: Path, command: str) -> dict:
    """Copy the factorial's run selected on validation into OUT with the experiment in its card."""
    from common.depth_metrics import format_metrics_table

    results_path = report_dir / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(f"--from-factorial {report_dir.name}: no results.json in it; run python -m mirror_model.claim first")
    results = json.loads(results_path.read_text())
    selected = results["analysis"]["selected"]
    if not selected:
        raise ValueError(f"--from-factorial {report_dir.name}: its results.json has no trained run to select")
    run_dir = runs / selected["arm"] / f"seed{selected['seed']}"
    if not all((run_dir / name).is_file() for name in ("best/card.json", "train_log.jsonl", "metrics.json")):
        raise FileNotFoundError(f"--factorial-runs {runs.name}: no finished run {selected['arm']}/seed{selected['seed']} "
                                f"in it; give the --runs folder the experiment trained in")
    recipe = results["recipe"]
    copy_run(run_dir, out)
    test_dir = data_dir / "test"
    rows = evaluate_variants(out, test_dir)
    test_text = (f"{recipe['test_count']} procedural scenes of scene seed {recipe['split_seeds']['test']} (the factorial's "
                 f"test rooms), 240x320, metrics capped at 10 m")
    (out / "evaluation.md").write_text(f"# selected factorial run on {test_text}\n\n{format_metrics_table(rows)}\n")
    card_path = out / "card.json"
    card = json.loads(card_path.read_text())
    card.update({
        "command": command,
        "training_data": (f"{recipe['train_count']} procedural RGB-D scenes (seed {recipe['split_seeds']['train']}), "
                          f"{recipe['val_count']} for validation (seed {recipe['split_seeds']['val']}), rendered by python -m scenes"),
        "selection": {"criterion": ("lowest validation AbsRel among the seeds of the paper's model (pretrained image tower, "
                                   "pretrained text encoder + learned mirror); no test figure used. The controls are not "
                                   "candidates: the app's text-side ablations need a text encoder. The best validation "
                                   "run of any arm is factorial.selected.best_overall"),
                      **{k: selected[k] for k in ("arm", "seed", "best_val_abs_rel")}},
        "metrics": {"val": card.get("metrics", {}).get("val"), "test": rows["trained (learned mirror)"]},
        "test_set": test_text,
        "references": rows,
        "factorial": {"command": results["command"], "table": (report_dir / "table.md").read_text(),
                      "verdicts": results["analysis"]["verdicts"], "comparisons": results["analysis"]["comparisons"],
                      "selected": selected},
    })  # fmt: skip
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    sizes = checkpoint_megabytes(out)
    if sizes["total"] > BUDGET_MB:
        raise ValueError(f"--out {out.name}: {sizes['total']} MB with its CLIP, over the {BUDGET_MB:.0f} MB budget ({sizes})")
    card["size_mb"] = sizes
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(format_metrics_table(rows))
    print(f"bundled {selected['arm']} seed {selected['seed']} (validation AbsRel {selected['best_val_abs_rel']:.4f}) to {out}: "
          f"{sizes['checkpoint']} MB + CLIP {sizes['clip']} MB")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.bundle", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True,
                        help="the bundle folder (e.g. checkpoints/mirror-synthetic-tiny, the shipped model); replaced "
                             "only when it is empty or a previous bundle of this command")
    parser.add_argument("--data-dir", default="data/synthetic", help="where the rendered scenes go (reused if present)")
    parser.add_argument("--train-count", type=int, default=1000)
    parser.add_argument("--val-count", type=int, default=48)
    parser.add_argument("--test-count", type=int, default=120)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs/mirror-synthetic-tiny", help="training run folder (logs, best)")
    parser.add_argument("--from-run", help="bundle an existing run folder made with this recipe (e.g. the claim "
                        "experiment's runs/claim/pretrained-mirror, the same recipe and seed) instead of training again")
    parser.add_argument("--from-factorial", metavar="REPORT_DIR",
                        help="bundle the run the factorial claim experiment selected on validation (its --out folder, "
                        "with results.json); --data-dir and --factorial-runs must be the experiment's")
    parser.add_argument("--factorial-runs", default="runs/factorial", help="the factorial's --runs folder")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-evaluate the bundle in --out on the held-out scenes (current protocol) without training")
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.bundle", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    data_dir, out, run_dir = Path(args.data_dir), Path(args.out), Path(args.run_dir)
    try:
        if min(args.train_count, args.val_count, args.test_count, args.steps) < 1:
            raise ValueError("counts and --steps must be at least 1")
        if args.evaluate_only:
            if not (out / "card.json").is_file():
                raise FileNotFoundError(f"--out {out.name}: no bundle (card.json) to re-evaluate")
            check_out(out, {"--data-dir": data_dir})
            return reevaluate(out, data_dir, args.test_count, command)
        if args.from_factorial:
            check_out(out, {"--from-factorial": Path(args.from_factorial), "--factorial-runs": Path(args.factorial_runs),
                            "--data-dir": data_dir})
            bundle_from_factorial(Path(args.from_factorial), out, data_dir, Path(args.factorial_runs), command)
            return 0
        check_out(out, {"--data-dir": data_dir, "--run-dir": None if args.from_run else run_dir,
                        "--from-run": Path(args.from_run) if args.from_run else None})
        if args.from_run and not all((Path(args.from_run) / name).is_file() for name in ("best/card.json", "metrics.json")):
            raise FileNotFoundError(f"--from-run {Path(args.from_run).name}: not a finished run (best/ and metrics.json)")
        started = time.time()
        for split, count in {"train": args.train_count, "val": args.val_count, "test": args.test_count}.items():
            render_split(data_dir, split, count)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from common.depth_metrics import format_metrics_table

    training_data = (f"{args.train_count} procedural RGB-D scenes (seed {SPLITS['train']}), {args.val_count} for "
                     f"validation (seed {SPLITS['val']}), rendered by python -m scenes")
    if args.from_run:
        run_dir = Path(args.from_run)
        summary = json.loads((run_dir / "metrics.json").read_text())
    else:
        summary, _ = train_world_model(data_dir, run_dir, args.steps, args.seed,
                                       extra_card={"command": command, "training_data": training_data})
    copy_run(run_dir, out)
    rows = write_evaluation(out, data_dir, args.test_count)
    card_path = out / "card.json"
    card = json.loads(card_path.read_text())
    card.update({
        "command": command,
        "training_data": training_data,
        "metrics": {"val": card.get("metrics", {}).get("val"), "test": rows["trained (learned mirror)"]},
        "test_set": held_out_text(args.test_count),
        "references": rows,
        "wall_clock_minutes": round((time.time() - started) / 60, 1),
    })
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(format_metrics_table(rows))
    print(f"bundled model written to {out} ({size_mb:.1f} MB) in {card['wall_clock_minutes']} minutes, "
          f"best validation step {summary['best_step']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
