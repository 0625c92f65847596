"""Parameter counts and training-step throughput: elementwise vs subword embedding.

    python -m benchmarks.bench_eembed                 # parameter table + step-time ratio
    python -m benchmarks.bench_eembed --no-speed      # parameter table only

Prints ratios, not absolute claims: CPU timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import time

import torch
from tqdm import tqdm

from eembed_model.config import EEmbedConfig
from eembed_model.materials import RESERVED_BYTES, SPECIAL_TOKEN_NAMES
from eembed_model.model import EEmbedModel, parameter_counts

# (label, v, c, layers, subword vocab): the project's debtags size, then BERT-base width (768 =
# 8 bytes x 96, 12 layers) with v = 8 bytes per material (so 8 heads, the elementwise default)
# and BERT's 30,522-entry WordPiece vocabulary.
SIZES = [("debtags (this project)", 8, 24, 3, 8000), ("BERT-base width", 8, 96, 12, 30522)]


def parameter_table() -> str:
    lines = ["| size | w | elementwise table | subword table | elementwise encoder | subword encoder "
             "| table share (elementwise / subword) |", "|---|---|---|---|---|---|---|"]
    for label, v, c, layers, vocab in SIZES:
        ew = parameter_counts(EEmbedModel(EEmbedConfig(v=v, c=c, layers=layers, max_len=512)))
        sw = parameter_counts(EEmbedModel(EEmbedConfig(embedding="subword", v=v, c=c, layers=layers, max_len=512,
                                                       vocab_size=vocab)))
        lines.append(f"| {label} | {v * c} | {ew['material_table']:,} | {sw['material_table']:,} | "
                     f"{ew['encoder_total']:,} | {sw['encoder_total']:,} | "
                     f"{100 * ew['material_table_share_of_encoder']:.2f} % / "
                     f"{100 * sw['material_table_share_of_encoder']:.1f} % |")
    return "\n".join(lines)


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
    if not a.no_speed:
        _, v, c, layers, vocab = SIZES[0]
        ew = step_seconds(EEmbedConfig(v=v, c=c, layers=layers), a.batch, a.length, a.steps)
        sw = step_seconds(EEmbedConfig(embedding="subword", v=v, c=c, layers=layers, vocab_size=vocab),
                          a.batch, a.length, a.steps)
        print(f"MLM training step (median of {a.steps}, batch {a.batch} x {a.length} materials, "
              f"{a.threads} thread): subword / elementwise time ratio = {sw / ew:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
