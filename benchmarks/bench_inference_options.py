"""Inference options for the bundled depth model on CPU: speed and accuracy against plain fp32.

For the bundled model (`load_predictor("synthetic-tiny")`: world-vit-256 CLIP, s = 16) at 240x320,
batch 1 and batch 8, at each torch thread count, every option is timed in interleaved rounds (so a
change of machine load touches all alike) and reported as milliseconds per frame and its ratio to
fp32; its accuracy is the AbsRel of the same rooms through the same evaluation path
(mirror_model.evaluate.evaluate_predictor) minus that of fp32. Options:

  fp32           the model as it is (its decoder already runs channels-last, see decoder.py)
  bf16           torch.autocast("cpu", dtype=torch.bfloat16) around the forward
  channels-last  images and every 4-D weight in channels-last memory format as well
  compile        torch.compile (inductor; compiled once per batch size, compile time reported)
  onnxruntime    the forward exported to ONNX (torch.onnx.export) and run by ONNX Runtime's CPU provider
  int8           torch.ao dynamic quantisation (int8 weights, activations quantised per batch) of the
                 image tower's nn.Linear layers (its MLPs; attention projections are not nn.Linear)

A row that cannot run here (a missing package, a compiler error) says why instead of a figure.

    python -m benchmarks.bench_inference_options --threads 1,2 --repeats 30 --rooms 64
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from benchmarks.runtime import load_average, positive_counts

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOMS = Path("data/fresh-4500")  # held-out rooms (seed 4500), never seen in training
OPTIONS = ("fp32", "bf16", "channels-last", "compile", "onnxruntime", "int8")
SIZE = (240, 320)
MAX_ABS_REL_CHANGE = 0.005  # what an option may cost in AbsRel to be kept (issue 25)


class OptionUnavailable(RuntimeError):
    """An option that cannot run on this machine (missing package, no compiler, export failure)."""


@dataclass
class Option:
    """One way to run the model: `run(images (B, 3, H, W) in [0, 1]) -> depth (B, 1, H, W)`."""

    name: str
    run: Callable[[torch.Tensor], torch.Tensor]
    setup_s: float = 0.0  # export or compile time
    notes: list[str] = field(default_factory=list)


def _load_model():
    from mirror_model.predict import load_predictor

    predictor = load_predictor("synthetic-tiny", device="cpu", precision="fp32")
    predictor.model.text_features()  # the text side is cached before any option wraps the model
    return predictor


def build_option(name: str, threads: int) -> tuple[Option, object]:
    """A fresh copy of the bundled model run the `name` way, and its predictor (for the accuracy check)."""
    predictor = _load_model()
    model = predictor.model
    start = time.perf_counter()
    if name == "fp32":
        option = Option(name, model)
    elif name == "bf16":
        def run_bf16(images: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(images).float()
        option = Option(name, run_bf16)
    elif name == "channels-last":
        model.to(memory_format=torch.channels_last)
        option = Option(name, lambda images: model(images.contiguous(memory_format=torch.channels_last)))
    elif name == "compile":
        compiled = torch.compile(model, dynamic=False)
        option = Option(name, compiled)
    elif name == "onnxruntime":
        option = Option(name, _onnx_runner(model, threads))
    elif name == "int8":
        from mirror_model.clip_backbone import quantize_image_tower_int8

        quantize_image_tower_int8(model.clip)  # what load_predictor(precision="int8") does
        option = Option(name, model)
    else:
        raise ValueError(f"unknown option {name!r}; choose from {', '.join(OPTIONS)}")
    option.setup_s = time.perf_counter() - start
    return option, predictor


class _quiet_deprecations:
    """torch.ao.quantization warns that it moves to torchao; the API still works in this torch."""

    def __enter__(self):
        import warnings

        self._context = warnings.catch_warnings()
        self._context.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


_ONNX_FILES: dict[str, Path] = {}


def _export_onnx(model: nn.Module) -> Path:
    """The model's forward as ONNX with a dynamic batch axis (torch.onnx.export, torch.export tracing)."""
    import contextlib
    import io
    import logging

    path = Path(tempfile.mkdtemp(prefix="mirror-onnx-")) / "mirror.onnx"
    example = torch.rand(2, 3, *SIZE)
    batch = torch.export.Dim("batch", min=1, max=1024)
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    try:  # the cached text side and positional table become constants
        with _quiet_deprecations(), contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(model, (example,), str(path), input_names=["images"], output_names=["depth"],
                              dynamic_shapes=({0: batch},), dynamo=True)
    except Exception as err:  # the exporter raises many types
        raise OptionUnavailable(f"ONNX export failed ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from err
    return path


def _onnx_runner(model: nn.Module, threads: int) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        import onnxruntime
    except ImportError:
        raise OptionUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None

    path = _ONNX_FILES.get("mirror")
    if path is None:  # exported once per run; a session per thread count reads it
        path = _ONNX_FILES["mirror"] = _export_onnx(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"images": images.contiguous().numpy()})[0])

    return run


def time_options(options: dict[str, Option], batch: int, repeats: int, clock=time.perf_counter) -> dict[str, float]:
    """Median milliseconds per frame of each option by `clock`, in interleaved rounds."""
    import statistics

    images = torch.rand(batch, 3, *SIZE, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in options}
    with torch.inference_mode():
        for option in options.values():
            for _ in range(3):
                option.run(images)
        for _ in range(repeats):
            for name, option in options.items():
                start = clock()
                option.run(images)
                times[name].append((clock() - start) * 1000.0 / batch)
    return {name: statistics.median(values) for name, values in times.items()}


