"""Build the bundled offline model `checkpoints/mirror-synthetic-tiny` with one command.

    python -m mirror_model.bundle --out checkpoints/mirror-synthetic-tiny

Renders procedural scenes (train / val / held-out test, disjoint seeds) unless they are already
there, trains mirror + decoder on the frozen random-init tiny CLIP, then evaluates on the held-out
scenes: the trained model, the same architecture untrained, the DepthCLIP zero-shot head on the
same tiny CLIP, and every text-side ablation source. The checkpoint folder gets the weights, the
model card (with these metrics and this command), the training log and `evaluation.md`.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from common.sizes import size_argument

from .data import build_dataset
from .text_sources import SOURCES
from .train import TrainConfig, train

SPLITS = {"train": 100, "val": 200, "test": 300}  # scene seeds: disjoint rooms per split
SIZE = (240, 320)


def render_split(data_dir: Path, split: str, count: int) -> Path:
    from scenes.io import write_scenes

    folder = data_dir / split
    if folder.is_dir() and len(list((folder / "rgb").glob("*.png"))) == count:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    return write_scenes(folder, count=count, size=SIZE, seed=SPLITS[split])


def evaluate_variants(checkpoint: Path, test_dir: Path, limit: int | None = None) -> dict[str, dict]:
    """Held-out metrics of the trained model and its references."""
    from .evaluate import evaluate_predictor
    from .predict import load_predictor

    dataset = build_dataset("synthetic", test_dir)
    rows: dict[str, dict] = {}
    trained = load_predictor(str(checkpoint))
    for source in SOURCES:
        label = "trained (learned mirror)" if source == "learned" else f"trained, mirror source = {source}"
        rows[label] = evaluate_predictor(trained, dataset, "synthetic", limit=limit, source=source)["metrics"]
    untrained = load_predictor(str(checkpoint), untrained=True)
    rows["untrained twin (fresh mirror + decoder)"] = evaluate_predictor(untrained, dataset, "synthetic", limit=limit)["metrics"]
    zeroshot = load_predictor("depthclip-tiny")
    rows["DepthCLIP zero-shot, same tiny CLIP"] = evaluate_predictor(zeroshot, dataset, "synthetic", limit=limit)["metrics"]
    return rows


def write_evaluation(out: Path, data_dir: Path, test_count: int) -> dict[str, dict]:
    """Evaluate every variant on the held-out scenes; writes evaluation.md, returns the rows."""
    from common.depth_metrics import format_metrics_table

    rows = evaluate_variants(out, data_dir / "test")
    held_out = (f"{test_count} held-out procedural scenes (seed {SPLITS['test']}, rooms unseen in training), "
                f"240x320, metrics capped at 10 m")
    (out / "evaluation.md").write_text(f"# synthetic-tiny on {held_out}\n\n{format_metrics_table(rows)}\n")
    return rows


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.bundle", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="checkpoints/mirror-synthetic-tiny")
    parser.add_argument("--data-dir", default="data/synthetic", help="where the rendered scenes go (reused if present)")
    parser.add_argument("--train-count", type=int, default=1000)
    parser.add_argument("--val-count", type=int, default=48)
    parser.add_argument("--test-count", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=size_argument, default=(192, 256), help="random training crop HxW")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs/mirror-synthetic-tiny", help="training run folder (logs, last/best)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-evaluate the bundle in --out on the held-out scenes (current protocol) without training")
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.bundle", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    if args.evaluate_only:
        return reevaluate(Path(args.out), Path(args.data_dir), args.test_count, command)

    started = time.time()
    data_dir, out, run_dir = Path(args.data_dir), Path(args.out), Path(args.run_dir)
    counts = {"train": args.train_count, "val": args.val_count, "test": args.test_count}
    for split, count in counts.items():
        render_split(data_dir, split, count)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = TrainConfig(
        data="synthetic", data_root=str(data_dir), out=str(run_dir), input_size=SIZE, crop=args.crop, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, val_limit=args.val_count,
        extra_card={"command": command},
    )
    result = train(config)
    train_minutes = (time.time() - started) / 60

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(run_dir / "best", out)
    for log_name in ("train_log.jsonl", "metrics.json"):
        shutil.copy(run_dir / log_name, out / log_name)
    rows = write_evaluation(out, data_dir, args.test_count)

    from common.depth_metrics import format_metrics_table

    table = format_metrics_table(rows)
    held_out = (f"{args.test_count} held-out procedural scenes (seed {SPLITS['test']}, rooms unseen in training), "
                f"240x320, metrics capped at 10 m")
    card_path = out / "card.json"
    card = json.loads(card_path.read_text())
    card.update({
        "command": command,
        "training_data": (f"{args.train_count} procedural RGB-D scenes (seed {SPLITS['train']}), {args.val_count} for "
                          f"validation (seed {SPLITS['val']}), rendered by python -m scenes"),
        "metrics": {"val": card.get("metrics", {}).get("val"), "test": rows["trained (learned mirror)"]},
        "test_set": held_out,
        "references": rows,
        "training_steps": len(result.step_losses),
        "wall_clock_minutes": round((time.time() - started) / 60, 1),
        "training_minutes": round(train_minutes, 1),
    })
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(table)
    print(f"bundled model written to {out} ({size_mb:.1f} MB) in {card['wall_clock_minutes']} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
