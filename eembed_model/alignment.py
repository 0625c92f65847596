"""How much head n reads byte n: the Q/K/V weight energy each head draws from each byte slice.

The elementwise input of width w = v*c is v slices of c values, slice m holding byte m's element
vector. Head n's query, key and value are rows [n*d, (n+1)*d) of the encoder layer's query, key
and value weights (d = c when heads = v; the aligned first layer's as its parametrization applies
them); the share of the squared weights of those rows that falls in the columns of
slice m is the share of head n's input weight energy that comes from byte m. Uniform mixing gives
1/v in every cell; the aligned variant's first layer gives 1 on the diagonal.

Past the first layer the slices are mixed by the attention output and feed-forward projections,
so there slice m is byte m's slice of the residual stream, not byte m itself.

    python -m eembed_model.alignment                       # the bundled model
    python -m eembed_model.alignment --model runs/claims/aligned/seed0 --out alignment.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_bundled_or
from .model import EEmbedModel, attention_layers

PROJECTIONS = ("query", "key", "value")


@torch.no_grad()
def qkv_byte_energies(model: EEmbedModel) -> np.ndarray:
    """(layers, 3, heads, v): squared Q/K/V weights of head n's rows in the columns of byte slice m."""
    config = model.config
    heads, v, width = config.heads, config.v, config.width
    out = np.zeros((config.layers, 3, heads, v))
    for layer_index, attention in enumerate(attention_layers(model)):
        weight = torch.cat([getattr(attention, name).weight for name in PROJECTIONS]).double().pow(2)  # (3w, w)
        out[layer_index] = weight.view(3, heads, width // heads, v, width // v).sum(dim=(2, 4)).numpy()
    return out


def qkv_byte_shares(model: EEmbedModel) -> np.ndarray:
    """(layers, 3, heads, v): share of head n's query/key/value weight energy drawn from byte slice m."""
    energy = qkv_byte_energies(model)
    return energy / np.clip(energy.sum(-1, keepdims=True), 1e-30, None)


def alignment_report(model: EEmbedModel) -> dict:
    """The shares, Q/K/V together (summed energies) and apart, plus each head's own-byte share.

    Only an elementwise BERT or ALBERT model has byte slices at its layers' input; a subword model,
    and CANINE (whose layers read convolved characters), get {"applies": False}.
    """
    config = model.config
    if config.embedding != "elementwise":
        return {"applies": False, "reason": f"{config.embedding} model: the hidden width has no byte slices"}
    if config.encoder == "canine":
        return {"applies": False, "reason": "CANINE: its deep layers read a convolution of 4 characters, not byte slices"}
    energy = qkv_byte_energies(model)                                           # (layers, 3, heads, v)
    shares = energy / np.clip(energy.sum(-1, keepdims=True), 1e-30, None)
    combined = energy.sum(1) / energy.sum((1, 3))[..., None]                   # (layers, heads, v)
    heads = min(config.heads, config.v)
    own = np.stack([combined[:, n, n] for n in range(heads)], axis=1)          # (layers, heads)
    return {
        "applies": True,
        "uniform_share": 1.0 / config.v,
        "aligned_first_layer": bool(config.aligned),
        "qkv_byte_share": combined.tolist(),                                   # [layer][head][byte]
        "own_byte_share": own.tolist(),                                        # [layer][head]
        "by_projection": {name: shares[:, i].tolist() for i, name in enumerate(PROJECTIONS)},
    }


def format_own_shares(report: dict) -> str:
    """One line per layer: each head's own-byte share in per cent, against the uniform share."""
    if not report["applies"]:
        return report["reason"]
    lines = [f"own-byte share of Q/K/V weight energy per head (uniform {100 * report['uniform_share']:.1f} %)"]
    for layer, row in enumerate(report["own_byte_share"]):
        lines.append(f"layer {layer}: " + " ".join(f"{100 * x:5.1f}" for x in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eembed_model.alignment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint directory (default: the bundled model)")
    parser.add_argument("--out", default=None, help="write the full report (every byte, Q/K/V apart) as JSON here")
    args = parser.parse_args(argv)
    try:
        loaded = load_bundled_or(args.model)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = alignment_report(loaded.model)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"model": loaded.path, **report}, indent=1) + "\n")
    print(format_own_shares(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
