"""Pretrain a small CLIP (open_clip's architecture, both towers, CLIP's BPE tokenizer) contrastively
on the captioned procedural world, so that its text encoder knows the words of that world, near
and far included, and its patches know them too, before it is frozen for mirror.

    python -m scenes.captioned --out data/world/train --rooms 1500 --views 4 --size 128x160 --seed 7
    python -m scenes.captioned --out data/world/heldout --rooms 150 --views 4 --size 128x160 --seed 8
    python -m mirror_model.world_clip --train data/world/train --heldout data/world/heldout \
        --depth-data data/synthetic/val --out checkpoints/world-clip-256 --bf16

Objective, summed (weights --region-weight, --word-weight):
- global: symmetric InfoNCE over the batch's image-caption pairs (learned temperature, as CLIP);
- region: the dense patch features (ln_post + projection, as mirror reads them) of a view, pooled
  inside a region's box (weighted by how much of each patch the box covers), contrasted with the
  region captions of the batch (symmetric InfoNCE; identical captions count as positives);
- words: the pooled region, and every patch when the folder has per-pixel depth (depths.npy, as
  python -m scenes.captioned writes it, or depth.npy; its median depth), is
  classified among the five distance words through their text embeddings ("this object is far", ...).
Regions come from mirror_model.world_data (per-view "regions" records, or the view's facts).

AdamW with warm-up and cosine decay, bf16 autocast on the CPU with --bf16, held-out losses every
--eval-every steps on fixed held-out batches, resumable from OUT/last with --resume (exactly: the
same batches follow). Writes `clip.safetensors` (fp16), `card.json` (config, data, command,
held-out curve, retrieval and the probes beside a random-init CLIP), `pretrain_log.jsonl` and
`learning_curve.png`; the project loads it as CLIP `world-vit-256` with tag `procedural-world`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.validate import number_argument

from . import clip_backbone
from .probes import pooled_regions
from .world_data import WorldData, patch_depths, read_world, word_index, word_prompts

CLIP_NAME = "world-vit-256"
TAG = "procedural-world"
STATE_FILE = "state.pt"
LOSS_PARTS = ("global", "region", "region_word", "patch_word")


@dataclass
class PretrainConfig:
    clip_name: str = CLIP_NAME
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    seed: int = 0
    regions_per_view: int = 4  # regions sampled per image of a batch for the region terms
    region_weight: float = 1.0
    word_weight: float = 1.0
    bf16: bool = False  # bf16 autocast on the CPU (or GPU) for the training steps
    eval_every: int = 100  # held-out losses every this many steps
    eval_batches: int = 4
    save_every: int = 200  # resumable state every this many steps
    log_every: int = 25
    stop_after: int | None = None  # end this session after this many steps in all (state saved; --resume goes on)


def tokenize(captions: list[str], clip_name: str = CLIP_NAME) -> torch.Tensor:
    return clip_backbone.get_tokenizer(clip_name)(captions).long()


MEAN = torch.tensor(clip_backbone.OPENAI_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(clip_backbone.OPENAI_STD).view(1, 3, 1, 1)


def to_model_input(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> CLIP-normalised (B, 3, H, W) float."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - MEAN) / STD


def contrastive_loss(image_features: torch.Tensor, text_features: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    logits = scale * F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T
    labels = torch.arange(len(logits))
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def multi_positive_loss(a: torch.Tensor, b: torch.Tensor, positive: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of (N, D) against (N, D) where positive[i, j] marks the pairs that match
    (the diagonal at least): the target of each row is uniform over its positives."""
    logits = scale * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    target = positive.float()
    return 0.5 * (F.cross_entropy(logits, target / target.sum(1, keepdim=True))
                  + F.cross_entropy(logits.T, target.T / target.T.sum(1, keepdim=True)))


@dataclass
class Batch:
    images: np.ndarray  # (B, H, W, 3) uint8
    captions: list[str]
    owners: np.ndarray  # (R,) index into the batch of each region's image
    boxes: np.ndarray  # (R, 4)
    region_captions: list[str]
    region_words: np.ndarray  # (R,) word index
    depth: np.ndarray | None  # (B, H, W) metres


