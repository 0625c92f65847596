"""The output sweep is the backstop for Gradio's cache folder: under concurrent writes and deletes
(as Gradio's own threads make them), no file older than retention + one sweep interval remains."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from demos.storage import OutputStore, remove_stale_files


def test_stale_files_go_fresh_ones_stay_and_empty_folders_are_removed(tmp_path):
    cache = tmp_path / "gradio"
    (cache / "a1").mkdir(parents=True)
    (cache / "b2").mkdir()
    old, fresh = cache / "a1" / "old.png", cache / "b2" / "fresh.png"
    old.write_bytes(b"x")
    time.sleep(0.05)  # file times are coarser than the clock: keep the two writes apart
    written_between = time.time()
    time.sleep(0.05)
    fresh.write_bytes(b"y")
    now = written_between + 50  # old was written more than 50 s before now, fresh less
    assert remove_stale_files(cache, 50, now) == [old]
    assert not (cache / "a1").exists() and fresh.is_file() and cache.is_dir()


def test_a_new_copy_of_an_old_file_is_not_stale(tmp_path):
    """Gradio copies example files into its cache keeping their modification time (shutil.copy2):
    judged by that time alone, an example's ground truth was deleted as soon as it was copied."""
    import shutil

    example, cache = tmp_path / "frame_00000.png", tmp_path / "gradio"
    cache.mkdir()
    example.write_bytes(b"x")
    os.utime(example, (time.time() - 3600, time.time() - 3600))  # a checkout an hour old
    copy = Path(shutil.copy2(example, cache / "frame_00000.png"))
    assert copy.stat().st_mtime < time.time() - 3000  # the copy carries the old time
    assert remove_stale_files(cache, 60, time.time()) == [] and copy.is_file()


def test_sweeper_keeps_the_cache_bounded_under_concurrent_writes(tmp_path):
    cache = tmp_path / "gradio"
    cache.mkdir()
    store = OutputStore(tmp_path / "outputs", retention_s=0.3, sweep_s=0.1, backstop_dirs=(cache,))
    stop = threading.Event()

    def writer(tag: str) -> None:  # files appear and some vanish while the sweep walks the folder
        index = 0
        while not stop.is_set():
            folder = cache / f"{tag}{index % 7}"
            folder.mkdir(exist_ok=True)
            (folder / f"{index}.bin").write_bytes(b"z" * 64)
            if index % 3 == 0:
                for path in list(folder.glob("*.bin"))[:1]:
                    path.unlink(missing_ok=True)
            index += 1
            time.sleep(0.002)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in "pq"]
    for thread in threads:
        thread.start()
    store.start_sweeper()
    try:
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    limit = store.retention_s + 2 * store.sweep_s  # one interval of slack for the check itself
    now = time.time()
    ages = []
    for path in cache.rglob("*.bin"):   # the live sweeper may delete a file between listing and stat: not an old file
        try:
            ages.append(now - path.stat().st_mtime)
        except FileNotFoundError:
            continue
    assert store._sweeper.is_alive(), "a file vanishing mid-walk must not end the sweep"
    store.stop_sweeper()
    assert ages, "the writers made files"
    assert max(ages) <= limit + 0.2, max(ages)
