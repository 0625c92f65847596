"""The claims comparison: elementwise vs subword and their variants, several fine-tuning seeds each.

Every variant uses the same encoder size, steps and hyperparameters. Each pretraining (masked
material modelling on the training texts) is shared by the variants built on it; each variant is
then fine-tuned for multilabel classification with every seed and scored on every test set the
data directory holds: `test`, and when built by `python -m eembed_model.robustness`, `test-shift`
(held-out Debian sections) and `test-noiseNN` (misspelt words). Thresholds, global and per label,
are chosen on validation only.

    python -m eembed_model.compare --data data/debtags-claims --out runs/claims --jobs 2

Writes comparison.json (every number), comparison.md (the tables and the claims verdicts), the
figures (robustness, training curves, alignment) and predictions/ (every run's test predictions,
compressed, and the gold labels: eembed_model.predictions) into --out. A run whose checkpoint in
--out was trained with identical settings is reused, so an interrupted comparison resumes. The
runs go through the grid runner (common.grid): one after another here, --jobs N local processes at
a time, or --cluster ADDRESS to run each as a task on a Ray cluster (docs/grids.md); a run that
fails is retried once, and runs that fail again are listed (exit status 1).

    python -m eembed_model.compare --recompute docs/results/eembed-claims   # tables from predictions/, seconds
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch

from common.grid import GridError, GridRun, GridSummary, add_grid_arguments, check_grid_arguments, run_grid

from .alignment import alignment_report
from .checkpoint import load_checkpoint
from .compare_report import MORE_SEEDS, write_report
from .compare_scores import PREDICTIONS, VALIDATION, mean_sd, prediction_path, recompute, score_comparison
from .data import load_labels, load_split
from .evaluate import evaluate_checkpoint, predict_probs
from .model import CANINE_DOWNSAMPLING
from .predictions import GOLD_FILE, repack_predictions, save_golds, save_predictions
from .train import TrainConfig, multi_hot, train


@dataclass(frozen=True)
class Variant:
    name: str
    pretraining: str          # the pretraining run it fine-tunes (shared between variants)
    embedding: str
    encoder: str = "bert"
    aligned: bool = False
    loss: str = "bce"
    long_words: str = "spell"  # fine-tuning and test only (the pretraining is shared): EEmbedConfig.long_words
    about: str = ""

    def settings(self, base: TrainConfig) -> dict:
        """The TrainConfig fields this variant sets. CANINE reads characters: v = 4 bytes (every
        character fits), the same width w, and 4 characters per material position of the others,
        so its deep stack (which sees positions / 4) runs at their length."""
        out = {"encoder": self.encoder, "embedding": self.embedding, "aligned": self.aligned}
        if self.encoder == "canine":
            out.update(v=4, c=base.v * base.c // 4, max_len=CANINE_DOWNSAMPLING * base.max_len)
        return out


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("elementwise", "elementwise", "elementwise", about="BERT, byte-concatenation materials"),
    Variant("subword", "subword", "subword", about="BERT, WordPiece table (the baseline)"),
    Variant("aligned", "aligned", "elementwise", aligned=True,
            about="elementwise, head n's first-layer Q/K/V read only byte n"),
    Variant("elementwise-truncate", "elementwise", "elementwise", long_words="truncate",
            about="elementwise, words cut at v bytes in fine-tuning and test (the spelled-on pretraining)"),
    Variant("elementwise-balanced", "elementwise", "elementwise", loss="balanced",
            about="elementwise, class-balanced loss"),
    Variant("subword-balanced", "subword", "subword", loss="balanced", about="subword, class-balanced loss"),
    Variant("albert-elementwise", "albert-elementwise", "elementwise", encoder="albert",
            about="ALBERT (one shared layer), elementwise"),
    Variant("albert-subword", "albert-subword", "subword", encoder="albert", about="ALBERT (one shared layer), subword"),
    Variant("canine-elementwise", "canine-elementwise", "elementwise", encoder="canine",
            about="CANINE, each character's UTF-8 bytes as elements"),
    Variant("canine-hash", "canine-hash", "hash", encoder="canine", about="CANINE, its own code-point hash embedding"),
)}
# ------------------------------------------------------------------ runs

def reusable_run(run_dir: Path, wanted: TrainConfig) -> dict | None:
    """The card of a checkpoint in run_dir trained with exactly these settings, else None."""
    card_path = run_dir / "card.json"
    if not card_path.is_file():
        return None
    card = json.loads(card_path.read_text())
    if "encoder" not in card.get("train", {}):
        return None  # trained by the project's own encoder code, before the transformers encoders: retrain
    # Settings a card predates must still be at their defaults; settings this code does not know
    # are an error (TrainConfig.from_dict), not silently taken as equal.
    stored = vars(TrainConfig.from_dict(card.get("train", {}), f"'train' of {card_path}"))
    ignore = ("out", "threads")
    return card if all(stored[k] == v for k, v in vars(wanted).items() if k not in ignore) else None


def pretraining_config(base: TrainConfig, variant: Variant, out: Path, steps: int) -> TrainConfig:
    return replace(base, task="mlm", **variant.settings(base), loss="bce", steps=steps, init=None,
                   out=str(out / f"pretrain-{variant.pretraining}"))


def fine_tuning_config(base: TrainConfig, variant: Variant, out: Path, steps: int, lr: float,
                       seed: int) -> TrainConfig:
    return replace(base, task="multilabel", **variant.settings(base), loss=variant.loss, long_words=variant.long_words,
                   steps=steps, lr=lr, seed=seed,
                   init=str(out / f"pretrain-{variant.pretraining}"), out=str(out / variant.name / f"seed{seed}"))


def eval_sets(data: str) -> list[str]:
    """`test` plus the robustness sets present in the data directory."""
    names = ["test"] + sorted(p.stem for p in Path(data).glob("test-*.jsonl"))
    return [n for n in names if (Path(data) / f"{n}.jsonl").is_file()]


def run_training(cfg: TrainConfig, command: str) -> dict:
    """Train unless an identical checkpoint exists; a retrained run drops its stale predictions."""
    card = reusable_run(Path(cfg.out), cfg)
    if card is not None:
        return card
    stale = Path(cfg.out) / RUN_PREDICTIONS
    if stale.is_file():
        stale.unlink()
    return train(cfg, command)


RUN_PREDICTIONS = "predictions-v2.npz"   # the compact format of eembed_model.predictions


def fine_tune_and_predict(cfg: TrainConfig, command: str, sets: list[str]) -> str:
    """One fine-tuning run, then its predictions on validation and every test set (compact, see
    eembed_model.predictions) so the tables can be recomputed without the models."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_training(cfg, command)
    target = Path(cfg.out) / RUN_PREDICTIONS
    if not target.is_file():
        loaded = load_checkpoint(cfg.out)
        probs = {name: predict_probs(loaded.model, loaded.text_encoder, [r["text"] for r in load_split(cfg.data, name)],
                                     cfg.eval_batch_size) for name in [VALIDATION, *sets]}
        save_predictions(target, probs)
    return cfg.out


