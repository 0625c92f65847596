"""Checkpoint directory: model.safetensors + card.json (config, labels, data, metrics, command)
+ tokenizer.json for subword models (or subword-level materials)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import load_file, save_model

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


def load_weights(model: EEmbedModel, weights: Path) -> None:
    """Load model.safetensors into `model`, converting a checkpoint of the pre-transformers code
    (eembed_model.legacy) on the way. Strict: a missing or unexpected tensor is an error."""
    from .legacy import convert_legacy_state, is_legacy_state

    state = load_file(str(weights))
    if is_legacy_state(state):
        state = convert_legacy_state(state, model.config)
    # Tied tables are stored once (save_model keeps one name of a shared tensor); fill in the others.
    wanted = model.state_dict()
    tied = {name: state[other] for name, tensor in wanted.items() if name not in state
            for other, same in wanted.items() if other in state and same.data_ptr() == tensor.data_ptr()}
    missing, unexpected = model.load_state_dict({**state, **tied}, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights} does not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}")


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
        load_weights(stored, weights)
        state = {k: v for k, v in stored.state_dict().items() if not k.startswith("multilabel_head.")}
        model.load_state_dict(state, strict=False)
    else:
        load_weights(model, weights)
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
