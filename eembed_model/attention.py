"""Attention of an elementwise-embedding BERT for one text, shaped for viewers and analysis.

Head n's query, key and value are the n-th d-wide slices of dense projections of the whole hidden
width, so head n *can* read any byte. How much it reads byte n is measured, not assumed: the
`alignment` entry gives, per layer and head, the share of the head's Q/K/V weight energy drawn
from each byte slice (eembed_model.alignment); only the aligned variant's first layer reads byte n
alone. The per-head summary lists the materials each head attends to most, their n-th characters
and the head's own-byte share.

    python -m eembed_model.attention --text "vim Vi IMproved - enhanced vi editor" --out attn.json
"""
from __future__ import annotations

import argparse
import json
import sys
import weakref
from pathlib import Path

import torch

from .alignment import alignment_report
from .batching import ElementwiseTextEncoder
from .checkpoint import LoadedModel, load_bundled_or
from .materials import (
    FILLER_BYTE,
    RESERVED_BYTES,
    SPECIAL_TOKENS,
    encode_material,
    nth_character_of_row,
)


def load_attention_model(path: str | Path | None = None) -> LoadedModel:
    """Load a checkpoint for attention viewing (default: the bundled checkpoints/eembed-debtags)."""
    return load_bundled_or(path)


# The alignment report depends only on the weights, which do not change while a loaded model is
# viewed: compute it once per model, not once per text (it was a third of each call's time).
_ALIGNMENT_BY_MODEL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _alignment_of(model) -> dict:
    if model not in _ALIGNMENT_BY_MODEL:
        _ALIGNMENT_BY_MODEL[model] = alignment_report(model)
    return _ALIGNMENT_BY_MODEL[model]


def nth_character(material: str, n: int, v: int | None = None) -> str:
    """The character whose UTF-8 spelling covers byte n of the material's row ('' when byte n is
    filler or past the end). With v, the material is first cut to the row that v bytes hold, so a
    character that did not fit (the é of 'abcdefgé' at v = 8) is never named."""
    return nth_character_of_row(encode_material(material, v) if v else list(material.encode("utf-8")), n)


def check_encodable(text: str) -> None:
    """ValueError naming the first lone surrogate (U+D800-U+DFFF, half of a UTF-16 pair; a JSON
    client can send one) that has no UTF-8 spelling, so no byte grid."""
    for index, ch in enumerate(text):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"the text holds a lone surrogate U+{ord(ch):04X} at character {index + 1}, half of a "
                             "UTF-16 pair and not a character of its own; remove it or paste the text again")


def _encode(loaded: LoadedModel, text: str, material_level: str):
    config = loaded.config
    if config.embedding == "elementwise" and material_level != config.material_level:
        tokenizer = loaded.tokenizer if material_level == "subword" else None
        encoder = ElementwiseTextEncoder(config.v, config.max_len, material_level, tokenizer, config.long_words)
    else:
        encoder = loaded.text_encoder
    return encoder([text])


@torch.no_grad()
def attention_for_text(text: str, model: LoadedModel | str | Path | None = None, material_level: str = "word",
                       top_k: int = 3) -> dict:
    """Materials, byte grids, attentions [layer][head][query][key] and a per-head summary."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty: enter a sentence or a package description to see its attention")
    check_encodable(text)
    loaded = model if isinstance(model, LoadedModel) else load_attention_model(model)
    config = loaded.config
    batch = _encode(loaded, text, material_level)
    loaded.model.eval()
    if config.encoder == "canine":
        raise ValueError("the attention viewer shows material x material attention of BERT and ALBERT encoders; "
                         "CANINE's deep layers attend over groups of 4 characters")
    out = loaded.model(batch.inputs, batch.attention_mask, output_attentions=True)
    materials = batch.materials[0]
    if config.embedding == "elementwise":
        grids = batch.inputs[0].tolist()
    else:  # subword baseline: show the token spellings' bytes (first row of each) for comparison
        grids = [encode_material(m, config.v) for m in materials]
    attentions = [layer[0].tolist() for layer in out.attentions]          # [layer][head][q][k]
    alignment = _alignment_of(loaded.model)
    summary = []
    for li, layer in enumerate(out.attentions):
        probs = layer[0]                                                   # (h, L, L)
        for head in range(probs.shape[0]):
            received = probs[head].mean(dim=0)                             # attention each key gets
            entropy = -(probs[head] * probs[head].clamp(min=1e-12).log()).sum(-1).mean()
            top = received.argsort(descending=True)[:top_k].tolist()
            summary.append({
                "layer": li,
                "head": head,
                "character_position": head,
                "own_byte_share": alignment["own_byte_share"][li][head] if alignment["applies"] else None,
                "mean_entropy": float(entropy),
                "top_materials": [{
                    "index": k,
                    "material": materials[k],
                    "attention": float(received[k]),
                    "nth_byte": grids[k][head] if head < len(grids[k]) else None,
                    "nth_character": materials[k] if materials[k] in SPECIAL_TOKENS
                    else nth_character_of_row(grids[k], head),
                } for k in top],
            })
    return {
        "text": text,
        "model": loaded.path,
        "embedding": config.embedding,
        "material_level": material_level if config.embedding == "elementwise" else "subword",
        "v": config.v,
        "heads": config.heads,
        "layers": config.layers,
        "max_len": config.max_len,
        "materials": materials,
        "word_index": batch.word_index[0],
        "byte_grids": grids,
        "long_words": config.long_words,
        "filler_byte": FILLER_BYTE,
        "reserved_bytes": sorted(RESERVED_BYTES),
        "truncated": bool(batch.truncated[0]),   # part of the text is not in the model's input
        "attentions": attentions,
        "alignment": alignment,
        "per_head_summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eembed_model.attention", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True)
    p.add_argument("--model", default=None, help="checkpoint directory (default: bundled checkpoints/eembed-debtags)")
    p.add_argument("--material-level", choices=("word", "subword", "char"), default="word")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--out", default=None, help="write the JSON here (default: print a short summary only)")
    a = p.parse_args(argv)
    try:
        result = attention_for_text(a.text, a.model, a.material_level, a.top_k)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, ensure_ascii=False) + "\n")
    print(f"materials: {result['materials']}")
    alignment = result["alignment"]
    if alignment["applies"]:
        print(f"uniform mixing would give each byte {100 * alignment['uniform_share']:.1f} % of a head's Q/K/V weight")
    for row in result["per_head_summary"]:
        if row["layer"] == result["layers"] - 1:
            tops = ", ".join(f"{t['material']}[{t['nth_character'] or '·'}] {t['attention']:.2f}"
                             for t in row["top_materials"])
            reads = "" if row["own_byte_share"] is None else f", reads byte {row['head']}: {100 * row['own_byte_share']:.0f} %"
            print(f"layer {row['layer']} head {row['head']}{reads}: {tops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
