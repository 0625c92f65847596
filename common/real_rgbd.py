"""Real pictures with ground truth that ship in installable packages, as arrays.

Two real stereo scenes with ground-truth disparity are known to ship in packages:

* **Middlebury 2014 "Motorcycle"** (Scharstein et al., "High-resolution stereo datasets with
  subpixel-accurate ground truth", GCPR 2014), in scikit-image (PyPI wheel and Debian's
  python3-skimage) as `skimage/data/motorcycle_left.png`, `motorcycle_right.png` and
  `motorcycle_disp.npz` (array `arr_0`, left-view disparity in pixels, `inf` = unknown). The
  images are the benchmark's default-exposure views downsampled 4x (500x741). Calibration for that
  size, as printed in the docstring of `skimage.data.stereo_motorcycle` (the package ships no
  calib file): focal length f = 994.978 px, principal point (311.193, 254.877) px, doffs (the
  x-offset of the two principal points) = 31.086 px, baseline B = 193.001 mm. These are the
  Middlebury calib.txt values of the full-size scene (3979.911, 1244.772, 1019.507, 124.343 px)
  divided by 4. Metric depth: Z = f * B / (d + doffs) (Middlebury's formula), Z in metres for
  B in metres and f, d, doffs in pixels; here 2.0 to 5.0 m.
  Licence: the package gives no licence of its own for these files; they are distributed under
  scikit-image's package licence (BSD-3-Clause, "Files: *" in its LICENSE.txt), and Debian main
  ships them under the same terms. The dataset's authors ask that the GCPR 2014 paper be cited.
* **"Aloe"** (full-size 1282x1110, left view, right view, ground-truth disparity `aloeGT.png`:
  8-bit, value = disparity in pixels, 0 = unknown), in OpenCV's sample data
  (`samples/data/aloeL.jpg`, `aloeR.jpg`, `aloeGT.png`), which Debian ships in `opencv-doc` under
  `/usr/share/doc/opencv-doc/examples/data/`. The name and size are those of the Middlebury 2006
  "Aloe" scene (Scharstein & Pal, CVPR 2007; Hirschmüller & Scharstein, CVPR 2007); the package
  itself names no source. Licence: OpenCV's (Debian: "Files: *", Apache-2.0 AND BSD-3-Clause).
  No focal length, baseline or disparity offset ships with it, so metric depth is unknown: the
  scene is **rank-only**. Depth Z = f * B / (d + doffs) falls as d rises for any positive f, B
  and doffs, so the depth ranking of the pixels is known exactly (the reverse of the disparity
  ranking) and rank correlation can be scored; AbsRel and δ1 cannot.

No other real RGB-D or stereo with ground truth was found in the packages searched (scikit-image,
opencv-python, opencv-data, opencv-doc, open3d, gradio, matplotlib).

The project keeps small copies of both (see `examples/real/README.md`), so the real check runs
without either package: the Motorcycle as a scene folder (common.scene_folder: rgb/, depth/ in
16-bit millimetres, intrinsics.json) and the Aloe as rgb/ + disparity/ (16-bit PNG, disparity x
256, 0 = unknown: KITTI's disparity convention). `python -m common.real_rgbd --out examples/real`
writes those copies from the installed packages.
"""
from __future__ import annotations

import argparse
import json
import sys
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common.camera import scale_intrinsics
from common.image_io import image_header_size, load_rgb
from common.validate import check_pixels, default_max_pixels

# Packaged files are a few hundred KB; anything far larger is not the file we expect.
MAX_FILE_BYTES = 64 << 20
DISPARITY_PNG_SCALE = 256.0  # 16-bit disparity PNGs: value = disparity in pixels x 256 (KITTI), 0 = unknown
SKIMAGE_INSTALL = "install scikit-image: pip install scikit-image"
DEBIAN_OPENCV_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_INSTALL = "install Debian's opencv-doc (apt-get install opencv-doc) or name the folder that holds aloeL.jpg and aloeGT.png"
SOURCES_FILE = "sources.json"  # provenance of a bundled folder's scenes: {name: {"source": ..., "licence": ...}}
DISPARITY_ONLY_DIR = "disparity_only"


