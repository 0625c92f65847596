"""Bounded disk for the app's outputs: one folder per request, removed after a retention time,
and a total budget with oldest-first eviction.

Every handler that writes files asks `request_dir()` for a fresh folder under the output root. Each
call (and a background sweep every `sweep_s` seconds) first removes folders older than the
retention time, then, while the root holds more than the budget, the oldest folders. Gradio copies
what a handler returns into its own cache, which `gradio_cache_policy()` has Gradio clean on the
same schedule (`gr.Blocks(delete_cache=...)`). Gradio's own sweep can stop for good when its
file set changes while it walks it, so the background sweep is also the backstop for Gradio's cache
folder (`backstop_dirs`): any file there older than retention + one sweep interval is removed.

Uploads (files a visitor sends, which Gradio keeps in its cache folder and lists in the Blocks'
`upload_file_set`) are tracked too (`uploads`): one nobody has used within `upload_retention_s`
is removed, and so is a part file (a `tmp…` file at the top of Gradio's cache folder, left by
an upload cut off midway) that has not grown in that time. `upload_bytes()` is what they hold
on disk now (each file in whole blocks, plus a block for the folder Gradio gives each upload), for
the upload budget (demos.upload_budget).

Settings (environment variables, read when the app starts):
    APP_OUTPUT_DIR          the output root (default: a folder in the system's temporary directory)
    APP_OUTPUT_RETENTION_S  seconds a request's files are kept (default 1800)
    APP_OUTPUT_BUDGET_MB    total size of the output root (default 2048)
    APP_SWEEP_S             seconds between background sweeps (default 60)
    APP_UPLOAD_RETENTION_S  seconds an upload is kept (default 600: far longer than the longest
                            request, a 240-frame video analysis, takes on a shared CPU)
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

OUTPUT_DIR_ENV = "APP_OUTPUT_DIR"
RETENTION_ENV = "APP_OUTPUT_RETENTION_S"
BUDGET_ENV = "APP_OUTPUT_BUDGET_MB"
SWEEP_ENV = "APP_SWEEP_S"
DEFAULT_RETENTION_S = 1800.0
DEFAULT_BUDGET_MB = 2048.0
DEFAULT_SWEEP_S = 60.0
UPLOAD_RETENTION_ENV = "APP_UPLOAD_RETENTION_S"
DEFAULT_UPLOAD_RETENTION_S = 600.0
BLOCK_BYTES = 4096  # a file system's allocation unit (ext4, xfs, tmpfs pages): a file or folder takes whole blocks
PART_FILE_PREFIX = "tmp"  # Gradio's multipart parser writes each incoming file as a NamedTemporaryFile here


def _env_number(name: str, default: float, minimum: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value == value and minimum <= value < float("inf") else default


def disk_bytes(size: int, folder: bool = False) -> int:
    """What a file of `size` bytes takes on disk, in whole blocks (at least one), plus one block
    for its own folder when `folder`."""
    return max(1, -(-int(size) // BLOCK_BYTES)) * BLOCK_BYTES + (BLOCK_BYTES if folder else 0)


def folder_bytes(path: Path) -> int:
    """Total size of the files under `path` (0 when it is gone)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed meanwhile
    return total


def remove_stale_files(folder: Path, max_age_s: float, now: float) -> list[Path]:
    """Remove files under `folder` last written more than `max_age_s` seconds before `now`, then
    the sub-folders left empty; the removed files. Files that vanish or change meanwhile are
    skipped: other threads (Gradio's) write and delete here too. A file's age counts from the later
    of its modification and status-change times: Gradio copies example files into its cache
    keeping their old modification time, and such a copy is new (its ctime says so), not stale."""
    removed: list[Path] = []
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = Path(root) / name
            try:
                info = path.stat()
                if not path.is_symlink() and now - max(info.st_mtime, info.st_ctime) > max_age_s:
                    path.unlink()
                    removed.append(path)
            except OSError:
                pass
        if Path(root) != Path(folder):
            try:
                os.rmdir(root)  # only succeeds when empty
            except OSError:
                pass
    return removed


