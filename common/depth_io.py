"""Reading, writing and colouring depth maps; shared by scenes, predict, analysis and the app.

Depth PNGs are 16-bit, 0 meaning "no depth": one unit per millimetre by default (NYU-style, up to
65.5 m), or 256 units per metre for far scenes (KITTI's convention, up to 256 m at 3.9 mm steps).
"""
from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.validate import check_pixels, default_max_pixels
from common.zip_directory import check_zip_directory

MM_PER_M = 1000.0
KITTI_UNITS_PER_M = 256.0
UINT16_MAX_M = 65.535


def depth_to_png16(depth_m: np.ndarray, scale: float = MM_PER_M) -> np.ndarray:
    """Metres (float) to uint16 at `scale` units per metre (millimetres by default); invalid values
    (nan, inf, <=0) become 0, values beyond 65535 units clip."""
    depth = np.asarray(depth_m, dtype=np.float32)  # float32 is exact to well under a millimetre up to 65 m
    mm = depth * np.float32(scale)
    mm[~(np.isfinite(mm) & (mm > 0))] = 0
    np.clip(mm, 0, 65535, out=mm)
    return np.round(mm, out=mm).astype(np.uint16)


def png16_to_depth(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres to float32 metres (0 stays 0: no depth)."""
    return np.asarray(mm, dtype=np.float32) / np.float32(MM_PER_M)


def write_depth_png(path: str | Path, depth_m: np.ndarray, scale: float = MM_PER_M) -> Path:
    """Writes metres as a 16-bit PNG at `scale` units per metre (1000: millimetres; 256: KITTI)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), depth_to_png16(depth_m, scale)):
        raise OSError(f"could not write depth PNG {path}")
    return path


def read_depth_png(path: str | Path, scale: float = MM_PER_M, max_pixels: int | None = -1) -> np.ndarray:
    """A 16-bit depth PNG as float32 metres. `scale` is units per metre (1000 for mm, 256 for KITTI).

    `max_pixels` caps width x height from the PNG header before decoding (-1: the default cap,
    common.validate.default_max_pixels(); None or 0: no cap). Errors name the file, never its folder."""
    import cv2

    from common.image_io import image_header_size

    path = Path(path)
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    if max_pixels and image_header_size(path, max_pixels, f"depth map {path.name}") is None:
        raise ValueError(f"{path.name}: not a readable depth image (expected a 16-bit PNG)")
    png_depth_shape(path)  # an 8-bit or colour picture is refused from its header, in words
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"{path.name}: not a readable depth image (expected a 16-bit PNG)")
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise ValueError(f"{path.name}: expected a single-channel 16-bit depth PNG, got {raw.dtype} with shape {raw.shape}")
    return raw.astype(np.float32) / np.float32(scale)