def make_batch(data: WorldData, picks: np.ndarray, rng: np.random.Generator, regions_per_view: int) -> Batch:
    owners, boxes, captions, words = [], [], [], []
    for slot, index in enumerate(picks):
        regions = data.regions[index]
        if not regions or regions_per_view <= 0:
            continue
        chosen = rng.choice(len(regions), size=min(regions_per_view, len(regions)), replace=False)
        for k in np.sort(chosen):
            region = regions[int(k)]
            owners.append(slot)
            boxes.append(region.box)
            captions.append(region.caption)
            words.append(region.word)
    depth = None if data.depth is None else np.asarray(data.depth[picks], dtype=np.float32)
    return Batch(np.asarray(data.images[picks]), [data.captions[i] for i in picks], np.asarray(owners, dtype=np.int64),
                 np.asarray(boxes, dtype=np.int64).reshape(-1, 4), captions, np.asarray(words, dtype=np.int64), depth)


def batch_losses(model, batch: Batch, config: PretrainConfig, word_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every term of the objective for one batch, and their weighted sum under "total"."""
    stride = clip_backbone.patch_stride(model)
    pooled, dense = clip_backbone.vit_tokens(model, to_model_input(batch.images))
    tokens = tokenize(batch.captions + batch.region_captions, config.clip_name)
    texts = clip_backbone.encode_tokens(model, torch.cat([tokens, word_tokens])).float()
    caption_text = texts[: len(batch.captions)]
    region_text = texts[len(batch.captions) : len(batch.captions) + len(batch.region_captions)]
    word_text = F.normalize(texts[-len(word_tokens) :], dim=-1)
    scale = model.logit_scale.exp().clamp(max=100.0)
    dense = dense.float()
    parts = {"global": contrastive_loss(pooled.float(), caption_text, scale)}
    if len(batch.owners):
        regions = pooled_regions(dense, torch.from_numpy(batch.owners), batch.boxes, stride)
        same = np.array(batch.region_captions, dtype=object)
        positive = torch.from_numpy(same[:, None] == same[None, :])
        parts["region"] = multi_positive_loss(regions, region_text, positive, scale)
        parts["region_word"] = F.cross_entropy(scale * F.normalize(regions, dim=-1) @ word_text.T,
                                               torch.from_numpy(batch.region_words))
    if batch.depth is not None:
        depth = patch_depths(batch.depth, stride)[:, : dense.shape[2], : dense.shape[3]]
        valid = torch.from_numpy(np.isfinite(depth))
        if bool(valid.any()):
            words = torch.from_numpy(np.vectorize(word_index)(np.nan_to_num(depth, nan=1.0))).long()
            logits = scale * torch.einsum("bdhw,kd->bhwk", F.normalize(dense, dim=1), word_text)
            parts["patch_word"] = F.cross_entropy(logits[valid], words[valid])
    total = parts["global"]
    total = total + config.region_weight * parts.get("region", 0.0)
    total = total + config.word_weight * (parts.get("region_word", 0.0) + parts.get("patch_word", 0.0))
    return {**parts, "total": total}


def autocast(enabled: bool):
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@torch.no_grad()
def heldout_losses(model, batches: list[Batch], config: PretrainConfig, word_tokens: torch.Tensor) -> dict[str, float]:
    """Mean of every loss term over fixed held-out batches (fp32, eval mode)."""
    was_training = model.training
    model.eval()
    sums: dict[str, list[float]] = {}
    for batch in batches:
        for key, value in batch_losses(model, batch, config, word_tokens).items():
            sums.setdefault(key, []).append(float(value))
    model.train(was_training)
    return {key: float(np.mean(values)) for key, values in sums.items()}


def fixed_batches(data: WorldData, config: PretrainConfig, count: int, seed: int = 12345) -> list[Batch]:
    rng = np.random.default_rng(seed)
    size = min(config.batch_size, len(data))
    return [make_batch(data, np.sort(rng.choice(len(data), size=size, replace=False)), rng, config.regions_per_view)
            for _ in range(count)]


@torch.no_grad()
def embed(model, images: np.ndarray, tokens: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    image_parts, text_parts = [], []
    for start in range(0, len(tokens), batch):
        image_parts.append(F.normalize(model.encode_image(to_model_input(images[start : start + batch])), dim=-1))
        text_parts.append(F.normalize(clip_backbone.encode_tokens(model, tokens[start : start + batch]), dim=-1))
    return torch.cat(image_parts), torch.cat(text_parts)


def retrieval(model, images: np.ndarray, captions: list[str], limit: int = 1000, seed: int = 0,
              clip_name: str = CLIP_NAME) -> dict[str, float]:
    """Image->text and text->image recall@1/@5 among `limit` held-out pairs, with chance levels.
    A caption counts as found only at its own index (identical captions elsewhere do not count)."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(captions), size=min(limit, len(captions)), replace=False))
    image_features, text_features = embed(model, images[picks], tokenize([captions[i] for i in picks], clip_name))
    similarity = image_features @ text_features.T
    truth = torch.arange(len(picks))
    result = {"pairs": len(picks), "chance_r1": 1 / len(picks), "chance_r5": min(5, len(picks)) / len(picks)}
    for name, sims in (("i2t", similarity), ("t2i", similarity.T)):
        ranks = (sims > sims[truth, truth][:, None]).sum(dim=1)
        result[f"{name}_r1"] = float((ranks < 1).float().mean())
        result[f"{name}_r5"] = float((ranks < 5).float().mean())
    return result


# ---------------------------------------------------------------- resumable state

def save_state(path: Path, model, optimizer, scheduler, step: int, rng: np.random.Generator, config: PretrainConfig) -> None:
    path.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "step": step, "rng": json.dumps(rng.bit_generator.state), "config": json.dumps(asdict(config))}
    torch.save(state, path / f"{STATE_FILE}.tmp")
    (path / f"{STATE_FILE}.tmp").replace(path / STATE_FILE)  # never a half-written state


