"""Checkpoint directories: safetensors weights plus a JSON model card.

    model.safetensors  trainable tensors only: mirror and decoder (float32)
    clip.safetensors   the frozen CLIP, fp16, only when it is not a pretrained open_clip model
                       (the random-init tiny CLIP); pretrained ones are re-loaded from their tag
    card.json          config, CLIP name and tag, training data, metrics, the producing command, date

CLI:
    python -m mirror_model.checkpoint init --out checkpoints/mirror-synthetic-tiny --seed 0
    python -m mirror_model.checkpoint info checkpoints/mirror-synthetic-tiny
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

import torch

from common.sizes import size_argument

from . import clip_backbone
from .model import MirrorDepth, MirrorDepthConfig, build_mirror_depth

MODEL_FILE = "model.safetensors"
CLIP_FILE = "clip.safetensors"
CARD_FILE = "card.json"
CARD_VERSION = 1


def has_weights(directory: str | Path) -> bool:
    directory = Path(directory)
    return (directory / MODEL_FILE).is_file() and (directory / CARD_FILE).is_file()


def _command_line() -> str:
    return " ".join(shlex.quote(arg) for arg in [Path(sys.executable).name, *sys.argv])


def save_checkpoint(model: MirrorDepth, directory: str | Path, card_extra: dict | None = None) -> Path:
    """Write model.safetensors (+ clip.safetensors for a random-init CLIP) and card.json.

    card_extra fields go into the card as given, e.g. training_data, metrics, command, trained.
    `trained` defaults to True when training_data is given, else False, so an initialised model
    is never presented as a trained one.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    extra = dict(card_extra or {})
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.trainable_state_dict().items()}
    save_file(tensors, str(directory / MODEL_FILE))

    config = model.config
    bundled_clip = config.clip_pretrained is None
    if bundled_clip:
        clip_tensors = {
            k: (v.detach().half() if v.is_floating_point() else v.detach()).cpu().contiguous()
            for k, v in model.clip.state_dict().items()
        }
        save_file(clip_tensors, str(directory / CLIP_FILE))
    elif (directory / CLIP_FILE).exists():
        (directory / CLIP_FILE).unlink()  # a stale random CLIP must not shadow the pretrained one

    card = {
        "format_version": CARD_VERSION,
        "kind": "mirror",
        "clip_name": config.clip_name,
        "clip_pretrained": config.clip_pretrained,
        "clip_weights": "bundled (clip.safetensors, fp16)" if bundled_clip else f"open_clip tag '{config.clip_pretrained}'",
        "mirror_tokens": config.mirror_tokens,
        "input_size": list(config.input_size),
        "max_depth": config.max_depth,
        "decoder": config.decoder.to_dict(),
        "trainable_parameters": model.num_trainable_parameters(),
        "trained": bool(extra.pop("trained", "training_data" in extra)),
        "training_data": extra.pop("training_data", None),
        "metrics": extra.pop("metrics", {}),
        "command": extra.pop("command", _command_line()),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
    }
    card.update(extra)
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return directory


def read_card(directory: str | Path) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory '{directory}' not found")
    path = directory / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"'{directory}' has no {CARD_FILE}: not a mirror checkpoint directory")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err.__class__.__name__}: {err})") from err
    if not isinstance(card, dict) or "config" not in card:
        raise ValueError(f"{path} has no 'config' entry: not a mirror model card")
    return card


def _check_tensors(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], path: Path) -> None:
    """One-line ValueError naming missing/unexpected keys and shape mismatches."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [
        f"{k} (file {list(found[k].shape)} vs code {list(expected[k].shape)})"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" and {len(items) - 4} more" if len(items) > 4 else ""
            problems.append(f"{label}: {', '.join(items[:4])}{more}")
    if problems:
        raise ValueError(f"checkpoint {path} does not match the model code: {'; '.join(problems)}")


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from err


def load_checkpoint(
    directory: str | Path,
    device: str | torch.device = "cpu",
    clip_weights: str | None = None,
) -> MirrorDepth:
    """Rebuild a MirrorDepth from a checkpoint directory; the card is kept on `model.card`."""
    directory = Path(directory)
    card = read_card(directory)
    try:
        config = MirrorDepthConfig.from_dict(card["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{directory / CARD_FILE}: {err}") from err
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(f"'{directory}' has no {MODEL_FILE}: the checkpoint holds no trained weights")

    clip_path = directory / CLIP_FILE
    if clip_path.is_file():
        clip, info = clip_backbone.load_clip(config.clip_name, None)
        clip_state = _read_tensors(clip_path)
        _check_tensors(clip.state_dict(), clip_state, clip_path)
        clip.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in clip_state.items()})
        info.weights_from, info.weights_path = "bundled", str(clip_path)
    elif config.clip_pretrained:
        clip, info = clip_backbone.load_clip(config.clip_name, config.clip_pretrained, weights_file=clip_weights)
    else:
        raise ValueError(f"'{directory}' has no {CLIP_FILE} and its card names no pretrained CLIP tag")

    model = MirrorDepth(config, clip, info)
    state = _read_tensors(model_path)
    _check_tensors(model.trainable_state_dict(), state, model_path)
    model.load_state_dict(state, strict=False)
    model.card = card
    model.checkpoint_dir = str(directory)
    return model.to(device).eval()


def init_checkpoint(out: str | Path, config: MirrorDepthConfig, seed: int = 0, clip_weights: str | None = None) -> Path:
    """Save an untrained model built deterministically from `seed` (training starts from it)."""
    model = build_mirror_depth(config, seed=seed, clip_weights=clip_weights)
    return save_checkpoint(model, out, {"trained": False, "init_seed": seed})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.checkpoint", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="save an untrained model built from a seed")
    init.add_argument("--out", required=True, help="checkpoint directory to write")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--clip", default="tiny-vit", help="open_clip model name (default tiny-vit)")
    init.add_argument("--clip-pretrained", default=None, help="open_clip tag, e.g. openai; default random init")
    init.add_argument("--clip-weights", default=None, help="local CLIP weights file instead of downloading")
    init.add_argument("--mirror-tokens", type=int, default=64)
    init.add_argument("--input-size", type=size_argument, default=(240, 320), help="HxW, e.g. 416x544")
    init.add_argument("--max-depth", type=float, default=10.0)
    info = sub.add_parser("info", help="print a checkpoint's card")
    info.add_argument("directory")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            config = MirrorDepthConfig(
                clip_name=args.clip,
                clip_pretrained=args.clip_pretrained,
                mirror_tokens=args.mirror_tokens,
                input_size=args.input_size,
                max_depth=args.max_depth,
            )
            out = init_checkpoint(args.out, config, args.seed, args.clip_weights)
            size_mb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
            print(f"wrote untrained {config.clip_name} mirror model (seed {args.seed}) to {out} ({size_mb:.1f} MB)")
        else:
            print(json.dumps(read_card(args.directory), indent=2))
    except (ValueError, FileNotFoundError, clip_backbone.WeightsUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
