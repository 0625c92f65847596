"""The live webcam's admission rules (demos.webcam_slots) on a fake clock, and the model turns'
batching and order with real threads (no sleeps: every wait is on an event)."""
from __future__ import annotations

import threading

import pytest

from demos.webcam_slots import BUSY, DUPLICATE, LIVE, WAITING, BatchTurns, LiveSlots


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return FakeClock()


def slots(clock, count=2, turn_s=60.0, idle_s=4.0) -> LiveSlots:
    return LiveSlots(count, turn_s, idle_s, clock=clock)


def test_streams_up_to_the_slot_count_go_live_the_next_waits_with_its_place_and_the_wait(clock):
    live = slots(clock, idle_s=100.0)
    assert live.visit("a").state == LIVE
    clock.now += 10
    assert live.visit("b").state == LIVE
    third = live.visit("c")
    assert (third.state, third.position) == (WAITING, 1)
    assert third.wait_s == pytest.approx(50.0)  # a's turn ends first: 60 s from its start, 10 s ago
    fourth = live.visit("d")
    assert (fourth.position, fourth.wait_s) == (2, pytest.approx(60.0))  # then b's
    fifth = live.visit("e")
    assert (fifth.position, fifth.wait_s) == (3, pytest.approx(110.0))  # a second round: a's next turn end
    assert live.counts() == (2, 3)


def test_the_countdown_runs_with_the_clock_and_a_lone_visitor_gets_a_new_turn(clock):
    live = slots(clock, count=1)
    assert live.visit("a").left_s == pytest.approx(60.0)
    for _ in range(29):  # frames every 2 s, within the idle limit
        clock.now += 2
        ticket = live.visit("a")
    assert ticket.left_s == pytest.approx(2.0)
    clock.now += 2
    ticket = live.visit("a")
    assert (ticket.state, ticket.left_s) == (LIVE, pytest.approx(60.0))  # nobody waits: a fresh turn


def test_when_a_turn_ends_and_someone_waits_the_slot_goes_to_the_head_of_the_line(clock):
    live = slots(clock, count=1, idle_s=100.0)
    live.visit("a")
    assert live.visit("b").state == WAITING
    clock.now += 60
    ended = live.visit("a")
    assert (ended.state, ended.position) == (WAITING, 1)  # to the back of the line
    assert live.visit("b").state == LIVE
    assert live.visit("b").left_s == pytest.approx(60.0)
    clock.now += 60
    assert live.visit("b").state == WAITING  # and back again: nobody starves
    assert live.visit("a").state == LIVE


def test_the_line_is_first_come_first_served(clock):
    live = slots(clock, count=1, idle_s=100.0)
    live.visit("a")
    for stream in ("b", "c", "d"):
        live.visit(stream)
        clock.now += 1
    live.leave("a")
    assert [live.visit(s).state for s in ("d", "c", "b")] == [WAITING, WAITING, LIVE]
    assert live.visit("d").position == 2


def test_a_silent_stream_loses_its_slot_after_the_idle_time(clock):
    """An API client that keeps its connection open but sends nothing holds the slot for idle_s only."""
    live = slots(clock, count=1, idle_s=4.0)
    live.visit("api")
    assert live.visit("page").state == WAITING
    clock.now += 3
    assert live.visit("page").state == WAITING  # 3 s of silence: still held
    clock.now += 2
    assert live.visit("page").state == LIVE  # 5 s: dropped
    assert live.visit("api").state == WAITING  # and it comes back to the end of the line


def test_a_waiting_stream_that_stops_asking_leaves_the_line(clock):
    live = slots(clock, count=1, idle_s=4.0)
    live.visit("a")
    live.visit("gone")
    clock.now += 3
    live.visit("a")
    assert live.visit("b").position == 2
    clock.now += 2
    live.visit("a")
    assert live.visit("b").position == 1


def test_one_stream_per_client_a_second_tab_is_refused_until_the_first_stops(clock):
    live = slots(clock, count=4)
    assert live.visit("tab1", client="browser").state == LIVE
    assert live.visit("tab2", client="browser").state == DUPLICATE
    assert live.visit("tab3", client="other browser").state == LIVE
    assert live.counts() == (2, 0)  # the refused tab holds nothing
    live.leave("tab1")
    assert live.visit("tab2", client="browser").state == LIVE


def test_silence_counts_from_the_last_answer_so_a_slow_frame_keeps_its_slot(clock):
    live = slots(clock, count=1, idle_s=4.0)
    live.visit("slow")
    clock.now += 10  # one frame took 10 s on a busy machine
    live.answered("slow")
    assert live.visit("other").state == WAITING
    clock.now += 3
    assert live.visit("slow").state == LIVE


def test_a_browser_id_that_arrives_after_the_first_frames_still_counts(clock):
    live = slots(clock, count=4)
    live.visit("tab1")  # before the page load stored the browser's id, the stream stands for itself
    live.visit("tab1", client="browser")
    assert live.visit("tab2", client="browser").state == DUPLICATE