def load_state(path: Path, model, optimizer, scheduler, rng: np.random.Generator, config: PretrainConfig) -> int:
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"--resume: {path.name}/{STATE_FILE} not found in the output folder; run once without --resume")
    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    saved = json.loads(state["config"])
    for key in ("clip_name", "steps", "batch_size", "lr", "seed"):
        if saved[key] != getattr(config, key):
            raise ValueError(f"--resume: the saved run has {key}={saved[key]}, this command {getattr(config, key)}; "
                             f"resume with the same {key}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng.bit_generator.state = json.loads(state["rng"])
    return int(state["step"])


def read_log(path: Path, up_to: int | None = None) -> list[dict]:
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if up_to is None or r["step"] <= up_to]


def heldout_flatness(log: list[dict]) -> dict:
    """Where the held-out total loss stands: its best evaluation, and its relative change over the
    last quarter of the steps logged. Flat when that change is above -2%: with the learning rate
    decayed, a loss still falling by more than that in the last quarter asks for more steps; a
    best step well before the end with a rising loss after it is over-fitting (more data)."""
    held = [(r["step"], r["heldout"]["total"]) for r in log if "heldout" in r]
    if len(held) < 2:
        return {"evaluations": len(held), "relative_change_last_quarter": None, "flat": None}
    last_step, last = held[-1]
    quarter = min(held, key=lambda item: abs(item[0] - 0.75 * last_step))
    best_step, best = min(held, key=lambda item: item[1])
    change = (last - quarter[1]) / quarter[1]
    return {"evaluations": len(held), "best_step": best_step, "best_total": best, "last_total": last,
            "relative_change_last_quarter": change, "flat": bool(change > -0.02)}  # fmt: skip


def plot_learning_curve(log: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in log if "loss" in r]
    held = [(r["step"], r["heldout"]) for r in log if "heldout" in r]
    figure, axis = plt.subplots(figsize=(7, 4))
    if train:
        axis.plot(*zip(*train), label="training loss (total, running mean)", color="tab:blue", alpha=0.6)
    if held:
        steps = [s for s, _ in held]
        axis.plot(steps, [h["total"] for _, h in held], label="held-out loss (total)", color="tab:red", marker="o", ms=3)
        for part, style in zip(LOSS_PARTS, (":", "--", "-.", (0, (1, 3)))):
            if all(part in h for _, h in held):
                axis.plot(steps, [h[part] for _, h in held], label=f"held-out {part}", color="tab:red", ls=style, lw=1)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ---------------------------------------------------------------- training

