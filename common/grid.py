"""A grid of independent training runs: each resumable, reused when its stored settings match,
run in this process, in local processes, or as tasks on a Ray cluster.

    runs = [GridRun("elementwise/seed0", train_one, (config,), finished=partial(saved_result, config), cpus=1), ...]
    summary = run_grid(runs)                     # one after another, in this process
    summary = run_grid(runs, jobs=2)             # two local processes at a time
    summary = run_grid(runs, cluster="auto")     # one Ray task per run (pip install '.[cluster]')

A run is skipped when `finished()` says it is done (its stored settings match: `same_settings`);
every other run is started, retried once if it fails, and listed with its last error in the
summary when it fails again: a failed run is never dropped silently. Runs write their results and
checkpoints into folders; on a cluster those folders must be on a filesystem every machine sees at
the same path (each task starts in the driver's working directory), and after a run the driver
checks, through `finished()`, that it can read what the run wrote (docs/grids.md).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import pickle
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

RETRIES = 1  # a failed run is started once more before it is listed as failed


class GridError(RuntimeError):
    """Runs of a grid that failed after their retry; `failed` maps each run's name to its last error."""

    def __init__(self, failed: dict[str, str], total: int):
        self.failed = dict(failed)
        lines = [f"{name}: {error}" for name, error in failed.items()]
        super().__init__(f"{len(failed)} of {total} runs failed after {1 + RETRIES} attempts each:\n  " + "\n  ".join(lines))


class ClusterUnavailable(ValueError):
    """--cluster was given, but Ray is not installed or no cluster answers at the address."""


@dataclass(frozen=True)
class GridRun:
    """One training run of a grid.

    name: unique in the grid (its folder below the grid's output, by convention).
    function, args: the run; `function(*args)` returns its result (not None). Run in another
        process or machine, the function must live in an importable module and the args must
        pickle; it should set its own thread count, so that a run gives the same numbers anywhere.
    finished: called on the driver, before and after the run: the stored result when the run is
        finished under the same settings, else None (or ValueError for a folder made under other
        settings that must not be overwritten). None: the run is always started.
    cpus, gpus: what one run asks a Ray cluster for (its thread count, its GPUs).
    """

    name: str
    function: Callable[..., Any]
    args: tuple = ()
    finished: Callable[[], Any] | None = None
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass
class GridSummary:
    """What a grid did. `results` holds every run that has a result (reused or trained), by name,
    in grid order; `failed` every run that failed after its retry, with its last error."""

    results: dict[str, Any]
    reused: list[str]
    trained: list[str]
    failed: dict[str, str]
    attempts: dict[str, int] = field(default_factory=dict)  # attempts of every started run
    where: str = "in this process"
    seconds: float = 0.0

    def describe(self) -> str:
        total = len(self.reused) + len(self.trained) + len(self.failed)
        text = (f"{total} run{'' if total == 1 else 's'} {self.where}: {len(self.reused)} reused, {len(self.trained)} trained, "
                f"{len(self.failed)} failed; {self.seconds / 60:.1f} min")
        return text + "".join(f"\n  failed: {name}: {error}" for name, error in self.failed.items())

    def raise_for_failures(self) -> None:
        if self.failed:
            raise GridError(self.failed, len(self.reused) + len(self.trained) + len(self.failed))


def same_settings(stored: dict, wanted: dict, ignore: tuple[str, ...] = ()) -> bool:
    """True when a stored run's settings are the wanted ones: the same keys and equal values,
    keys in `ignore` left out (e.g. an output path or a thread count that does not change the
    numbers). A stored key the wanted settings lack is a difference, not a match."""
    keep = lambda settings: {k: v for k, v in settings.items() if k not in ignore}
    return keep(stored) == keep(wanted)


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """--jobs and --cluster, with one meaning in every command that runs a grid."""
    parser.add_argument("--jobs", type=int, default=1,
                        help="training runs at once on this machine, one process each (1: one after another in this "
                             "process); ignored with --cluster")
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="run each training run as a task on the Ray cluster at ADDRESS (host:port of its head, or "
                             "'auto' for the one this machine belongs to); needs pip install '.[cluster]' and the "
                             "repository, data and output folders at the same path on every machine (docs/grids.md)")


