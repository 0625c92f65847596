"""Pretrain a small CLIP (open_clip's architecture, both towers, CLIP's BPE tokenizer) contrastively
on the captioned procedural world, so that its text encoder knows the words of that world, near
and far included, before it is frozen for mirror.

    python -m scenes.captioned --out data/world/train --rooms 1500 --views 4 --size 128x160 --seed 7
    python -m scenes.captioned --out data/world/heldout --rooms 150 --views 4 --size 128x160 --seed 8
    python -m mirror_model.world_clip --train data/world/train --heldout data/world/heldout --out checkpoints/world-clip

Symmetric InfoNCE over image-caption pairs (learned temperature, as CLIP), AdamW with warm-up and
cosine decay, a tqdm bar, a per-step log. Writes `clip.safetensors` (fp16), `card.json` (the
config, data, command and held-out retrieval figures) and `pretrain_log.jsonl`; the project loads
it as CLIP `world-vit` with tag `procedural-world`.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scenes.captioned import read_captioned

from . import clip_backbone

CLIP_NAME = "world-vit"
TAG = "procedural-world"


def tokenize(captions: list[str]) -> torch.Tensor:
    return clip_backbone.get_tokenizer(CLIP_NAME)(captions).long()


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


@torch.no_grad()
def embed(model, images: np.ndarray, tokens: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    image_parts, text_parts = [], []
    for start in range(0, len(tokens), batch):
        image_parts.append(F.normalize(model.encode_image(to_model_input(images[start : start + batch])), dim=-1))
        text_parts.append(F.normalize(model.encode_text(tokens[start : start + batch]), dim=-1))
    return torch.cat(image_parts), torch.cat(text_parts)


def retrieval(model, images: np.ndarray, captions: list[str], limit: int = 1000, seed: int = 0) -> dict[str, float]:
    """Image->text and text->image recall@1/@5 among `limit` held-out pairs, with chance levels.
    A caption counts as found only at its own index (identical captions elsewhere do not count)."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(captions), size=min(limit, len(captions)), replace=False))
    image_features, text_features = embed(model, images[picks], tokenize([captions[i] for i in picks]))
    similarity = image_features @ text_features.T
    truth = torch.arange(len(picks))
    result = {"pairs": len(picks), "chance_r1": 1 / len(picks), "chance_r5": min(5, len(picks)) / len(picks)}
    for name, sims in (("i2t", similarity), ("t2i", similarity.T)):
        ranks = (sims > sims[truth, truth][:, None]).sum(dim=1)
        result[f"{name}_r1"] = float((ranks < 1).float().mean())
        result[f"{name}_r5"] = float((ranks < 5).float().mean())
    return result


def pretrain(train_dir: Path, heldout_dir: Path, out: Path, steps: int, batch_size: int, lr: float, seed: int,
             log_every: int = 25, command: str = "") -> dict:
    from safetensors.torch import save_file
    from tqdm import tqdm

    torch.manual_seed(seed)
    images, records = read_captioned(train_dir)
    held_images, held_records = read_captioned(heldout_dir)
    captions = [r["caption"] for r in records]
    tokens = tokenize(captions)
    model, _ = clip_backbone.load_clip(CLIP_NAME, None, seed=seed)
    model.train()
    for param in model.parameters():
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "pretrain_log.jsonl"
    started = time.time()
    first_loss = last_loss = None
    with log_path.open("w") as log, tqdm(total=steps, desc="pretraining world CLIP", unit="step") as bar:
        running = []
        for step in range(steps):
            picks = np.sort(rng.choice(len(captions), size=batch_size, replace=False))
            image_features = model.encode_image(to_model_input(images[picks]))
            text_features = model.encode_text(tokens[picks])
            loss = contrastive_loss(image_features, text_features, model.logit_scale.exp().clamp(max=100.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running.append(loss.item())
            bar.update(1)
            if (step + 1) % log_every == 0 or step == steps - 1:
                mean_loss = float(np.mean(running))
                running = []
                first_loss = mean_loss if first_loss is None else first_loss
                last_loss = mean_loss
                record = {"step": step + 1, "loss": mean_loss, "lr": schedule.get_last_lr()[0],
                          "scale": model.logit_scale.exp().item(), "seconds": round(time.time() - started, 1)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{mean_loss:.3f}")
    model.eval()
    clip_backbone.fp16_round(model)
    heldout = retrieval(model, held_images, [r["caption"] for r in held_records])
    train_check = retrieval(model, images, captions)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
    state.update({k: v for k, v in model.state_dict().items() if not v.is_floating_point()})
    save_file(state, str(out / "clip.safetensors"))
    card = {
        "clip_name": CLIP_NAME, "tag": TAG, "command": command,
        "training_data": f"{len(captions)} image-caption pairs from the captioned procedural world ({train_dir.name})",
        "heldout_data": f"{len(held_records)} pairs from unseen rooms ({heldout_dir.name})",
        "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
        "loss_first_logged": first_loss, "loss_last_logged": last_loss,
        "retrieval_heldout": heldout, "retrieval_train": train_check,
        "minutes": round((time.time() - started) / 60, 1),
    }  # fmt: skip
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.world_clip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="captioned training folder (python -m scenes.captioned)")
    parser.add_argument("--heldout", required=True, help="captioned folder of unseen rooms, for retrieval figures")
    parser.add_argument("--out", default="checkpoints/world-clip")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = " ".join(["python -m mirror_model.world_clip", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    try:
        card = pretrain(Path(args.train), Path(args.heldout), Path(args.out), args.steps, args.batch_size, args.lr,
                        args.seed, command=command)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: card[k] for k in ("loss_first_logged", "loss_last_logged", "retrieval_heldout")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
