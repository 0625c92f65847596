"""Probes of what a frozen CLIP's patches know about distance, the premise of mirror depth: before a
learned prompt can refine the text encoder's knowledge of near and far, the image tower's patches
must relate to those words at all. Each probe is reported beside a random-init CLIP of the same config.

    python -m mirror_model.probes --clip world-vit-256/procedural-world --data data/world/heldout \
        --depth-data data/synthetic/test --out probes.json

- patch far-close: Spearman rank correlation, over all patches of all images, of
  cos(patch, "this object is far") - cos(patch, "this object is close") with the patch's true depth
  (median ground truth of its pixels; patches without depth are left out). +1: the patches order
  distance as the words do; 0: no relation. Also the mean of the per-image correlations.
- region words: the dense features pooled inside each region's box (world_data regions) are
  given the nearest of the five distance words by cosine ("this object is {word}", DepthCLIP's
  template); accuracy against the region's own word (from its median distance), beside the rate of
  always answering the most common word.
- retrieval: image -> caption top-1 and top-5 among `pool` captions (a caption counts only at its
  own index), averaged over disjoint random pools, beside chance (1/pool, 5/pool).

A probed model is anything with `stride`, `dense(images)`, `encode_image(images)` and
`encode_text(texts)` (ClipProbe wraps an open_clip model); images are (B, H, W, 3) uint8 arrays.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from common.validate import number_argument

from . import clip_backbone
from .world_data import WORD_TEMPLATE, WORDS, WorldData, box_weights, patch_depths, read_world, word_prompts

FAR, CLOSE = WORD_TEMPLATE.format("far"), WORD_TEMPLATE.format("close")


class ProbedModel(Protocol):
    stride: int

    def dense(self, images: np.ndarray) -> torch.Tensor: ...  # (B, D, H/stride, W/stride)

    def encode_image(self, images: np.ndarray) -> torch.Tensor: ...  # (B, D)

    def encode_text(self, texts: list[str]) -> torch.Tensor: ...  # (N, D)


class ClipProbe:
    """An open_clip model as the probes see it: dense patch features in the joint space (as mirror
    reads them), the pooled image embedding and the text embedding; CLIP's own normalisation."""

    def __init__(self, clip: torch.nn.Module, clip_name: str, mean=clip_backbone.OPENAI_MEAN, std=clip_backbone.OPENAI_STD):
        self.clip = clip.eval()
        self.tokenizer = clip_backbone.get_tokenizer(clip_name)
        self.stride = clip_backbone.patch_stride(clip)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def _input(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def dense(self, images: np.ndarray) -> torch.Tensor:
        return clip_backbone.dense_image_features(self.clip, self._input(images)).float()

    @torch.no_grad()
    def encode_image(self, images: np.ndarray) -> torch.Tensor:
        if clip_backbone.is_vit(self.clip):
            return clip_backbone.vit_tokens(self.clip, self._input(images))[0].float()
        return self.clip.encode_image(self._input(images)).float()

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return clip_backbone.encode_tokens(self.clip, self.tokenizer(texts).long()).float()


def pooled_regions(dense: torch.Tensor, owners: torch.Tensor, boxes: np.ndarray, stride: int) -> torch.Tensor:
    """Dense features (B, D, h, w) -> (R, D): the features of image owners[r] averaged over box r,
    each patch weighted by the share of it the box covers (world_data.box_weights)."""
    weights = torch.from_numpy(box_weights(boxes, tuple(dense.shape[-2:]), stride)).to(dense.dtype)
    weights = weights / weights.sum(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    return torch.einsum("rdhw,rhw->rd", dense[owners], weights)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get average ranks); nan when either side is constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def far_close_spearman(model: ProbedModel, images: np.ndarray, depths: np.ndarray, batch: int = 16) -> dict:
    """Spearman of cos(patch, far) - cos(patch, close) with each patch's median true depth.
    `images` (N, H, W, 3) uint8, `depths` (N, H, W) metres (0 = none)."""
    text = F.normalize(model.encode_text([FAR, CLOSE]), dim=-1)
    direction = text[0] - text[1]
    scores, truths, per_image = [], [], []
    for start in range(0, len(images), batch):
        dense = F.normalize(model.dense(np.asarray(images[start : start + batch])), dim=1)
        score = torch.einsum("bdhw,d->bhw", dense, direction).numpy()
        truth = patch_depths(np.asarray(depths[start : start + batch]), model.stride)[:, : score.shape[1], : score.shape[2]]
        for s, t in zip(score, truth):
            valid = np.isfinite(t)
            scores.append(s[valid])
            truths.append(t[valid])
            per_image.append(spearman(s[valid], t[valid]))
    per_image = [r for r in per_image if np.isfinite(r)]
    return {"spearman": spearman(np.concatenate(scores), np.concatenate(truths)),
            "per_image_mean": float(np.mean(per_image)) if per_image else float("nan"),
            "patches": int(sum(len(s) for s in scores)), "images": int(len(images))}  # fmt: skip


def region_word_accuracy(model: ProbedModel, data: WorldData, limit: int | None = None, batch: int = 32) -> dict:
    """Nearest distance word (cosine) of each region's pooled patch features, against its own word."""
    words = F.normalize(model.encode_text(word_prompts()), dim=-1)
    indices = [i for i, regions in enumerate(data.regions) if regions][:limit]
    predicted, truth = [], []
    for start in range(0, len(indices), batch):
        chunk = indices[start : start + batch]
        dense = model.dense(np.asarray(data.images[chunk]))
        owners = [slot for slot, i in enumerate(chunk) for _ in data.regions[i]]
        boxes = np.array([r.box for i in chunk for r in data.regions[i]]).reshape(-1, 4)
        pooled = F.normalize(pooled_regions(dense, torch.tensor(owners), boxes, model.stride), dim=-1)
        predicted.extend((pooled @ words.T).argmax(dim=1).tolist())
        truth.extend(r.word for i in chunk for r in data.regions[i])
    if not truth:
        return {"regions": 0}
    predicted, truth = np.array(predicted), np.array(truth)
    counts = np.bincount(truth, minlength=len(WORDS))
    return {"accuracy": float((predicted == truth).mean()), "majority_rate": float(counts.max() / len(truth)),
            "majority_word": WORDS[int(counts.argmax())], "regions": int(len(truth)), "views": len(indices),
            "word_counts": dict(zip(WORDS, counts.tolist()))}  # fmt: skip


def caption_retrieval(model: ProbedModel, images: np.ndarray, captions: list[str], pool: int = 100, pools: int = 10,
                      seed: int = 0) -> dict:
    """Image -> caption top-1/top-5 among `pool` captions, averaged over up to `pools` disjoint pools."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(captions))
    pool = min(pool, len(captions))
    top1, top5 = [], []
    for k in range(min(pools, len(captions) // pool)):
        picks = np.sort(order[k * pool : (k + 1) * pool])
        image = F.normalize(torch.cat([model.encode_image(np.asarray(images[picks[i : i + 64]]))
                                       for i in range(0, pool, 64)]), dim=-1)  # fmt: skip
        text = F.normalize(model.encode_text([captions[i] for i in picks]), dim=-1)
        similarity = image @ text.T
        rank = (similarity > similarity.diagonal()[:, None]).sum(dim=1)
        top1.append(float((rank < 1).float().mean()))
        top5.append(float((rank < 5).float().mean()))
    return {"top1": float(np.mean(top1)), "top5": float(np.mean(top5)), "chance_top1": 1 / pool,
            "chance_top5": min(5, pool) / pool, "pool": pool, "pools": len(top1)}  # fmt: skip


def read_depth_folder(folder: str | Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (N, H, W, 3) and depth metres (N, H, W) of an RGB-D scene folder (python -m scenes)."""
    from common.depth_io import read_depth_png
    from common.image_io import load_rgb
    from common.scene_folder import folder_depth_scale, rgbd_pairs

    pairs = rgbd_pairs(folder)[:limit]
    if not pairs:
        raise ValueError(f"{Path(folder).name}: no rgb/depth pairs")
    scale = folder_depth_scale(folder)  # millimetres, or what the folder's poses.json states
    return np.stack([load_rgb(rgb) for rgb, _ in pairs]), np.stack([read_depth_png(depth, scale) for _, depth in pairs])


def run_probes(models: dict[str, ProbedModel], data: WorldData | None, depth_data: str | Path | None = None,
               limit: int | None = 400, depth_limit: int = 48) -> dict[str, dict]:
    """Every probe on every model; a probe without data is recorded as untested (with the reason)."""
    if depth_data is not None:
        images, depths = read_depth_folder(depth_data, depth_limit)
        depth_source = f"{len(images)} RGB-D frames of {Path(depth_data).name}"
    elif data is not None and data.depth is not None:
        keep = np.flatnonzero(np.asarray(data.depth[:, ::8, ::8]).reshape(len(data), -1).max(axis=1) > 0)[:depth_limit]
        images, depths = np.asarray(data.images[keep]), np.asarray(data.depth[keep], dtype=np.float32)
        depth_source = f"{len(images)} views of {data.name} (its per-pixel depths)"
    else:
        images = depths = None
        depth_source = "untested: no per-pixel depth (give --depth-data, or a folder with depths.npy or depth.npy)"
    results = {}
    for name, model in models.items():
        result: dict = {"depth_source": depth_source}
        result["patch_far_close"] = far_close_spearman(model, images, depths) if images is not None else None
        if data is not None:
            result["region_words"] = region_word_accuracy(model, data, limit)
            result["retrieval"] = caption_retrieval(model, data.images, data.captions)
            result["data"] = data.name
        results[name] = result
    return results


def _cell(value, digits: int = 3) -> str:
    return "untested" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def probe_table(results: dict[str, dict]) -> str:
    """Markdown: one row per probe figure, one column per model, and the reference level."""
    names = list(results)
    first = results[names[0]]

    def get(result: dict, *keys):
        for key in keys:
            result = result.get(key) if isinstance(result, dict) else None
        return result

    rows = [("patch far-close Spearman with depth (all patches)", ("patch_far_close", "spearman"), "0"),
            ("patch far-close Spearman, mean per image", ("patch_far_close", "per_image_mean"), "0"),
            ("region distance-word accuracy (5 words)", ("region_words", "accuracy"),
             _cell(get(first, "region_words", "majority_rate")) + " (majority word)"),
            ("image->caption top-1", ("retrieval", "top1"), _cell(get(first, "retrieval", "chance_top1")) + " (chance)"),
            ("image->caption top-5", ("retrieval", "top5"), _cell(get(first, "retrieval", "chance_top5")) + " (chance)")]
    lines = ["| probe | " + " | ".join(names) + " | reference |", "|---|" + "---:|" * (len(names) + 1)]
    for label, keys, reference in rows:
        lines.append(f"| {label} | " + " | ".join(_cell(get(results[n], *keys)) for n in names) + f" | {reference} |")
    region = get(first, "region_words")
    notes = [f"depth: {first.get('depth_source')}"]
    if region and region.get("regions"):
        notes.append(f"regions: {region['regions']} in {region['views']} views of {first.get('data')}, "
                     f"words {region['word_counts']}")
    return "\n".join(lines) + "\n\n" + "; ".join(notes)


def load_probed_clip(spec: str, seed: int = 0) -> tuple[ClipProbe, ClipProbe, str]:
    """'NAME/TAG' or 'NAME' (random init) -> (the CLIP, a random-init CLIP of its config, its name)."""
    name, _, tag = spec.partition("/")
    clip, info = clip_backbone.load_clip(name, tag or None, seed=seed)
    random_clip, _ = clip_backbone.load_clip(name, None, seed=seed)
    clip_backbone.fp16_round(random_clip)
    return ClipProbe(clip, name, info.mean, info.std), ClipProbe(random_clip, name, info.mean, info.std), name


DEPTHCLIP_KEYS = ("abs_rel", "d1", "abs_rel_median_scaled", "d1_median_scaled")


def depthclip_against_constant(clip_spec: str, folder: str | Path, seed: int = 0) -> dict[str, dict[str, float]]:
    """DepthCLIP (as published, mirror_model.zeroshot) on the CLIP `clip_spec` (NAME/TAG) and on a
    random-init CLIP of the same config (seed `seed`), beside the oracle constant (each image's true
    median), on the RGB-D scene folder `folder` at 240x320: per-image means of AbsRel and δ1, raw
    and median-scaled. The premise check of DESIGN.md §4: DepthCLIP should beat the constant after
    median scaling on a CLIP whose patches know near from far."""
    from .claim import SIZE, constant_metrics, per_image_metrics
    from .model_info import describe_model
    from .predict import DepthPredictor
    from .zeroshot import ZeroShotConfig, ZeroShotDepth

    name, _, tag = clip_spec.partition("/")
    rows = {}
    for label, pretrained in ((f"DepthCLIP on {clip_spec}", tag or None), ("DepthCLIP on random init", None)):
        clip, info = clip_backbone.load_clip(name, pretrained, seed=seed)
        model = ZeroShotDepth(ZeroShotConfig(clip_name=name, clip_pretrained=pretrained, input_size=SIZE), clip, info)
        described = describe_model(label, model, weights_from="untrained", trained=False, default_source=None)
        rows[label] = per_image_metrics(DepthPredictor(model, described), Path(folder))
    rows["oracle constant (each image's true median)"] = constant_metrics(Path(folder))
    return {label: {key: float(np.mean(values[key])) for key in DEPTHCLIP_KEYS} for label, values in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.probes", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--clip", default="world-vit-256/procedural-world", help="CLIP as NAME/TAG (NAME alone: random init)")
    parser.add_argument("--data", help="captioned folder (python -m scenes.captioned): region words and retrieval")
    parser.add_argument("--depth-data", help="RGB-D scene folder (python -m scenes) for the patch probe, "
                        "when --data has no depths.npy or depth.npy")
    parser.add_argument("--limit", type=number_argument(minimum=1, integer=True), default=400,
                        help="views with regions to probe")
    parser.add_argument("--depth-limit", type=number_argument(minimum=1, integer=True), default=48,
                        help="RGB-D frames for the patch probe")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-init CLIP beside it")
    parser.add_argument("--depthclip", action="store_true",
                        help="also DepthCLIP on both CLIPs against the oracle constant, on --depth-data")
    parser.add_argument("--out", help="write the results JSON here")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    try:
        if not args.data and not args.depth_data:
            raise ValueError("give --data (captioned folder) and/or --depth-data (RGB-D folder)")
        if args.depthclip and not args.depth_data:
            raise ValueError("--depthclip needs --depth-data (an RGB-D scene folder)")
        out = Path(args.out) if args.out else None
        if out is not None and out.is_dir():
            raise ValueError(f"--out {out.name} is a folder; give a file name for the results JSON")
        if out is not None and any(part.exists() and not part.is_dir() for part in out.parents):
            raise ValueError(f"--out {out.name}: a file stands where its folder would be")
        probed, random_init, _ = load_probed_clip(args.clip, args.seed)
        data = read_world(args.data) if args.data else None
        results = {}
        for label, model in tqdm([(args.clip, probed), ("random init", random_init)], desc="probing", unit="CLIP"):
            results.update(run_probes({label: model}, data, args.depth_data, args.limit, args.depth_limit))
        depthclip = depthclip_against_constant(args.clip, args.depth_data, args.seed) if args.depthclip else None
    except (ValueError, FileNotFoundError, clip_backbone.WeightsUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = probe_table(results)
    if depthclip:
        table += "\n\n| DepthCLIP vs constant | AbsRel | δ1 | AbsRel, median-scaled | δ1, median-scaled |\n|---|---:|---:|---:|---:|\n"
        table += "\n".join(f"| {label} | " + " | ".join(f"{row[k]:.3f}" for k in DEPTHCLIP_KEYS) + " |" for label, row in depthclip.items())
    print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {"clip": args.clip, "results": results, "depthclip": depthclip, "table": table}
        out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
