"""The long-sequence study: at equal positions L, how much of a long text each model sees, how
well it classifies, and what a training step costs as L grows.

The paper's claim: elementwise embedding lets a standard transformer read much longer text at the
same time complexity, because one position holds a whole word (a material) where a byte- or
character-level model spends one position per byte or character. Three models, all
`transformers` encoders of the same width and depth:
  elementwise  BertModel, word materials spelled as v bytes (long words over several positions)
  subword      BertModel, WordPiece table trained on the training split
  canine       CanineModel with its own hash embedding, one position per character (its deep
               stack sees L / 4 positions after downsampling), the byte/character-level baseline
Data: Debian package descriptions with their long, multi-paragraph part and the same debtags
labels (python -m eembed_model.data debtags --long ...); 446 characters and 85 words a text.

For every model and L: the share of each validation text's words inside the L positions; the
median time of one masked-material training step (forward + backward) and the memory its
activations hold for the backward pass, on random inputs of batch x L; and, unless --no-train,
the test micro-F1 after MLM pretraining and multilabel fine-tuning at that L (threshold chosen
on validation), per seed, with the seeds' sd and 95 % t-interval; beside them the constant
baseline (metrics.constant_baseline) and, at each L, elementwise minus each other kind with a
Welch interval and p over the per-seed scores. Runs already in --out with identical settings are
reused (resumable).

One learning rate does not suit every model and L (elementwise at L = 64 stays at the constant
baseline at lr 1e-3 and learns at 3e-4): run the study once per learning rate, each in its own
--out, then --choose-lr keeps, for every model and L, the learning rate whose runs have the
highest mean validation micro-F1 (the test split plays no part in the choice).

    python -m eembed_model.long_sequence --data data/debtags-long --out runs/long-sequence
    python -m eembed_model.long_sequence --data data/debtags-long --out runs/long-cost --no-train   # minutes
    python -m eembed_model.long_sequence --choose-lr runs/long-sequence,runs/long-sequence-lr3e-4 --out runs/long-chosen
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .batching import make_text_encoder
from .config import EEmbedConfig
from .data import load_split
from .materials import normalize, split_words
from .metrics import constant_baseline, seed_interval, welch_interval, welch_p
from .model import CANINE_DOWNSAMPLING, EEmbedModel
from .train import TrainConfig

KINDS: dict[str, dict] = {
    "elementwise": {"encoder": "bert", "embedding": "elementwise"},
    "subword": {"encoder": "bert", "embedding": "subword"},
    "canine": {"encoder": "canine", "embedding": "hash"},
}
DEFAULT_LENGTHS = (32, 64, 128, 256, 512)


def kind_settings(kind: str, v: int, c: int) -> dict:
    """TrainConfig fields of a kind; CANINE gets v = 4 (any character fits) at the same width."""
    settings = dict(KINDS[kind])
    if settings["encoder"] == "canine":
        settings.update(v=4, c=v * c // 4)
    else:
        settings.update(v=v, c=c)
    return settings


def words_seen(kind: str, batch, texts: list[str], length: int) -> list[float]:
    """Per text, the share of its words (materials.split_words) that start inside the L positions."""
    shares = []
    for row, text in enumerate(texts):
        total = len(split_words(text))
        if not total:
            shares.append(1.0)
            continue
        if kind == "canine":  # positions are characters: the words of the first L - 2 characters
            seen = len(split_words(normalize(text)[:length - 2]))
        else:
            seen = max(batch.word_index[row]) + 1
        shares.append(min(seen, total) / total)
    return shares


def coverage(kind: str, config: EEmbedConfig, tokenizer, texts: list[str]) -> dict:
    encode = make_text_encoder(config, tokenizer)
    shares, whole = [], []
    for start in range(0, len(texts), 256):
        chunk = texts[start:start + 256]
        batch = encode(chunk)
        shares += words_seen(kind, batch, chunk, config.max_len)
        whole += [not cut for cut in batch.truncated]
    return {"share_of_words_seen": float(np.mean(shares)), "texts_seen_whole": float(np.mean(whole))}


def random_inputs(config: EEmbedConfig, batch: int, length: int, generator: torch.Generator):
    """Inputs, MLM targets and target mask of real-looking but random materials (no special values)."""
    where = torch.rand(batch, length, generator=generator) < 0.15
    if config.embedding == "elementwise":
        inputs = torch.randint(0, 0xF8, (batch, length, config.v), generator=generator)
        return inputs, inputs, where
    if config.embedding == "subword":
        inputs = torch.randint(5, config.vocab_size, (batch, length), generator=generator)
        return inputs, inputs, where
    inputs = torch.randint(0x20, 0x3000, (batch, length), generator=generator)          # code points
    return inputs, torch.randint(0, 0xF8, (batch, length, config.v), generator=generator), where


def step_cost(config: EEmbedConfig, batch: int, repeats: int = 3) -> dict:
    """Median seconds of one MLM training step (forward + backward) at batch x config.max_len, and
    the megabytes of tensors autograd saves for the backward pass (the activation memory, the part
    of training memory that grows with L; torch.autograd.graph.saved_tensors_hooks counts them)."""
    torch.manual_seed(0)
    model = EEmbedModel(replace(config, dropout=0.0, attention_dropout=0.0)).train()
    generator = torch.Generator().manual_seed(0)
    inputs, targets, where = random_inputs(config, batch, config.max_len, generator)
    mask = torch.ones(batch, config.max_len, dtype=torch.bool)
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    times = []
    for i in range(repeats + 1):
        seen.clear()
        start = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model.masked_materials(inputs, mask, targets, where).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        if i:  # the first step warms up allocators
            times.append(time.perf_counter() - start)
    return {"step_seconds": float(np.median(times)), "activation_mb": sum(seen.values()) / 2**20}


def run_accuracy(cfg: TrainConfig, kind: str, out: Path, length: int, seed: int, mlm_steps: int, ft_steps: int,
                 command: str) -> dict:
    """MLM pretraining then multilabel fine-tuning at max_len L; test micro-F1 at the validation threshold."""
    from .compare import run_training
    from .evaluate import evaluate_checkpoint

    base = replace(cfg, **kind_settings(kind, cfg.v, cfg.c), max_len=length)
    pre = replace(base, task="mlm", steps=mlm_steps, init=None, out=str(out / kind / f"L{length}" / "pretrain"))
    run_training(pre, command)
    fine = replace(base, task="multilabel", steps=ft_steps, seed=seed, init=pre.out,
                   out=str(out / kind / f"L{length}" / f"seed{seed}"))
    card = run_training(fine, command)
    metrics = evaluate_checkpoint(fine.out, cfg.data, "test", cfg.eval_batch_size)
    return {"seed": seed, "micro_f1": metrics["micro_f1"], "macro_f1": metrics["macro_f1"],
            "precision_at_1": metrics["precision_at_1"], "train_seconds": card["train_seconds"],
            "val_micro_f1": card["metrics"]["val_micro_f1"]}


def seed_summary(scores: list[float]) -> dict:
    """Mean test micro-F1 over seeds, its seed standard deviation and 95 % t-interval (None below 2 seeds)."""
    return {"micro_f1": float(np.mean(scores)), "micro_f1_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
            "micro_f1_interval": seed_interval(scores)}


def long_text_baseline(data_dir: str) -> dict:
    """The constant baseline on this data (metrics.constant_baseline): a model at or below it has
    learned nothing from the texts, whatever L it reads."""
    from .data import load_labels
    from .train import multi_hot

    index = {label: i for i, label in enumerate(load_labels(data_dir))}
    train = multi_hot([r["labels"] for r in load_split(data_dir, "train")], index)
    gold = {split: multi_hot([r["labels"] for r in load_split(data_dir, split)], index) for split in ("validation", "test")}
    return constant_baseline(train.sum(0).long().tolist(), gold["validation"].bool(), gold["test"].bool())


# What a study's runs must share for their learning rates to be compared on validation.
SHARED_SETTINGS = ("data", "seeds", "mlm_steps", "multilabel_steps", "batch_size", "width", "layers")


def choose_learning_rate(summaries: list[dict], command: str) -> dict:
    """One study summary built from several, one per learning rate: for every (model, L), the row
    of the summary whose runs have the highest mean validation micro-F1. Each chosen row records
    its "lr" and every candidate's validation mean ("lr_validation"); test scores play no part.
    Raises ValueError when the studies differ in anything but the learning rate, share a learning
    rate, or hold no trained runs with validation scores (studies made before this choice existed:
    rerun them, finished runs are reused)."""
    if len(summaries) < 2:
        raise ValueError("--choose-lr needs at least two studies (comma-separated --out folders)")
    first = summaries[0]
    for other in summaries[1:]:
        differing = [k for k in SHARED_SETTINGS if other.get(k) != first.get(k)]
        if differing:
            raise ValueError(f"the studies differ in {', '.join(differing)}, not only in the learning rate")
    rates = [s["lr"] for s in summaries]
    if len(set(rates)) < len(rates):
        raise ValueError(f"two studies share a learning rate ({', '.join(map(str, rates))})")
    candidates: dict[tuple, list[tuple[float, float, dict]]] = {}
    for summary in summaries:
        for row in summary["rows"]:
            runs = row.get("runs") or []
            if not runs or any("val_micro_f1" not in r for r in runs):
                raise ValueError(f"the study at lr {summary['lr']} has no validation scores for {row['kind']} at "
                                 f"L = {row['length']}: rerun it with this version (finished runs are reused)")
            candidates.setdefault((row["kind"], row["length"]), []).append(
                (float(np.mean([r["val_micro_f1"] for r in runs])), summary["lr"], row))
    rows = []
    for options in candidates.values():
        _, lr, row = max(options, key=lambda option: option[0])
        rows.append({**row, "lr": lr, "lr_validation": {str(rate): score for score, rate, _ in options}})
    return {**{k: first[k] for k in SHARED_SETTINGS}, "rows": rows, "cost_batch": first["cost_batch"],
            "constant_baseline": first["constant_baseline"], "differences": differences(rows),
            "lr": "chosen on validation from " + ", ".join(map(str, rates)), "command": command,
            "torch_threads": first["torch_threads"]}


def differences(rows: list[dict]) -> list[dict]:
    """Elementwise minus each other kind at every L both were trained at: mean test micro-F1
    difference, its Welch interval and p over the per-seed scores."""
    trained = {(r["kind"], r["length"]): [run["micro_f1"] for run in r["runs"]] for r in rows if r.get("runs")}
    out = []
    for (kind, length), scores in trained.items():
        mine = trained.get(("elementwise", length))
        if kind == "elementwise" or mine is None:
            continue
        out.append({"length": length, "a": "elementwise", "b": kind, "difference": float(np.mean(mine) - np.mean(scores)),
                    "interval": welch_interval(mine, scores), "welch_p": welch_p(mine, scores), "seeds": [len(mine), len(scores)]})
    return out


def study(cfg: TrainConfig, out: Path, kinds: list[str], lengths: list[int], seeds: list[int], mlm_steps: int,
          ft_steps: int, cost_batch: int, train_models: bool, command: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    result_path = out / "long_sequence.json"
    validation = [r["text"] for r in load_split(cfg.data, "validation")]
    tokenizer = None
    if "subword" in kinds:
        from .wordpiece import train_wordpiece
        tokenizer = train_wordpiece([r["text"] for r in load_split(cfg.data, "train")], vocab_size=cfg.vocab_size)
    rows = []
    baseline = long_text_baseline(cfg.data) if train_models else None
    grid = [(kind, length) for kind in kinds for length in lengths]
    for kind, length in tqdm(grid, desc="long-sequence study", unit="model x L"):
        settings = kind_settings(kind, cfg.v, cfg.c)
        config = EEmbedConfig(**settings, layers=cfg.layers, max_len=length,
                              vocab_size=tokenizer.get_vocab_size() if kind == "subword" else 0,
                              material_level="codepoint" if kind == "canine" else cfg.material_level)
        row = {"kind": kind, "length": length, **coverage(kind, config, tokenizer, validation),
               **step_cost(config, cost_batch)}
        if kind == "canine":
            row["deep_stack_positions"] = length // CANINE_DOWNSAMPLING
        if train_models:
            row["runs"] = [run_accuracy(cfg, kind, out, length, seed, mlm_steps, ft_steps, command) for seed in seeds]
            row.update(seed_summary([r["micro_f1"] for r in row["runs"]]))
            # A run that ends at the constant baseline learned nothing from the texts (its training
            # loss stays at the label prior's): counted, so a mean over seeds is read with it.
            row["runs_at_baseline"] = sum(r["micro_f1"] <= baseline["test_micro_f1"] + 1e-6 for r in row["runs"])
        rows.append(row)
        summary = {"data": cfg.data, "rows": rows, "cost_batch": cost_batch, "seeds": seeds,
                   "mlm_steps": mlm_steps, "multilabel_steps": ft_steps, "batch_size": cfg.batch_size, "width": cfg.v * cfg.c,
                   "layers": cfg.layers, "lr": cfg.lr, "command": command, "torch_threads": torch.get_num_threads()}
        if train_models:
            summary["constant_baseline"] = baseline
            summary["differences"] = differences(rows)
        result_path.write_text(json.dumps(summary, indent=1) + "\n")  # after every cell: resumable, inspectable
    write_study(summary, out)
    return summary


def write_study(summary: dict, out: Path) -> None:
    """long_sequence.json, .md and .png in out."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "long_sequence.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "long_sequence.md").write_text(markdown(summary))
    figure(summary).savefig(out / "long_sequence.png", dpi=110, bbox_inches="tight")