def _pretrain(cfg: TrainConfig, command: str) -> str:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_training(cfg, command)
    return cfg.out


def finished_training(cfg: TrainConfig, needs_predictions: bool = False) -> str | None:
    """The run folder when it holds a checkpoint trained with these settings (and, for a
    fine-tuning, its predictions), else None: the grid runner's test for a finished run."""
    if reusable_run(Path(cfg.out), cfg) is None:
        return None
    if needs_predictions and not (Path(cfg.out) / RUN_PREDICTIONS).is_file():
        return None
    return cfg.out


def seeds_of_variants(variants: list[str], seeds: list[int], more: list[str] = ()) -> dict[str, list[int]]:
    """Each variant's fine-tuning seeds: `seeds`, or for the variants in `more` also up to seed
    MORE_SEEDS - 1 (the report asks for MORE_SEEDS where a 3-seed interval cannot decide).
    Raises ValueError for a variant in `more` that is not in `variants`."""
    stray = [name for name in more if name not in variants]
    if stray:
        raise ValueError(f"--more-seeds names {', '.join(stray)}, which --variants does not run")
    return {name: sorted(set(seeds) | set(range(MORE_SEEDS))) if name in more else list(seeds) for name in variants}


def train_grids(data: str, out: str, seeds_of: dict[str, list[int]], mlm_steps: int, ft_steps: int,
                base: TrainConfig, ft_lr: float, command: str, jobs: int = 1, cluster: str | None = None,
                progress: bool = True) -> tuple[GridSummary, GridSummary]:
    """Every pretraining, then every fine-tuning (with its predictions), through the grid runner
    (common.grid): finished runs are reused, the others trained in this process (jobs=1), in
    `jobs` local processes or on the Ray cluster `cluster`, each asking for base.threads CPUs.
    `seeds_of`: each variant to train and its fine-tuning seeds (seeds_of_variants). A fine-tuning
    whose pretraining failed is listed as failed, not started. Returns both summaries."""
    out_dir = Path(out)
    chosen = [VARIANTS[name] for name in seeds_of]
    sets = eval_sets(data)
    cpus = base.threads or 1
    pretrainings = {v.pretraining: pretraining_config(base, v, out_dir, mlm_steps) for v in chosen}
    first = run_grid([GridRun(f"pretrain-{name}", _pretrain, (cfg, command), finished=partial(finished_training, cfg), cpus=cpus)
                      for name, cfg in pretrainings.items()], jobs, cluster, progress=progress, desc="pretraining runs")
    fine_tunings = {f"{v.name}/seed{seed}": (v, fine_tuning_config(base, v, out_dir, ft_steps, ft_lr, seed))
                    for v in chosen for seed in seeds_of[v.name]}
    second = run_grid([GridRun(name, fine_tune_and_predict, (cfg, command, sets), finished=partial(finished_training, cfg, True),
                               cpus=cpus) for name, (v, cfg) in fine_tunings.items()
                       if f"pretrain-{v.pretraining}" not in first.failed], jobs, cluster, progress=progress,
                      desc="fine-tuning runs")
    for name, (variant, _) in fine_tunings.items():
        if f"pretrain-{variant.pretraining}" in first.failed:
            second.failed[name] = f"not started: its pretraining pretrain-{variant.pretraining} failed"
    return first, second


