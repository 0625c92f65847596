"""Load and soak check: N concurrent API clients over every endpoint, in rounds, plus hostile uploads.

    python -m benchmarks.bench_load --clients 4 --seconds 60 --rounds 3 --retention 20

Starts the app in a child process on 127.0.0.1 (a free port; loopback only), with its outputs and
Gradio's cache in a fresh temporary folder and a short retention time. After one warm-up round per
client (all clients at once, like the run) it sends the hostile uploads one at a time (small files
that unpack or decode to gigabytes, zips with a huge member or 20,000 members, a 200 MB upload,
garbage frames, degenerate pictures, videos, stacks and JSON; made here, in the temporary folder),
sampling the server's memory during each; then it runs the clients for `--seconds` per round, for
`--rounds` rounds, then waits (at most retention + a margin) for the disk to go back to its
baseline, stops the server and reports: calls and failures per endpoint, p50/p95 latency, each
hostile upload's outcome and peak memory, the server's memory (RSS, with its children) after
warm-up and after each round, and disk at start, after the run and after retention. Targets: 0
failures (a hostile upload fails when it gets an error id or is accepted where it should be
refused), memory after the last round within 10 % of after warm-up, peak memory during any single
upload within 300 MB of after warm-up, disk back to baseline. Everything is bounded: clients stop
at the deadline, the server is stopped at the end (or on error), and the temporary folder is removed.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

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


GB_ZEROS_CHUNK = 16 * 2**20


def _zip_member_of_zeros(archive: zipfile.ZipFile, name: str, header: bytes, size: int) -> None:
    """A member of `size` zero bytes after `header`, written in chunks: the file stays small
    (zeros compress about 1000:1) while it unpacks to `size`."""
    with archive.open(name, "w", force_zip64=True) as member:
        member.write(header)
        left = size
        while left > 0:
            member.write(bytes(min(GB_ZEROS_CHUNK, left)))
            left -= GB_ZEROS_CHUNK


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _npz_of_zeros(path: Path, **shapes: tuple[int, ...]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for key, shape in shapes.items():
            _zip_member_of_zeros(archive, f"{key}.npy", _npy_header(shape), 4 * int(np.prod(shape)))
    return path


def make_hostile_inputs(folder: Path, url: str) -> list[tuple[str, str, object]]:
    """(name, what is expected: "refused" or "answered", call(client)) for every hostile upload of
    the issue, written into `folder` (small files; the zeros are compressed)."""
    import cv2
    from gradio_client import handle_file

    folder.mkdir(parents=True, exist_ok=True)
    video = handle_file(str(EXAMPLE_VIDEO))
    frames = 24  # the example video's frame count
    bomb = _npz_of_zeros(folder / "bomb.npz", depth=(16000, 16000))  # ~1 MB holding 1 GB
    stack = _npz_of_zeros(folder / "stack.npz", depth=(frames, 3000, 4000))  # 12 MP frames, the video's 4:3
    truth = folder / "truth.npz"
    with zipfile.ZipFile(truth, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        _zip_member_of_zeros(archive, "depth.npy", _npy_header((frames, 3000, 4000)), 4 * frames * 3000 * 4000)
        archive.writestr("K.npy", _npy_bytes(np.array([[2500.0, 0, 2000], [0, 2500.0, 1500], [0, 0, 1]])))
    zero_member = folder / "zero_member.zip"
    with zipfile.ZipFile(zero_member, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for i in range(20):
            archive.writestr(f"seq/{i:02d}.npy", _npy_bytes(np.ones((240, 320), np.float32)))
        _zip_member_of_zeros(archive, "seq/zeros.bin", b"", 2**30)
    many = folder / "many_members.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(20000):
            archive.writestr(f"seq/{i:05d}.npy", b"")
    big = folder / "unused.bin"
    with open(big, "wb") as file:
        file.truncate(200 * 2**20)  # 200 MB that nobody uses
    garbage_png = folder / "bad.png"
    garbage_png.write_bytes(np.random.default_rng(0).bytes(4096))
    garbage_npz = folder / "garbage.npz"
    garbage_npz.write_bytes(np.random.default_rng(1).bytes(4096))
    thin_picture = folder / "thin.png"
    cv2.imwrite(str(thin_picture), np.full((8, 16384, 3), 128, np.uint8))
    thin_video = folder / "thin.avi"
    writer = cv2.VideoWriter(str(thin_video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (2000, 16))
    for i in range(4):
        writer.write(np.full((16, 2000, 3), 60 * i, np.uint8))
    writer.release()
    huge_ints = folder / "huge_ints.npy"
    np.save(huge_ints, np.full((frames, 24, 32), 2**62, np.int64))
    empty_truth = folder / "empty_truth.npy"
    np.save(empty_truth, np.zeros((0, 0), np.float32))
    intrinsics_dir = folder / "nested"
    intrinsics_dir.mkdir(exist_ok=True)
    (intrinsics_dir / "intrinsics.json").write_text("[" * 100000 + "]" * 100000)
    poses_dir = folder / "poses"
    poses_dir.mkdir(exist_ok=True)
    (poses_dir / "intrinsics.json").write_text('{"fx": 200, "fy": 200, "cx": 160, "cy": 120}')
    (poses_dir / "poses.json").write_text("42")
    depth_png = folder / "0.png"
    cv2.imwrite(str(depth_png), np.full((240, 320), 2000, np.uint16))

    def video_call(depth=None, gt=None, source=video, include_model=False):
        depth = [handle_file(str(p)) for p in depth] if depth else None
        gt = [handle_file(str(p)) for p in gt] if gt else None
        return lambda c: c.predict(source, 5, 8, 160, MODEL, "", depth, "auto", "auto", "both", gt, include_model or not depth,
                                   api_name="/video_depth")  # fmt: skip

    return [
        ("1 MB .npz of a 16000x16000 float32 map, as depth", "refused", video_call([bomb])),
        ("(24, 3000, 4000) stack of zeros (1.2 GB), as depth", "answered", video_call([stack])),
        ("(24, 3000, 4000) stack inside a ground-truth .npz", "answered", video_call(gt=[truth], include_model=True)),
        ("zip: 20 frames beside a 1 GB zero member", "refused", video_call([zero_member])),
        ("zip with 20,000 members", "refused", video_call([many])),
        ("200 MB upload nobody uses (raw HTTP)", "refused", lambda c: upload_raw(url, big)),
        ("random bytes named bad.png as a depth frame", "refused", video_call([garbage_png])),
        ("garbage ground-truth .npz", "refused", video_call(gt=[garbage_npz], include_model=True)),
        ("16384x8 picture", "refused", lambda c: c.predict(handle_file(str(thin_picture)), "turbo", True, 0.5, 10.0, 63.0,
                                                           0.0, MODEL, "", api_name="/predict_depth")),
        ("2000x16 video", "refused", video_call(source=handle_file(str(thin_video)), include_model=True)),
        ("int64 stack of 2**62", "answered", video_call([huge_ints])),
        ("(0, 0) ground truth", "refused", lambda c: c.predict(handle_file(str(EXAMPLE_RGB)), handle_file(str(empty_truth)),
                                                               ["learned"], False, MODEL, "", api_name="/mirror_ablation")),
        ("deeply nested intrinsics.json", "refused",
         video_call(gt=[depth_png, intrinsics_dir / "intrinsics.json"], include_model=True)),
        ("poses.json of 42", "refused",
         video_call(gt=[depth_png, poses_dir / "intrinsics.json", poses_dir / "poses.json"], include_model=True)),
    ]


def upload_raw(url: str, path: Path) -> None:
    """POSTs a file to the upload route as a browser would (gradio_client refuses a file over the
    limit before sending it, so the server's own refusal is tested this way); raises on refusal."""
    import httpx

    with open(path, "rb") as file:
        response = httpx.post(url + "gradio_api/upload", files={"files": (path.name, file)}, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def send_hostile(client, server_pid: int, inputs) -> list[dict]:
    """Each hostile upload once, alone, with the server's RSS sampled every 50 ms during it."""
    rows = []
    for name, expected, call in inputs:
        baseline, peak, done = server_rss_mb(server_pid), [0.0], threading.Event()

        def sample(peak=peak, done=done) -> None:
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], server_rss_mb(server_pid))
                except Exception:  # the process table can change under psutil; the next sample counts
                    pass
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        try:
            call(client)
            outcome, message = "answered", ""
        except Exception as exc:  # a refusal arrives as an exception; its words decide
            outcome, message = "refused", str(exc)[:300]
        done.set()
        sampler.join()
        plain = "error id" not in message
        rows.append({"name": name, "expected": expected, "outcome": outcome, "plain": plain, "message": message,
                     "ok": outcome == expected and plain, "seconds": time.perf_counter() - start,
                     "peak_rss_mb": peak[0], "peak_over_baseline_mb": peak[0] - baseline})  # fmt: skip
    return rows


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


