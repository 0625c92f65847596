"""Like-for-like comparison: elementwise vs subword embedding, same encoder, same steps, same
hyperparameters. Each side gets MLM pretraining on the training texts, then multilabel
fine-tuning; both are evaluated on the test split. Writes comparison.md and comparison.json.

    python -m eembed_model.compare --data data/debtags --out runs/compare --bundle checkpoints/eembed-debtags
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from .data import load_split
from .evaluate import evaluate_checkpoint
from .materials import corpus_report
from .train import TrainConfig, train

EMBEDDINGS = ("elementwise", "subword")


def reusable_pretraining(mlm_dir: Path, wanted: TrainConfig) -> dict | None:
    """The card of an existing MLM checkpoint trained with exactly these settings, else None."""
    card_path = mlm_dir / "card.json"
    if not card_path.is_file():
        return None
    card = json.loads(card_path.read_text())
    # Settings a card predates must still be at their defaults; settings this code does not know
    # are an error (TrainConfig.from_dict), not silently taken as equal.
    stored = vars(TrainConfig.from_dict(card.get("train", {}), f"'train' of {card_path}"))
    ignore = ("out", "threads")
    same = all(stored[k] == v for k, v in vars(wanted).items() if k not in ignore)
    return card if same else None


def run_comparison(data: str, out: str, mlm_steps: int, ft_steps: int, base: TrainConfig,
                   ft_lr: float, command: str, reuse_pretraining: bool = False) -> dict:
    out_dir = Path(out)
    results: dict[str, dict] = {}
    started = time.time()
    for embedding in EMBEDDINGS:
        common = replace(base, embedding=embedding, data=data)
        mlm_dir = out_dir / f"{embedding}-mlm"
        ft_dir = out_dir / f"{embedding}-multilabel"
        mlm_cfg = replace(common, task="mlm", steps=mlm_steps, out=str(mlm_dir))
        mlm_card = reusable_pretraining(mlm_dir, mlm_cfg) if reuse_pretraining else None
        if mlm_card is None:
            mlm_card = train(mlm_cfg, command)
        else:
            print(f"reusing the identical MLM pretraining in {mlm_dir}", file=sys.stderr)
        ft_card = train(replace(common, task="multilabel", steps=ft_steps, lr=ft_lr, init=str(mlm_dir),
                                out=str(ft_dir)), command)
        metrics = evaluate_checkpoint(str(ft_dir), data, "test")
        (ft_dir / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        results[embedding] = {"mlm": mlm_card["metrics"], "mlm_seconds": mlm_card["train_seconds"],
                              "multilabel_seconds": ft_card["train_seconds"], "test": metrics,
                              "parameters": ft_card["parameters"], "checkpoint": str(ft_dir)}
    train_texts = [r["text"] for r in load_split(data, "train")]
    report = corpus_report(train_texts, base.v, "word").to_dict()
    summary = {"data": data, "mlm_steps": mlm_steps, "multilabel_steps": ft_steps, "train_config": vars(base),
               "multilabel_lr": ft_lr, "results": results, "materials_report": report,
               "wall_seconds": round(time.time() - started, 1), "command": command}
    (out_dir / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "comparison.md").write_text(comparison_table(summary) + "\n")
    return summary


def comparison_table(summary: dict) -> str:
    rows = ["| embedding | material table params | encoder params | table share | test micro-F1 | test macro-F1 "
            "| P@1 | macro-F1 frequent / medium / rare | MLM val loss | train min (MLM + FT) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in summary["results"].items():
        p, t = r["parameters"], r["test"]
        buckets = " / ".join(f"{b['macro_f1']:.3f}" for b in t["by_label_frequency"])
        minutes = (r["mlm_seconds"] + r["multilabel_seconds"]) / 60
        rows.append(f"| {name} | {p['material_table']:,} | {p['encoder_total']:,} | "
                    f"{100 * p['material_table_share_of_encoder']:.1f} % | {t['micro_f1']:.3f} | "
                    f"{t['macro_f1']:.3f} | {t['precision_at_1']:.3f} | {buckets} | "
                    f"{r['mlm']['val_mlm_loss']:.3f} | {minutes:.1f} |")
    return "\n".join(rows)


def bundle(checkpoint: str, target: str, summary: dict) -> None:
    """Copy the elementwise fine-tuned model to the bundled location with its test metrics."""
    src, dst = Path(checkpoint), Path(target)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "train_log.jsonl", "test_metrics.json"):
        shutil.copy2(src / name, dst / name)
    card = json.loads((src / "card.json").read_text())
    card["test_metrics"] = summary["results"]["elementwise"]["test"]
    card["pretraining"] = {"steps": summary["mlm_steps"], "metrics": summary["results"]["elementwise"]["mlm"]}
    card["reproduce"] = summary["command"]
    (dst / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    mlm_log = src.parent / "elementwise-mlm" / "train_log.jsonl"
    if mlm_log.is_file():
        shutil.copy2(mlm_log, dst / "pretrain_log.jsonl")


def main(argv: list[str] | None = None) -> int:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m eembed_model.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mlm-steps", type=int, default=800)
    p.add_argument("--ft-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="MLM learning rate (both sides)")
    p.add_argument("--ft-lr", type=float, default=d.lr, help="fine-tuning learning rate (both sides)")
    p.add_argument("--v", type=int, default=d.v)
    p.add_argument("--c", type=int, default=d.c)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--max-len", type=int, default=d.max_len)
    p.add_argument("--vocab-size", type=int, default=d.vocab_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--reuse-pretraining", action="store_true",
                   help="skip an MLM run whose checkpoint in --out was trained with identical settings")
    p.add_argument("--bundle", default=None, help="copy the elementwise fine-tuned model here")
    a = p.parse_args(argv)
    command = "python -m eembed_model.compare " + shlex.join(sys.argv[1:] if argv is None else argv)
    base = TrainConfig(batch_size=a.batch_size, lr=a.lr, v=a.v, c=a.c, layers=a.layers, max_len=a.max_len,
                       vocab_size=a.vocab_size, seed=a.seed, threads=a.threads, data=a.data, out=a.out)
    try:
        summary = run_comparison(a.data, a.out, a.mlm_steps, a.ft_steps, base, a.ft_lr, command,
                                 a.reuse_pretraining)
        if a.bundle:
            bundle(summary["results"]["elementwise"]["checkpoint"], a.bundle, summary)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(comparison_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
