"""Checkpoint directory: model.safetensors + card.json (config, labels, data, metrics, command)
+ tokenizer.json for subword models (or subword-level materials)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import load_model, save_model

from .batching import make_text_encoder
from .config import EEmbedConfig
from .model import EEmbedModel

BUNDLED_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "eembed-debtags"
WEIGHTS = "model.safetensors"
CARD = "card.json"
TOKENIZER = "tokenizer.json"


@dataclass
class LoadedModel:
    model: EEmbedModel
    config: EEmbedConfig
    card: dict
    labels: list[str] = field(default_factory=list)
    tokenizer: object = None
    text_encoder: object = None
    path: str = ""


def save_checkpoint(model: EEmbedModel, directory: str | Path, card: dict, tokenizer=None) -> Path:
    """Write model.safetensors, card.json (`card` plus the model's config) and, when given, the
    WordPiece tokenizer.json into `directory`; the argument order is mirror_model's
    save_checkpoint(model, directory, card_extra)."""
    if not isinstance(model, EEmbedModel):
        raise TypeError(f"save_checkpoint(model, directory, card, tokenizer=None) takes the model first, "
                        f"got {type(model).__name__}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    # save_model handles the tied MLM output table (one tensor shared by two names).
    save_model(model, str(out / WEIGHTS))
    if tokenizer is not None:
        tokenizer.save(str(out / TOKENIZER))
    card = {**card, "config": model.config.to_dict(), "weights": WEIGHTS}
    (out / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return out


def read_card(path: str | Path) -> dict:
    card_path = Path(path) / CARD
    if not card_path.is_file():
        raise FileNotFoundError(f"no {CARD} in {path}: not an eembed_model checkpoint directory "
                                "(train one with 'python -m eembed_model.train')")
    return json.loads(card_path.read_text())


def load_checkpoint(path: str | Path, num_labels: int | None = None) -> LoadedModel:
    """Load a checkpoint. num_labels overrides the stored head size (used when fine-tuning an
    MLM checkpoint: the multilabel head is then new and starts from scratch)."""
    path = Path(path)
    card = read_card(path)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint {path} has a card but no {WEIGHTS}")
    config = EEmbedConfig.from_dict(card["config"], f"'config' of {path / CARD}")
    stored_labels = config.num_labels
    if num_labels is not None:
        config.num_labels = num_labels
    model = EEmbedModel(config)
    if num_labels is not None and num_labels != stored_labels:
        # Load into a model shaped like the stored one, then carry over all but the multilabel
        # head, which is new (fine-tuning an MLM checkpoint) and keeps its fresh initialisation.
        stored = EEmbedModel(EEmbedConfig.from_dict(card["config"]))
        load_model(stored, str(weights))
        state = {k: v for k, v in stored.state_dict().items() if not k.startswith("multilabel_head.")}
        model.load_state_dict(state, strict=False)
    else:
        load_model(model, str(weights))
    model.eval()
    tokenizer = None
    if (path / TOKENIZER).is_file():
        from .wordpiece import load_wordpiece
        tokenizer = load_wordpiece(path / TOKENIZER)
    return LoadedModel(model=model, config=config, card=card, labels=list(card.get("labels", [])),
                       tokenizer=tokenizer, text_encoder=make_text_encoder(config, tokenizer), path=str(path))


def load_bundled_or(path: str | Path | None = None) -> LoadedModel:
    """The checkpoint at `path`, or the bundled one; a missing one is a FileNotFoundError that says
    how to make it."""
    target = Path(path) if path else BUNDLED_CHECKPOINT
    if not (target / CARD).is_file():
        hint = ("the bundled model is missing; recreate it with the command in docs/elementwise.md "
                "(python -m eembed_model.compare ... --bundle checkpoints/eembed-debtags)") if path is None \
            else "pass a directory written by 'python -m eembed_model.train'"
        raise FileNotFoundError(f"no eembed checkpoint at {target}: {hint}")
    return load_checkpoint(target)