def check_grid_arguments(jobs: int, cluster: str | None) -> None:
    """A short ValueError for a bad --jobs, or a --cluster that cannot work: Ray not installed,
    nothing listening at the address (checked before any work)."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if cluster is not None:
        if not cluster.strip():
            raise ValueError("--cluster needs an address (host:port of the Ray head) or 'auto'")
        _import_ray()
        _check_reachable(cluster)


def run_grid(runs: list[GridRun], jobs: int = 1, cluster: str | None = None, retries: int = RETRIES,
             progress: bool = True, desc: str = "runs") -> GridSummary:
    """Run every unfinished run of the grid, at most `jobs` at a time in local processes (jobs=1:
    one after another in this process) or, with `cluster`, as Ray tasks; reuse the finished ones.

    Raises ValueError for duplicate names (or from a run's `finished` check), ClusterUnavailable
    when Ray is missing or no cluster answers. Failed runs are not raised: they are in the
    summary's `failed` (GridSummary.raise_for_failures raises them)."""
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names repeat in the grid: {sorted({n for n in names if names.count(n) > 1})}")
    started = time.time()
    stored = {run.name: run.finished() if run.finished else None for run in runs}
    pending = [run for run in runs if stored[run.name] is None]
    summary = GridSummary(results={}, reused=[n for n in names if stored[n] is not None], trained=[], failed={})
    found: dict[str, Any] = {name: value for name, value in stored.items() if value is not None}
    # A cluster is joined before anything starts, so that a refusal comes first.
    ray, address, connected_here = _connect_ray(cluster, pending) if pending and cluster is not None else (None, None, False)
    bar = tqdm(total=len(runs), initial=len(summary.reused), desc=desc, unit="run", disable=not (progress and runs))

    def settle(run: GridRun, ok: bool, value: Any) -> bool:
        """Record one attempt; True when the run needs another."""
        summary.attempts[run.name] = summary.attempts.get(run.name, 0) + 1
        if ok and run.finished is not None and run.finished() is None:
            ok, value = False, ("the run ended, but its output is not where this machine reads it (on a cluster, "
                                "the output folder must be on a filesystem every machine shares at the same path)")
        if ok:
            found[run.name] = value
            summary.trained.append(run.name)
        elif summary.attempts[run.name] <= retries:
            bar.write(f"{run.name}: attempt {summary.attempts[run.name]} failed ({value}); starting it again")
            return True
        else:
            summary.failed[run.name] = value
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed), refresh=False)
        return False

    try:
        if ray is not None:
            _run_on_ray(pending, ray, settle)
            summary.where = f"on the Ray cluster at {address}"
        elif pending and jobs > 1:
            _run_in_processes(pending, jobs, settle)
            summary.where = f"in {jobs} local processes"
        else:
            for run in pending:
                while True:
                    try:
                        ok, value = True, run.function(*run.args)
                    except Exception as error:  # a failed run is recorded and retried, never lost
                        ok, value = False, _one_line(error)
                    if not settle(run, ok, value):
                        break
    finally:
        bar.close()
        if connected_here:
            ray.shutdown()
    summary.results = {name: found[name] for name in names if name in found}
    summary.trained = [n for n in names if n in summary.trained]
    summary.failed = {n: summary.failed[n] for n in names if n in summary.failed}
    summary.seconds = time.time() - started
    if progress and runs:
        print(f"{desc}: {summary.describe()}", file=sys.stderr)
    return summary


# ------------------------------------------------------------------ where runs run

