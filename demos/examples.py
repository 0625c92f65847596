"""Offline examples: procedural scenes from examples/ (written by scripts/make_examples.py) and a few
real photographs and one real-imagery clip in examples/photos/ (sources and licences in its README)."""
from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
PHOTOS_DIR = EXAMPLES_DIR / "photos"

EXAMPLE_TEXTS = [
    "GNU Emacs text editor with syntax highlighting",
    "Python library for parsing HTML and XML documents",
    "résumé naïve café: accents, 日本語 and emoji 🙂",
]

# Real photographs, in the order offered, with a caption for the examples gallery.
PHOTOS = {
    "coffee.jpg": "photo: coffee cup",
    "grace_hopper.jpg": "photo: portrait",
    "motorcycle.jpg": "photo: motorcycle (measured depth in the ablation tab)",
    "tower.jpg": "photo: tower",
    "lion.jpg": "photo: lion",
    "cheetah1.jpg": "photo: cheetah",
    "chelsea.jpg": "photo: cat",
    "rocket.jpg": "photo: rocket",
    "astronaut.jpg": "photo: astronaut",
}


def example_images(limit: int = 4) -> list[str]:
    """The example scenes' pictures (the video's frames are offered as the video)."""
    return [str(p) for p in sorted((EXAMPLES_DIR / "scenes" / "rgb").glob("*.png"))[:limit]]


def example_photos() -> list[tuple[str, str]]:
    """(path, caption) of the real photographs that are present."""
    return [(str(PHOTOS_DIR / name), caption) for name, caption in PHOTOS.items() if (PHOTOS_DIR / name).is_file()]


def labelled_examples(scenes: int = 2) -> tuple[list[str], list[str]]:
    """Procedural scenes first, then the real photographs: paths and gallery captions."""
    paths = [(path, f"procedural room {n + 1}") for n, path in enumerate(example_images(scenes))]
    paths += example_photos()
    return [p for p, _ in paths], [c for _, c in paths]


def example_images_with_depth(limit: int = 4) -> list[tuple[str, str]]:
    """(rgb, ground-truth depth PNG) pairs for the ablation tab: the real scene with measured depth
    (examples/real, docs/real-check.md) first, then procedural rooms."""
    real = sorted((EXAMPLES_DIR / "real" / "rgb").glob("*.jpg"))
    pairs = []
    for rgb in [str(p) for p in real] + example_images(limit=100):
        depth = Path(rgb).parent.parent / "depth" / f"{Path(rgb).stem}.png"
        if depth.is_file():
            pairs.append((rgb, str(depth)))
    return pairs[:limit]


def example_videos() -> list[tuple[str, str]]:
    """(path, caption): the procedural camera walk, then the real-imagery clip."""
    videos = [(str(p), "procedural camera walk") for p in sorted((EXAMPLES_DIR / "video").glob("*.mp4"))]
    if (PHOTOS_DIR / "earth.mp4").is_file():
        videos.append((str(PHOTOS_DIR / "earth.mp4"), "real imagery: rotating Earth"))
    return videos


def example_video_ground_truth() -> list[str]:
    """The camera walk's own ground truth, as the files a user would upload: depth PNGs,
    intrinsics.json and poses.json."""
    folder = EXAMPLES_DIR / "video"
    files = sorted((folder / "depth").glob("*.png")) + [folder / "intrinsics.json", folder / "poses.json"]
    return [str(p) for p in files if p.is_file()]
