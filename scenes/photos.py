"""Real-photograph texture tiles for the procedural world: the library renderers sample, and the
command that builds it.

    python -m scenes.photos fetch [--out data/photos] [--packages ...] [--from DIR]
    python -m scenes.photos bundle      # regenerate the committed CC0 / public-domain fallback
    python -m scenes.photos info [DIR]  # identity, tile counts per role and licence

Which library is used: the folder passed to `load_library`, else the folder in the environment
variable SCENES_PHOTOS, else `data/photos` when it holds a manifest, else the committed tiles in
scenes/assets/photo_tiles. A library is read once per process (rendering samples it thousands of
times) and known by its identity, a hash of its manifest, which covers every tile file's hash.

Tiles are kept display-encoded (uint8) with a mipmap of 2x2 box averages made in linear light, and
turned linear through a 256-entry table when sampled: a quarter of the memory of float32 tiles.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .photo_manifest import ASSETS_DIR, FETCHED_DIR, MANIFEST_NAME, TileRecord, read_manifest, to_encoded, to_linear

ENV_VAR = "SCENES_PHOTOS"
# World size of one texel the sampler aims for: about a pixel's footprint at 1.5 m for a 320-pixel
# wide, 63-degree view. Finer texels would alias (a pixel would land on one texel of many), so the
# mip level with texels closest to this size is sampled.
TEXEL_METRES = 0.005
MIN_LEVEL_SIDE = 4
_LINEAR_TABLE = to_linear(np.arange(256, dtype=np.uint8))


def mirrored(coordinate: np.ndarray) -> np.ndarray:
    """Mirrored repeat (OpenGL's GL_MIRRORED_REPEAT): 0..1 forwards, 1..2 backwards, period 2, so
    neighbouring copies of a photograph meet at equal pixels instead of at a seam."""
    phase = np.mod(coordinate, 2.0)
    return np.where(phase > 1.0, 2.0 - phase, phase)


def sample_bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N, 3) float32 linear colours of a display-encoded (S, S, 3) uint8 tile at tile coordinates
    (u across, v down; 1.0 = one tile), repeated mirrored (see `mirrored`), bilinear between texel
    centres at (i + 0.5) / S; at a tile's edge the mirror copy's texel is the edge texel itself."""
    side_v, side_u = image.shape[:2]
    x = mirrored(np.asarray(u, dtype=np.float64)) * side_u - 0.5
    y = mirrored(np.asarray(v, dtype=np.float64)) * side_v - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32)[:, None], (y - y0).astype(np.float32)[:, None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    i0, i1 = np.clip(x0, 0, side_u - 1), np.clip(x0 + 1, 0, side_u - 1)
    j0, j1 = np.clip(y0, 0, side_v - 1), np.clip(y0 + 1, 0, side_v - 1)
    flat = image.reshape(-1, 3)

    def texel(j: np.ndarray, i: np.ndarray) -> np.ndarray:
        return _LINEAR_TABLE[flat[j * side_u + i]]

    top = texel(j0, i0) * (1 - fx) + texel(j0, i1) * fx
    bottom = texel(j1, i0) * (1 - fx) + texel(j1, i1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def mip_levels(tile: np.ndarray) -> list[np.ndarray]:
    """The tile and its successive halvings (2x2 means in linear light), down to MIN_LEVEL_SIDE."""
    levels = [np.ascontiguousarray(tile)]
    linear = to_linear(tile)
    while linear.shape[0] % 2 == 0 and linear.shape[0] // 2 >= MIN_LEVEL_SIDE:
        side = linear.shape[0] // 2
        linear = linear.reshape(side, 2, side, 2, 3).mean(axis=(1, 3))
        levels.append(to_encoded(linear))
    return levels


class PhotoTexture:
    """One tile ready for sampling: its mip levels, finest first."""

    def __init__(self, tile: np.ndarray):
        self.levels = mip_levels(tile)

    def level_for(self, metres_per_tile: float) -> int:
        """The mip level whose texels are nearest TEXEL_METRES wide when the tile spans `metres_per_tile`."""
        wanted = math.log2(self.levels[0].shape[0] * TEXEL_METRES / metres_per_tile)
        return int(min(max(round(wanted), 0), len(self.levels) - 1))

    def sample(self, u: np.ndarray, v: np.ndarray, metres_per_tile: float) -> np.ndarray:
        return sample_bilinear(self.levels[self.level_for(metres_per_tile)], u, v)


class PhotoLibrary:
    """The tiles of one library folder: `records` (name -> TileRecord, from manifest.json), the
    `identity` hash, and textures decoded on first use. Use `load_library` to get the shared one."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        records, self.identity = read_manifest(self.folder)
        self.records: dict[str, TileRecord] = {record.name: record for record in records}
        self._textures: dict[str, PhotoTexture] = {}
        self._by_role: dict[str, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return f"PhotoLibrary({len(self.records)} tiles, identity {self.identity})"

    def names(self, role: str | None = None) -> tuple[str, ...]:
        """Sorted tile names, all or those suited to `role` (sorted, so draws are reproducible)."""
        key = role or ""
        if key not in self._by_role:
            self._by_role[key] = tuple(sorted(n for n, r in self.records.items() if role is None or role in r.roles))
        return self._by_role[key]

    def record(self, name: str) -> TileRecord:
        try:
            return self.records[name]
        except KeyError:
            raise ValueError(f"photo library {self.identity} has no tile {name!r}") from None

    def texture(self, name: str) -> PhotoTexture:
        texture = self._textures.get(name)
        if texture is None:
            from common.image_io import load_rgb

            record = self.record(name)
            tile = load_rgb(self.folder / record.file)
            if tile.shape != (record.size, record.size, 3):
                raise ValueError(f"tile {record.file} is {tile.shape[1]}x{tile.shape[0]}, the manifest says {record.size}x{record.size}")
            texture = self._textures[name] = PhotoTexture(tile)
        return texture


_BY_FOLDER: dict[Path, PhotoLibrary] = {}
_BY_IDENTITY: dict[str, PhotoLibrary] = {}


def default_folder() -> Path:
    """SCENES_PHOTOS if set, else data/photos when it holds a manifest, else the committed tiles."""
    chosen = os.environ.get(ENV_VAR, "").strip()
    if chosen:
        folder = Path(chosen).expanduser()
        if not (folder / MANIFEST_NAME).is_file():
            raise FileNotFoundError(f"{ENV_VAR}={chosen} is not a photo library (no {MANIFEST_NAME} there); "
                                    f"make one with: python -m scenes.photos fetch --out {chosen}, or unset {ENV_VAR}")
        return folder
    return FETCHED_DIR if (FETCHED_DIR / MANIFEST_NAME).is_file() else ASSETS_DIR


def load_library(folder: str | Path | None = None) -> PhotoLibrary:
    """The library in `folder` (default: default_folder()), read once per process."""
    path = Path(folder).expanduser().resolve() if folder is not None else default_folder().resolve()
    library = _BY_FOLDER.get(path)
    if library is None:
        library = _BY_FOLDER[path] = PhotoLibrary(path)
        _BY_IDENTITY.setdefault(library.identity, library)
    return library


def library_by_identity(identity: str) -> PhotoLibrary:
    """A loaded library by identity (materials name theirs); the default one is loaded if needed."""
    library = _BY_IDENTITY.get(identity)
    if library is None and load_library().identity == identity:
        library = _BY_IDENTITY[identity]
    if library is None:
        raise ValueError(f"photo library {identity} is not loaded in this process; load it with "
                         f"scenes.photos.load_library(folder) or point {ENV_VAR} at its folder")
    return library


# ---------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    from .photo_fetch import PACKAGES

    parser = argparse.ArgumentParser(prog="python -m scenes.photos", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="download the packages and cut the curated photographs into tiles")
    fetch.add_argument("--out", default=str(FETCHED_DIR), help="library folder (default: data/photos in the project)")
    fetch.add_argument("--packages", nargs="+", default=list(PACKAGES), metavar="PKG",
                       help=f"packages to take photographs from (default: all of {', '.join(PACKAGES)})")
    fetch.add_argument("--from", dest="local", default=None, metavar="DIR",
                       help="folder with already-downloaded PKG_*.deb files and/or a scikit_image-*.whl (used instead of downloading)")
    fetch.add_argument("--tile-size", type=int, default=256, help="largest tile side in pixels (default 256)")
    fetch.add_argument("--quality", type=int, default=90, help="JPEG quality, or 0 for PNG tiles (default 90)")
    bundle = commands.add_parser("bundle", help="regenerate the committed CC0 / public-domain fallback tiles")
    bundle.add_argument("--out", default=str(ASSETS_DIR), help="folder (default: scenes/assets/photo_tiles)")
    bundle.add_argument("--from", dest="local", default=None, metavar="DIR", help="folder with a scikit_image-*.whl to use")
    info = commands.add_parser("info", help="describe a library: identity, tiles per role, word and licence")
    info.add_argument("folder", nargs="?", default=None, help=f"library folder (default: the one in use; see {ENV_VAR})")
    return parser


def _describe(library: PhotoLibrary) -> str:
    records = list(library.records.values())
    roles = Counter(role for record in records for role in record.roles)
    words = Counter(record.word for record in records)
    licences = Counter(record.licence for record in records)
    lines = [f"{library.folder.name}: {len(records)} tiles, identity {library.identity}",
             "roles: " + ", ".join(f"{k} {v}" for k, v in sorted(roles.items())),
             "words: " + ", ".join(f"{k} {v}" for k, v in sorted(words.items())),
             "licences: " + "; ".join(f"{k}: {v}" for k, v in sorted(licences.items()))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .photo_fetch import SOURCES, build_library
    from .photo_fetch import bundle as make_bundle

    local = Path(args.local) if getattr(args, "local", None) else None
    try:
        if args.command == "fetch":
            out = Path(args.out)
            before = read_manifest(out) if (out / MANIFEST_NAME).is_file() else None
            records = build_library(out, SOURCES, tuple(args.packages), args.tile_size, args.quality, local,
                                    "photo tiles fetched with python -m scenes.photos fetch")
            print(f"wrote {len(records)} tiles and {MANIFEST_NAME} to {args.out}")
            after = read_manifest(out)
            if before is not None and before[1] != after[1]:  # say so: scenes rendered before will not repeat
                print(f"note: replaced the library that was there ({len(before[0])} tiles, identity {before[1]}) with "
                      f"{len(after[0])} tiles, identity {after[1]}; scenes rendered with the old one will not render the same")
        elif args.command == "bundle":
            records = make_bundle(Path(args.out), local)
            print(f"wrote {len(records)} committed tiles to {args.out}")
        else:
            print(_describe(load_library(args.folder)))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