def _call_in(folder: str, paths: list[str], payload: bytes) -> Any:
    """A run in another process: from the driver's working directory (relative paths then name
    the same, shared, folders) and with the driver's module search path added, so that the run's
    function and settings, pickled by name in `payload`, import there as they do here."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the driver's working directory {folder} is not on this machine: every machine needs "
                                "the repository and the run folders at the same path")
    os.chdir(folder)
    sys.path.extend(path for path in paths if path not in sys.path)
    function, args = pickle.loads(payload)
    return function(*args)


def _remote_call(run: GridRun) -> tuple[str, list[str], bytes]:
    """The arguments of _call_in for one run."""
    return os.getcwd(), [os.path.abspath(path) for path in sys.path], pickle.dumps((run.function, run.args))


def _check_importable(run: GridRun) -> None:
    if getattr(run.function, "__module__", None) == "__main__":
        raise ValueError(f"run {run.name}: {run.function.__qualname__} is defined in __main__; another process can only "
                         "import functions from a module")


def _run_in_processes(pending: list[GridRun], jobs: int, settle: Callable[[GridRun, bool, Any], bool]) -> None:
    """One fresh process per run (spawned: no state inherited from this one), at most `jobs` at a
    time; a run that kills its process fails alone."""
    for run in pending:
        _check_importable(run)
    context = multiprocessing.get_context("spawn")
    queue, active = list(pending), {}
    try:
        while queue or active:
            while queue and len(active) < jobs:
                run = queue.pop(0)
                pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context)
                active[pool.submit(_call_in, *_remote_call(run))] = (run, pool)
            done, _ = concurrent.futures.wait(active, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                run, pool = active.pop(future)
                pool.shutdown(wait=True)
                try:
                    ok, value = True, future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    ok, value = False, "its process ended without a result (killed, or out of memory?)"
                except Exception as error:
                    ok, value = False, _one_line(error)
                if settle(run, ok, value):
                    queue.insert(0, run)
    finally:
        for _, pool in active.values():
            pool.shutdown(wait=False, cancel_futures=True)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("--cluster needs Ray: pip install '.[cluster]' (or 'ray[default]>=2')") from None
    return ray


def _connect_ray(cluster: str, pending: list[GridRun]):
    """(ray, the cluster's address, whether this call connected): this process's Ray connection
    when it has one (to the same address, or 'auto'), else a new one to `cluster`."""
    ray = _import_ray()
    for run in pending:
        _check_importable(run)
    if ray.is_initialized():
        address = ray.get_runtime_context().gcs_address
        if cluster not in ("auto", address):
            raise ClusterUnavailable(f"this process is connected to the Ray cluster at {address}, not '{cluster}'")
        return ray, address, False
    _check_reachable(cluster)
    try:
        ray.init(address=cluster, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterUnavailable(f"cannot join the Ray cluster at '{cluster}' ({_one_line(error)}); a cluster with token "
                                 "authentication needs RAY_AUTH_MODE=token and its token here too (docs/grids.md)") from None
    return ray, ray.get_runtime_context().gcs_address, True


def _run_on_ray(pending: list[GridRun], ray, settle: Callable[[GridRun, bool, Any], bool]) -> None:
    """One Ray task per run, asking for the run's CPUs and GPUs; Ray's own retries are off, so a
    run gets the same one retry as locally."""
    task = ray.remote(_call_in)

    def submit(run: GridRun):
        options = task.options(num_cpus=run.cpus, num_gpus=run.gpus, max_retries=0, name=run.name)
        return options.remote(*_remote_call(run))

    waiting = {submit(run): run for run in pending}
    while waiting:
        (ref,), _ = ray.wait(list(waiting), num_returns=1)
        run = waiting.pop(ref)
        try:
            ok, value = True, ray.get(ref)
        except ray.exceptions.RayTaskError as error:  # the run raised: its own exception
            ok, value = False, _one_line(error.cause if getattr(error, "cause", None) else error)
        except ray.exceptions.RayError as error:  # its worker died, or the task could not be scheduled
            ok, value = False, _one_line(error)
        if settle(run, ok, value):
            waiting[submit(run)] = run


def _check_reachable(address: str) -> None:
    """ClusterUnavailable at once when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        return  # 'auto', or a form Ray reads itself
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise ClusterUnavailable(f"no Ray cluster answers at '{address}' ({error.strerror or error}); start its head with "
                                 "'ray start --head' and give the address it prints") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
