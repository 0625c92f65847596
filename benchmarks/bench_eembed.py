"""Parameter counts and training-step throughput: elementwise vs subword (BERT, ALBERT) and vs
CANINE's hash embedding, and where the paper's 0.005 % embedding share would hold.

    python -m benchmarks.bench_eembed                 # parameter tables + step-time ratio
    python -m benchmarks.bench_eembed --no-speed      # parameter tables only

Prints ratios, not absolute claims: CPU timings depend on the machine and its load. Step time
and memory against sequence length: python -m eembed_model.long_sequence --no-train.
"""
from __future__ import annotations

import argparse
import time

import torch
from tqdm import tqdm

from eembed_model.config import EEmbedConfig
from eembed_model.materials import RESERVED_BYTES, SPECIAL_TOKEN_NAMES
from eembed_model.model import EEmbedModel, parameter_counts

# (label, encoder, v, c, layers, baseline embedding, subword vocab): the project's debtags size in
# each encoder, then BERT-base width (768 = 8 bytes x 96, 12 layers) with v = 8 bytes per material
# (so 8 heads, the elementwise default) and BERT's 30,522-entry WordPiece vocabulary. CANINE reads
# characters: v = 4 at the same width, against its own hash embedding (8 x 16,384 buckets).
SIZES = [("debtags (this project)", "bert", 8, 24, 3, "subword", 8000),
         ("debtags, ALBERT", "albert", 8, 24, 3, "subword", 8000),
         ("debtags, CANINE", "canine", 4, 48, 3, "hash", 0),
         ("BERT-base width", "bert", 8, 96, 12, "subword", 30522)]
PAPER_SHARE = 5e-5   # the paper's figure: the element table is 0.005 % of ...
BERT_BASE_PARAMETERS = 110e6   # BERT-base's published parameter count


def _model(encoder: str, embedding: str, v: int, c: int, layers: int, vocab: int) -> EEmbedModel:
    level = "codepoint" if encoder == "canine" else "word"
    return EEmbedModel(EEmbedConfig(encoder=encoder, embedding=embedding, v=v, c=c, layers=layers, max_len=512,
                                    vocab_size=vocab, material_level=level))


def parameter_table() -> str:
    lines = ["| size | w | elementwise table | baseline table | elementwise encoder | baseline encoder "
             "| table share (elementwise / baseline) |", "|---|---|---|---|---|---|---|"]
    for label, encoder, v, c, layers, baseline, vocab in SIZES:
        ew = parameter_counts(_model(encoder, "elementwise", v, c, layers, 0))
        sw = parameter_counts(_model(encoder, baseline, v, c, layers, vocab))
        lines.append(f"| {label} | {v * c} | {ew['material_table']:,} | {sw['material_table']:,} ({baseline}) | "
                     f"{ew['encoder_total']:,} | {sw['encoder_total']:,} | "
                     f"{100 * ew['material_table_share_of_encoder']:.2f} % / "
                     f"{100 * sw['material_table_share_of_encoder']:.1f} % |")
    return "\n".join(lines)


def paper_ratio_note() -> str:
    """Where the paper's 0.005 % holds. Table against table, 256 c / (V v c) = 256 / (V v); as a
    share of a BERT-base-sized model, 256 c / 110M with c = 768 / v."""
    product = 256 / PAPER_SHARE
    by_v = ", ".join(f"v = {v}: V = {product / v:,.0f}" for v in (8, 16, 32))
    shares = ", ".join(f"v = {v} (c = {768 // v}): {100 * 256 * (768 // v) / BERT_BASE_PARAMETERS:.4f} %"
                       for v in (8, 16, 32))
    return (f"The paper's 0.005 %: as element table over subword table (256 / (V v)) it needs V x v = {product:,.0f}, "
            f"i.e. {by_v}; with BERT's V = 30,522 and v = 8 the ratio is {100 * 256 / (30522 * 8):.3f} %, with this "
            f"project's V = 8,000 and v = 8 it is {100 * 256 / (8000 * 8):.2f} %. As a share of a BERT-base-sized "
            f"model (110M parameters, w = 768): {shares}; so 0.005 % is the element table of v = 32 in BERT-base.")


def step_seconds(config: EEmbedConfig, batch: int, length: int, steps: int) -> float:
    torch.manual_seed(0)
    model = EEmbedModel(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    if config.embedding == "elementwise":
        inputs = torch.randint(0, min(RESERVED_BYTES), (batch, length, config.v))  # text bytes only
    else:
        inputs = torch.randint(len(SPECIAL_TOKEN_NAMES), config.vocab_size, (batch, length))  # no special ids
    mask = torch.ones(batch, length, dtype=torch.bool)
    where = torch.rand(batch, length) < 0.15
    times = []
    for i in tqdm(range(steps + 2), desc=config.embedding, unit="step"):
        start = time.perf_counter()
        loss = model.masked_materials(inputs, mask, inputs, where).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= 2:  # first steps warm up allocators
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_eembed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=24)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(parameter_table())
    print(paper_ratio_note())
    if not a.no_speed:
        _, _, v, c, layers, _, vocab = SIZES[0]
        ew = step_seconds(EEmbedConfig(v=v, c=c, layers=layers), a.batch, a.length, a.steps)
        sw = step_seconds(EEmbedConfig(embedding="subword", v=v, c=c, layers=layers, vocab_size=vocab),
                          a.batch, a.length, a.steps)
        print(f"MLM training step (median of {a.steps}, batch {a.batch} x {a.length} materials, "
              f"{a.threads} thread): subword / elementwise time ratio = {sw / ew:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
