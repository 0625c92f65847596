"""The output sweep is the backstop for Gradio's cache folder: under concurrent writes and deletes
(as Gradio's own threads make them), no file older than retention + one sweep interval remains."""
from __future__ import annotations

import os
import threading
import time

from demos.storage import OutputStore, remove_stale_files


def test_stale_files_go_fresh_ones_stay_and_empty_folders_are_removed(tmp_path):
    cache = tmp_path / "gradio"
    (cache / "a1").mkdir(parents=True)
    (cache / "b2").mkdir()
    old, fresh = cache / "a1" / "old.png", cache / "b2" / "fresh.png"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    now = time.time()
    os.utime(old, (now - 100, now - 100))
    assert remove_stale_files(cache, 50, now) == [old]
    assert not (cache / "a1").exists() and fresh.is_file() and cache.is_dir()


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
    ages = [now - p.stat().st_mtime for p in cache.rglob("*.bin")]
    assert store._sweeper.is_alive(), "a file vanishing mid-walk must not end the sweep"
    store.stop_sweeper()
    assert ages, "the writers made files"
    assert max(ages) <= limit + 0.2, max(ages)