def pretrain(train_dir: Path, heldout_dir: Path, out: Path, steps: int = 3000, batch_size: int = 128, lr: float = 1e-3,
             seed: int = 0, log_every: int = 25, command: str = "", config: PretrainConfig | None = None,
             resume: bool = False, depth_data: Path | None = None, progress: bool = True, probe_limit: int = 400,
             final_report: bool = True) -> dict:
    """Pretrain (or continue) a world CLIP; returns the card it writes to OUT/card.json (retrieval and
    probes included unless final_report is False)."""
    from safetensors.torch import save_file
    from tqdm import tqdm

    config = config or PretrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, log_every=log_every)
    torch.manual_seed(config.seed)
    data, held = read_world(train_dir), read_world(heldout_dir)
    word_tokens = tokenize(word_prompts(), config.clip_name)
    model, _ = clip_backbone.load_clip(config.clip_name, None, seed=config.seed)
    if not clip_backbone.is_vit(model):
        raise ValueError(f"CLIP '{config.clip_name}' is not a ViT; the world CLIP's dense terms need patch tokens")
    expected = tuple(int(v) for v in model.visual.image_size)
    for folder in (data, held):  # checked before any step, not after hours of training
        if tuple(folder.images.shape[1:3]) != expected:
            raise ValueError(f"{folder.name}: images are {folder.images.shape[1]}x{folder.images.shape[2]}, but "
                             f"{config.clip_name} takes {expected[0]}x{expected[1]}; render them with --size {expected[0]}x{expected[1]}")
    model.train()
    for param in model.parameters():
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98), eps=1e-6)
    total = config.steps
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    rng = np.random.default_rng(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "pretrain_log.jsonl"
    start = load_state(out / "last", model, optimizer, schedule, rng, config) if resume else 0
    log = read_log(log_path, up_to=start) if resume else []
    log_path.write_text("".join(json.dumps(r) + "\n" for r in log))
    held_batches = fixed_batches(held, config, config.eval_batches)
    started = time.time()
    running: dict[str, list[float]] = {}
    end = total if config.stop_after is None else min(total, config.stop_after)
    with log_path.open("a") as handle, tqdm(total=total, initial=start, desc="pretraining world CLIP", unit="step",
                                            disable=not progress) as bar:
        for step in range(start, end):
            picks = np.sort(rng.choice(len(data), size=min(config.batch_size, len(data)), replace=False))
            batch = make_batch(data, picks, rng, config.regions_per_view)
            with autocast(config.bf16):
                losses = batch_losses(model, batch, config, word_tokens)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            for key, value in losses.items():
                running.setdefault(key, []).append(float(value.detach()))
            bar.update(1)
            done = step + 1
            records = []
            if done % config.log_every == 0 or done == total:
                means = {key: float(np.mean(values)) for key, values in running.items()}
                running = {}
                records.append({"step": done, "loss": means.pop("total"), "parts": means, "lr": schedule.get_last_lr()[0],
                                "scale": model.logit_scale.exp().item(), "seconds": round(time.time() - started, 1)})
                bar.set_postfix(loss=f"{records[-1]['loss']:.3f}")
            if done % config.eval_every == 0 or done == total:
                records.append({"step": done, "heldout": heldout_losses(model, held_batches, config, word_tokens)})
            for record in records:
                handle.write(json.dumps(record) + "\n")
            handle.flush()
            log.extend(records)
            if done % config.save_every == 0 or done == end:
                save_state(out / "last", model, optimizer, schedule, done, rng, config)
    if end < total:
        return {"stopped_at": end, "steps": total, "resume": "run the same command with --resume"}
    model.eval()
    clip_backbone.fp16_round(model)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
    state.update({k: v for k, v in model.state_dict().items() if not v.is_floating_point()})
    save_file(state, str(out / "clip.safetensors"))
    plot_learning_curve(log, out / "learning_curve.png", f"world CLIP {config.clip_name}: {data.name} -> {held.name}")

    from .probes import ClipProbe, probe_table, run_probes

    probes = {} if not final_report else run_probes({"pretrained": ClipProbe(model, config.clip_name),
                         "random init": ClipProbe(clip_backbone.load_clip(config.clip_name, None, seed=config.seed)[0],
                                                  config.clip_name)},
                        held, depth_data=depth_data, limit=probe_limit)  # fmt: skip
    trained = [r for r in log if "loss" in r]
    held_log = [r for r in log if "heldout" in r]
    card = {
        "clip_name": config.clip_name, "tag": TAG, "command": command,
        "training_data": f"{len(data)} image-caption pairs and {data.region_count()} region captions from the captioned "
                         f"procedural world ({data.name}; per-pixel depth: {'yes' if data.depth is not None else 'no'})",
        "heldout_data": f"{len(held)} pairs from unseen rooms ({held.name})",
        "config": asdict(config), "threads": torch.get_num_threads(),
        "loss_first_logged": trained[0]["loss"] if trained else None,
        "loss_last_logged": trained[-1]["loss"] if trained else None,
        "heldout_first": held_log[0]["heldout"] if held_log else None,
        "heldout_last": held_log[-1]["heldout"] if held_log else None,
        "heldout_flatness": heldout_flatness(log),
        "retrieval_heldout": retrieval(model, held.images, held.captions, clip_name=config.clip_name) if final_report else None,
        "retrieval_train": retrieval(model, data.images, data.captions, clip_name=config.clip_name) if final_report else None,
        "probes": probes, "probes_table": probe_table(probes) if probes else None,
        "minutes_this_session": round((time.time() - started) / 60, 1),
    }  # fmt: skip
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    defaults = PretrainConfig()
    parser = argparse.ArgumentParser(prog="python -m mirror_model.world_clip", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--train", required=True, help="captioned training folder (python -m scenes.captioned)")
    parser.add_argument("--heldout", required=True, help="captioned folder of unseen rooms: held-out loss, retrieval, probes")
    parser.add_argument("--depth-data", help="RGB-D scene folder for the patch-depth probe when --heldout has no depths.npy or depth.npy")
    parser.add_argument("--out", default="checkpoints/world-clip-256",
                        help="output folder (default: checkpoints/world-clip-256, the weights world-vit-256/procedural-world loads: "
                        "give another folder for trial runs)")
    parser.add_argument("--clip", default=defaults.clip_name, help="open_clip config to pretrain (world-vit-256, world-vit)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--regions-per-view", type=int, default=defaults.regions_per_view)
    parser.add_argument("--region-weight", type=float, default=defaults.region_weight)
    parser.add_argument("--word-weight", type=float, default=defaults.word_weight)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the training steps (see benchmarks/bench_world_clip.py)")
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every)
    parser.add_argument("--save-every", type=int, default=defaults.save_every)
    parser.add_argument("--threads", type=number_argument(minimum=1, integer=True), help="torch threads (default: torch's choice)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last (same --steps, batch, lr, seed)")
    parser.add_argument("--stop-after", type=int, help="end this session after this many steps in all (the schedule "
                        "is unchanged); --resume continues")
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.world_clip", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    if args.threads:
        torch.set_num_threads(args.threads)
    config = PretrainConfig(clip_name=args.clip, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            regions_per_view=args.regions_per_view, region_weight=args.region_weight,
                            word_weight=args.word_weight, bf16=args.bf16, eval_every=args.eval_every,
                            save_every=args.save_every, stop_after=args.stop_after)  # fmt: skip
    try:
        if min(config.steps, config.batch_size, config.eval_every, config.save_every) < 1:
            raise ValueError("--steps, --batch-size, --eval-every and --save-every must be at least 1")
        card = pretrain(Path(args.train), Path(args.heldout), Path(args.out), command=command, config=config,
                        resume=args.resume, depth_data=Path(args.depth_data) if args.depth_data else None)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if "stopped_at" in card:
        print(f"stopped after step {card['stopped_at']} of {card['steps']}; {card['resume']}")
        return 0
    print(card["probes_table"])
    print(json.dumps({k: card[k] for k in ("loss_first_logged", "loss_last_logged", "heldout_last", "heldout_flatness")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
