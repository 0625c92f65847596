"""Live webcam depth for several visitors, in browsers or through the live API: where a frame's time goes, who gets how much.

Starts the app in this process (bundled model), opens N visitors (N headless Chromium contexts,
each with Chromium's synthetic 30 fps camera at 320x240), presses Start in each and streams for
`--seconds`. Prints, for each visitor count: the distinct depth images per second each page
showed, the time from Start to its first depth image (the camera starts with Start), the model's
batch sizes, and the 1-minute load average. For one visitor it prints the per-stage breakdown of a
live frame (median ms):

  capture + JPEG encode   the page's canvas toDataURL (timed in the page)
  page -> upload start    from the capture to the frame's POST (/component_server/; /stream/ before
                          the page-side client)
  upload + wake           POST start to the server's call of the handler (request, JSON, thread)
  decode, model, colour, encode   timed in the server's handler path (wrapped here, unchanged app code)
  server other            the rest of the handler's call (waiting for the model behind the other
                          frame in flight, its places, rate line; before the client:
                          Gradio's pre/postprocessing of every output)
  download + update       the call's end to the page setting the new picture (the answer's
                          download; a picture sent as a file is fetched after this)
  fetch + decode + paint  the picture set to the next frame painted after it was decoded
  idle until capture      that paint to the next capture

Each stage is matched per frame on one clock (the page's epoch time and the server's time.time()).
With two frames in flight (the page-side client) the stages of successive frames overlap: the
whole cycle of one frame is longer than the interval between pictures.

The same benchmark drives the tab as it was before the page-side client (Gradio's webcam
component, Record and Stop; benchmarks.webcam_page), so an A/B run can time both.

Every step after the streaming (reading the pages, Stop, closing) has a time limit, and a watchdog
ends Chromium if a visitor count overruns its bound, so the summary always prints; a visitor that
could not be read or stopped is named in a note.

With `--clients api` no browser runs: each visitor streams 320x240 JPEG frames (a pan over an
example scene) through the HTTP calls the page's client makes to the same server function, with
as many frames in flight as the page (benchmarks.webcam_api_clients).
The visitors run in a process of their own, as real visitors do: threads in the server's process
would hold its interpreter lock while they read the answers.
Chromium pages on the server's cores measure the browsers as much as the server; this measures the
server's capacity. It prints the same per-visitor figures (depth images per second, first image
after joining the stream), the model's batch sizes and the load average; no stage breakdown.

    python -m benchmarks.bench_webcam --visitors 1,2,4 --seconds 20
    OMP_NUM_THREADS=1 python -m benchmarks.bench_webcam --clients api --visitors 1,2,4 --seconds 15
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import threading
import time
from bisect import bisect_right
from pathlib import Path

from tqdm import tqdm

from benchmarks import webcam_page
from benchmarks.runtime import load_average

# After the streaming time, the reads and Stop of all visitors share TEARDOWN_S + PER_VISITOR_S each.
TEARDOWN_S, PER_VISITOR_S = 20.0, 10.0
# A visitor count's run in the browser may take the streaming time plus this much per visitor
# (opening the page and the camera, the teardown, closing) before the watchdog ends Chromium.
COUNT_SLACK_S = 90.0
SERVER_STAGES = ("decode", "model", "colour", "encode")
# Where each server stage runs, in this app and in the ones before the live-stream rework and
# before the page-side client (the same benchmark times them all): (stage, module, attribute path).
STAGE_TARGETS = [
    ("decode", "demos.webcam_tab", "decode_frame"),
    ("decode", "demos.inputs", "PictureInput.preprocess"),
    ("colour", "demos.webcam_tab", "colorize_depth"),
    ("colour", "demos.webcam_tab", "colour_index"),
    ("encode", "demos.webcam_tab", "jpeg_data_url"),
    ("encode", "gradio.components.image", "Image.postprocess"),
]
# The live client's handler (called through live_frame by the name, so a wrapper set here is used).
LIVE_HANDLER = ("demos.webcam_tab", "_live_frame")
ENDED = " · ended by the benchmark"  # added to a page's last rate line when the benchmark ends its stream


class ServerClock:
    """Epoch stamps (ms) of server work: each handler call and each stage inside it, per thread."""

    def __init__(self):
        self.calls: list[tuple[float, float]] = []
        self.stages: list[tuple[str, float, float]] = []
        self.batches: list[int] = []
        self.ending = threading.Event()  # set: the live handler ends every stream (end_live_streams)
        self._lines: dict[str, str] = {}  # each live stream's last rate line
        self._lock = threading.Lock()

    def wrap(self, stage: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = time.time() * 1000.0
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.stages.append((stage, start, time.time() * 1000.0))
        return timed

    def install(self, predictor) -> None:
        import importlib

        for stage, module_name, path in STAGE_TARGETS:
            try:
                owner = importlib.import_module(module_name)
            except ImportError:
                continue
            *parents, attribute = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent, None)
            if owner is not None and attribute in vars(owner):
                setattr(owner, attribute, self.wrap(stage, vars(owner)[attribute]))
        predict = predictor.predict

        def counted(frames, *args, **kwargs):
            self.batches.append(len(frames) if isinstance(frames, list) else 1)
            return predict(frames, *args, **kwargs)

        predictor.predict = self.wrap("model", counted)
        from gradio import route_utils

        call = route_utils.call_process_api

        async def timed_call(*args, **kwargs):
            start = time.time() * 1000.0
            try:
                return await call(*args, **kwargs)
            finally:
                with self._lock:
                    self.calls.append((start, time.time() * 1000.0))

        route_utils.call_process_api = timed_call
        self._install_live_handler()

    def _install_live_handler(self) -> None:
        """Times each call of the page-side client's handler (where the app has one) and, once
        `ending` is set, answers every frame with an error holding the stream's last rate line, so
        each page stops its own stream (Stop and its server call) without a click."""
        import importlib

        module_name, name = LIVE_HANDLER
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return
        handler = getattr(module, name, None)
        if handler is None:
            return

        @functools.wraps(handler)
        def timed_handler(message):
            stream = message.get("stream") if isinstance(message, dict) else None
            if self.ending.is_set():
                return {"state": "error", "message": self._lines.get(stream, "") + ENDED}
            start = time.time() * 1000.0
            try:
                answer = handler(message)
            finally:
                with self._lock:
                    self.calls.append((start, time.time() * 1000.0))
            if isinstance(answer, dict) and isinstance(answer.get("line"), str):
                self._lines[stream] = answer["line"]
            return answer

        setattr(module, name, timed_handler)


def last_before(stamps: list[float], when: float) -> int | None:
    """Index of the last of the sorted `stamps` at or before `when`; None if none."""
    index = bisect_right(stamps, when) - 1
    return index if index >= 0 else None


def breakdown(page_probes: dict, clock: ServerClock) -> dict[str, list[float]]:
    """Per-frame stage times (ms) of one visitor, each shown picture matched back to its server
    call, its upload and its capture (the latest of each before the next step)."""
    captures = sorted(page_probes["capture"])
    uploads = sorted((start, end) for kind, start, end, _ in page_probes["requests"] if kind == "upload")
    calls = sorted(clock.calls)
    stages = sorted(clock.stages, key=lambda s: s[1])
    shown = sorted(s for s in page_probes["shown"] if s[2] is not None)
    out: dict[str, list[float]] = {name: [] for name in (
        "capture + JPEG encode", "page -> upload start", "upload + wake", *SERVER_STAGES, "server other",
        "download + update", "fetch + decode + paint", "idle until capture", "whole cycle")}
    cap_starts = [c[0] for c in captures]
    cap_ends = [c[1] for c in captures]
    call_ends = [c[1] for c in calls]
    upload_starts = [u[0] for u in uploads]
    for set_at, _, painted, _ in shown[:-1]:
        c = last_before(call_ends, set_at)
        if c is None:
            continue
        call_start, call_end = calls[c]
        u = last_before(upload_starts, call_start)
        if u is None:
            continue
        p = last_before(cap_ends, uploads[u][0])
        n = bisect_right(cap_starts, painted)  # the first capture after this picture was painted
        if p is None or n >= len(captures):
            continue
        inside = {name: 0.0 for name in SERVER_STAGES}
        for name, start, end in stages:
            if call_start <= start and end <= call_end and name in inside:
                inside[name] += end - start
        out["capture + JPEG encode"].append(captures[p][1] - captures[p][0])
        out["page -> upload start"].append(uploads[u][0] - captures[p][1])
        out["upload + wake"].append(call_start - uploads[u][0])
        for name in SERVER_STAGES:
            out[name].append(inside[name])
        out["server other"].append((call_end - call_start) - sum(inside.values()))
        out["download + update"].append(set_at - call_end)
        out["fetch + decode + paint"].append(painted - set_at)
        out["idle until capture"].append(captures[n][0] - painted)
        out["whole cycle"].append(captures[n][0] - captures[p][0])
    return out


def run_visitors(browser, url: str, visitors: int, seconds: float, clock: ServerClock, end_streams=None,
                 report=None) -> dict:
    """N visitors streaming at once for `seconds`: per visitor its images per second and time to
    first image.

    After the streaming time, `end_streams()` (if given) ends the streams on the server first:
    pages busy with a live stream can answer Playwright so slowly (four pages with load average
    12-16 on 2 cores: no read, click or wait answered within 15-20 s) that reading them and pressing
    Stop one by one, as this did before, took many minutes, and page.evaluate has no time limit at
    all. The reads and Stop that follow share one time budget (TEARDOWN_S plus PER_VISITOR_S per
    visitor); a visitor whose page could not be read or stopped in it is named in the result's
    notes instead of holding the run. `report(result)` (if given) is called before the visitors'
    browser contexts are closed (a close that Playwright cannot bound; the caller's watchdog does)."""
    held = wait_for_free_slots()
    pages = [webcam_page.open_visitor(browser, url) for _ in range(visitors)]
    clock.calls.clear(), clock.stages.clear(), clock.batches.clear()
    clock.ending.clear()
    notes: list[str] = [held] if held else []
    start = Budget(webcam_page.PAGE_TIMEOUT_MS / 1000.0)  # all the Start presses, together
    pressed = [_step(notes, f"visitor {i}: Start", start, webcam_page.start_recording, page)
               for i, page in enumerate(pages, 1)]
    for _ in tqdm(range(int(seconds)), desc=f"{visitors} visitor(s) streaming", unit="s", file=sys.stderr):
        pages[0].wait_for_timeout(1000)
    batches = list(clock.batches)
    if end_streams is not None:
        end_streams()
    budget = Budget(TEARDOWN_S + PER_VISITOR_S * visitors, step_s=webcam_page.READ_TIMEOUT_MS / 1000.0)
    empty = {"capture": [], "requests": [], "shown": [], "camera": []}
    seen = [_step(notes, f"visitor {i}: reading its probes", budget, webcam_page.probes, page, fallback=empty)
            for i, page in enumerate(pages, 1)]
    lines = [_step(notes, f"visitor {i}: reading its rate line", budget, webcam_page.rate_line, page, fallback="")
             for i, page in enumerate(pages, 1)]
    for i, page in enumerate(pages, 1):
        if end_streams is None or _step([], "", budget, webcam_page.recording, page, fallback=True):
            _step(notes, f"visitor {i}: Stop", budget, webcam_page.stop_recording, page)
    result = {"visitors": visitors, "load": load_average(), "per_visitor": [], "batches": batches, "lines": lines,
              "notes": notes}
    for press, probes in zip(pressed, seen):
        if press is None:  # Start could not be pressed
            result["per_visitor"].append({"fps": 0.0, "first_s": None, "images": 0, "camera_fps": None})
            continue
        end = press + seconds * 1000.0  # images after the streaming time (while stopping) do not count
        shown = sorted(s[0] for s in probes["shown"] if press <= s[0] <= end)
        first = (shown[0] - press) / 1000.0 if shown else None
        # the rate over the window after the first image (the start-up is the first-image time)
        rate = (len(shown) - 1) / ((end - shown[0]) / 1000.0) if len(shown) > 1 else 0.0
        # the camera's own frame rate over the same window: the most a page can show
        camera = sorted(t for t in probes.get("camera", []) if shown and shown[0] <= t <= end)
        camera_fps = (len(camera) - 1) / ((camera[-1] - camera[0]) / 1000.0) if len(camera) > 1 else None
        result["per_visitor"].append({"fps": rate, "first_s": first, "images": len(shown), "camera_fps": camera_fps})
    if visitors == 1:
        result["stages"] = breakdown(seen[0], clock)
    if report is not None:
        report(result)
    for page in pages:
        _step([], "", budget, page.context.close)  # no time limit in Playwright: the watchdog bounds it
    return result


class Budget:
    """A time budget shared by several steps, each given at most `step_s` of it: `left_ms()` (at
    least 1 ms, so a step after the budget is spent fails at once)."""

    def __init__(self, seconds: float, step_s: float | None = None):
        self.until = time.monotonic() + seconds
        self.step_s = step_s or seconds

    def left_ms(self) -> float:
        return max(1.0, min(self.step_s, self.until - time.monotonic()) * 1000.0)


def _step(notes: list[str], what: str, budget: Budget, action, *args, fallback=None):
    """`action(*args)`, with `timeout_ms` from the `budget` where the action takes one; a Playwright
    error (a timeout, a closed page) becomes the note `what did not finish (reason)` and `fallback`
    is returned. A named step of a second or more is shown on stderr."""
    import inspect

    from playwright.sync_api import Error as PlaywrightError

    start = time.monotonic()
    try:
        if "timeout_ms" in inspect.signature(action).parameters:
            return action(*args, timeout_ms=budget.left_ms())
        return action(*args)
    except PlaywrightError as error:
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        notes.append(f"{what} did not finish ({reason})")
        return fallback
    finally:
        took = time.monotonic() - start
        if took >= 1.0 and what:
            print(f"  [{what}: {took:.1f} s]", file=sys.stderr, flush=True)


def print_result(result: dict) -> None:
    n = result["visitors"]
    print(f"\n{n} visitor(s) at once, load average {result['load']} (1, 5, 15 min), {os.cpu_count()} cores")
    for i, visitor in enumerate(result["per_visitor"], 1):
        first = f"{visitor['first_s']:.2f} s" if visitor["first_s"] is not None else "never"
        camera = f" of the camera's {visitor['camera_fps']:.1f} frames per second" if visitor.get("camera_fps") else ""
        unit = result.get("unit", "distinct depth images")
        print(f"  visitor {i}: {visitor['fps']:.1f} {unit} per second ({visitor['images']} images){camera}, "
              f"first image {first} after {result.get('after', 'Start')}")
    batches = result["batches"]
    if batches:
        print(f"  model calls: {len(batches)}, frames per call: mean {statistics.mean(batches):.2f}, max {max(batches)}")
    for i, line in enumerate(result["lines"], 1):
        print(f"  visitor {i} rate line: {line.strip()[:160]}")
    for note in result.get("notes", []):
        print(f"  note: {note}")
    stages = result.get("stages")
    if stages:
        frames = len(stages["whole cycle"])
        print(f"  one live frame, median (mean) ms over {frames} matched frames:")
        for name, values in stages.items():
            if values:
                print(f"    {name:<24} {statistics.median(values):7.1f} ({statistics.mean(values):6.1f})")
    sys.stdout.flush()  # shown now even when stdout is a file or a pipe


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", default="1,2,4", help="visitor counts to measure, comma-separated (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="streaming time per visitor count (default 20)")
    parser.add_argument("--clients", choices=("browser", "api"), default="browser",
                        help="who streams: headless Chromium pages (browser, default: the whole page path, but the "
                             "browsers share the server's cores) or threads speaking Gradio's stream protocol (api: "
                             "the server's capacity)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1),
                        help="torch threads of the server's model (default: OMP_NUM_THREADS, else 1)")
    args = parser.parse_args(argv)
    try:
        args.counts = [int(v) for v in args.visitors.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--visitors takes whole numbers separated by commas, got {args.visitors!r}")
    if not args.counts or min(args.counts) < 1 or max(args.counts) > 16:
        parser.error("--visitors: each count from 1 to 16")
    if not 2 <= args.seconds <= 600:
        parser.error("--seconds: from 2 to 600")
    if args.threads < 1:
        parser.error("--threads: at least 1")
    return args


def wait_for_free_slots() -> str | None:
    """Waits (at most the slots' idle limit + 2 s) until no stream holds or waits for a live place
    in the app served by this process: a stopped stream keeps its place until it has been silent
    for the idle limit, and the next visitor count must not queue behind the last one's. Returns a
    note if some remain. An app without live places (before the rework: one stream server-wide)
    has nothing to wait for."""
    from demos import webcam_tab

    SLOTS = getattr(webcam_tab, "SLOTS", None)
    if SLOTS is None:
        return None
    give_up = time.monotonic() + SLOTS.idle_s + 2.0
    while SLOTS.counts() != (0, 0) and time.monotonic() < give_up:
        time.sleep(0.2)
    live, waiting = SLOTS.counts()
    return f"{live} live and {waiting} waiting streams of the previous count still held" if live or waiting else None


def run_api(url: str, visitors: int, seconds: float, clock: ServerClock) -> dict:
    """N visitors without a browser (benchmarks.webcam_api_clients) streaming at once for `seconds`:
    the same result as run_visitors, each visitor's rate counted from its first image to its Stop."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from benchmarks import webcam_api_clients

    held = wait_for_free_slots()
    clock.calls.clear(), clock.stages.clear(), clock.batches.clear()
    done = threading.Event()
    with tqdm(total=int(seconds), desc=f"{visitors} API visitor(s) streaming", unit="s", file=sys.stderr) as bar:
        ticker = threading.Thread(target=_tick, args=(bar, done, int(seconds)), daemon=True)
        ticker.start()
        try:  # the visitors' own process, started (and its imports done) before anyone joins
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                pool.submit(int, 0).result()
                runs = pool.submit(webcam_api_clients.run_api_visitors, url, visitors, seconds).result()
        finally:
            done.set()
            ticker.join(timeout=2)
    result = {"visitors": visitors, "load": load_average(), "batches": list(clock.batches), "per_visitor": [],
              "lines": [run.last_line for run in runs], "notes": [held] if held else [], "unit": "depth images",
              "after": "joining"}
    for i, run in enumerate(runs, 1):
        result["per_visitor"].append({"fps": run.rate(), "first_s": run.first_s(), "images": len(run.images)})
        if run.waits:
            result["notes"].append(f"visitor {i} got no depth (waiting for a live place) in {run.waits} answers")
        if run.late:
            result["notes"].append(f"visitor {i}: {run.late} pictures came after a newer one (not counted, as the page "
                                   "would not show them)")
        if run.error:
            result["notes"].append(f"visitor {i} did not end cleanly: {run.error}")
        elif not run.stopped_cleanly:
            result["notes"].append(f"visitor {i}: its stream ended without Stop")
    return result


def _tick(bar, done: threading.Event, seconds: int) -> None:
    for _ in range(seconds):
        if done.wait(1.0):
            return
        bar.update(1)


def run_browsers(url: str, args: argparse.Namespace, clock: ServerClock, end_streams=None) -> None:
    """The browser mode: one Chromium, a run of run_visitors per visitor count, each result printed
    as it comes. A watchdog ends Chromium if one count runs past its bound (a page or the browser
    that stops answering Playwright, whose close has no time limit), so the run always finishes."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=webcam_page.CHROMIUM, args=webcam_page.CHROMIUM_ARGS)
        for count in args.counts:
            bound = args.seconds + count * COUNT_SLACK_S
            fired = threading.Event()
            watchdog = threading.Timer(bound, kill_browsers, args=(fired,))
            watchdog.daemon = True
            watchdog.start()
            try:
                run_visitors(browser, url, count, args.seconds, clock, end_streams, report=print_result)
            except PlaywrightError as error:
                print(f"\n{count} visitor(s): the browser stopped answering ({str(error).strip()[:200]})")
            finally:
                watchdog.cancel()
            if fired.is_set():
                print(f"  (Chromium was ended after {bound:.0f} s; the remaining counts are skipped)")
                return
        try:
            browser.close()
        except PlaywrightError:
            pass


def stream_closer(demo, url: str, clock: ServerClock):
    """A function that ends every stream the app serves now and returns how many Gradio streams it
    ended. The page-side client's streams: the live handler answers every frame with an error from
    now on (ServerClock.ending), and each page stops itself. Before that client, Gradio's streams:
    closed as the page's Stop does (POST /gradio_api/stream/<event id>/close), the event ids taken
    from Gradio's queue (a private table; nothing is ended if it is missing)."""
    import httpx

    def end_streams() -> int:
        clock.ending.set()
        events = getattr(getattr(demo, "_queue", None), "event_ids_to_events", None) or {}
        ids = [event_id for event_id, event in list(events.items()) if getattr(event, "streaming", False)]
        for event_id in ids:
            try:
                httpx.post(f"{url.rstrip('/')}/gradio_api/stream/{event_id}/close", json={}, timeout=10)
            except httpx.HTTPError:
                pass
        return len(ids)

    return end_streams


def kill_browsers(fired: threading.Event | None = None) -> None:
    """Ends every Chromium process started under this one (by Playwright), with SIGKILL; sets `fired`."""
    import signal

    if fired is not None:
        fired.set()
    print("\n  [watchdog: Chromium did not finish in time; ending it]", file=sys.stderr, flush=True)
    for pid in descendants(os.getpid()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith("chrom"):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def descendants(root: int) -> list[int]:
    """The ids of all processes below `root` (children, their children, …), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if args.clients == "browser" and not Path(webcam_page.CHROMIUM).exists():
        sys.exit("Chromium is missing: run `bash scripts/setup.sh --dev`, which installs Debian's chromium "
                 "(or measure without a browser: --clients api)")
    import socket

    import torch

    from demos.layout import build_demo
    from demos.models import registry

    torch.set_num_threads(args.threads)
    demo = build_demo("synthetic-tiny")
    clock = ServerClock()
    clock.install(registry().get().predictor)
    demo.queue(default_concurrency_limit=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            **demo.launch_options)
    clients = f"Chromium {webcam_page.CHROMIUM}" if args.clients == "browser" else "API clients (no browser)"
    print(f"app at {url}; model threads {args.threads}; {clients}", flush=True)
    try:
        if args.clients == "api":
            for count in args.counts:
                print_result(run_api(url, count, args.seconds, clock))
        else:
            run_browsers(url, args, clock, stream_closer(demo, url, clock))
    finally:
        demo.close(verbose=False)


if __name__ == "__main__":
    main()
