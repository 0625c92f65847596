"""Depth models shared by every tab and every user: each is loaded once, on first use.

A requested model that cannot be loaded (no network, missing file) is reported in plain words and
the bundled offline model is used instead; nothing fails silently.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .labels import status_line

DEFAULT_MODEL = "synthetic-tiny"
MODEL_ENV_VAR = "MIRROR_MODEL"

# What the model dropdown offers; "custom" reads the path / Hub repo id box.
MODEL_CHOICES = [
    ("synthetic-tiny — bundled, offline", "synthetic-tiny"),
    ("DepthCLIP zero-shot on CLIP RN50 (needs pretrained weights)", "depthclip-rn50"),
    ("DepthCLIP zero-shot on CLIP ViT-B/16 (needs pretrained weights)", "depthclip-vit-b-16"),
    ("Mirror checkpoint: local path or Hub repo id (box below)", "custom"),
]


@dataclass
class LoadedModel:
    predictor: object
    status: str  # markdown for the model panel: what is loaded, where from, and any fallback


class ModelRegistry:
    """Thread-safe cache of predictors keyed by spec (preset name, checkpoint path or Hub repo id)."""

    def __init__(self, default_spec: str = DEFAULT_MODEL):
        self.default_spec = default_spec
        self._predictors: dict[str, object] = {}
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def _load(self, spec: str):
        from mirror_model.predict import load_predictor

        if spec not in self._predictors:
            self._predictors[spec] = load_predictor(spec)
        return self._predictors[spec]

    def get(self, choice: str | None = None, custom: str | None = None) -> LoadedModel:
        """The predictor for a dropdown choice (or the default), falling back to the bundled model."""
        spec = (custom or "").strip() if choice == "custom" else (choice or self.default_spec)
        if not spec:
            spec = self.default_spec
        with self._lock:
            if spec not in self._failures:
                try:
                    predictor = self._load(spec)
                    return LoadedModel(predictor, describe(predictor))
                except Exception as error:  # any load failure is reported, then we fall back
                    self._failures[spec] = f"{type(error).__name__}: {error}"
            reason = self._failures[spec]
            if spec == DEFAULT_MODEL:
                raise RuntimeError(f"the bundled model could not be loaded: {reason}")
            fallback = self._load(DEFAULT_MODEL)
        message = (
            f"⚠️ **Could not load `{spec}`** — {reason}\n\n"
            f"Showing the bundled model instead. To use pretrained CLIP, run where the weights can be "
            f"downloaded or point `--clip-weights` / `MIRROR_CLIP_WEIGHTS` at a local file; for a mirror "
            f"checkpoint give its folder or Hub repo id (`--model` / `{MODEL_ENV_VAR}`).\n\n" + describe(fallback)
        )
        return LoadedModel(fallback, message)


def describe(predictor) -> str:
    """The Model panel's status, in plain words (see demos.labels)."""
    return status_line(predictor.info)


_registry: ModelRegistry | None = None


def registry() -> ModelRegistry:
    """The process-wide registry; app.py sets the default spec before the first use."""
    global _registry
    if _registry is None:
        _registry = ModelRegistry(os.environ.get(MODEL_ENV_VAR, DEFAULT_MODEL))
    return _registry


def set_default_model(spec: str) -> None:
    global _registry
    _registry = ModelRegistry(spec)
