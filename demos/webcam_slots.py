"""Who gets live webcam depth, and in what order the model serves their frames.

`LiveSlots` admits at most `slots` live streams at once, each for turns of `turn_s` seconds:

- a stream that finds every slot taken waits in one first-come line and is told its place and
  about how long until a slot frees (never more than the slowest live turn still has to run, plus
  whole turns for each full round of visitors ahead);
- when a turn ends and someone waits, that stream goes to the back of the line and the head of the
  line gets the slot; when nobody waits, a new turn starts at once (so no visitor starves, and a
  lone visitor is never stopped);
- a stream that sends nothing for `idle_s` after its last answer loses its slot or its place (a stopped camera, a closed
  tab, an API client that keeps its connection open without sending frames);
- a client (one browser: the id in its local storage; an API client: its own id) has at most
  one stream: a second tab of the same browser gets a plain message instead of a second stream;
- a stream has at most `max_in_flight` frames being served at once (the page keeps that many in
  flight); a frame beyond it is answered BUSY at once, so one client cannot hold the server's
  threads or crowd the model's batches with frames of its own.

`BatchTurns` runs the model for every live stream: frames that arrive while the model is busy
wait together and go through it as one batch in arrival order, at most one frame of each stream
per batch (a page keeps two frames in flight: two of its frames in one batch would come back
together and the page would show only the newer, and the other streams would wait for a frame
nobody sees; one each also serves every waiting stream once before anyone twice). One batched
forward costs less than the same frames one by one, and only one forward runs at a time, so
parallel streams never split the cores between competing forwards.

All times come from `clock` (time.monotonic by default), so the rules are tested with a fake clock.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

LIVE, WAITING, DUPLICATE, BUSY = "live", "waiting", "duplicate", "busy"


@dataclass(frozen=True)
class Pass:
    """What one frame of a stream gets: `state` LIVE (depth for it; `left_s` seconds left in this
    turn), WAITING (`position` in line, 1 = next; `wait_s` about how long until a slot frees),
    DUPLICATE (this client already streams from another tab) or BUSY (this stream already has its
    most frames in flight). Only LIVE and WAITING count as a frame in flight (see LiveSlots.answered)."""

    state: str
    left_s: float | None = None
    position: int | None = None
    wait_s: float | None = None


@dataclass
class _Stream:
    client: Hashable
    since: float  # when its turn (live) or its wait (in line) began
    seen: float  # when it last sent a frame
    in_flight: int = 0  # its frames admitted (LIVE or WAITING) and not yet answered


class LiveSlots:
    """Admission of live streams: `slots` at once, turns of `turn_s` s, a first-come line, streams
    silent for `idle_s` s dropped, one stream per client, at most `max_in_flight` frames of a
    stream in the server (None: no limit) (see the module's text). Thread-safe."""

    def __init__(self, slots: int, turn_s: float, idle_s: float, clock: Callable[[], float] = time.monotonic,
                 max_in_flight: int | None = None):
        if slots < 1 or turn_s <= 0 or idle_s <= 0 or (max_in_flight is not None and max_in_flight < 1):
            raise ValueError(f"slots must be >= 1, times > 0 and max_in_flight None or >= 1; got slots={slots}, "
                             f"turn_s={turn_s}, idle_s={idle_s}, max_in_flight={max_in_flight}")
        self.slots, self.turn_s, self.idle_s = int(slots), float(turn_s), float(idle_s)
        self.max_in_flight = max_in_flight
        self.clock = clock
        self._lock = threading.Lock()
        self._live: dict[Hashable, _Stream] = {}
        self._line: OrderedDict[Hashable, _Stream] = OrderedDict()

    def visit(self, stream: Hashable, client: Hashable | None = None) -> Pass:
        """A frame of `stream` (one tab's stream; `client`: its browser, None = the stream itself)
        arrived: what it gets now. A LIVE or WAITING pass counts the frame as in flight until
        `answered(stream)`."""
        client = stream if client is None else client
        with self._lock:
            now = self.clock()
            self._drop_idle(now)
            if any(other.client == client for key, other in self._all() if key != stream):
                return Pass(DUPLICATE)
            held = self._live.get(stream) or self._line.get(stream)
            if held is not None and self.max_in_flight is not None and held.in_flight >= self.max_in_flight:
                held.seen = now
                return Pass(BUSY)
            if stream in self._live:
                current = self._live[stream]
                current.seen, current.client = now, client  # the browser's id may arrive after its first frames
                if now - current.since >= self.turn_s:
                    if not self._line:
                        current.since = now  # nobody waits: a new turn
                    else:  # the turn is over and others wait: to the back of the line
                        del self._live[stream]
                        self._line[stream] = _Stream(client, now, now, current.in_flight)
                        self._promote(now)
            else:
                entry = self._line.setdefault(stream, _Stream(client, now, now))
                entry.seen, entry.client = now, client
                self._promote(now)
            if stream in self._live:
                self._live[stream].in_flight += 1
                return Pass(LIVE, left_s=max(0.0, self.turn_s - (now - self._live[stream].since)))
            self._line[stream].in_flight += 1
            position = list(self._line).index(stream) + 1
            return Pass(WAITING, position=position, wait_s=self._wait_estimate(position, now))

    def answered(self, stream: Hashable) -> None:
        """`stream`'s frame that got a LIVE or WAITING pass was answered: one frame fewer in flight,
        and its silence counts from now (a slow frame is not idleness)."""
        with self._lock:
            for table in (self._live, self._line):
                if stream in table:
                    table[stream].seen = self.clock()
                    table[stream].in_flight = max(0, table[stream].in_flight - 1)

    def leave(self, stream: Hashable) -> None:
        """`stream` ended: its slot or place is free at once."""
        with self._lock:
            self._live.pop(stream, None)
            self._line.pop(stream, None)
            self._promote(self.clock())

    def counts(self) -> tuple[int, int]:
        """(live streams, streams waiting) now."""
        with self._lock:
            self._drop_idle(self.clock())
            return len(self._live), len(self._line)

    def _all(self):
        yield from self._live.items()
        yield from self._line.items()

    def _drop_idle(self, now: float) -> None:
        for table in (self._live, self._line):
            for key in [key for key, entry in table.items() if now - entry.seen > self.idle_s]:
                del table[key]
        self._promote(now)

    def _promote(self, now: float) -> None:
        while self._line and len(self._live) < self.slots:
            key, entry = self._line.popitem(last=False)
            self._live[key] = _Stream(entry.client, now, entry.seen, entry.in_flight)

    def _wait_estimate(self, position: int, now: float) -> float:
        """Seconds until the slot for place `position` frees, at the latest: the live turns' ends in
        order, one whole turn more for each full round of slots ahead."""
        ends = sorted(max(0.0, self.turn_s - (now - entry.since)) for entry in self._live.values())
        if not ends:
            return 0.0
        rounds, index = divmod(position - 1, len(ends))
        return ends[index] + rounds * self.turn_s


class _Job:
    __slots__ = ("key", "predict", "frame", "stream", "wake", "lead", "result", "error", "batch_size", "seconds")

    def __init__(self, key: Hashable, predict: Callable[[list], Sequence], frame, stream: Hashable | None):
        self.key, self.predict, self.frame, self.stream = key, predict, frame, stream
        self.wake = threading.Event()
        self.lead = False  # this job's thread runs the next batch
        self.result = self.error = None
        self.batch_size = 0
        self.seconds = 0.0  # how long its batch's forward took


class BatchTurns:
    """One forward at a time; frames waiting meanwhile run together as the next batch (at most
    `max_batch`, oldest first, only frames for the same model `key`, at most one per `stream`).
    Thread-safe.

    The thread of the oldest waiting frame runs each batch (no thread of its own), then hands the
    turn to the thread of the oldest frame still waiting."""

    def __init__(self, max_batch: int = 4):
        self.max_batch = max(1, int(max_batch))
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._busy = False

    def pending(self) -> int:
        """Frames waiting for the model now (not counting a batch that is running)."""
        with self._lock:
            return len(self._pending)

    def run(self, key: Hashable, predict: Callable[[list], Sequence], frame, stream: Hashable | None = None):
        """(`predict([..., frame, ...])` for this frame, the batch's size, the batch's forward in
        seconds): batched with the frames of other callers waiting for the same `key` (their
        `predict` is the same model's), but not with another frame of the same `stream` (None:
        a frame of no stream, batched with any). Raises what `predict` raised for the batch."""
        job = _Job(key, predict, frame, stream)
        with self._lock:
            self._pending.append(job)
            job.lead = not self._busy  # nobody busy: nothing else is pending, this job is the head
            self._busy = True
        if not job.lead:
            job.wake.wait()  # set when its batch is done, or when it becomes the head
        if job.lead and job.batch_size == 0:
            self._run_batch()
        if job.error is not None:
            raise job.error
        return job.result, job.batch_size, job.seconds

    def _run_batch(self) -> None:
        with self._lock:
            head = self._pending[0]
            batch, streams = [], set()
            for j in self._pending:
                if j.key == head.key and (j.stream is None or j.stream not in streams) and len(batch) < self.max_batch:
                    batch.append(j)
                    streams.add(j.stream)
            self._pending = [j for j in self._pending if j not in batch]
        start = time.perf_counter()
        try:
            results = list(head.predict([j.frame for j in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"the model returned {len(results)} results for {len(batch)} frames")
            for j, result in zip(batch, results):
                j.result = result
        except Exception as error:  # every frame of the batch learns why
            for j in batch:
                j.error = error
        seconds = time.perf_counter() - start
        with self._lock:
            successor = self._pending[0] if self._pending else None
            self._busy = successor is not None
            if successor is not None:
                successor.lead = True
        for j in batch:
            j.batch_size, j.seconds = len(batch), seconds
            if j is not head:
                j.wake.set()
        if successor is not None:
            successor.wake.set()