class _OptionModel(nn.Module):
    """The predictor's view of an option: the model's sizes, and `run` as its forward."""

    def __init__(self, option: Option, model: nn.Module):
        super().__init__()
        self.option_run = option.run
        self.config = model.config
        self.stride = model.stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.option_run(images)


def abs_rel(option: Option, predictor, dataset, rooms: int) -> float:
    """Mean AbsRel over the first `rooms` rooms through the one evaluation path (evaluate_predictor)."""
    from mirror_model.evaluate import evaluate_predictor
    from mirror_model.predict import DepthPredictor

    wrapped = DepthPredictor(_OptionModel(option, predictor.model), predictor.info, "cpu", batch_size=8)
    result = evaluate_predictor(wrapped, dataset, "synthetic", limit=rooms, batch_size=8, progress=False)
    return float(result["metrics"]["abs_rel"])


def _options(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in OPTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown option(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(OPTIONS)}")
    return ["fp32"] + [n for n in names if n != "fp32"]  # fp32 is the reference of every ratio


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_inference_options", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="options:\n" + __doc__.split("Options:\n")[1].split("\n\n")[0])
    parser.add_argument("--threads", type=positive_counts, default=[1, 2], help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--batches", type=positive_counts, default=[1, 8], help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--options", type=_options, default=list(OPTIONS), help=f"comma-separated subset of {','.join(OPTIONS)}")
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per batch size (default 30; batch 8 uses a quarter)")
    parser.add_argument("--rooms", type=int, default=64, help="held-out rooms for the accuracy check (default 64; 0 skips it)")
    parser.add_argument("--data", type=Path, default=DEFAULT_ROOMS,
                        help=f"scene folder of held-out rooms (rgb/, depth/), relative to the project (default {DEFAULT_ROOMS})")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rooms < 0:
        parser.error("--repeats must be at least 1 and --rooms at least 0")
    data = args.data if args.data.is_absolute() else REPO_ROOT / args.data
    dataset = None
    if args.rooms:
        from mirror_model.data import build_dataset

        if not (data / "rgb").is_dir():
            print(f"error: --data {args.data}: no scene folder there (render one with python -m scenes, or pass --rooms 0)",
                  file=sys.stderr)
            return 2
        dataset = build_dataset("synthetic", data, split="test")

    print(f"bundled model, {SIZE[0]}x{SIZE[1]}, CPU; medians of interleaved rounds, in the process's CPU time at 1 thread "
          f"(steadier on a shared machine) and wall-clock time at more; load average {load_average()} at start")
    rows: dict[tuple[str, int, int], float] = {}
    setup: dict[str, str] = {}
    accuracy: dict[str, float | None] = {}
    unavailable: dict[str, str] = {}
    configs = [(threads, batch) for threads in args.threads for batch in args.batches]
    with tqdm(total=len(configs) * len(args.options), desc="options", unit="run", file=sys.stderr) as progress:
        for threads in args.threads:
            torch.set_num_threads(threads)
            built: dict[str, Option] = {}
            for name in args.options:
                if name in unavailable:
                    continue
                try:
                    option, predictor = build_option(name, threads)
                    if name == "compile":  # inductor compiles on the first call of each batch size
                        with torch.inference_mode():
                            start = time.perf_counter()
                            for batch in args.batches:
                                option.run(torch.rand(batch, 3, *SIZE))
                            option.setup_s += time.perf_counter() - start
                    built[name] = option
                    if option.setup_s >= 0.5 and name not in setup:  # the first build exports or compiles
                        setup[name] = f"{option.setup_s:.0f}s"
                    if dataset is not None and name not in accuracy:
                        accuracy[name] = abs_rel(option, predictor, dataset, args.rooms)
                except (OptionUnavailable, RuntimeError, ImportError) as err:
                    unavailable[name] = str(err).splitlines()[0][:160] or type(err).__name__
            for batch in args.batches:
                repeats = args.repeats if batch == 1 else max(3, args.repeats // 4)
                clock = time.process_time if threads == 1 else time.perf_counter
                for name, ms in time_options(built, batch, repeats, clock).items():
                    rows[(name, threads, batch)] = ms
                progress.update(len(args.options))

    header = "".join(f" {f'{t} thr b{b} ' + ('cpu' if t == 1 else 'wall'):>14}" for t in args.threads for b in args.batches)
    print(f"\nms per frame (ratio to fp32 in the same run)\n{'option':<14}{header} {'AbsRel':>8} {'change':>9} {'setup':>7}")
    reference = accuracy.get("fp32")
    for name in args.options:
        if name in unavailable:
            print(f"{name:<14} unavailable: {unavailable[name]}")
            continue
        cells = "".join(
            f" {rows[(name, t, b)]:>6.1f} ({rows[(name, t, b)] / rows[('fp32', t, b)]:.2f}x)" for t in args.threads for b in args.batches
        )
        value = accuracy.get(name)
        change = "" if value is None or reference is None else f"{value - reference:+.5f}"
        shown = "" if value is None else f"{value:.5f}"
        print(f"{name:<14}{cells} {shown:>8} {change:>9} {setup.get(name, ''):>7}")
    if dataset is not None:
        print(f"AbsRel: {min(args.rooms, len(dataset))} held-out rooms of {args.data} (evaluate_predictor, batch 8); "
              f"an option is kept only if it wins and |change| <= {MAX_ABS_REL_CHANGE}")
    print(f"load average {load_average()} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
