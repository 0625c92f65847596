"""Offline examples from examples/ (written by scripts/make_examples.py)."""
from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"

EXAMPLE_TEXTS = [
    "GNU Emacs text editor with syntax highlighting",
    "Python library for parsing HTML and XML documents",
    "résumé naïve café: accents, 日本語 and emoji 🙂",
]


def example_images(limit: int = 4) -> list[str]:
    """The example scenes' pictures (the video's frames are offered as the video)."""
    return [str(p) for p in sorted((EXAMPLES_DIR / "scenes" / "rgb").glob("*.png"))[:limit]]


def example_images_with_depth(limit: int = 4) -> list[tuple[str, str]]:
    """(rgb, ground-truth depth PNG) pairs for the ablation tab."""
    pairs = []
    for rgb in example_images(limit=100):
        depth = Path(rgb).parent.parent / "depth" / Path(rgb).name
        if depth.is_file():
            pairs.append((rgb, str(depth)))
    return pairs[:limit]


def example_videos() -> list[str]:
    return [str(p) for p in sorted((EXAMPLES_DIR / "video").glob("*.mp4"))]


def example_video_ground_truth() -> list[str]:
    """The camera walk's own ground truth, as the files a user would upload: depth PNGs,
    intrinsics.json and poses.json."""
    folder = EXAMPLES_DIR / "video"
    files = sorted((folder / "depth").glob("*.png")) + [folder / "intrinsics.json", folder / "poses.json"]
    return [str(p) for p in files if p.is_file()]