# ------------------------------------------------------------------ scoring

def gold_matrix(data: str, name: str, labels: list[str]) -> torch.Tensor:
    index = {label: i for i, label in enumerate(labels)}
    return multi_hot([r["labels"] for r in load_split(data, name)], index).bool()


# ------------------------------------------------------------------ the whole comparison

def run_comparison(data: str, out: str, variants: list[str], seeds: list[int], mlm_steps: int, ft_steps: int,
                   base: TrainConfig, ft_lr: float, command: str, jobs: int = 1, resamples: int = 1000,
                   cluster: str | None = None, more_seeds: list[str] = ()) -> dict:
    """Train (or reuse) every run (train_grids), then score and report them; the variants in
    `more_seeds` get MORE_SEEDS seeds (seeds_of_variants). Raises GridError, listing every failed
    run, when a run failed after its retry: the tables need them all."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    chosen = [VARIANTS[name] for name in variants]
    sets = eval_sets(data)
    pretrainings = {v.pretraining: pretraining_config(base, v, out_dir, mlm_steps) for v in chosen}
    labels = load_labels(data)  # a missing data set is said here (exit 2), not as every run failing
    seeds_of = seeds_of_variants(variants, seeds, more_seeds)
    first, second = train_grids(data, out, seeds_of, mlm_steps, ft_steps, base, ft_lr, command, jobs, cluster)
    if first.failed or second.failed:
        total = len(pretrainings) + sum(len(s) for s in seeds_of.values())
        raise GridError({**first.failed, **second.failed}, total)

    golds = {name: gold_matrix(data, name, labels) for name in [VALIDATION, *sets]}
    train_counts = multi_hot([r["labels"] for r in load_split(data, "train")],
                             {label: i for i, label in enumerate(labels)}).sum(0).int().tolist()
    save_golds(out_dir / PREDICTIONS / GOLD_FILE, golds)
    results = {}
    for variant in chosen:
        run_dirs = [out_dir / variant.name / f"seed{seed}" for seed in seeds_of[variant.name]]
        for seed, run_dir in zip(seeds_of[variant.name], run_dirs):
            target = prediction_path(out_dir, variant.name, seed)
            target.parent.mkdir(parents=True, exist_ok=True)
            repack_predictions(run_dir / RUN_PREDICTIONS, target)  # runs of an earlier version: smaller now
        pre_dir = Path(pretrainings[variant.pretraining].out)
        pre_card = json.loads((pre_dir / "card.json").read_text())
        pre_log = [json.loads(line) for line in open(pre_dir / "train_log.jsonl")]
        results[variant.name] = {
            "about": variant.about, "pretraining": variant.pretraining, "runs": [str(d) for d in run_dirs],
            "seed_values": seeds_of[variant.name],
            "seeds": [{"curve": training_curve(d)} for d in run_dirs],
            "parameters": json.loads((run_dirs[0] / "card.json").read_text())["parameters"],
            "pretraining_metrics": pre_card["metrics"], "pretraining_seconds": pre_card["train_seconds"],
            "pretraining_curve": [{"step": e["step"], "val_mlm_loss": e["val_mlm_loss"]} for e in pre_log
                                  if "val_mlm_loss" in e],
            "fine_tuning_seconds": mean_sd([json.loads((d / "card.json").read_text())["train_seconds"] for d in run_dirs]),
        }
    summary = {"data": data, "sets": sets, "set_sizes": {n: int(g.shape[0]) for n, g in golds.items()},
               "seeds": seeds, "mlm_steps": mlm_steps, "multilabel_steps": ft_steps, "multilabel_lr": ft_lr,
               "train_config": vars(base), "labels": len(labels), "label_train_counts": train_counts,
               "results": results, "alignment": alignment_of_runs(results),
               "wall_seconds": round(time.time() - started, 1), "command": command}
    score_comparison(summary, out_dir, golds, resamples)
    (out_dir / "comparison.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_report(summary, out_dir)
    return summary


def training_curve(run_dir: Path) -> list[dict]:
    log = [json.loads(line) for line in open(run_dir / "train_log.jsonl")]
    return [{"step": e["step"], "val_micro_f1": e["val_micro_f1"]} for e in log if "val_micro_f1" in e]


def alignment_of_runs(results: dict) -> dict:
    """Own-byte Q/K/V shares of the seed-0 model of each elementwise variant."""
    out = {}
    for name, result in results.items():
        report = alignment_report(load_checkpoint(result["runs"][0]).model)
        if report["applies"]:
            out[name] = {"own_byte_share": report["own_byte_share"], "uniform_share": report["uniform_share"]}
    return out


def bundle(checkpoint: str, target: str, summary: dict) -> None:
    """Copy a fine-tuned model (elementwise, first seed) to the bundled location, with its test
    metrics as `python -m eembed_model.evaluate` reports them."""
    src, dst = Path(checkpoint), Path(target)
    dst.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_checkpoint(str(src), summary["data"], "test")
    (dst / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    for name in ("model.safetensors", "train_log.jsonl"):
        shutil.copy2(src / name, dst / name)
    card = json.loads((src / "card.json").read_text())
    card["test_metrics"] = metrics
    card["pretraining"] = {"steps": summary["mlm_steps"], "metrics": summary["results"]["elementwise"]["pretraining_metrics"]}
    card["reproduce"] = summary["command"]
    (dst / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    mlm_log = Path(card["train"]["init"]) / "train_log.jsonl"
    if mlm_log.is_file():
        shutil.copy2(mlm_log, dst / "pretrain_log.jsonl")


def main(argv: list[str] | None = None) -> int:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m eembed_model.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recompute", default=None, metavar="FOLDER",
                   help="only rebuild comparison.json/.md and the figures in FOLDER from its stored predictions")
    p.add_argument("--data", help="dataset directory (python -m eembed_model.robustness ...)")
    p.add_argument("--out")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated, from: {', '.join(VARIANTS)} (default: all)")
    p.add_argument("--seeds", default="0,1,2", help="fine-tuning seeds (default %(default)s)")
    p.add_argument("--more-seeds", default="", metavar="VARIANTS",
                   help=f"comma-separated variants fine-tuned with seeds 0..{MORE_SEEDS - 1} (the report names "
                        "those whose interval needs them); the others keep --seeds")
    p.add_argument("--mlm-steps", type=int, default=800)
    p.add_argument("--ft-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="MLM learning rate (every variant)")
    p.add_argument("--ft-lr", type=float, default=d.lr, help="fine-tuning learning rate (every variant)")
    p.add_argument("--v", type=int, default=d.v)
    p.add_argument("--c", type=int, default=d.c)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--max-len", type=int, default=d.max_len)
    p.add_argument("--vocab-size", type=int, default=d.vocab_size)
    p.add_argument("--curve-every", type=int, default=100, help="validation points of the training curves")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default %(default)s)")
    p.add_argument("--bundle", default=None, help="copy the first elementwise fine-tuned model here")
    add_grid_arguments(p)
    a = p.parse_args(argv)
    command = "python -m eembed_model.compare " + shlex.join(sys.argv[1:] if argv is None else argv)
    if a.resamples < 1:
        p.error(f"--resamples must be at least 1, got {a.resamples}")
    if a.recompute:
        try:
            summary = recompute(a.recompute, a.resamples if "--resamples" in (argv or sys.argv) else None)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        (Path(a.recompute) / "comparison.json").write_text(json.dumps(summary, indent=1) + "\n")
        write_report(summary, Path(a.recompute))
        print((Path(a.recompute) / "comparison.md").read_text())
        return 0
    if not a.data or not a.out:
        p.error("--data and --out are required (or --recompute FOLDER)")
    try:
        check_grid_arguments(a.jobs, a.cluster)
        variants = [v.strip() for v in a.variants.split(",") if v.strip()]
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown or not variants:
            raise ValueError(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(VARIANTS)}")
        try:
            seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--seeds must be comma-separated whole numbers, got {a.seeds!r}") from None
        if any(seed < 0 for seed in seeds):
            raise ValueError(f"--seeds must be 0 or more (torch seeds), got {a.seeds!r}")
        if not seeds:
            raise ValueError("--seeds needs at least one seed")
        # A data folder that cannot train (no labels, an empty or malformed split) is one message
        # here, not a failed run per variant and seed after the grid has started.
        load_labels(a.data)
        for split in ("train", "validation", "test"):
            load_split(a.data, split)
        if a.bundle and "elementwise" not in variants:
            raise ValueError("--bundle copies the elementwise model: include 'elementwise' in --variants")
        base = TrainConfig(batch_size=a.batch_size, lr=a.lr, v=a.v, c=a.c, layers=a.layers, max_len=a.max_len,
                           vocab_size=a.vocab_size, threads=a.threads, data=a.data, out=a.out,
                           curve_every=a.curve_every)
        more = [v.strip() for v in a.more_seeds.split(",") if v.strip()]
        summary = run_comparison(a.data, a.out, variants, seeds, a.mlm_steps, a.ft_steps, base, a.ft_lr, command,
                                 a.jobs, a.resamples, a.cluster, more)
        if a.bundle:
            bundle(summary["results"]["elementwise"]["runs"][0], a.bundle, summary)
    except (ValueError, FileNotFoundError) as exc:  # ClusterUnavailable too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GridError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print((Path(a.out) / "comparison.md").read_text())
    return 0


if __name__ == "__main__":
    # Run through the importable module, so that the functions and settings sent to other
    # processes or cluster workers are found there by name (not as __main__'s).
    from eembed_model.compare import main as compare_main

    sys.exit(compare_main())