def png_depth_shape(path: str | Path) -> tuple[int, int]:
    """(height, width) of a depth PNG from its header, or a ValueError in words when the file is
    not one Pillow can identify or not single-channel 16-bit (an 8-bit or colour picture)."""
    from PIL import Image, UnidentifiedImageError

    from common.image_io import decoded_bytes_per_pixel

    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            channels, bits, _ = decoded_bytes_per_pixel(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ValueError(f"{path.name}: not a readable depth image (expected a 16-bit PNG)") from None
    if channels != 1 or bits != 16:
        kind = f"{bits}-bit {'grey' if channels == 1 else f'{channels}-channel'} picture"
        article = "an" if kind.startswith(("8-", "11-", "18-")) else "a"
        raise ValueError(f"{path.name}: {article} {kind}, not a depth map; depth PNGs are single-channel 16-bit, in millimetres")
    return height, width


DEPTH_SUFFIXES = (".npy", ".npz", ".png")
NPZ_DEPTH_KEYS = ("depth", "depths", "arr_0")  # which array of an .npz holds depth, when it has several
NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats: what a depth array may hold
MAX_NPZ_ARRAYS = 64  # an .npz is a zip: members beyond this are refused before any is read
MAX_ARRAY_BYTES = 2 * 2**30  # arrays read whole (not memory-mapped or streamed) are refused above this


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header (or an .npz member's) says about its array, read without the data."""

    key: str  # the .npz member name without .npy ("" for an .npy file)
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def numeric(self) -> bool:
        return self.dtype.kind in NUMERIC_KINDS and not self.dtype.hasobject


def _read_header(file) -> tuple[tuple[int, ...], np.dtype, bool]:
    version = np.lib.format.read_magic(file)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(file)
    return tuple(int(side) for side in shape), np.dtype(dtype), bool(fortran_order)


def read_array_headers(path: str | Path) -> dict[str, ArrayHeader]:
    """Shape and dtype of every array in an .npy or .npz, from the headers alone (an .npz member's
    header is the first bytes of its stream, so nothing else is decompressed). A ValueError naming
    the file for anything that is not such a file, and for an .npz with more than MAX_NPZ_ARRAYS
    members."""
    path = Path(path)
    unreadable = f"{path.name}: not a readable {path.suffix.lower() or 'array'} file (save it with numpy.save or numpy.savez)"
    try:
        if path.suffix.lower() != ".npz":
            with open(path, "rb") as file:
                return {"": ArrayHeader("", *_read_header(file))}
        headers = {}
        check_zip_directory(path, MAX_NPZ_ARRAYS, what="arrays", kind="an .npz")  # before ZipFile parses its directory
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_NPZ_ARRAYS:
                raise ValueError(f"{path.name} holds {len(members)} arrays; an .npz may hold at most {MAX_NPZ_ARRAYS}")
            for member in members:
                if not member.filename.endswith(".npy") or member.is_dir():
                    raise ValueError(unreadable)
                with archive.open(member) as file:
                    key = member.filename[: -len(".npy")]
                    headers[key] = ArrayHeader(key, *_read_header(file))
        if not headers:
            raise ValueError(f"{path.name}: the .npz holds no arrays")
        return headers
    except (OSError, EOFError, SyntaxError, TypeError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            zipfile.LargeZipFile):  # fmt: skip
        raise ValueError(unreadable) from None
    except ValueError as error:
        raise ValueError(str(error) if str(error).startswith(path.name) else unreadable) from None


def npz_depth_key(keys: list[str], name: str) -> str:
    """The array of an .npz to read as depth: its only array, or the first of NPZ_DEPTH_KEYS."""
    if len(keys) == 1:
        return keys[0]
    for key in NPZ_DEPTH_KEYS:
        if key in keys:
            return key
    raise ValueError(f"{name}: holds arrays {', '.join(sorted(keys))}; name the depth array one of {', '.join(NPZ_DEPTH_KEYS)}")


def depth_header(path: str | Path) -> ArrayHeader:
    """The header of the depth array of an .npy or .npz (see npz_depth_key), checked to hold numbers."""
    path = Path(path)
    headers = read_array_headers(path)
    header = headers[npz_depth_key(list(headers), path.name)]
    if not header.numeric:
        raise ValueError(f"{path.name}: holds {header.dtype} values, not numbers")
    return header


def map_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """An (H, W), (1, H, W) or (H, W, 1) shape as (H, W); any other shape unchanged."""
    if len(shape) == 3 and 1 in (shape[0], shape[-1]):
        return shape[1:] if shape[0] == 1 else shape[:2]
    return shape


def check_map_shape(shape: tuple[int, ...], name: str, max_pixels: int | None) -> tuple[int, int]:
    """(H, W) of a depth map's array shape, or a ValueError: not HxW, empty, or over `max_pixels`."""
    hw = map_shape(shape)
    if len(hw) != 2:
        raise ValueError(f"{name}: expected an HxW depth array, got shape {tuple(shape)}")
    if min(hw) < 1:
        raise ValueError(f"{name}: the depth map is empty ({hw[1]}x{hw[0]} pixels)")
    check_pixels(hw[1], hw[0], max_pixels, f"depth map {name}")
    return int(hw[0]), int(hw[1])


def load_array(path: str | Path, mmap: bool = False, max_bytes: int | None = MAX_ARRAY_BYTES) -> np.ndarray:
    """The array of an .npy, or the depth array of an .npz (see npz_depth_key), after its header
    says it holds numbers and, unless memory-mapped, at most `max_bytes` (None: no cap). mmap maps
    an .npy instead of reading it; an .npz member is always read whole. Never unpickles."""
    path = Path(path)
    header = depth_header(path)
    mapped = mmap and path.suffix.lower() == ".npy"
    if not mapped and max_bytes and header.nbytes > max_bytes:
        raise ValueError(f"{path.name}: its array {tuple(header.shape)} is {header.nbytes / 2**20:.0f} MB; "
                         f"the limit is {max_bytes / 2**20:.0f} MB")
    unreadable = ValueError(f"{path.name}: not a readable {path.suffix.lower()} array (cut short or damaged)")
    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r" if mapped else None)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            return loaded[header.key]
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
        raise unreadable from None


READ_CHUNK_BYTES = 8 * 2**20  # stored values converted to float32 at a time


def _open_array_data(path: Path, header: ArrayHeader):
    """A binary file object positioned at the first value of the array `header` describes (an
    .npy file, or an .npz member decompressed as it is read); the caller closes it (and the
    archive it came from: both are returned)."""
    if path.suffix.lower() != ".npz":
        file = open(path, "rb")
        _read_header(file)
        return file, None
    archive = zipfile.ZipFile(path)
    try:
        file = archive.open(f"{header.key}.npy")
        _read_header(file)
    except BaseException:
        archive.close()
        raise
    return file, archive


def _read_float32(file, dtype: np.dtype, shape: tuple[int, int], fortran_order: bool, name: str) -> np.ndarray:
    """An (H, W) map of stored `dtype` values read from `file` as float32, a few MB at a time (so
    float64 and float128 maps need the float32 result and READ_CHUNK_BYTES, never their stored
    size); Fortran-order data (stored column by column) land in their right places."""
    out = np.empty(shape, np.float32)
    target = out.T if fortran_order else out  # Fortran order stores the transposed map row by row
    row_values = target.shape[1]
    rows_at_once = max(1, READ_CHUNK_BYTES // max(1, row_values * dtype.itemsize))
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf, later "no depth"
        for start in range(0, target.shape[0], rows_at_once):
            rows = min(rows_at_once, target.shape[0] - start)
            wanted = rows * row_values * dtype.itemsize
            data = file.read(wanted)
            if len(data) != wanted:
                raise ValueError(f"{name}: the array is cut short")
            target[start:start + rows] = np.frombuffer(data, dtype=dtype).reshape(rows, row_values)
    return out


def iter_stack_frames(path: str | Path) -> Iterator[np.ndarray]:
    """The (H, W) frames of an (N, H, W) stack in an .npy or .npz one at a time, as float32: the
    file (or the .npz member, decompressed as it is read) is read frame by frame, so memory holds
    one float32 frame whatever N and the stored dtype are. A stack in Fortran order cannot be read
    frame by frame and is refused (check_stack_header says so before any frame is read)."""
    path = Path(path)
    header = check_stack_header(path)
    frame_shape = header.shape[1:]
    try:
        file, archive = _open_array_data(path, header)
        try:
            for index in range(header.shape[0]):
                try:
                    yield _read_float32(file, header.dtype, frame_shape, header.fortran_order, path.name)  # Fortran: N is 1
                except ValueError:
                    raise ValueError(f"{path.name}: the stack ends at frame {index} of {header.shape[0]} (cut short)") from None
        finally:
            file.close()
            if archive is not None:
                archive.close()
    except (OSError, EOFError, zipfile.BadZipFile):
        raise ValueError(f"{path.name}: not a readable {path.suffix.lower()} array (cut short or damaged)") from None


def check_stack_header(path: str | Path) -> ArrayHeader:
    """The header of an (N, H, W) depth stack, or a ValueError in words: not 3-D, or stored in
    Fortran order (which cannot be read one frame at a time)."""
    path = Path(path)
    header = depth_header(path)
    if len(header.shape) != 3:
        raise ValueError(f"{path.name}: expected a (frames, height, width) depth stack, got shape {header.shape}")
    if header.fortran_order and header.shape[0] > 1:
        raise ValueError(f"{path.name}: the stack is stored in Fortran order (column by column), which cannot be read "
                         "one frame at a time; save it in C order (numpy.ascontiguousarray) and upload it again")
    return header


def read_depth_file(path: str | Path, max_pixels: int | None = -1) -> np.ndarray:
    """A depth map in metres (float32) from .npy or .npz (metres) or a 16-bit PNG (millimetres).

    `max_pixels` caps the map's size, read from the .npy/.npz or PNG header before the data are
    loaded (-1: the default cap; None or 0: no cap). Arrays are read a few MB at a time straight
    into float32, so a float64 or float128 map takes no more memory than a float32 one; Fortran-
    order maps are read correctly. A ValueError naming the file (never its folder) for anything
    unreadable, empty, not HxW or not numeric."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path.name}")
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        header = depth_header(path)
        shape = check_map_shape(header.shape, path.name, max_pixels)  # before any data are read
        try:
            file, archive = _open_array_data(path, header)
            try:
                return _read_float32(file, header.dtype, shape, header.fortran_order, path.name)
            finally:
                file.close()
                if archive is not None:
                    archive.close()
        except (OSError, EOFError, ValueError, zipfile.BadZipFile):
            raise ValueError(f"{path.name}: not a readable {suffix} array (cut short or damaged)") from None
    if suffix == ".png":
        return read_depth_png(path, max_pixels=max_pixels)
    raise ValueError(f"{path.name}: depth maps must be .npy or .npz (metres) or 16-bit .png (millimetres)")


def colormap_lut(cmap: str) -> np.ndarray:
    """A matplotlib colormap as a (256, 3) uint8 table; a ValueError naming the problem for an unknown name."""
    from matplotlib import colormaps

    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(f"unknown colormap {str(cmap)[:40]!r}; use a matplotlib colormap name such as 'turbo'")
    return (colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def display_range(depth_m: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> tuple[float, float]:
    """The metre range colorize_depth maps to its colours: given finite bounds, else the 2nd/98th
    percentiles of valid depth (0 and 1 for a bound missing when nothing is valid); never empty.
    A non-finite vmin or vmax (NaN, inf) is treated as not given."""
    depth = np.asarray(depth_m, dtype=np.float32)
    vmin = None if vmin is None or not np.isfinite(vmin) else float(vmin)
    vmax = None if vmax is None or not np.isfinite(vmax) else float(vmax)
    if vmin is None or vmax is None:
        valid = np.isfinite(depth) & (depth > 0)
        if valid.any():
            low, high = np.percentile(depth[valid], [2, 98], overwrite_input=True)  # one copy, partitioned in place
            vmin = float(low) if vmin is None else vmin
            vmax = float(high) if vmax is None else vmax
    lo, hi = (vmin if vmin is not None else 0.0), (vmax if vmax is not None else 1.0)
    if not hi > lo:
        hi = lo + 1e-6
    if not hi > lo:  # 1e-6 vanishes beside a huge value (an integer stack of 2**62): the next float32 up
        hi = float(np.nextafter(np.float32(lo), np.float32(np.inf)))
    return lo, hi


def colour_index(
    depth_m: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    invert: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H, W) in metres to the index (H, W) uint8 into a 256-entry colour table that
    colorize_depth paints, and the mask (H, W) bool of valid pixels (> 0 and finite; their index
    is 0). With invert=True near is 255. vmin/vmax as in colorize_depth (display_range). The index
    alone is what a page needs to paint the colours itself from the table (colormap_lut)."""
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    lo, hi = display_range(depth, vmin, vmax)
    norm = depth - np.float32(lo)
    norm *= np.float32(1.0 / (hi - lo)) if math.isfinite(hi - lo) else np.float32(0.0)
    np.clip(norm, 0.0, 1.0, out=norm)
    if invert:
        np.subtract(np.float32(1.0), norm, out=norm)
    norm[~valid] = 0.0
    norm *= np.float32(256.0)  # matplotlib's own binning: int(x * N), the top value in the last bin
    index = np.minimum(norm, np.float32(255.0), out=norm).astype(np.uint8)
    return index, valid


def colorize_depth(
    depth_m: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "turbo",
    invert: bool = True,
) -> np.ndarray:
    """Depth to an RGB uint8 image with a matplotlib colormap. Near is warm by default (invert=True).

    vmin/vmax default to the 2nd/98th percentiles of valid depth, so outliers do not wash out the map;
    a non-finite vmin or vmax (NaN, inf) is treated as not given, so it never yields a black map.
    Invalid pixels (<=0 or non-finite) are black. Works in float32 and a 256-entry colour table, so a
    map needs about 11 bytes per pixel, not the 32 of a float64 RGBA image.
    """
    lut = colormap_lut(cmap)
    index, valid = colour_index(depth_m, vmin, vmax, invert)
    rgb = np.take(lut, index, axis=0)  # the same as lut[index], ~4x faster (a plain gather)
    rgb[~valid] = 0
    return rgb

