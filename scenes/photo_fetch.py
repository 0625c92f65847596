"""Building a photo-tile library from real photographs that ship in installable packages.

The curated list `SOURCES` names each photograph (package and path inside it), its licence and
copyright holder as the package states them, the caption word of its texture, the surface roles it
suits, the part of the picture that holds the texture (`regions`), how many source pixels one tile
spans and about how wide that is in the world (`metres`). `fetch` downloads the packages (Debian
`apt-get download`, then `dpkg-deb -x`; scikit-image's bundled images from the installed package or
its wheel via `pip download --no-deps`), cuts square tiles and writes them with `manifest.json`
(scenes.photo_manifest). `bundle` writes the small committed fallback: permissive sources only.

Licences were read from each package's copyright file (Debian: /usr/share/doc/PKG/copyright; KDE
wallpapers also state one in each wallpaper's metadata.json) and, for scikit-image, from the
docstrings of skimage.data's loaders.
"""
from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .photo_manifest import PERMISSIVE_LICENCES, TileRecord, file_sha256, to_encoded, to_linear, write_manifest

Region = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the picture's width/height
WHOLE: tuple[Region, ...] = ((0.0, 0.0, 1.0, 1.0),)
SKIMAGE = "scikit-image"
DEBIAN_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")
PACKAGES = (*DEBIAN_PACKAGES, SKIMAGE)
MAX_FILE_BYTES = 64 * 1024 * 1024  # wallpapers are at most ~20 MB; anything larger is not one of ours
GREY_SPREAD = 1.5  # mean |R-G| + |G-B| (8-bit levels) below which a picture counts as greyscale


@dataclass(frozen=True)
class PhotoSource:
    """One photograph and how to cut it. `tile_px` is a tile's side in source pixels (0: the
    shorter side of each region, one tile per region); tiles are then downscaled to at most the
    library's tile size, never upscaled."""

    key: str
    package: str
    path: str  # inside the package: a Debian file path, or skimage's data file
    licence: str
    copyright: str
    word: str
    roles: tuple[str, ...]
    metres: float
    regions: tuple[Region, ...] = WHOLE
    tile_px: int = 0
    max_tiles: int = 8

    @property
    def permissive(self) -> bool:
        return self.licence in PERMISSIVE_LICENCES


_MATE = "usr/share/backgrounds/mate/nature/"
_MATE_LICENCE = "GPL-2+"
_KDE = "usr/share/wallpapers/"
_KDE_LICENCE = "LGPLv3 (metadata.json); GPL-2+ (debian/copyright)"
_SK = "skimage/data/"
_SKY = ("sky-backdrop",)
_SKY_METRES = 40.0  # sky tiles are backdrops far away; the width is a scale hint only