def read_study(folder: Path) -> dict:
    """The summary a finished study left in folder; ValueError (not a traceback) when it is missing or unreadable."""
    path = folder / "long_sequence.json"
    try:
        summary = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no finished study in {folder} (long_sequence.json is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path} is not a study summary (unreadable JSON)") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("rows"), list) or "lr" not in summary:
        raise ValueError(f"{path} is not a study summary (no rows or lr)")
    if "constant_baseline" not in summary:
        raise ValueError(f"the study in {folder} was made with --no-train: there is nothing to choose from")
    if not isinstance(summary["lr"], (int, float)):
        raise ValueError(f"the study in {folder} is already a choice between learning rates: give the studies it was made from")
    return summary


def markdown(summary: dict) -> str:
    trained = any("micro_f1" in r for r in summary["rows"])
    chosen = any("lr_validation" in r for r in summary["rows"])
    head = (["model", "L", "words seen", "texts seen whole", "step (s)", "activation MB"] + (["test micro-F1"] if trained else [])
            + (["lr (validation micro-F1 of each)"] if chosen else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["rows"]:
        cells = [r["kind"], str(r["length"]), f"{100 * r['share_of_words_seen']:.1f} %", f"{100 * r['texts_seen_whole']:.1f} %",
                 f"{r['step_seconds']:.3f}", f"{r['activation_mb']:.1f}"]
        if trained:
            cells.append(accuracy_cell(r) if "micro_f1" in r else "—")
        if chosen:
            cells.append(f"{r['lr']:g} (" + ", ".join(f"{float(k):g}: {v:.3f}" for k, v in r["lr_validation"].items()) + ")")
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if summary.get("constant_baseline"):
        base = summary["constant_baseline"]
        notes.append(f"Constant baseline (the {base['k']} most frequent training labels for every text): "
                     f"test micro-F1 {base['test_micro_f1']:.3f}.")
    for d in summary.get("differences", []):
        interval = f" [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]" if d["interval"] else ""
        p = f", Welch p {d['welch_p']:.2g}" if d["welch_p"] is not None else ""
        notes.append(f"L = {d['length']}: {d['a']} - {d['b']} {d['difference']:+.3f}{interval}{p} "
                     f"({d['seeds'][0]} and {d['seeds'][1]} seeds).")
    return (f"Data `{summary['data']}`; width {summary['width']}, {summary['layers']} layers; cost on random inputs, "
            f"batch {summary['cost_batch']}, {summary['torch_threads']} thread(s). Test micro-F1: mean over seeds, "
            f"seed sd and 95 % t-interval over seeds; threshold chosen on validation.\n\n" + "\n".join(lines) +
            "".join(f"\n\n{note}" for note in notes) + f"\n\nCommand: `{summary['command']}`\n")


def accuracy_cell(row: dict) -> str:
    """'0.424 ± 0.010 [0.399, 0.449], 3 seeds[, 1 at the constant baseline]' (one seed: the score alone)."""
    if row.get("micro_f1_interval") is None:
        return f"{row['micro_f1']:.3f}, {len(row.get('runs', [])) or 1} seed"
    low, high = row["micro_f1_interval"]
    stuck = f", {row['runs_at_baseline']} at the constant baseline" if row.get("runs_at_baseline") else ""
    return f"{row['micro_f1']:.3f} ± {row['micro_f1_sd']:.3f} [{low:.3f}, {high:.3f}], {len(row['runs'])} seeds{stuck}"


def figure(summary: dict):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    trained = any("micro_f1" in r for r in summary["rows"])
    panels = [("share_of_words_seen", "share of the text's words inside L"), ("step_seconds", "training step (s)"),
              ("activation_mb", "activation memory (MB)")] + ([("micro_f1", "test micro-F1")] if trained else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for axis, (key, title) in zip(axes, panels):
        for kind in dict.fromkeys(r["kind"] for r in summary["rows"]):
            rows = [r for r in summary["rows"] if r["kind"] == kind and key in r]
            spread = [r.get("micro_f1_sd") or 0.0 for r in rows] if key == "micro_f1" else None
            axis.errorbar([r["length"] for r in rows], [r[key] for r in rows], yerr=spread, marker="o", capsize=3, label=kind)
        if key == "micro_f1" and summary.get("constant_baseline"):
            axis.axhline(summary["constant_baseline"]["test_micro_f1"], color="grey", linestyle="--", label="constant baseline")
            axis.legend(fontsize=7)
        axis.set_xscale("log", base=2)
        if key in ("step_seconds", "activation_mb"):
            axis.set_yscale("log")
        axis.set_xlabel("positions L")
        axis.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated whole numbers, got {text!r}") from None
    if not values:
        raise ValueError(f"{what} needs at least one value")
    return values


def main(argv: list[str] | None = None) -> int:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m eembed_model.long_sequence", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="dataset directory (python -m eembed_model.data debtags --long ...)")
    p.add_argument("--out", required=True)
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from: {', '.join(KINDS)}")
    p.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)), help="positions L (default %(default)s)")
    p.add_argument("--seeds", default="0", help="fine-tuning seeds (default %(default)s)")
    p.add_argument("--mlm-steps", type=int, default=400)
    p.add_argument("--ft-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate of pretraining and fine-tuning (default %(default)s)")
    p.add_argument("--cost-batch", type=int, default=16, help="batch of the step-time and memory measurement")
    p.add_argument("--v", type=int, default=d.v)
    p.add_argument("--c", type=int, default=d.c)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--vocab-size", type=int, default=d.vocab_size)
    p.add_argument("--no-train", dest="train_models", action="store_false", help="coverage and cost only")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    p.add_argument("--choose-lr", metavar="OUT,OUT,...",
                   help="studies of one setting at different --lr: write to --out, per model and L, the one with "
                        "the highest mean validation micro-F1 (no training)")
    a = p.parse_args(argv)
    command = "python -m eembed_model.long_sequence " + shlex.join(sys.argv[1:] if argv is None else argv)
    if a.choose_lr is None and a.data is None:
        p.error("--data is required (or --choose-lr to combine finished studies)")
    try:
        if a.choose_lr is not None:
            folders = [Path(d.strip()) for d in a.choose_lr.split(",") if d.strip()]
            if any(folder.resolve() == Path(a.out).resolve() for folder in folders):
                raise ValueError("--out must be a new folder, not one of the studies given to --choose-lr")
            summary = choose_learning_rate([read_study(folder) for folder in folders], command)
            write_study(summary, Path(a.out))
            print(markdown(summary))
            return 0
        kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown model kind(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(KINDS)}")
        lengths = _int_list(a.lengths, "--lengths")
        if min(lengths) < 8:
            raise ValueError("--lengths must be at least 8 (CANINE downsamples by 4)")
        seeds = _int_list(a.seeds, "--seeds")
        for name in ("mlm_steps", "ft_steps", "batch_size", "cost_batch", "threads"):
            if getattr(a, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(a, name)}")
        torch.set_num_threads(a.threads)
        if not a.lr > 0:
            raise ValueError(f"--lr must be a positive number, got {a.lr}")
        cfg = TrainConfig(data=a.data, batch_size=a.batch_size, lr=a.lr, v=a.v, c=a.c, layers=a.layers,
                          vocab_size=a.vocab_size, threads=a.threads, log_every=25)
        summary = study(cfg, Path(a.out), kinds, lengths, seeds, a.mlm_steps, a.ft_steps, a.cost_batch,
                        a.train_models, command)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