@dataclass(frozen=True)
class StereoCalibration:
    """A rectified stereo pair's calibration: focal length, baseline, disparity offset, principal point.

    Depth Z = focal_px * baseline_m / (d + doffs_px) metres for a left-view disparity d in pixels
    (Middlebury 2014's formula; doffs is the x-difference of the two principal points)."""

    focal_px: float
    baseline_m: float
    doffs_px: float
    cx: float
    cy: float

    def intrinsics(self) -> np.ndarray:
        """The left camera's K (3x3), square pixels."""
        return np.array([[self.focal_px, 0.0, self.cx], [0.0, self.focal_px, self.cy], [0.0, 0.0, 1.0]])


# scikit-image's copy of Middlebury 2014 Motorcycle (500x741): values from the stereo_motorcycle docstring.
MOTORCYCLE_CALIBRATION = StereoCalibration(focal_px=994.978, baseline_m=0.193001, doffs_px=31.086, cx=311.193, cy=254.877)
MOTORCYCLE_SOURCE = ("Middlebury 2014 stereo 'Motorcycle' (Scharstein et al., GCPR 2014), left view, default exposure, "
                     "downsampled 4x; from scikit-image {version}, skimage/data/motorcycle_left.png and motorcycle_disp.npz")
MOTORCYCLE_LICENCE = ("distributed under scikit-image's package licence (BSD-3-Clause, 'Files: *'); no separate licence "
                      "is given for the files; cite Scharstein et al., GCPR 2014")
ALOE_SOURCE = ("OpenCV sample data samples/data/aloeL.jpg and aloeGT.png (Debian opencv-doc, "
               "/usr/share/doc/opencv-doc/examples/data); by name and size the Middlebury 2006 'Aloe' scene, full size")
ALOE_LICENCE = "distributed under OpenCV's licence (Debian copyright 'Files: *': Apache-2.0 AND BSD-3-Clause)"


@dataclass(frozen=True)
class RealScene:
    """One real picture with ground truth.

    rgb: (H, W, 3) uint8. depth_m: (H, W) float32 metres, 0 where unknown; None for a rank-only
    scene (no calibration: only the depth *order* is known). disparity_px: (H, W) float32 pixels,
    0 where unknown, or None when the scene came as depth. valid: (H, W) bool, where the ground
    truth is known. K: (3, 3) float64 or None."""

    name: str
    rgb: np.ndarray
    depth_m: np.ndarray | None
    disparity_px: np.ndarray | None
    valid: np.ndarray
    K: np.ndarray | None
    source: str
    licence: str

    @property
    def metric(self) -> bool:
        return self.depth_m is not None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[:2]

    def depth_order(self) -> np.ndarray:
        """(H, W) float64 whose ranks on the valid pixels are the true depth's ranks: the depth
        itself, or minus the disparity for a rank-only scene (depth falls as disparity rises)."""
        if self.depth_m is not None:
            return self.depth_m.astype(np.float64)
        return -self.disparity_px.astype(np.float64)


# ---------------------------------------------------------------- disparity and depth

