"""Load and soak check: N concurrent API clients over every endpoint for a bounded time.

    python -m benchmarks.bench_load --clients 4 --seconds 60 --retention 20

Starts the app in a child process on 127.0.0.1 (a free port; loopback only), with its outputs and
Gradio's cache in a fresh temporary folder and a short retention time. After one warm-up round per
client (all clients at once, like the run) it runs the clients for `--seconds`, then waits (at most retention + a margin) for the disk
to go back to its baseline, stops the server and reports: calls and failures per endpoint,
p50/p95 latency, the server's memory (RSS, with its children) after warm-up and after the run, and
disk at start, after the run and after retention. Targets: 0 failures, memory after the run within
10 % of after warm-up, disk back to baseline. Everything is bounded: clients stop at the deadline,
the server is stopped at the end (or on error), and the temporary folder is removed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from demos.storage import folder_bytes  # the app's own measure of its output folders

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RGB = ROOT / "examples" / "scenes" / "rgb" / "scene_00000.png"
EXAMPLE_DEPTH = ROOT / "examples" / "scenes" / "depth" / "scene_00000.png"
EXAMPLE_VIDEO = ROOT / "examples" / "video" / "video.mp4"
MODEL = "synthetic-tiny"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def endpoint_calls():
    """(name, function(client)) for every named endpoint; the frame cloud follows the video call of the
    same client (it reads that session's analysed frames)."""
    from gradio_client import handle_file

    rgb, depth, video = handle_file(str(EXAMPLE_RGB)), handle_file(str(EXAMPLE_DEPTH)), handle_file(str(EXAMPLE_VIDEO))
    return [
        ("/predict_depth", lambda c: c.predict(rgb, "turbo", True, 0.5, 10.0, 63.0, 0.0, MODEL, "",
                                               api_name="/predict_depth")),
        ("/webcam_frame", lambda c: c.predict(rgb, 160, MODEL, "", api_name="/webcam_frame")),
        ("/video_depth", lambda c: c.predict(video, 5, 8, 160, MODEL, "", api_name="/video_depth")),
        ("/video_frame_cloud", lambda c: c.predict(1, 63.0, api_name="/video_frame_cloud")),
        ("/mirror_ablation", lambda c: c.predict(rgb, depth, ["learned", "zeros"], False, MODEL, "",
                                                 api_name="/mirror_ablation")),
        ("/attention", lambda c: c.predict("vim editor for text", 0, 1, api_name="/attention")),
    ]


def wait_until(condition, timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run(clients: int, seconds: float, retention_s: float, startup_timeout_s: float = 180.0) -> dict:
    from gradio_client import Client

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    outputs, cache, downloads = work / "outputs", work / "gradio", work / "client"
    for folder in (outputs, cache, downloads):
        folder.mkdir()
    port = free_port()
    env = {**os.environ, "APP_OUTPUT_DIR": str(outputs), "GRADIO_TEMP_DIR": str(cache),
           "APP_OUTPUT_RETENTION_S": str(retention_s), "APP_SWEEP_S": "2", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    server = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    url = f"http://127.0.0.1:{port}/"
    try:
        def up() -> bool:
            import httpx

            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(up, startup_timeout_s):
            raise RuntimeError("the app did not start in time; see its log")
        disk = lambda: folder_bytes(outputs) + folder_bytes(cache)  # noqa: E731
        disk_start = disk()
        calls = endpoint_calls()
        sessions = [Client(url, verbose=False, download_files=str(downloads / str(i))) for i in range(clients)]
        def warm(client) -> None:  # every endpoint once per client, all clients at once (as in the run)
            for _, call in calls:
                call(client)

        warmers = [threading.Thread(target=warm, args=(client,), daemon=True) for client in sessions]
        for thread in warmers:
            thread.start()
        for thread in warmers:
            thread.join(startup_timeout_s + 600)
        rss_warm = server_rss_mb(server.pid)
        latencies: dict[str, list[float]] = {name: [] for name, _ in calls}
        failures: dict[str, list[str]] = {name: [] for name, _ in calls}
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def worker(client) -> None:
            while time.monotonic() < deadline:
                for name, call in calls:
                    if time.monotonic() >= deadline:
                        return
                    start = time.perf_counter()
                    try:
                        call(client)
                        ok, error = True, ""
                    except Exception as exc:  # a failure is counted and reported, never raised
                        ok, error = False, f"{type(exc).__name__}: {str(exc)[:200]}"
                    with lock:
                        (latencies[name] if ok else failures[name]).append(time.perf_counter() - start if ok else error)

        threads = [threading.Thread(target=worker, args=(client,), daemon=True) for client in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 600)
        rss_after = server_rss_mb(server.pid)
        disk_after = disk()
        started_wait = time.monotonic()
        back = wait_until(lambda: disk() <= disk_start, retention_s + 30.0, every_s=1.0)
        waited = time.monotonic() - started_wait
        disk_retained = disk()
        all_latencies = [v for values in latencies.values() for v in values]
        report = {
            "clients": clients, "seconds": seconds, "retention_s": retention_s,
            "calls": sum(len(v) for v in latencies.values()) + sum(len(v) for v in failures.values()),
            "failures": sum(len(v) for v in failures.values()),
            "failure_examples": [e for v in failures.values() for e in v][:5],
            "latency_s": {"p50": percentile(all_latencies, 50), "p95": percentile(all_latencies, 95)},
            "per_endpoint": {name: {"calls": len(latencies[name]) + len(failures[name]), "failures": len(failures[name]),
                                    "p50_s": percentile(latencies[name], 50), "p95_s": percentile(latencies[name], 95)}
                             for name in latencies},
            "rss_mb": {"after_warmup": rss_warm, "after_run": rss_after,
                       "growth_pct": 100.0 * (rss_after - rss_warm) / rss_warm},
            "disk_mb": {"start": disk_start / 2**20, "after_run": disk_after / 2**20,
                        "after_retention": disk_retained / 2**20, "back_to_baseline": back,
                        "seconds_waited": round(waited, 1)},
        }
        return report
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent API clients against the app on loopback, for a bounded time.")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (1-16, default 4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="run time after warm-up (1-1800 s, default 60)")
    parser.add_argument("--retention", type=float, default=20.0, help="output retention time for the server (s, default 20)")
    parser.add_argument("--json", default=None, help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 16 and 1 <= args.seconds <= 1800 and 1 <= args.retention <= 600):
        parser.error("--clients must be 1-16, --seconds 1-1800 and --retention 1-600")
    report = run(args.clients, args.seconds, args.retention)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['clients']} clients x {report['seconds']:g} s: {report['calls']} calls, {report['failures']} failures")
    for name, row in report["per_endpoint"].items():
        print(f"  {name:20s} {row['calls']:4d} calls  {row['failures']} failed  p50 {row['p50_s'] * 1000:7.0f} ms  "
              f"p95 {row['p95_s'] * 1000:7.0f} ms")
    print(f"latency (all calls): p50 {report['latency_s']['p50'] * 1000:.0f} ms, p95 {report['latency_s']['p95'] * 1000:.0f} ms")
    rss, disk = report["rss_mb"], report["disk_mb"]
    print(f"server RSS: {rss['after_warmup']:.0f} MB after warm-up, {rss['after_run']:.0f} MB after the run "
          f"({rss['growth_pct']:+.1f} %)")
    print(f"disk (outputs + Gradio cache): {disk['start']:.2f} MB at start, {disk['after_run']:.2f} MB after the run, "
          f"{disk['after_retention']:.2f} MB after retention ({disk['seconds_waited']:.0f} s; "
          f"{'back to baseline' if disk['back_to_baseline'] else 'NOT back to baseline'})")
    for example in report["failure_examples"]:
        print(f"  failure: {example}")
    return 0 if report["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
