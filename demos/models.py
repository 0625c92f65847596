"""Depth models shared by every tab and every user: a bounded, safe registry.

What the model field accepts (anyone can type anything into it):

- a preset name (mirror_model.presets);
- a checkpoint folder, only inside the configured checkpoint directories (`checkpoints/` of the
  project, plus any in APP_CHECKPOINT_DIRS, separated by the OS path separator). Paths are resolved
  (symlinks, `..`, `./`) and canonicalised before anything is cached, so `./checkpoints/x` and
  `././checkpoints/x` are one model; anything outside those directories gets the same message
  whether or not it exists;
- a Hugging Face Hub repo id, only when APP_ALLOW_HUB=1; only the checkpoint's files are fetched,
  at most APP_HUB_MAX_MB in all.

At most APP_MAX_MODELS models stay loaded (least recently used evicted; the default model is kept).
Each model loads under its own lock, so one user's load never stalls users of another model. A
failed load is remembered for APP_MODEL_RETRY_S seconds, then tried again. Messages never show the
server's file system. A model that cannot be loaded is reported in plain words and the default
model is used instead.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.validate import InputError

from .labels import model_line, status_line

log = logging.getLogger(__name__)

DEFAULT_MODEL = "synthetic-tiny"
MODEL_ENV_VAR = "MIRROR_MODEL"
CHECKPOINT_DIRS_ENV = "APP_CHECKPOINT_DIRS"
ALLOW_HUB_ENV = "APP_ALLOW_HUB"
MAX_MODELS_ENV = "APP_MAX_MODELS"
RETRY_ENV = "APP_MODEL_RETRY_S"
HUB_MAX_MB_ENV = "APP_HUB_MAX_MB"
DEFAULT_MAX_MODELS = 3
DEFAULT_RETRY_S = 60.0
DEFAULT_HUB_MAX_MB = 1024
MAX_SPEC_CHARS = 200

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HUB_REPO_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")

# What the model dropdown offers; "custom" reads the path / Hub repo id box.
MODEL_CHOICES = [
    ("synthetic-tiny — bundled, offline", "synthetic-tiny"),
    ("DepthCLIP zero-shot on CLIP RN50 (needs pretrained weights)", "depthclip-rn50"),
    ("DepthCLIP zero-shot on CLIP ViT-B/16 (needs pretrained weights)", "depthclip-vit-b-16"),
    ("Mirror checkpoint: folder under checkpoints/ or Hub repo id (box below)", "custom"),
]


@dataclass
class LoadedModel:
    predictor: object
    status: str  # markdown for the model panel: what is loaded, where from, and any fallback
    line: str = ""  # the one line beside depth outputs (demos.labels.model_line, without server paths)


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the cache key: "preset:NAME", "dir:/resolved/path" or "hub:owner/name"
    load: str  # what the loader is given
    label: str  # what users see (never a server path)


class LoadFailure(Exception):
    """A model could not be loaded; the message is safe to show."""


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value == value and 0 <= value < float("inf") else default


def _env_roots() -> list[Path]:
    roots = [PROJECT_ROOT / "checkpoints"]
    roots += [Path(p).expanduser() for p in os.environ.get(CHECKPOINT_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return roots


def _default_loader(spec: str, hub_max_bytes: int):
    from mirror_model.predict import load_predictor

    # precision=None: the measured fastest arithmetic for this device (int8 image tower on a CPU)
    return load_predictor(spec, hub_max_bytes=hub_max_bytes, precision=None)


class ModelRegistry:
    """Thread-safe, bounded cache of predictors keyed by canonical spec."""

    def __init__(
        self,
        default_spec: str = DEFAULT_MODEL,
        *,
        roots: list[str | Path] | None = None,
        allow_hub: bool | None = None,
        max_models: int | None = None,
        retry_s: float | None = None,
        hub_max_mb: float | None = None,
        loader: Callable[[str], object] | None = None,
    ):
        self.default_spec = default_spec
        self.roots = [Path(r).resolve() for r in (roots if roots is not None else _env_roots())]
        self.allow_hub = (os.environ.get(ALLOW_HUB_ENV, "") == "1") if allow_hub is None else allow_hub
        self.max_models = max(1, int(max_models if max_models is not None else _env_float(MAX_MODELS_ENV, DEFAULT_MAX_MODELS)))
        self.retry_s = retry_s if retry_s is not None else _env_float(RETRY_ENV, DEFAULT_RETRY_S)
        hub_bytes = int((hub_max_mb if hub_max_mb is not None else _env_float(HUB_MAX_MB_ENV, DEFAULT_HUB_MAX_MB)) * 2**20)
        self._loader = loader or (lambda spec: _default_loader(spec, hub_bytes))
        self._models: OrderedDict[str, object] = OrderedDict()
        self._failures: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # held only to read or change the dictionaries, never while loading
        self._default: ModelSpec | None = None

    # ------------------------------------------------------------ resolving

    def _root_label(self, root: Path) -> str:
        return "checkpoints" if root == (PROJECT_ROOT / "checkpoints").resolve() else root.name

    def _inside_roots(self, path: Path) -> tuple[Path, Path] | None:
        for root in self.roots:
            if path == root or root in path.parents:
                return root, path
        return None

    def resolve(self, text: str, trusted: bool = False) -> ModelSpec:
        """The canonical spec for a preset, checkpoint folder or Hub id; an InputError otherwise.

        `trusted` (the operator's --model / MIRROR_MODEL) accepts any folder and any Hub id."""
        from mirror_model.presets import PRESETS

        text = (text or "").strip()
        if not text:
            text = self.default_spec
        if len(text) > MAX_SPEC_CHARS or any(ord(c) < 32 for c in text):
            raise InputError(f"The model name is too long or holds control characters (at most {MAX_SPEC_CHARS} characters).")
        if text in PRESETS:
            return ModelSpec(f"preset:{text}", text, text)
        candidates = [Path(text).expanduser()] if Path(text).expanduser().is_absolute() else \
            [PROJECT_ROOT / text, *(root / text for root in self.roots)]
        if trusted:
            candidates.insert(0, Path(text).expanduser())
        for candidate in candidates:
            try:
                path = candidate.resolve()
            except (OSError, RuntimeError):
                continue
            inside = self._inside_roots(path)
            if (inside or trusted) and path.is_dir():
                if inside:
                    root, path = inside
                    label = "/".join([self._root_label(root), *path.relative_to(root).parts])
                else:
                    label = path.name
                return ModelSpec(f"dir:{path}", str(path), label)
        if HUB_REPO_PATTERN.match(text) and not text.startswith((".", "/", "~")) and ".." not in text:
            if self.allow_hub or trusted:
                return ModelSpec(f"hub:{text}", text, text)
            raise InputError(
                f"`{text}` is not a checkpoint folder here, and loading from the Hugging Face Hub is turned off on "
                f"this server ({ALLOW_HUB_ENV}=1 turns it on). Choose a preset or a folder under checkpoints/.")
        raise InputError(
            f"`{Path(text).name[:60]}` is not a preset or a checkpoint folder under checkpoints/ on this server. "
            "Choose a preset, or give a folder inside checkpoints/ (for example checkpoints/mirror-synthetic-tiny).")

    def resident(self) -> list[str]:
        """Keys of the loaded models, least recently used first."""
        with self._guard:
            return list(self._models)

    # ------------------------------------------------------------ loading

    def scrub(self, text: str) -> str:
        """A message without server paths: known folders by their labels, any other absolute path elided."""
        for root in sorted(self.roots, key=lambda r: len(str(r)), reverse=True):
            text = text.replace(str(root), self._root_label(root))
        text = text.replace(str(PROJECT_ROOT) + os.sep, "")
        return re.sub(r"(?<![\w.])/(?:[^\s'\"`(),:]+/)+[^\s'\"`(),:]*", "…", text)

    def _remember_failure(self, spec: ModelSpec, error: Exception) -> LoadFailure:
        """The plain message for a failed load: the loader's own sentence (paths scrubbed) when it
        is an expected problem, else an error id whose traceback goes to the server log."""
        message = None
        if isinstance(error, (ValueError, KeyError)) and "card.json" in str(error):  # another kind of checkpoint
            message = ("it is not a mirror depth checkpoint (its card.json does not describe one, or it has none); "
                       "choose a folder written by mirror_model training")
        elif isinstance(error, (ValueError, OSError, RuntimeError)):
            message = self.scrub(str(error).replace(spec.load, spec.label)) or type(error).__name__
            if not isinstance(error, (ValueError, FileNotFoundError)) and "weights" not in message.lower():
                message = None
        if message is None:
            error_id = uuid.uuid4().hex[:8]
            log.error("model load error %s for %s", error_id, spec.key, exc_info=error)
            message = f"it could not be loaded (error id {error_id})"
        with self._guard:
            self._failures[spec.key] = (time.monotonic(), message)
        return LoadFailure(message)

    def _load(self, spec: ModelSpec):
        with self._guard:
            if spec.key in self._models:
                self._models.move_to_end(spec.key)
                return self._models[spec.key]
            failed = self._failures.get(spec.key)
            if failed and time.monotonic() - failed[0] < self.retry_s:
                raise LoadFailure(failed[1])
            lock = self._locks.setdefault(spec.key, threading.Lock())
        with lock:  # one load per model at a time; other models load in parallel
            with self._guard:
                if spec.key in self._models:
                    self._models.move_to_end(spec.key)
                    return self._models[spec.key]
            try:
                predictor = self._loader(spec.load)
            except Exception as error:  # every load failure is remembered (retried later) and told plainly
                raise self._remember_failure(spec, error) from None
            with self._guard:
                self._failures.pop(spec.key, None)
                self._models[spec.key] = predictor
                default_key = self._default_spec().key
                for key in list(self._models):
                    if len(self._models) <= self.max_models:
                        break
                    if key not in (default_key, spec.key):
                        del self._models[key]
            return predictor

    def _default_spec(self) -> ModelSpec:
        if self._default is None:
            self._default = self.resolve(self.default_spec, trusted=True)
        return self._default

    def get(self, choice: str | None = None, custom: str | None = None) -> LoadedModel:
        """The predictor for a dropdown choice (or the default), falling back to the default model."""
        text = (custom or "") if choice == "custom" else (choice or "")
        default = self._default_spec()
        try:
            spec = self.resolve(text) if text.strip() else default
            predictor = self._load(spec)
            return LoadedModel(predictor, self.describe(predictor, spec), self.line(predictor, spec))
        except (InputError, LoadFailure) as error:
            reason, shown = str(error), text.strip()[:60]
        try:
            fallback = self._load(default)
        except LoadFailure as error:
            raise InputError(f"The default model could not be loaded: {error}. Try again in a minute.") from None
        message = (
            f"⚠️ **Could not load `{Path(shown).name or shown}`** — {reason}\n\n"
            f"Showing the default model instead. Pretrained-CLIP presets need their weights on the server "
            f"(`--clip-weights` / `MIRROR_CLIP_WEIGHTS`); a mirror checkpoint must be a folder under checkpoints/ "
            f"(or a Hub repo id where the server allows it).\n\n" + self.describe(fallback, default)
        )
        return LoadedModel(fallback, message, self.line(fallback, default))

    def describe(self, predictor, spec: ModelSpec | None = None) -> str:
        return self._shown(describe(predictor), spec)

    def line(self, predictor, spec: ModelSpec | None = None) -> str:
        """The model line beside depth outputs (see demos.labels), without server paths."""
        return self._shown(model_line(predictor.info), spec)

    def _shown(self, text: str, spec: ModelSpec | None) -> str:
        if spec is not None and spec.key.startswith("dir:"):
            text = text.replace(spec.load, spec.label)
        return self.scrub(text)


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