def run(clients: int, seconds: float, retention_s: float, startup_timeout_s: float = 180.0, rounds: int = 1,
        hostile: bool = True) -> dict:
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
        hostile_rows = send_hostile(sessions[0], server.pid, make_hostile_inputs(work / "hostile", url)) if hostile else []
        latencies: dict[str, list[float]] = {name: [] for name, _ in calls}
        failures: dict[str, list[str]] = {name: [] for name, _ in calls}
        lock = threading.Lock()
        rss_rounds = []
        for _ in range(rounds):
            deadline = time.monotonic() + seconds

            def worker(client, deadline=deadline) -> None:
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
            rss_rounds.append(server_rss_mb(server.pid))
        rss_after = rss_rounds[-1]
        disk_after = disk()
        started_wait = time.monotonic()
        back = wait_until(lambda: disk() <= disk_start, retention_s + 30.0, every_s=1.0)
        waited = time.monotonic() - started_wait
        disk_retained = disk()
        all_latencies = [v for values in latencies.values() for v in values]
        report = {
            "clients": clients, "seconds": seconds, "retention_s": retention_s,
            "rounds": rounds,
            "calls": sum(len(v) for v in latencies.values()) + sum(len(v) for v in failures.values()),
            "failures": sum(len(v) for v in failures.values()) + sum(not row["ok"] for row in hostile_rows),
            "failure_examples": ([e for v in failures.values() for e in v]
                                 + [f"{row['name']}: {row['outcome']} ({row['message'][:150]})" for row in hostile_rows
                                    if not row["ok"]])[:8],  # fmt: skip
            "hostile": hostile_rows,
            "latency_s": {"p50": percentile(all_latencies, 50), "p95": percentile(all_latencies, 95)},
            "per_endpoint": {name: {"calls": len(latencies[name]) + len(failures[name]), "failures": len(failures[name]),
                                    "p50_s": percentile(latencies[name], 50), "p95_s": percentile(latencies[name], 95)}
                             for name in latencies},
            "rss_mb": {"after_warmup": rss_warm, "after_run": rss_after, "after_each_round": rss_rounds,
                       "growth_pct": 100.0 * (rss_after - rss_warm) / rss_warm,
                       "round_growth_pct": [100.0 * (r - rss_warm) / rss_warm for r in rss_rounds],
                       "peak_upload_over_warmup": max([row["peak_rss_mb"] - rss_warm for row in hostile_rows], default=0.0)},
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --seconds each, RSS after each (1-10, default 3)")
    parser.add_argument("--no-hostile", action="store_true", help="skip the hostile uploads")
    parser.add_argument("--json", default=None, help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 16 and 1 <= args.seconds <= 1800 and 1 <= args.retention <= 600 and 1 <= args.rounds <= 10):
        parser.error("--clients must be 1-16, --seconds 1-1800, --retention 1-600 and --rounds 1-10")
    report = run(args.clients, args.seconds, args.retention, rounds=args.rounds, hostile=not args.no_hostile)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['clients']} clients x {report['rounds']} rounds x {report['seconds']:g} s, and "
          f"{len(report['hostile'])} hostile uploads: {report['calls'] + len(report['hostile'])} calls, {report['failures']} failures")
    for row in report["hostile"]:
        print(f"  hostile: {row['name']:52s} {row['outcome']:8s} ({'as expected' if row['ok'] else 'NOT as expected'}) "
              f"{row['seconds']:5.1f} s  peak RSS {row['peak_over_baseline_mb']:+6.0f} MB  {row['message'][:90]!r}")
    for name, row in report["per_endpoint"].items():
        print(f"  {name:20s} {row['calls']:4d} calls  {row['failures']} failed  p50 {row['p50_s'] * 1000:7.0f} ms  "
              f"p95 {row['p95_s'] * 1000:7.0f} ms")
    print(f"latency (all calls): p50 {report['latency_s']['p50'] * 1000:.0f} ms, p95 {report['latency_s']['p95'] * 1000:.0f} ms")
    rss, disk = report["rss_mb"], report["disk_mb"]
    rounds = ", ".join(f"{value:.0f} MB ({pct:+.1f} %)" for value, pct in zip(rss["after_each_round"], rss["round_growth_pct"]))
    print(f"server RSS: {rss['after_warmup']:.0f} MB after warm-up; after each round: {rounds}; "
          f"peak during a single hostile upload {rss['peak_upload_over_warmup']:+.0f} MB over warm-up")
    print(f"disk (outputs + Gradio cache): {disk['start']:.2f} MB at start, {disk['after_run']:.2f} MB after the run, "
          f"{disk['after_retention']:.2f} MB after retention ({disk['seconds_waited']:.0f} s; "
          f"{'back to baseline' if disk['back_to_baseline'] else 'NOT back to baseline'})")
    for example in report["failure_examples"]:
        print(f"  failure: {example}")
    return 0 if report["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