def test_a_stream_has_at_most_max_in_flight_frames_admitted_live_or_waiting(clock):
    """The page keeps two frames in flight; a third (a script sending more) is answered BUSY at once
    and holds nothing, until one of the two is answered."""
    live = LiveSlots(1, 60.0, 4.0, clock=clock, max_in_flight=2)
    assert [live.visit("a").state for _ in range(3)] == [LIVE, LIVE, BUSY]
    live.answered("a")
    assert live.visit("a").state == LIVE
    assert [live.visit("b").state for _ in range(3)] == [WAITING, WAITING, BUSY]  # in line too
    live.answered("b")
    assert live.visit("b").state == WAITING
    live.leave("a")  # Stop: b's frames in flight come with it to the live place
    assert live.visit("b").state == BUSY
    live.answered("b")
    assert live.visit("b").state == LIVE


def test_bad_settings_are_refused(clock):
    with pytest.raises(ValueError, match="slots must be >= 1"):
        LiveSlots(0, 60, 4, clock=clock)
    with pytest.raises(ValueError):
        LiveSlots(1, 0, 4, clock=clock)
    with pytest.raises(ValueError, match="max_in_flight"):
        LiveSlots(1, 60, 4, clock=clock, max_in_flight=0)


class GatedModel:
    """A stand-in forward that records each batch and, for the first call, waits until released."""

    def __init__(self):
        self.batches: list[list] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, frames):
        self.batches.append(list(frames))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return [f"depth of {frame}" for frame in frames]


def wait_for(condition, timeout_s: float = 10.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout_s, done.set)
    deadline.start()
    try:
        while not condition():
            if done.is_set():
                raise AssertionError("condition not reached")
    finally:
        deadline.cancel()


def test_frames_arriving_while_the_model_runs_go_through_together_in_arrival_order():
    turns, model = BatchTurns(max_batch=4), GatedModel()
    results: dict[str, tuple] = {}

    def visitor(frame):
        results[frame] = turns.run("model", model, frame)

    first = threading.Thread(target=visitor, args=("a",))
    first.start()
    assert model.entered.wait(10)
    others = []
    for frame in ("b", "c", "d"):
        thread = threading.Thread(target=visitor, args=(frame,))
        thread.start()
        others.append(thread)
        wait_for(lambda n=len(others): turns.pending() == n)  # each queued before the next starts
    model.release.set()
    for thread in (first, *others):
        thread.join(10)
    assert model.batches == [["a"], ["b", "c", "d"]]
    assert results["a"][:2] == ("depth of a", 1)
    assert [results[f][:2] for f in "bcd"] == [("depth of b", 3), ("depth of c", 3), ("depth of d", 3)]
    assert turns.pending() == 0


def test_a_batch_never_mixes_models_and_is_capped():
    turns, model = BatchTurns(max_batch=2), GatedModel()
    threads = [threading.Thread(target=turns.run, args=("m1", model, "a"))]
    threads[0].start()
    assert model.entered.wait(10)
    for key, frame in (("m1", "b"), ("m2", "x"), ("m1", "c"), ("m1", "d")):
        threads.append(threading.Thread(target=turns.run, args=(key, model, frame)))
        threads[-1].start()
        wait_for(lambda n=len(threads) - 1: turns.pending() == n)
    model.release.set()
    for thread in threads:
        thread.join(10)
    assert model.batches == [["a"], ["b", "c"], ["x"], ["d"]]  # oldest first, one model per batch, at most 2


def test_a_batch_takes_one_frame_per_stream_so_every_stream_is_served_once_before_any_twice():
    """Two frames in flight per page: frames a1, a2, b1 wait while x runs; the next batch is a1 and
    b1 (a2 would come back with a1 and the page would show only a2), then a2."""
    turns, model = BatchTurns(max_batch=4), GatedModel()
    threads = [threading.Thread(target=turns.run, args=("m", model, "x", "page-x"))]
    threads[0].start()
    assert model.entered.wait(10)
    for frame, stream in (("a1", "page-a"), ("a2", "page-a"), ("b1", "page-b"), ("api", None), ("api2", None)):
        threads.append(threading.Thread(target=turns.run, args=("m", model, frame, stream)))
        threads[-1].start()
        wait_for(lambda n=len(threads) - 1: turns.pending() == n)
    model.release.set()
    for thread in threads:
        thread.join(10)
    assert model.batches == [["x"], ["a1", "b1", "api", "api2"], ["a2"]]


def test_a_failing_forward_reaches_every_frame_of_its_batch_and_the_next_batch_still_runs():
    turns = BatchTurns()
    calls = []

    def broken(frames):
        calls.append(frames)
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        turns.run("m", broken, "a")
    assert turns.run("m", lambda frames: [f + "!" for f in frames], "b")[:2] == ("b!", 1)