def disparity_validity(disparity_px: np.ndarray, doffs_px: float = 0.0) -> np.ndarray:
    """Where a disparity map holds a measurement: finite, > 0 (0 and inf mean unknown in the
    Middlebury and KITTI files), and d + doffs > 0 so the depth is positive and finite."""
    disparity = np.asarray(disparity_px, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(disparity) & (disparity > 0) & (disparity + doffs_px > 0)


def depth_from_disparity(disparity_px: np.ndarray, focal_px: float, baseline_m: float, doffs_px: float = 0.0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Metric depth Z = f * B / (d + doffs) (f, d, doffs in pixels, B in metres -> Z in metres).

    Returns (depth (H, W) float32 metres with 0 where the disparity is unknown, valid (H, W) bool).
    Raises ValueError for a non-positive focal length or baseline or a map that is not 2-D."""
    disparity = np.asarray(disparity_px, dtype=np.float64)
    if disparity.ndim != 2:
        raise ValueError(f"disparity must be an HxW array, got shape {disparity.shape}")
    if not (focal_px > 0 and baseline_m > 0):
        raise ValueError(f"focal length and baseline must be positive, got f={focal_px}, B={baseline_m}")
    valid = disparity_validity(disparity, doffs_px)
    depth = np.zeros(disparity.shape, dtype=np.float32)
    depth[valid] = focal_px * baseline_m / (disparity[valid] + doffs_px)
    return depth, valid


# ---------------------------------------------------------------- size checks before decoding

def _check_file(path: Path, what: str, hint: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found ({path.name})" + (f"; {hint}" if hint else ""))
    size = path.stat().st_size
    if size == 0 or size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: {size} bytes, not the expected {what} (at most {MAX_FILE_BYTES >> 20} MB)")
    return path


def _check_image_header(path: Path, max_pixels: int | None) -> tuple[int, int]:
    """(height, width) from the file header, before anything is decoded."""
    found = image_header_size(path, max_pixels, path.name)
    if found is None:
        raise ValueError(f"{path.name}: not a readable image")
    width, height = found
    return height, width


def read_npz_array(path: Path, key: str, max_pixels: int | None = -1) -> np.ndarray:
    """One 2-D array of an .npz, its shape checked from the member's .npy header before it is read."""
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    try:
        with zipfile.ZipFile(path) as archive:
            member = f"{key}.npy"
            if member not in archive.namelist():
                raise ValueError(f"{path.name}: has no array {key!r}")
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, _ = read_header(handle)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ValueError(f"{path.name}: not a readable .npz file") from None
    if len(shape) != 2:
        raise ValueError(f"{path.name}: {key} must be an HxW map, got shape {shape}")
    check_pixels(shape[1], shape[0], max_pixels, f"{path.name} {key}")
    with np.load(path, allow_pickle=False) as loaded:
        return np.asarray(loaded[key])


def _load_checked_rgb(path: Path, hint: str, max_pixels: int | None) -> np.ndarray:
    _check_file(path, "picture", hint)
    _check_image_header(path, max_pixels)
    return load_rgb(path, max_pixels)


# ---------------------------------------------------------------- readers: installed packages

def skimage_data_dir() -> tuple[Path, str]:
    """scikit-image's data folder and the package version; ImportError naming the install command."""
    try:
        import skimage
    except ImportError:
        raise ImportError(f"the Motorcycle scene ships with scikit-image, which is not installed; {SKIMAGE_INSTALL}") from None
    return Path(skimage.__file__).resolve().parent / "data", str(skimage.__version__)


def load_motorcycle(max_pixels: int | None = -1) -> RealScene:
    """Middlebury 2014 Motorcycle from scikit-image at its shipped size (500x741), metric depth in
    metres from the calibration above. ImportError when scikit-image is absent."""
    data_dir, version = skimage_data_dir()
    rgb = _load_checked_rgb(data_dir / "motorcycle_left.png", SKIMAGE_INSTALL, max_pixels)
    disparity = read_npz_array(_check_file(data_dir / "motorcycle_disp.npz", "disparity map", SKIMAGE_INSTALL), "arr_0", max_pixels)
    if disparity.shape != rgb.shape[:2]:
        raise ValueError(f"motorcycle_disp.npz is {disparity.shape}, the picture {rgb.shape[:2]}: not the expected files")
    cal = MOTORCYCLE_CALIBRATION
    depth, valid = depth_from_disparity(disparity, cal.focal_px, cal.baseline_m, cal.doffs_px)
    return RealScene("motorcycle", rgb, depth, np.where(valid, disparity, 0).astype(np.float32), valid,
                     cal.intrinsics(), MOTORCYCLE_SOURCE.format(version=version), MOTORCYCLE_LICENCE)


def load_aloe(samples_dir: str | Path = DEBIAN_OPENCV_SAMPLES, max_pixels: int | None = -1) -> RealScene:
    """OpenCV's Aloe (1110x1282), rank-only: disparity in pixels, no metric depth, no K.
    FileNotFoundError naming the package when the samples are absent."""
    folder = Path(samples_dir)
    rgb = _load_checked_rgb(folder / "aloeL.jpg", OPENCV_INSTALL, max_pixels)
    gt_path = _check_file(folder / "aloeGT.png", "ground-truth disparity", OPENCV_INSTALL)
    if _check_image_header(gt_path, max_pixels) != rgb.shape[:2]:
        raise ValueError("aloeGT.png and aloeL.jpg differ in size: not the expected files")
    import cv2

    raw = cv2.imread(str(gt_path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 2 or raw.dtype != np.uint8:
        raise ValueError("aloeGT.png: expected an 8-bit single-channel disparity image")
    disparity = raw.astype(np.float32)
    valid = disparity_validity(disparity)
    return RealScene("aloe", rgb, None, np.where(valid, disparity, 0).astype(np.float32), valid, None, ALOE_SOURCE, ALOE_LICENCE)


def load_package_scenes(opencv_samples: str | Path | None = DEBIAN_OPENCV_SAMPLES, max_pixels: int | None = -1
                        ) -> tuple[list[RealScene], list[str]]:
    """Every packaged scene that is installed, and one line per scene that is not (why, and how to
    install it). Raises nothing for a missing package; raises ValueError for a damaged file."""
    scenes, missing = [], []
    try:
        scenes.append(load_motorcycle(max_pixels))
    except ImportError as error:
        missing.append(f"motorcycle: {error}")
    if opencv_samples is not None:
        try:
            scenes.append(load_aloe(opencv_samples, max_pixels))
        except FileNotFoundError as error:
            missing.append(f"aloe: {error}")
    return scenes, missing


# ---------------------------------------------------------------- downscaling

def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    h, w = array.shape[0] // factor, array.shape[1] // factor
    blocks = array[: h * factor, : w * factor].reshape(h, factor, w, factor, *array.shape[2:])
    return blocks.mean(axis=(1, 3))


def downscale_scene(scene: RealScene, factor: int) -> RealScene:
    """The scene shrunk by a whole factor: pictures by block means; ground truth by block means of
    inverse depth (or disparity), kept only where every pixel of the block is known, so no depth
    edge is blurred into values that exist nowhere in the scene. A disparity is divided by the
    factor (it is measured in pixels of the smaller image); K follows common.camera.scale_intrinsics.
    Rows and columns beyond a multiple of the factor are dropped."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"downscale factor must be a whole number >= 1, got {factor}")
    if factor == 1:
        return scene
    height, width = scene.size
    if height < factor or width < factor:
        raise ValueError(f"{scene.name}: {width}x{height} is too small to shrink {factor}x")
    valid = _block_mean(scene.valid.astype(np.float64), factor) == 1.0
    rgb = (_block_mean(scene.rgb.astype(np.float64), factor) + 0.5).astype(np.uint8)
    depth = disparity = None
    if scene.depth_m is not None:
        inverse = np.where(scene.valid, 1.0 / np.where(scene.valid, scene.depth_m, 1.0), 0.0)
        depth = np.where(valid, 1.0 / np.where(valid, _block_mean(inverse, factor), 1.0), 0.0).astype(np.float32)
    if scene.disparity_px is not None:
        disparity = np.where(valid, _block_mean(scene.disparity_px.astype(np.float64), factor) / factor, 0.0).astype(np.float32)
    K = None
    if scene.K is not None:
        # Dropping the far rows and columns moves no pixel: the scale is exactly 1/factor.
        K = scale_intrinsics(scene.K, (height // factor * factor, width // factor * factor), rgb.shape[:2])
    return replace(scene, rgb=rgb, depth_m=depth, disparity_px=disparity, valid=valid, K=K)


# ---------------------------------------------------------------- the bundled copies

def read_sources(folder: str | Path) -> dict[str, dict]:
    path = Path(folder) / SOURCES_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path.parent.name}/{SOURCES_FILE} is not valid JSON") from None
    return record if isinstance(record, dict) else {}


def read_disparity_png(path: str | Path, max_pixels: int | None = -1) -> np.ndarray:
    """A 16-bit disparity PNG (pixels x 256, 0 = unknown) as float32 pixels."""
    from common.depth_io import read_depth_png

    return read_depth_png(path, scale=DISPARITY_PNG_SCALE, max_pixels=max_pixels)


def write_disparity_png(path: str | Path, disparity_px: np.ndarray) -> Path:
    """Disparity in pixels to a 16-bit PNG (x 256, unknown = 0); up to 255.99 px."""
    import cv2

    disparity = np.asarray(disparity_px, dtype=np.float64)
    known = disparity_validity(disparity)
    if np.any(disparity[known] * DISPARITY_PNG_SCALE > 65535):
        raise ValueError("disparities above 255.99 px do not fit a 16-bit disparity PNG")
    raw = np.where(known, np.round(disparity * DISPARITY_PNG_SCALE), 0).astype(np.uint16)
    raw[known & (raw == 0)] = 1  # a tiny known disparity must not read back as unknown
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), raw):
        raise OSError(f"could not write {path.name}")
    return path


def load_bundled_scenes(folder: str | Path, max_pixels: int | None = -1) -> list[RealScene]:
    """The scenes of a bundled folder: metric ones from its scene-folder part (rgb/, depth/ in
    millimetres or the units per metre its poses.json records, as every scene-folder reader
    takes them: common.scene_folder.folder_depth_scale; intrinsics.json), rank-only ones from disparity_only/ (rgb/, disparity/), each with
    its source and licence from sources.json. FileNotFoundError when the folder holds neither."""
    from common import scene_folder
    from common.depth_io import read_depth_png

    folder = Path(folder)
    sources = read_sources(folder)
    scenes: list[RealScene] = []

    def provenance(name: str) -> tuple[str, str]:
        record = sources.get(name, {}) if isinstance(sources.get(name), dict) else {}
        return str(record.get("source", "unknown")), str(record.get("licence", "unknown"))

    if (folder / "rgb").is_dir() and (folder / "depth").is_dir():
        K, scale = scene_folder.read_intrinsics(folder), scene_folder.folder_depth_scale(folder)
        for rgb_path, depth_path in scene_folder.rgbd_pairs(folder):
            rgb = _load_checked_rgb(rgb_path, "", max_pixels)
            depth = read_depth_png(depth_path, scale, max_pixels=max_pixels)
            if depth.shape != rgb.shape[:2]:
                raise ValueError(f"{depth_path.name}: depth is {depth.shape}, the picture {rgb.shape[:2]}")
            valid = np.isfinite(depth) & (depth > 0)
            scenes.append(RealScene(rgb_path.stem, rgb, depth, None, valid, K, *provenance(rgb_path.stem)))
    rank_dir = folder / DISPARITY_ONLY_DIR
    if (rank_dir / "rgb").is_dir() and (rank_dir / "disparity").is_dir():
        for rgb_path in scene_folder.frame_paths(rank_dir):
            disparity_path = rank_dir / "disparity" / f"{rgb_path.stem}.png"
            if not disparity_path.is_file():
                continue
            rgb = _load_checked_rgb(rgb_path, "", max_pixels)
            disparity = read_disparity_png(disparity_path, max_pixels)
            if disparity.shape != rgb.shape[:2]:
                raise ValueError(f"{disparity_path.name}: disparity is {disparity.shape}, the picture {rgb.shape[:2]}")
            valid = disparity_validity(disparity)
            scenes.append(RealScene(rgb_path.stem, rgb, None, disparity, valid, None, *provenance(rgb_path.stem)))
    if not scenes:
        raise FileNotFoundError(f"{folder.name}: no real scenes (expected rgb/ + depth/ or {DISPARITY_ONLY_DIR}/rgb + disparity/)")
    return scenes


def write_bundled_scenes(scenes: list[RealScene], folder: str | Path, jpeg_quality: int = 92) -> list[Path]:
    """Write scenes in the bundled layout: metric ones as a scene folder (one K for the folder, so
    at most one metric scene), rank-only ones under disparity_only/; RGB as JPEG; sources.json."""
    import cv2

    from common import scene_folder
    from common.depth_io import write_depth_png

    folder = Path(folder)
    metric = [s for s in scenes if s.metric]
    if len(metric) > 1:
        raise ValueError("a scene folder holds one intrinsics.json: write at most one metric scene per folder")
    written: list[Path] = []

    def write_jpeg(path: Path, rgb: np.ndarray) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]):
            raise OSError(f"could not write {path.name}")
        return path

    for scene in metric:
        written.append(write_jpeg(folder / "rgb" / f"{scene.name}.jpg", scene.rgb))
        written.append(write_depth_png(folder / "depth" / f"{scene.name}.png", scene.depth_m))
        written.append(scene_folder.write_intrinsics(folder, scene.K, scene.size))
    for scene in (s for s in scenes if not s.metric):
        written.append(write_jpeg(folder / DISPARITY_ONLY_DIR / "rgb" / f"{scene.name}.jpg", scene.rgb))
        written.append(write_disparity_png(folder / DISPARITY_ONLY_DIR / "disparity" / f"{scene.name}.png", scene.disparity_px))
    record = {s.name: {"source": s.source, "licence": s.licence, "size_hw": list(s.size), "metric": s.metric} for s in scenes}
    written.append(scene_folder.write_json(folder / SOURCES_FILE, record))
    return written


# Bundled sizes: Motorcycle 500x741 -> 250x370, Aloe 1110x1282 -> 277x320 (about the model's window).
BUNDLE_FACTORS = {"motorcycle": 2, "aloe": 4}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.real_rgbd",
        description="Write small copies of the real scenes that ship in packages (scikit-image's Motorcycle, "
                    "OpenCV's Aloe) to a folder, in the layout the real check reads without those packages.")
    parser.add_argument("--out", required=True, help="output folder (the project keeps examples/real)")
    parser.add_argument("--opencv-samples", default=str(DEBIAN_OPENCV_SAMPLES),
                        help="folder with OpenCV's aloeL.jpg and aloeGT.png (default: Debian opencv-doc's)")
    args = parser.parse_args(argv)
    try:
        scenes, missing = load_package_scenes(args.opencv_samples)
        if missing:
            raise ValueError("not every packaged scene is installed: " + "; ".join(missing))
        small = []
        for scene in scenes:
            factor = BUNDLE_FACTORS.get(scene.name, 1)
            shrunk = downscale_scene(scene, factor)
            small.append(replace(shrunk, source=f"{scene.source}; shrunk {factor}x more here ({shrunk.size[1]}x{shrunk.size[0]})"))
        written = write_bundled_scenes(small, args.out)
    except (ValueError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for scene in small:
        print(f"{scene.name}: {scene.size[1]}x{scene.size[0]}, {'metric depth' if scene.metric else 'disparity (rank-only)'}, "
              f"{scene.valid.mean():.1%} of pixels with ground truth")
    print(f"wrote {len(written)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
