"""Train masked-material modelling (pretraining) or multilabel classification (fine-tuning).

    python -m eembed_model.train --task mlm --embedding elementwise --data data/debtags --out runs/ee-mlm
    python -m eembed_model.train --task multilabel --data data/debtags --init runs/ee-mlm --out runs/ee-ft
    python -m eembed_model.train --task mlm --encoder canine --v 4 --c 48 --max-len 128 --data data/debtags --out runs/canine
"""
from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from common.config import checked_fields

from .batching import make_text_encoder, mask_materials
from .checkpoint import load_checkpoint, read_card, save_checkpoint
from .config import EEmbedConfig
from .data import check_labels_occur, load_labels, load_split
from .model import EEmbedModel, MultilabelHead, format_parameter_counts, parameter_counts

TASKS = ("mlm", "multilabel")
LOSSES = ("bce", "balanced")
# Options that shape the model: with --init they come from the checkpoint.
ARCHITECTURE = ("encoder", "embedding", "aligned", "v", "c", "layers", "max_len", "material_level")
CURVE_TEXTS = 1000   # validation texts scored for the training curve (the final validation uses all)


@dataclass
class TrainConfig:
    task: str = "mlm"
    encoder: str = "bert"            # bert | albert | canine (the transformers class)
    embedding: str = "elementwise"   # elementwise | subword | hash (CANINE's own)
    data: str = "data/debtags"
    out: str = "runs/eembed"
    init: str | None = None          # checkpoint to start from (MLM pretraining for fine-tuning)
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: float = 0.06             # share of steps with linear warm-up
    weight_decay: float = 0.01
    seed: int = 0
    mask_rate: float = 0.15
    v: int = 8
    c: int = 24
    layers: int = 3
    max_len: int = 32
    vocab_size: int = 8000           # subword table size (WordPiece training target)
    material_level: str = "word"     # CANINE: always codepoint (every character, spaces included)
    long_words: str = "spell"        # spell | truncate: a word longer than v bytes
    pooling: str = "cls"             # multilabel head input: cls | mean
    prior_init: bool = True          # new multilabel head starts at the label log-odds
    loss: str = "bce"                # multilabel: bce | balanced (positives of rare labels weigh more)
    aligned: bool = False            # elementwise: block-diagonal first-layer Q/K/V (head n reads byte n)
    curve_every: int = 0             # score validation every N steps for the training curve (0: off)
    log_every: int = 25
    eval_batch_size: int = 256
    threads: int = 0                 # torch CPU threads; 0 keeps torch's default

    def __post_init__(self) -> None:
        if self.encoder == "canine":
            self.material_level = "codepoint"
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {TASKS}, got {self.task!r}")
        if self.curve_every and self.curve_every % self.log_every:
            raise ValueError(f"--curve-every ({self.curve_every}) must be a multiple of --log-every ({self.log_every})")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {LOSSES}, got {self.loss!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("--steps and --batch-size must be positive")

    @classmethod
    def from_dict(cls, data: dict, what: str = "training config") -> TrainConfig:
        """The `train` section of a card back as a TrainConfig. Strict: a field this code does not
        know is a one-line ValueError naming it; missing fields (a card older than the field)
        take their defaults."""
        return cls(**checked_fields(cls, data, what))


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def multi_hot(rows: list[list[str]], label_index: dict[str, int]) -> torch.Tensor:
    out = torch.zeros(len(rows), len(label_index))
    for i, labels in enumerate(rows):
        for label in labels:
            if label in label_index:
                out[i, label_index[label]] = 1.0
    return out


def balanced_positive_weights(targets: torch.Tensor) -> torch.Tensor:
    """Per-label weight of the positive term: sqrt(negatives / positives) in the training labels.

    The square root keeps the positives of a label seen 10 times in 20,000 at 45x a negative
    rather than 2,000x, while still lifting rare labels' recall; both sides get the same weights.
    """
    positives = targets.sum(0).clamp(min=1.0)
    return ((len(targets) - positives) / positives).clamp(min=1.0).sqrt()


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up then linear decay to zero, as BERT."""
    warm = max(1, int(total * warmup))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def build_model(cfg: TrainConfig, train_texts: list[str], labels: list[str]):
    """A fresh model (training a WordPiece table first for the subword baseline) or the --init
    one. Returns (model, config, tokenizer, whether the multilabel head is new)."""
    num_labels = len(labels)
    if cfg.init:
        stored_labels = read_card(cfg.init).get("labels") or []
        loaded = load_checkpoint(cfg.init, num_labels=num_labels if cfg.task == "multilabel" else None)
        for name in ("encoder", "embedding", "aligned"):  # the architecture comes from --init
            if getattr(loaded.config, name) != getattr(cfg, name):
                print(f"note: --init has {name}={getattr(loaded.config, name)!r}; using that", file=sys.stderr)
        # How a long word enters is input, not architecture: this run's choice holds (a model
        # pretrained on spelled-on words can be fine-tuned and tested on words cut at v bytes).
        loaded.config.long_words = cfg.long_words
        # A head trained for other labels (or none) is replaced, even when the count matches.
        new_head = cfg.task == "multilabel" and list(stored_labels) != list(labels)
        if new_head:
            loaded.config.pooling = cfg.pooling
            loaded.model.multilabel_head = MultilabelHead(loaded.config)
            loaded.model.multilabel_head.apply(loaded.model._init_weights)
        return loaded.model, loaded.config, loaded.tokenizer, new_head
    tokenizer = None
    if cfg.embedding == "subword" or cfg.material_level == "subword":
        from .wordpiece import train_wordpiece
        tokenizer = train_wordpiece(train_texts, vocab_size=cfg.vocab_size)
    config = EEmbedConfig(
        encoder=cfg.encoder, embedding=cfg.embedding, v=cfg.v, c=cfg.c, layers=cfg.layers, aligned=cfg.aligned,
        long_words=cfg.long_words,
        max_len=cfg.max_len, material_level=cfg.material_level, pooling=cfg.pooling,
        vocab_size=tokenizer.get_vocab_size() if cfg.embedding == "subword" else 0,
        num_labels=num_labels if cfg.task == "multilabel" else 0,
    )
    return EEmbedModel(config), config, tokenizer, cfg.task == "multilabel"


@torch.no_grad()
def mlm_validation(model: EEmbedModel, config: EEmbedConfig, encode, texts: list[str], rate: float,
                   batch_size: int, seed: int = 1234) -> dict[str, float]:
    """Masked-material loss and accuracy (a material counts as right only when all of it is)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    losses, right, total = [], 0, 0
    for i in range(0, len(texts), batch_size):
        batch = encode(texts[i:i + batch_size])
        masked, targets, where = mask_materials(batch, config, rate, gen)
        out = model.masked_materials(masked, batch.attention_mask, targets, where)
        losses.append(float(out.loss) * int(where.sum()))
        guess = out.logits.argmax(-1)
        correct = (guess == targets[where])
        right += int((correct.all(-1) if correct.dim() > 1 else correct).sum())
        total += int(where.sum())
    return {"val_mlm_loss": sum(losses) / max(total, 1), "val_material_accuracy": right / max(total, 1)}


def validation_point(model: EEmbedModel, config: EEmbedConfig, encode, cfg: TrainConfig, texts: list[str],
                     gold: torch.Tensor | None) -> dict[str, float]:
    """One point of the training curve on the first CURVE_TEXTS validation texts."""
    if cfg.task == "mlm":
        point = mlm_validation(model, config, encode, texts[:CURVE_TEXTS], cfg.mask_rate, cfg.eval_batch_size)
    else:
        from .evaluate import predict_probs
        from .metrics import best_threshold
        probs = predict_probs(model, encode, texts[:CURVE_TEXTS], cfg.eval_batch_size)
        point = {"val_micro_f1": best_threshold(probs, gold[:CURVE_TEXTS])[1]}
    model.train()
    return point


def train(cfg: TrainConfig, command: str | None = None) -> dict:
    """Runs one training; writes the checkpoint to cfg.out and returns its card."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    gen = seed_everything(cfg.seed)
    train_rows = load_split(cfg.data, "train")
    val_rows = load_split(cfg.data, "validation")
    labels = load_labels(cfg.data)
    if cfg.task == "multilabel":
        check_labels_occur(train_rows, labels, f"{Path(cfg.data) / 'labels.json'}")
    label_index = {name: i for i, name in enumerate(labels)}
    train_texts = [r["text"] for r in train_rows]
    model, config, tokenizer, new_head = build_model(cfg, train_texts, labels)
    encode = make_text_encoder(config, tokenizer)
    counts = parameter_counts(model)
    print(format_parameter_counts(f"{config.embedding} model", counts), file=sys.stderr)
    train_targets = multi_hot([r["labels"] for r in train_rows], label_index) if cfg.task == "multilabel" else None
    if new_head and cfg.prior_init:
        model.multilabel_head.init_from_priors(train_targets.mean(0))
    pos_weight = balanced_positive_weights(train_targets) if cfg.task == "multilabel" and cfg.loss == "balanced" \
        else None
    val_texts = [r["text"] for r in val_rows]
    val_gold = multi_hot([r["labels"] for r in val_rows], label_index) if cfg.task == "multilabel" else None

    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg.steps, cfg.warmup))

    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "train_log.jsonl"
    log_file = open(log_path, "w")
    order: list[int] = []
    start = time.time()
    running = []
    model.train()
    bar = tqdm(range(cfg.steps), desc=f"{cfg.task} {config.embedding}", unit="step")
    for step in bar:
        if len(order) < cfg.batch_size:
            order += torch.randperm(len(train_rows), generator=gen).tolist()
        idx, order = order[:cfg.batch_size], order[cfg.batch_size:]
        batch = encode([train_texts[i] for i in idx])
        if cfg.task == "mlm":
            masked, targets, where = mask_materials(batch, config, cfg.mask_rate, gen)
            loss = model.masked_materials(masked, batch.attention_mask, targets, where).loss
        else:
            loss = model.multilabel(batch.inputs, batch.attention_mask, train_targets[idx], pos_weight).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            mean = sum(running) / len(running)
            running = []
            bar.set_postfix(loss=f"{mean:.4f}")
            entry = {"step": step + 1, "loss": mean, "lr": schedule.get_last_lr()[0],
                     "seconds": round(time.time() - start, 1)}
            if cfg.curve_every and ((step + 1) % cfg.curve_every == 0 or step + 1 == cfg.steps):
                entry.update(validation_point(model, config, encode, cfg, val_texts, val_gold))
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
    log_file.close()
    train_seconds = time.time() - start

    if cfg.task == "mlm":
        metrics = mlm_validation(model, config, encode, val_texts, cfg.mask_rate, cfg.eval_batch_size)
        threshold = None
    else:
        from .evaluate import predict_probs
        from .metrics import best_threshold
        probs = predict_probs(model, encode, val_texts, cfg.eval_batch_size)
        threshold, val_f1 = best_threshold(probs, val_gold)
        metrics = {"val_micro_f1": val_f1}
    model.eval()
    log = [json.loads(line) for line in open(log_path)]
    card = {
        "task": cfg.task,
        "labels": labels if cfg.task == "multilabel" else [],
        "label_train_counts": [int(x) for x in train_targets.sum(0).tolist()] if train_targets is not None else [],
        "threshold": threshold,
        "train": asdict(cfg),
        "data": {"dir": cfg.data, "train_texts": len(train_rows), "validation_texts": len(val_rows)},
        "metrics": metrics,
        "parameters": counts,
        "train_seconds": round(train_seconds, 1),
        "first_loss": log[0]["loss"] if log else None,
        "final_loss": log[-1]["loss"] if log else None,
        "command": command or "",
        "torch": torch.__version__,
    }
    save_checkpoint(model, out_dir, card, tokenizer)
    return card


def settings_from_init(cfg: TrainConfig, given: set[str]) -> TrainConfig:
    """With --init, the architecture options (ARCHITECTURE) are the checkpoint's: those left out
    are filled in from its card, so this run's card records the model it really trains; one given
    on the command line with another value is a ValueError naming it (it used to be dropped with
    a note, or not even that, and the new card then described a model that was not trained)."""
    if not cfg.init:
        return cfg
    card_config = read_card(cfg.init).get("config")
    if not isinstance(card_config, dict):
        raise ValueError(f"the card of --init {cfg.init} has no model config; pass a directory written by "
                         "'python -m eembed_model.train'")
    stored = EEmbedConfig.from_dict(card_config, f"'config' of --init {cfg.init}")
    conflicts = [name for name in ARCHITECTURE if name in given and getattr(cfg, name) != getattr(stored, name)]
    if conflicts:
        asked = ", ".join(f"--{name.replace('_', '-')} {getattr(cfg, name)}" for name in conflicts)
        has = ", ".join(f"{name.replace('_', '-')} {getattr(stored, name)}" for name in conflicts)
        raise ValueError(f"--init {cfg.init} has {has}, not {asked}: leave those options out (the architecture "
                         "comes from --init) or pretrain a model with them first")
    return replace(cfg, **{name: getattr(stored, name) for name in ARCHITECTURE})


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m eembed_model.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=TASKS, default=d.task)
    p.add_argument("--encoder", choices=("bert", "albert", "canine"), default=d.encoder,
                   help="transformers encoder class (albert: one shared layer; canine: characters, downsampled x4)")
    p.add_argument("--embedding", choices=("elementwise", "subword", "hash"), default=d.embedding,
                   help="material table (hash: CANINE's own code-point hashing, the CANINE baseline)")
    p.add_argument("--data", required=True, help="dataset directory (python -m eembed_model.data ...)")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--init", default=None, help="start from this checkpoint (e.g. an MLM pretraining)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup", type=float, default=d.warmup)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--mask-rate", type=float, default=d.mask_rate)
    p.add_argument("--v", type=int, default=d.v, help="bytes per material = attention heads")
    p.add_argument("--c", type=int, default=d.c, help="element width; hidden width is v*c")
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--max-len", type=int, default=d.max_len)
    p.add_argument("--vocab-size", type=int, default=d.vocab_size)
    p.add_argument("--material-level", choices=("word", "subword", "char", "codepoint"), default=d.material_level)
    p.add_argument("--long-words", choices=("spell", "truncate"), default=d.long_words,
                   help="a word longer than v bytes: spelled on over the next materials (default) or cut")
    p.add_argument("--pooling", choices=("cls", "mean"), default=d.pooling,
                   help="multilabel head input: [CLS] state or mean of materials (default %(default)s)")
    p.add_argument("--no-prior-init", dest="prior_init", action="store_false",
                   help="start a new multilabel head at zero bias instead of the label log-odds")
    p.add_argument("--loss", choices=LOSSES, default=d.loss,
                   help="multilabel loss: bce, or balanced (positive term weighted by sqrt(neg/pos) per label)")
    p.add_argument("--aligned", action="store_true",
                   help="elementwise: head n's first-layer query/key/value read only byte n (block-diagonal)")
    p.add_argument("--curve-every", type=int, default=d.curve_every,
                   help=f"score {CURVE_TEXTS} validation texts every N steps for the training curve (0: off)")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--threads", type=int, default=d.threads)
    a = p.parse_args(argv)
    cfg = TrainConfig(**{k.replace("-", "_"): v for k, v in vars(a).items()})
    # Which architecture options the command line gave (not their defaults): parse once more
    # with a marker as their default (an object, which argparse does not convert), so an option
    # still holding the marker was not typed.
    unset = object()
    p.set_defaults(**{name: unset for name in ARCHITECTURE})
    typed = vars(p.parse_args(argv))
    return settings_from_init(cfg, {name for name in ARCHITECTURE if typed[name] is not unset})


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        command = "python -m eembed_model.train " + shlex.join(sys.argv[1:] if argv is None else argv)
        card = train(cfg, command)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": cfg.out, "metrics": card["metrics"], "first_loss": card["first_loss"],
                      "final_loss": card["final_loss"], "train_seconds": card["train_seconds"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
