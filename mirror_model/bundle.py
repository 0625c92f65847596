"""Build the bundled offline model `checkpoints/mirror-synthetic-tiny` with one command.

    python -m mirror_model.bundle --out checkpoints/mirror-synthetic-tiny

Renders procedural scenes (train / val / held-out test, disjoint seeds) unless they are already
there, trains mirror + decoder (maps only: depth goes through the text side) on the frozen world
CLIP pretrained by this project (`world-vit/procedural-world`, made by python -m
mirror_model.world_clip) with cached CLIP features, keeps the best validation step, then evaluates
on the held-out scenes: the trained model, every inference-time text-side swap, the same
architecture untrained, and the DepthCLIP zero-shot head on the same CLIP. The folder gets the
weights (mirror + decoder only: the CLIP is the shared world-clip checkpoint), the model card with
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
WORLD_CLIP = ("world-vit", "procedural-world")


def render_split(data_dir: Path, split: str, count: int) -> Path:
    from scenes.io import write_scenes

    folder = data_dir / split
    if folder.is_dir() and len(list((folder / "rgb").glob("*.png"))) == count:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    return write_scenes(folder, count=count, size=SIZE, seed=SPLITS[split])


def world_config(image_path: bool = False, pretrained: bool = True):
    """The bundled architecture: the world CLIP (pretrained here, or the same one at random init),
    64 mirror tokens, a maps-only resize-convolution decoder (image path as an ablation)."""
    from .decoder import DecoderConfig
    from .model import MirrorDepthConfig

    return MirrorDepthConfig(clip_name=WORLD_CLIP[0], clip_pretrained=WORLD_CLIP[1] if pretrained else None,
                             input_size=SIZE, decoder=DecoderConfig(image_channels=32 if image_path else 0))


def evaluate_variants(checkpoint: Path, test_dir: Path, limit: int | None = None) -> dict[str, dict]:
    """Held-out metrics of the trained model and its references."""
    from .evaluate import evaluate_predictor
    from .predict import load_predictor

    dataset = build_dataset("synthetic", test_dir)
    rows: dict[str, dict] = {}
    trained = load_predictor(str(checkpoint))
    for source in SOURCES:
        label = "trained (learned mirror)" if source == "learned" else f"trained, mirror source = {source}"
        rows[label] = evaluate_predictor(trained, dataset, "synthetic", limit=limit, source=source, progress=False)["metrics"]
    untrained = load_predictor(str(checkpoint), untrained=True)
    rows["untrained twin (fresh mirror + decoder)"] = evaluate_predictor(untrained, dataset, "synthetic", limit=limit,
                                                                         progress=False)["metrics"]  # fmt: skip
    zeroshot = load_predictor("depthclip-tiny")
    rows["DepthCLIP zero-shot, same CLIP"] = evaluate_predictor(zeroshot, dataset, "synthetic", limit=limit,
                                                                progress=False)["metrics"]  # fmt: skip
    return rows


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

    render_split(data_dir, "test", test_count)
    rows = write_evaluation(out, data_dir, test_count)
    card_path = out / "card.json"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.bundle", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="checkpoints/mirror-synthetic-tiny")
    parser.add_argument("--data-dir", default="data/synthetic", help="where the rendered scenes go (reused if present)")
    parser.add_argument("--train-count", type=int, default=1000)
    parser.add_argument("--val-count", type=int, default=48)
    parser.add_argument("--test-count", type=int, default=120)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs/mirror-synthetic-tiny", help="training run folder (logs, best)")
    parser.add_argument("--from-run", help="bundle an existing run folder made with this recipe (e.g. the claim "
                        "experiment's runs/claim/pretrained-mirror, the same recipe and seed) instead of training again")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-evaluate the bundle in --out on the held-out scenes (current protocol) without training")
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.bundle", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    if args.evaluate_only:
        return reevaluate(Path(args.out), Path(args.data_dir), args.test_count, command)

    from common.depth_metrics import format_metrics_table

    started = time.time()
    data_dir, out, run_dir = Path(args.data_dir), Path(args.out), Path(args.run_dir)
    for split, count in {"train": args.train_count, "val": args.val_count, "test": args.test_count}.items():
        render_split(data_dir, split, count)
    training_data = (f"{args.train_count} procedural RGB-D scenes (seed {SPLITS['train']}), {args.val_count} for "
                     f"validation (seed {SPLITS['val']}), rendered by python -m scenes")
    if args.from_run:
        run_dir = Path(args.from_run)
        summary = json.loads((run_dir / "metrics.json").read_text())
    else:
        summary, _ = train_world_model(data_dir, run_dir, args.steps, args.seed,
                                       extra_card={"command": command, "training_data": training_data})
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(run_dir / "best", out)
    for log_name in ("train_log.jsonl", "metrics.json"):
        shutil.copy(run_dir / log_name, out / log_name)
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
