"""Checkpoints written before the transformers encoders (the project's own BERT code), read into
today's model with identical outputs.

That code had a fused Q/K/V Linear per layer, no token-type table, `share_layers` for the
ALBERT-style shared layer, and cut long words at v bytes. Its layers were post-LN BERT layers with
exact GELU, so every weight has a place in transformers' BertModel / AlbertModel:

    encoder.embeddings.materials.elements      -> encoder.embeddings.word_embeddings.elements
    encoder.embeddings.positions / norm        -> position_embeddings / LayerNorm
    encoder.layers.i.attention.qkv (3w x w)    -> attention.self.query / key / value (w x w each)
    encoder.layers.i.attention.out, attn_norm  -> attention.output.dense, attention.output.LayerNorm
    encoder.layers.i.ff.0, ff.2, ff_norm       -> intermediate.dense, output.dense, output.LayerNorm
    (none)                                     -> token_type_embeddings = 0 (adds nothing);
                                                  ALBERT's embedding_hidden_mapping_in = identity

The bundled checkpoints/eembed-debtags is such a checkpoint; tests check that it gives the logits
the old code gave (tests/fixtures/eembed_bundled_golden.json).
"""
from __future__ import annotations

import torch

LEGACY_MARKER = "encoder.layers.0.attention.qkv.weight"


def legacy_config(data: dict) -> dict:
    """A config dict of the old code in today's fields: `share_layers` becomes the ALBERT encoder,
    and long words are truncated, as that code did."""
    data = dict(data)
    shared = bool(data.pop("share_layers", False))
    data["encoder"] = "albert" if shared else "bert"
    data.setdefault("long_words", "truncate")
    return data


def is_legacy_state(state: dict[str, torch.Tensor]) -> bool:
    return LEGACY_MARKER in state


def convert_legacy_state(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    """An old state dict in today's names for `config` (an EEmbedConfig read with legacy_config);
    heads keep their names, except the MLM head's tied table, which follows the element table."""
    encoder, width = config.encoder, config.width
    out: dict[str, torch.Tensor] = {}
    sample = state[LEGACY_MARKER]
    for name, value in state.items():
        if not name.startswith("encoder."):
            if name.startswith("mlm_head.embedding."):
                continue  # the tied table: the same tensor as the element table
            out[name] = value
            continue
        parts = name.split(".")
        if parts[1] == "embeddings":
            mapped = {"materials": "word_embeddings", "positions": "position_embeddings", "norm": "LayerNorm"}[parts[2]]
            out[".".join(["encoder", "embeddings", mapped, *parts[3:]])] = value
            continue
        index, rest = parts[2], ".".join(parts[3:])
        prefix = f"encoder.encoder.layer.{index}." if encoder == "bert" else \
            "encoder.encoder.albert_layer_groups.0.albert_layers.0."
        if rest.startswith("attention.qkv."):
            kind = rest.rsplit(".", 1)[1]
            for projection, chunk in zip(("query", "key", "value"), value.split(width, dim=0)):
                key = f"attention.self.{projection}.{kind}" if encoder == "bert" else f"attention.{projection}.{kind}"
                if config.aligned and index == "0" and kind == "weight":  # today a parametrized weight
                    key = f"attention.self.{projection}.parametrizations.weight.original"
                out[prefix + key] = chunk.clone()
            continue
        bert_names = {"attention.out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
                      "ff.0": "intermediate.dense", "ff.2": "output.dense", "ff_norm": "output.LayerNorm"}
        albert_names = {"attention.out": "attention.dense", "attn_norm": "attention.LayerNorm", "ff.0": "ffn",
                        "ff.2": "ffn_output", "ff_norm": "full_layer_layer_norm"}
        names = bert_names if encoder == "bert" else albert_names
        module, kind = rest.rsplit(".", 1)
        out[prefix + f"{names[module]}.{kind}"] = value
    out["encoder.embeddings.token_type_embeddings.weight"] = torch.zeros(1, width, dtype=sample.dtype)
    if encoder == "albert":
        out["encoder.encoder.embedding_hidden_mapping_in.weight"] = torch.eye(width, dtype=sample.dtype)
        out["encoder.encoder.embedding_hidden_mapping_in.bias"] = torch.zeros(width, dtype=sample.dtype)
    return out

