"""The on-disk format and the places of photo-tile libraries: a folder of square tiles plus
`manifest.json`.

One owner for the format: `scenes.photo_fetch` writes it, `scenes.photos.PhotoLibrary` reads it.
Each tile record names where its pixels came from (package, version, path inside the package),
under which licence and whose copyright, the caption word of its texture ("wooden", "grassy"...),
the surface roles it suits, its mean linear colour and the SHA-256 of its file, so the manifest's
own hash identifies the pixels a dataset was rendered with.

Colours in the library are linear RGB; files are display-encoded with the same 2.2 gamma the
renderer uses (scenes.render), so a tile shown on a wall looks like the photograph.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MANIFEST_NAME = "manifest.json"
# The committed fallback library, and where `python -m scenes.photos fetch` writes by default.
ASSETS_DIR = Path(__file__).resolve().parent / "assets" / "photo_tiles"
FETCHED_DIR = Path(__file__).resolve().parents[1] / "data" / "photos"
FORMAT_VERSION = 1
DISPLAY_GAMMA = 2.2  # the renderer's encoding (scenes.render._to_srgb8)
# Licences whose tiles may be committed to the repository (no attribution or share-alike terms).
PERMISSIVE_LICENCES = ("CC0-1.0", "public-domain")
ROLES = (
    "floor", "wall", "ceiling", "furniture", "object", "picture",
    "ground", "facade", "vehicle", "foliage", "bark", "skin", "clothing", "road", "sky-backdrop",
)  # fmt: skip


@dataclass(frozen=True)
class TileRecord:
    """One tile of a library. `metres` is the approximate real-world width the tile shows (a
    texture-scale hint: renderers repeat the tile about that often); `grey` marks tiles cut from
    greyscale photographs, which take their colour from a tint."""

    name: str  # unique within the library; also the Material.photo value
    file: str  # relative to the library folder
    package: str
    version: str
    path: str  # inside the package
    licence: str  # SPDX identifier or "public-domain"
    copyright: str
    word: str
    roles: tuple[str, ...]
    mean_linear: tuple[float, float, float]
    grey: bool
    metres: float
    size: int  # side in pixels
    sha256: str

    def __post_init__(self) -> None:
        unknown = [role for role in self.roles if role not in ROLES]
        if unknown or not self.roles:
            raise ValueError(f"tile {self.name!r}: unknown or missing roles {unknown}; expected some of {', '.join(ROLES)}")
        if not (self.metres > 0 and self.size > 0):
            raise ValueError(f"tile {self.name!r}: metres and size must be positive")


def to_linear(encoded_uint8: np.ndarray) -> np.ndarray:
    """Display-encoded uint8 -> linear float32 in [0, 1]."""
    return (np.asarray(encoded_uint8, dtype=np.float32) / 255.0) ** DISPLAY_GAMMA


def to_encoded(linear: np.ndarray) -> np.ndarray:
    """Linear float in [0, 1] -> display-encoded uint8 (rounded)."""
    return (np.clip(linear, 0.0, 1.0) ** (1.0 / DISPLAY_GAMMA) * 255.0 + 0.5).astype(np.uint8)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_manifest(folder: Path, records: list[TileRecord], description: str) -> Path:
    """Write `manifest.json` (records sorted by name, so equal libraries give equal bytes)."""
    names = [record.name for record in records]
    if len(set(names)) != len(names):
        raise ValueError("tile names in a library must be unique")
    document = {
        "format": FORMAT_VERSION,
        "description": description,
        "tiles": [asdict(record) for record in sorted(records, key=lambda r: r.name)],
    }
    path = Path(folder) / MANIFEST_NAME
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path) -> tuple[list[TileRecord], str]:
    """The tile records of the library in `folder` and the library's identity (the first 16 hex
    digits of the manifest's SHA-256). FileNotFoundError/ValueError with one-line messages."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"photo library folder {folder} does not exist")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"photo library folder {folder} has no {MANIFEST_NAME} (make one with: python -m scenes.photos fetch)")
    data = path.read_bytes()
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {document.get('format')!r}, expected {FORMAT_VERSION}")
        records = []
        for entry in document["tiles"]:
            entry = dict(entry, roles=tuple(entry["roles"]), mean_linear=tuple(float(c) for c in entry["mean_linear"]))
            records.append(TileRecord(**entry))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path.name} in {folder} is not a photo-library manifest: {error}") from None
    if not records:
        raise ValueError(f"{path.name} in {folder} lists no tiles")
    missing = [record.file for record in records if not (folder / record.file).is_file()]
    if missing:
        raise FileNotFoundError(f"photo library {folder} lacks {len(missing)} tile file(s), e.g. {missing[0]}")
    return records, hashlib.sha256(data).hexdigest()[:16]
