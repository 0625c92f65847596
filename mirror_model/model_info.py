"""ModelInfo: a typed, immutable description of a loaded depth model, built in one place.

Every consumer (the predict CLI, evaluation, the studies, the app's model panel) reads the same
fields: what the model is, which CLIP it sits on, where its weights came from, whether it was
trained, and a one-line message that says all of this to a person.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

KINDS = ("mirror", "zeroshot")
# Where weights came from: a bundled checkpoint, a local checkpoint folder, the Hugging Face Hub,
# open_clip's pretrained download, a local CLIP weights file, or nowhere (freshly initialised).
WEIGHT_ORIGINS = ("bundled", "file", "hub", "open_clip", "untrained")


@dataclass(frozen=True)
class ModelInfo:
    name: str  # preset name, checkpoint folder name or Hub repo id
    kind: str  # "mirror" or "zeroshot"
    clip_name: str
    clip_pretrained: str | None  # open_clip tag, None for a CLIP initialised by this project
    clip_weights_from: str | None  # where the CLIP tensors came from (open_clip, file, checkpoint, random init)
    weights_from: str  # one of WEIGHT_ORIGINS
    trained: bool  # False: depth maps from this model are not meaningful
    input_size: tuple[int, int]  # (H, W) frames are resized to
    max_depth: float  # metres
    trainable_parameters: int
    message: str  # one line for people: what is loaded, from where, trained or not
    training_data: str | None = None
    default_source: str | None = None  # text-side source used when a call names none; None for zero-shot
    card: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {KINDS}, got {self.kind!r}")
        if self.weights_from not in WEIGHT_ORIGINS:
            raise ValueError(f"weights origin must be one of {WEIGHT_ORIGINS}, got {self.weights_from!r}")
        object.__setattr__(self, "card", MappingProxyType(dict(self.card)))
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))

    @property
    def clip_label(self) -> str:
        return f"{self.clip_name}/{self.clip_pretrained}" if self.clip_pretrained else f"{self.clip_name} (initialised here)"


def describe_model(
    name: str,
    model,
    *,
    weights_from: str,
    trained: bool,
    card: Mapping[str, Any] | None = None,
    where: str = "",
    description: str | None = None,
    default_source: str | None = "learned",
) -> ModelInfo:
    """The ModelInfo of a MirrorDepth or ZeroShotDepth; the only place one is built."""
    config = model.config
    clip = getattr(model, "clip_info", None)
    card = dict(card or {})
    zeroshot = not hasattr(model, "mirror")
    training_data = None if zeroshot else (card.get("training_data") if trained else None)
    if zeroshot:
        clip_text = f"CLIP {config.clip_name}/{config.clip_pretrained}" if config.clip_pretrained else (
            f"CLIP {config.clip_name} (random init, UNTRAINED)" if not trained else f"CLIP {config.clip_name}")
        message = f"{name}: {description or 'DepthCLIP zero-shot'}; {clip_text}, no training needed"
        trainable = 0
    else:
        clip_text = f"{config.clip_name}" + (f"/{config.clip_pretrained}" if config.clip_pretrained else "")
        if trained:
            message = f"{name}: {clip_text} CLIP + mirror, trained on {training_data or 'unknown data'} ({weights_from}: {where})"
        else:
            message = f"{name}: {clip_text} CLIP + mirror, UNTRAINED ({where})"
        trainable = model.num_trainable_parameters()
    return ModelInfo(
        name=name,
        kind="zeroshot" if zeroshot else "mirror",
        clip_name=config.clip_name,
        clip_pretrained=config.clip_pretrained,
        clip_weights_from=clip.weights_from if clip else None,
        weights_from=weights_from,
        trained=trained,
        input_size=tuple(config.input_size),
        max_depth=float(config.max_depth),
        trainable_parameters=trainable,
        message=message,
        training_data=training_data,
        default_source=None if zeroshot else default_source,
        card=card,
    )