@dataclass
class OutputStore:
    root: Path
    retention_s: float = DEFAULT_RETENTION_S
    budget_bytes: int = int(DEFAULT_BUDGET_MB * 2**20)
    sweep_s: float = DEFAULT_SWEEP_S
    backstop_dirs: tuple[Path, ...] = ()  # other folders (Gradio's cache) whose stale files the sweep removes
    upload_retention_s: float = DEFAULT_UPLOAD_RETENTION_S
    uploads: set | None = None  # upload paths (Gradio's Blocks.upload_file_set, shared, not copied)
    upload_dir: Path | None = None  # Gradio's cache folder, where part files of incoming uploads lie

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.backstop_dirs = tuple(Path(d) for d in self.backstop_dirs)
        self.upload_dir = Path(self.upload_dir) if self.upload_dir is not None else None
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_env(cls) -> OutputStore:
        root = os.environ.get(OUTPUT_DIR_ENV) or os.path.join(tempfile.gettempdir(), "mirror-depth-app-outputs")
        return cls(Path(root), _env_number(RETENTION_ENV, DEFAULT_RETENTION_S, 1.0),
                   int(_env_number(BUDGET_ENV, DEFAULT_BUDGET_MB, 1.0) * 2**20), _env_number(SWEEP_ENV, DEFAULT_SWEEP_S, 0.1),
                   upload_retention_s=_env_number(UPLOAD_RETENTION_ENV, DEFAULT_UPLOAD_RETENTION_S, 1.0))

    def request_dir(self, kind: str = "request") -> Path:
        """A new, empty folder for one request's outputs (after a cleanup pass)."""
        self.cleanup()
        # Names sort by creation time, so eviction order never depends on file-system timestamps.
        path = self.root / f"{time.time_ns():020d}-{kind}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def _folders(self) -> list[Path]:
        try:
            return sorted(p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink())
        except FileNotFoundError:
            return []

    def cleanup(self, now: float | None = None) -> list[Path]:
        """Remove expired folders, then the oldest ones while over budget; the removed folders."""
        now = time.time() if now is None else now
        removed: list[Path] = []
        with self._lock:
            folders = self._folders()
            kept = []
            for folder in folders:
                created_s = int(folder.name.split("-", 1)[0]) / 1e9 if folder.name.split("-", 1)[0].isdigit() else 0.0
                if now - created_s > self.retention_s:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
                else:
                    kept.append(folder)
            sizes = [folder_bytes(folder) for folder in kept]
            total = sum(sizes)
            for folder, size in zip(kept, sizes):  # oldest first
                if total <= self.budget_bytes:
                    break
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
                total -= size
        removed.extend(self._remove_unused_uploads(now))
        for folder in self.backstop_dirs:
            removed.extend(remove_stale_files(folder, self.retention_s + self.sweep_s, now))
        return removed

    def _upload_files(self) -> list[Path]:
        """The uploads tracked now and the part files of incoming ones."""
        files = [Path(p) for p in list(self.uploads or ())]
        if self.upload_dir is not None:
            try:
                files += [p for p in self.upload_dir.iterdir() if p.name.startswith(PART_FILE_PREFIX) and p.is_file()]
            except OSError:
                pass
        return files

    def _remove_unused_uploads(self, now: float) -> list[Path]:
        removed = []
        for path in self._upload_files():
            try:
                if path.is_symlink() or now - path.stat().st_mtime <= self.upload_retention_s:
                    continue
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            removed.append(path)
            if self.uploads is not None:
                self.uploads.discard(str(path))
            if self.upload_dir is not None and path.parent != self.upload_dir:
                try:
                    path.parent.rmdir()  # Gradio's per-upload hash folder, when now empty
                except OSError:
                    pass
        return removed

    def upload_bytes(self) -> int:
        """Disk held now by tracked uploads and by part files of incoming ones (disk_bytes: whole
        blocks, and a block for each upload's own folder)."""
        total = 0
        for path in self._upload_files():
            try:
                total += disk_bytes(path.stat().st_size, folder=self.upload_dir is not None and path.parent != self.upload_dir)
            except OSError:
                pass
        return total

    def total_bytes(self) -> int:
        return folder_bytes(self.root)

    def start_sweeper(self) -> None:
        """A daemon thread that runs cleanup() every sweep_s seconds, so disk goes back to its
        baseline after the retention time even when no request comes."""
        if self._sweeper is not None and self._sweeper.is_alive():
            return
        self._stop.clear()

        def sweep() -> None:
            while not self._stop.wait(self.sweep_s):
                self.cleanup()

        self._sweeper = threading.Thread(target=sweep, name="output-sweeper", daemon=True)
        self._sweeper.start()

    def stop_sweeper(self) -> None:
        self._stop.set()

    def gradio_cache_policy(self) -> tuple[int, int]:
        """(frequency, age) in seconds for gr.Blocks(delete_cache=...): Gradio's copies of the outputs
        live as long as the outputs themselves."""
        return max(1, round(self.sweep_s)), max(1, round(self.retention_s))


_store: OutputStore | None = None


def store() -> OutputStore:
    """The process-wide output store, configured from the environment on first use."""
    global _store
    if _store is None:
        _store = OutputStore.from_env()
    return _store


def request_dir(kind: str = "request") -> Path:
    return store().request_dir(kind)