# fmt: off
SOURCES: tuple[PhotoSource, ...] = (
    # mate-backgrounds: nature photographs (GPL-2+, holders per file in debian/copyright).
    PhotoSource("mate_wood", "mate-backgrounds", _MATE + "Wood.jpg", _MATE_LICENCE, "2008 Jean-François Fortin Tam",
                "wooden", ("floor", "wall", "ceiling", "furniture", "facade"), 0.45, ((0.0, 0.2, 1.0, 0.8),), 760),
    PhotoSource("mate_dune", "mate-backgrounds", _MATE + "Dune.jpg", _MATE_LICENCE, "2007 Marco Cogoni; 2008 Hylke Bons",
                "grassy", ("ground", "foliage"), 0.25, ((0.0, 0.6, 1.0, 1.0),), 210),
    PhotoSource("mate_meadow", "mate-backgrounds", _MATE + "GreenMeadow.jpg", _MATE_LICENCE,
                "2005 Timothy Schellhase; 2008 Lapo Calamandrei", "grassy", ("ground", "foliage"), 0.15, WHOLE, 512),
    PhotoSource("mate_leaf", "mate-backgrounds", _MATE + "Blinds.jpg", _MATE_LICENCE, "2008 Lennart Poettering; 2008 Andrea Cimitan",
                "leafy", ("foliage", "object"), 0.12, WHOLE, 480, 6),
    PhotoSource("mate_raindrops", "mate-backgrounds", _MATE + "RainDrops.jpg", _MATE_LICENCE, '2008 "blackcombwhistler07"',
                "leafy", ("foliage",), 0.15, WHOLE, 600, 4),
    PhotoSource("mate_storm", "mate-backgrounds", _MATE + "Storm.jpg", _MATE_LICENCE, "2008 Sergey Nazarov",
                "cloudy", _SKY, _SKY_METRES, ((0.0, 0.0, 1.0, 0.58),), 370, 6),
    PhotoSource("mate_freshflower", "mate-backgrounds", _MATE + "FreshFlower.jpg", _MATE_LICENCE, "2005 Jens Ansorg",
                "flowery", ("picture",), 0.6),
    PhotoSource("mate_garden", "mate-backgrounds", _MATE + "Garden.jpg", _MATE_LICENCE, "2008 Charles Barbin",
                "flowery", ("picture",), 0.6),
    PhotoSource("mate_yellowflower", "mate-backgrounds", _MATE + "YellowFlower.jpg", _MATE_LICENCE, "2008 Charles Barbin",
                "flowery", ("picture",), 0.6),
    PhotoSource("mate_ladybird", "mate-backgrounds", _MATE + "LadyBird.jpg", _MATE_LICENCE, "2008 Charles Barbin",
                "flowery", ("picture",), 0.6),
    # plasma-workspace-wallpapers: the photographs among KDE's wallpapers.
    PhotoSource("kde_deck", "plasma-workspace-wallpapers", _KDE + "BytheWater/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Maciej Wiklo", "wooden", ("floor", "ground", "facade", "furniture"), 0.4, ((0.0, 0.52, 1.0, 1.0),), 384),
    PhotoSource("kde_pier", "plasma-workspace-wallpapers", _KDE + "ColdRipple/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "wooden", ("floor", "ground"), 0.5, ((0.25, 0.7, 0.75, 1.0),), 240, 6),
    PhotoSource("kde_pebbles", "plasma-workspace-wallpapers", _KDE + "EveningGlow/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Ian Hex", "pebbly", ("ground", "road"), 0.4, ((0.12, 0.78, 1.0, 1.0),), 200),
    PhotoSource("kde_glow_sky", "plasma-workspace-wallpapers", _KDE + "EveningGlow/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Ian Hex", "cloudy", _SKY, _SKY_METRES, ((0.0, 0.0, 1.0, 0.24),), 384, 4),
    PhotoSource("kde_glow", "plasma-workspace-wallpapers", _KDE + "EveningGlow/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Ian Hex", "scenic", ("picture",), 0.6),
    PhotoSource("kde_ribs", "plasma-workspace-wallpapers", _KDE + "Grey/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Sigi Sagi", "ribbed", ("facade", "wall"), 4.0, ((0.0, 0.0, 0.625, 1.0), (0.375, 0.0, 1.0, 1.0))),
    PhotoSource("kde_kite_sky", "plasma-workspace-wallpapers", _KDE + "Kite/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "cloudy", _SKY, _SKY_METRES, ((0.0, 0.0, 0.6, 1.0),), 512, 6),
    PhotoSource("kde_moss", "plasma-workspace-wallpapers", _KDE + "OneStandsOut/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "mossy", ("ground", "foliage"), 0.1, ((0.0, 0.0, 1.0, 0.72),), 640),
    PhotoSource("kde_forest_floor", "plasma-workspace-wallpapers", _KDE + "Path/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "leafy", ("ground", "foliage"), 0.8, ((0.3, 0.62, 1.0, 1.0),), 300, 6),
    PhotoSource("kde_forest", "plasma-workspace-wallpapers", _KDE + "Path/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "scenic", ("picture",), 0.6),
    PhotoSource("kde_night_sky", "plasma-workspace-wallpapers", _KDE + "summer_1am/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "clear", _SKY, _SKY_METRES, ((0.0, 0.0, 1.0, 0.5),), 640),
    PhotoSource("kde_fog", "plasma-workspace-wallpapers", _KDE + "DarkestHour/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Risto Saukonpää", "misty", _SKY, _SKY_METRES, ((0.0, 0.0, 1.0, 0.45),), 640, 3),
    PhotoSource("kde_fallen_leaf", "plasma-workspace-wallpapers", _KDE + "FallenLeaf/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Martin Klapetek", "leafy", ("picture",), 0.6),
    PhotoSource("kde_cups", "plasma-workspace-wallpapers", _KDE + "ColorfulCups/contents/images/2560x1600.jpg", _KDE_LICENCE,
                "Dmitri Popov", "patterned", ("picture",), 0.6),
    # scikit-image's bundled images: CC0 or public domain (the only sources of the committed tiles).
    PhotoSource("sk_brick", SKIMAGE, _SK + "brick.png", "CC0-1.0", "CC0 Textures (Bricks25)",
                "brick", ("wall", "facade", "floor", "ground"), 0.7, WHOLE, 256),
    PhotoSource("sk_grass", SKIMAGE, _SK + "grass.png", "CC0-1.0", "linolafett (DeviantArt, Grass 01)",
                "grassy", ("ground", "foliage"), 0.3, WHOLE, 256, 3),
    PhotoSource("sk_gravel", SKIMAGE, _SK + "gravel.png", "CC0-1.0", "CC0 Textures (Gravel04)",
                "gravel", ("ground", "road"), 0.3, WHOLE, 256, 3),
    PhotoSource("sk_table", SKIMAGE, _SK + "coffee.png", "CC0-1.0", "Rachel Michetti",
                "wooden", ("furniture", "object", "floor"), 0.08, ((0.82, 0.0, 1.0, 1.0),), 108, 3),
    PhotoSource("sk_fur", SKIMAGE, _SK + "chelsea.png", "CC0-1.0", "Stefan van der Walt",
                "furry", ("object", "furniture", "clothing"), 0.05, ((0.40, 0.0, 0.62, 0.30),)),
    PhotoSource("sk_suit", SKIMAGE, _SK + "astronaut.png", "public-domain", "NASA",
                "fabric", ("clothing", "furniture", "object"), 0.12, ((0.06, 0.78, 0.26, 0.98),)),
    PhotoSource("sk_dusk_sky", SKIMAGE, _SK + "rocket.jpg", "public-domain", "SpaceX",
                "clear", _SKY, _SKY_METRES, ((0.15, 0.0, 0.29, 0.3), (0.52, 0.0, 0.68, 0.35))),
    PhotoSource("sk_field_sky", SKIMAGE, _SK + "camera.png", "CC0-1.0", "Lav Varshney",
                "clear", _SKY, _SKY_METRES, ((0.5, 0.0, 1.0, 0.17),), 85, 2),
    PhotoSource("sk_field", SKIMAGE, _SK + "camera.png", "CC0-1.0", "Lav Varshney",
                "grassy", ("ground",), 0.5, ((0.82, 0.5, 1.0, 1.0),), 92, 2),
    PhotoSource("sk_launch", SKIMAGE, _SK + "rocket.jpg", "public-domain", "SpaceX",
                "scenic", ("picture",), 0.6),
    PhotoSource("sk_coffee", SKIMAGE, _SK + "coffee.png", "CC0-1.0", "Rachel Michetti",
                "photographic", ("picture",), 0.4),
)
# fmt: on


# ---------------------------------------------------------------- cutting tiles

def tile_boxes(width: int, height: int, regions: tuple[Region, ...], tile_px: int, max_tiles: int) -> list[tuple[int, int, int]]:
    """(left, top, side) pixel boxes of the square tiles cut from the regions of a width x height
    picture: a grid of tile_px squares centred in each region (tile_px 0: one square per region,
    its shorter side), then at most `max_tiles` of them, spread evenly over the list."""
    boxes = []
    for x0, y0, x1, y1 in regions:
        if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
            raise ValueError(f"region {(x0, y0, x1, y1)} is not inside the unit square")
        left, top = int(round(x0 * width)), int(round(y0 * height))
        region_w, region_h = int(round(x1 * width)) - left, int(round(y1 * height)) - top
        side = min(region_w, region_h) if tile_px <= 0 else min(tile_px, region_w, region_h)
        if side < 8:
            continue
        columns, rows = (1, 1) if tile_px <= 0 else (region_w // side, region_h // side)
        margin_x, margin_y = (region_w - columns * side) // 2, (region_h - rows * side) // 2
        boxes += [(left + margin_x + c * side, top + margin_y + r * side, side) for r in range(rows) for c in range(columns)]
    if len(boxes) > max_tiles:
        keep = np.unique(np.round(np.linspace(0, len(boxes) - 1, max_tiles)).astype(int))
        boxes = [boxes[i] for i in keep]
    return boxes


def cut_tiles(rgb: np.ndarray, source: PhotoSource, tile_size: int) -> list[np.ndarray]:
    """Square uint8 tiles (side min(tile_size, box side)) of an RGB picture, downscaled by area
    averaging in linear light so fine texture keeps its mean brightness."""
    import cv2

    height, width = rgb.shape[:2]
    tiles = []
    for left, top, side in tile_boxes(width, height, source.regions, source.tile_px, source.max_tiles):
        crop = rgb[top : top + side, left : left + side]
        out = min(tile_size, side)
        if out != side:
            crop = to_encoded(cv2.resize(to_linear(crop), (out, out), interpolation=cv2.INTER_AREA))
        tiles.append(np.ascontiguousarray(crop))
    return tiles


def is_grey(rgb: np.ndarray) -> bool:
    signed = rgb.astype(np.int16)
    spread = np.abs(signed[..., 0] - signed[..., 1]).mean() + np.abs(signed[..., 1] - signed[..., 2]).mean()
    return bool(spread < GREY_SPREAD)


def read_picture(path: Path) -> np.ndarray:
    """A source picture as RGB uint8, its file size and pixel count checked before decoding."""
    from common.image_io import load_rgb

    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name} is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit for a source picture")
    return load_rgb(path)  # refuses pictures over the pixel cap from their header


def tile_source(picture: Path, source: PhotoSource, version: str, out: Path, tile_size: int, quality: int) -> list[TileRecord]:
    """Cut one source picture into tiles written under `out` (JPEG at `quality`, or PNG for
    quality 0); their manifest records."""
    import cv2

    rgb = read_picture(picture)
    grey = is_grey(rgb)
    records = []
    for index, tile in enumerate(cut_tiles(rgb, source, tile_size)):
        name = f"{source.key}_{index:02d}"
        file = f"{name}.{'png' if quality == 0 else 'jpg'}"
        params = [] if quality == 0 else [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
        if not cv2.imwrite(str(out / file), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write tile {file}")
        written = cv2.cvtColor(cv2.imread(str(out / file), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)  # mean of what is stored
        mean = to_linear(written).reshape(-1, 3).mean(axis=0)
        records.append(TileRecord(
            name=name, file=file, package=source.package, version=version, path=source.path, licence=source.licence,
            copyright=source.copyright, word=source.word, roles=source.roles,
            mean_linear=tuple(round(float(c), 6) for c in mean), grey=grey, metres=source.metres,
            size=int(tile.shape[0]), sha256=file_sha256(out / file),
        ))  # fmt: skip
    return records


# ---------------------------------------------------------------- getting the packages

def _run(command: list[str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise OSError(f"{command[0]} is not installed; it is needed to {what}") from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OSError(f"could not {what}: {last[0]}")
    return done.stdout


def debian_package(package: str, work: Path, local: Path | None) -> tuple[Path, str]:
    """(folder the package is unpacked in, its version): the newest PKG_*.deb in `local` when one
    is there, else `apt-get download PKG` (no root needed)."""
    found = sorted(glob.glob(str(local / f"{package}_*.deb"))) if local else []
    if found:
        deb = Path(found[-1])
    else:
        _run(["apt-get", "download", package], work, f"download the Debian package {package}")
        downloaded = sorted(work.glob(f"{package}_*.deb"))
        if not downloaded:
            raise OSError(f"apt-get download {package} left no .deb file")
        deb = downloaded[-1]
    version = _run(["dpkg-deb", "-f", str(deb), "Version"], work, f"read the version of {deb.name}").strip()
    root = work / package
    _run(["dpkg-deb", "-x", str(deb), str(root)], work, f"unpack {deb.name}")
    return root, version


def skimage_data(work: Path, local: Path | None) -> tuple[Path, str]:
    """(folder holding skimage/data/, scikit-image version): the installed package, else a
    scikit-image wheel in `local`, else one from `pip download --no-deps scikit-image`."""
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.origin:
        return Path(spec.origin).parent.parent, importlib.metadata.version("scikit-image")
    wheels = sorted(glob.glob(str(local / "scikit_image-*.whl"))) if local else []
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(work), "scikit-image"],
             work, "download the scikit-image wheel")
        wheels = sorted(glob.glob(str(work / "scikit_image-*.whl")))
        if not wheels:
            raise OSError("pip download left no scikit-image wheel")
    wheel = Path(wheels[-1])
    root = work / "scikit-image"
    with zipfile.ZipFile(wheel) as archive:
        wanted = {source.path for source in SOURCES if source.package == SKIMAGE}
        for name in sorted(wanted & set(archive.namelist())):
            archive.extract(name, root)
    return root, wheel.name.split("-")[1]


def obtain(package: str, work: Path, local: Path | None) -> tuple[Path, str]:
    return skimage_data(work, local) if package == SKIMAGE else debian_package(package, work, local)


# ---------------------------------------------------------------- whole libraries

def _remove_old_tiles(out: Path) -> None:
    """Delete the tiles a previous manifest in `out` listed (nothing else), so no stale tile stays."""
    from .photo_manifest import read_manifest

    try:
        records, _ = read_manifest(out)
    except (FileNotFoundError, ValueError):
        return
    for record in records:
        (out / record.file).unlink(missing_ok=True)


def build_library(out: Path, sources: tuple[PhotoSource, ...], packages: tuple[str, ...], tile_size: int, quality: int,
                  local: Path | None, description: str, progress: bool = True) -> list[TileRecord]:
    """Obtain `packages`, cut the `sources` they hold into tiles under `out`, write the manifest.
    A source missing from the package version obtained is skipped with a note."""
    import tempfile

    from tqdm import tqdm

    unknown = sorted(set(packages) - set(PACKAGES))
    if unknown:
        raise ValueError(f"unknown package(s) {', '.join(unknown)}: expected some of {', '.join(PACKAGES)}")
    if not 16 <= tile_size <= 1024:
        raise ValueError(f"tile size must be 16..1024 pixels, got {tile_size}")
    if not (quality == 0 or 10 <= quality <= 100):
        raise ValueError(f"JPEG quality must be 10..100 (or 0 for PNG), got {quality}")
    if local is not None and not local.is_dir():
        raise FileNotFoundError(f"folder {local} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    _remove_old_tiles(out)
    records: list[TileRecord] = []
    with tempfile.TemporaryDirectory(prefix="photos-") as work:
        roots = {package: obtain(package, Path(work), local)
                 for package in tqdm(packages, desc="packages", unit="package", disable=not progress)}
        chosen = [source for source in sources if source.package in roots]
        for source in tqdm(chosen, desc="photographs", unit="photo", disable=not progress):
            root, version = roots[source.package]
            picture = root / source.path
            if not picture.is_file():
                tqdm.write(f"skipped {source.key}: {source.path} is not in {source.package} {version}")
                continue
            records += tile_source(picture, source, version, out, tile_size, quality)
    if not records:
        raise ValueError("no tiles were made: none of the curated photographs was found in the packages")
    write_manifest(out, records, description)
    return records


BUNDLE_TILE_SIZE = 128
BUNDLE_QUALITY = 90


def bundle(out: Path, local: Path | None = None, progress: bool = True) -> list[TileRecord]:
    """Regenerate the committed fallback tiles: permissive (CC0 / public-domain) sources only, at
    most 128 px, JPEG quality 90, with a README table of sources and licences."""
    sources = tuple(source for source in SOURCES if source.permissive)
    packages = tuple(sorted({source.package for source in sources}))
    records = build_library(out, sources, packages, BUNDLE_TILE_SIZE, BUNDLE_QUALITY, local,
                            "committed fallback tiles (python -m scenes.photos bundle)", progress)
    lines = [
        "# Committed photo tiles",
        "",
        "The fallback photo library `scenes.photos.PhotoLibrary` uses when no fetched library is",
        "present (`python -m scenes.photos fetch` makes the full one under `data/photos`). Only",
        "CC0 / public-domain sources; regenerate with `python -m scenes.photos bundle`.",
        "",
        "| file | source package + path | licence | copyright | word | roles |",
        "|---|---|---|---|---|---|",
    ]
    for record in sorted(records, key=lambda r: r.name):
        lines.append(f"| {record.file} | {record.package} {record.version}: `{record.path}` | {record.licence} | "
                     f"{record.copyright} | {record.word} | {', '.join(record.roles)} |")
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records
