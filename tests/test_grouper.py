"""The deadlines of a change set (debounce, step, timeout), on a fake clock.

awatch() and watch() both ask one sans-I/O grouper how long to wait; here
it is driven without a watcher, so each rule is checked exactly (the times
are binary fractions, exact in floating point).
"""

from __future__ import annotations

import math
import random

from inotipy._changes import _SLICE, _Grouper


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def grouper(
    clock: Clock,
    timeout: float = 0.0,
    every_step: bool = False,
    step: float = 0.25,
) -> _Grouper:
    return _Grouper(
        debounce=1.5,
        step=step,
        timeout=timeout,
        every_step=every_step,
        clock=clock,
    )


def test_without_a_timeout_the_first_change_has_no_deadline() -> None:
    clock = Clock()
    group = grouper(clock)
    clock.now += 1000
    assert group.next_wait() == math.inf


def test_a_stop_event_to_look_at_cuts_waits_to_one_step() -> None:
    clock = Clock()
    assert grouper(clock, every_step=True).next_wait() == 0.25
    group = grouper(clock, timeout=0.125, every_step=True)
    assert group.next_wait() == 0.125


def test_the_timeout_counts_from_the_start_and_ends_the_group() -> None:
    clock = Clock()
    group = grouper(clock, timeout=5.0)
    clock.now += 2.0
    assert group.next_wait() == 3.0
    clock.now += 3.0
    assert group.next_wait() is None


def test_after_the_first_change_a_step_without_growth_ends_it() -> None:
    clock = Clock()
    group = grouper(clock, timeout=5.0)
    clock.now += 4.0
    group.on_change()
    clock.now += 0.125  # past the timeout, which no longer counts
    assert group.next_wait() == 0.125
    group.on_change(grew=True)  # the step starts again
    assert group.next_wait() == 0.25
    clock.now += 0.125
    group.on_change(grew=False)  # more of the same: no new step
    assert group.next_wait() == 0.125
    clock.now += 0.125
    assert group.next_wait() == 0.0  # the last poll
    clock.now += 0.125
    assert group.next_wait() is None


def test_the_debounce_bounds_a_group_that_keeps_growing() -> None:
    clock = Clock()
    group = grouper(clock)
    group.on_change()
    for _ in range(5):
        clock.now += 0.25
        group.on_change(grew=True)
    assert group.next_wait() == 0.25  # 1.25 s of the 1.5 gone
    clock.now += 0.125
    group.on_change(grew=True)
    assert group.next_wait() == 0.125  # cut to the debounce
    clock.now += 0.125
    assert group.next_wait() is None


def test_a_zero_step_polls_rather_than_ending_the_group() -> None:
    clock = Clock()
    group = grouper(clock, step=0.0, every_step=True)
    assert group.next_wait() == 0.0
    group.on_change()
    assert group.next_wait() == 0.0


# ---- against watchfiles' rule ----------------------------------------------
#
# watchfiles (src/lib.rs, RustNotify.watch) sleeps a step, then looks at the
# size of its set: empty, it goes on waiting; the same size as at the last
# look, the group is over; larger, it goes on, and the first such look
# starts the debounce, which ends the group at the first look past it.  The
# models below replay a stream of (time, path) arrivals through that rule
# and through _Grouper, times in ms (whole numbers: exact in floats).


def watchfiles_groups(
    stream: list[tuple[int, str]], step: int, debounce: int
) -> list[tuple[int, set[str]]]:
    """(end, paths) of each group watchfiles yields for the stream."""
    groups: list[tuple[int, set[str]]] = []
    now, i = 0, 0
    while i < len(stream):
        paths: set[str] = set()
        last_size, until = 0, None
        while True:
            now += step
            while i < len(stream) and stream[i][0] <= now:
                paths.add(stream[i][1])
                i += 1
            if not paths:
                continue
            if len(paths) == last_size or (until is not None and now > until):
                break
            last_size = len(paths)
            if until is None:
                until = now + debounce
        groups.append((now, paths))
    return groups


# The slice awatch() gathers the rest of a group by, in the models' ms.
SLICE = round(_SLICE * 1000)


def inotipy_groups(
    stream: list[tuple[int, str]], step: int, debounce: int
) -> list[tuple[int, set[str]]]:
    """(end, paths) of each group _Grouper closes for the stream, as the
    watcher gathers it: the first change taken when it arrives (a get()
    wakes for it), the rest a slice at a time (a sleep of at most SLICE,
    then every arrival due by then)."""
    clock = Clock()
    clock.now = 0.0
    groups: list[tuple[int, set[str]]] = []
    i = 0
    while i < len(stream):
        group = _Grouper(
            debounce=float(debounce),
            step=float(step),
            timeout=0.0,
            every_step=False,
            clock=clock,
        )
        paths: set[str] = set()
        clock.now = max(clock.now, float(stream[i][0]))
        while True:
            before = len(paths)
            while i < len(stream) and stream[i][0] <= clock.now:
                paths.add(stream[i][1])
                i += 1
            grew = len(paths) > before
            group.on_change(grew)
            wait = group.next_wait()
            # (A wait of 0 that found nothing ends it: on a real clock
            # the next look is past the deadline.)
            if wait is None or (wait == 0 and not grew):
                break
            clock.now += min(wait, float(SLICE))
        groups.append((int(clock.now), paths))
    return groups


def yielded_at(groups: list[tuple[int, set[str]]], path: str) -> int:
    return next(end for end, paths in groups if path in paths)


def log_and_edit(edit_at: int, until: int = 3000) -> list[tuple[int, str]]:
    """A log appended every 20 ms, and app.py saved once."""
    stream = [(t, "app.log") for t in range(20, until, 20)]
    stream.append((edit_at, "app.py"))
    return sorted(stream)


def test_a_log_written_all_the_time_does_not_hold_back_an_edit() -> None:
    """The issue's case: uvicorn's default step and debounce, a log
    appended every 20 ms beside app.py.  Each edit time from 1 s to 1.1 s,
    ms by ms: the edit is yielded within a step and a slice of the log's
    next write (which grows a group that the edit began), and never more
    than a slice after watchfiles yields it."""
    for edit_at in range(1000, 1100):
        stream = log_and_edit(edit_at)
        ours = yielded_at(inotipy_groups(stream, 50, 1600), "app.py")
        theirs = yielded_at(watchfiles_groups(stream, 50, 1600), "app.py")
        assert ours <= edit_at + 20 + 50 + SLICE
        assert ours <= theirs + SLICE


def test_a_first_group_keeps_a_step_of_quiet_and_ends_within_a_slice() -> None:
    """Random streams: bursts, pauses, paths seen again and new ones.  The
    first group holds everything that arrived by its end; it never ends
    before a step has passed since the arrival that last grew it (a burst
    with pauses shorter than a step is one group), and ends within a step
    and a slice of it, or within a slice of the debounce.  Against
    watchfiles' first group, from the same start: it ends about half a
    step sooner on average (watchfiles sees a change up to a step late, we
    up to a slice late) and later in a few streams only, where being a
    slice late let the next arrival, just over a step after, grow it."""
    rng = random.Random(12)
    diffs = []
    for _ in range(2000):
        stream: list[tuple[int, str]] = []
        t = rng.randrange(0, 200)
        for _ in range(rng.randrange(1, 60)):
            t += rng.choice((0, 1, 5, 20, 49, 50, 51, 120))
            stream.append((t, f"p{rng.randrange(rng.choice((1, 4, 40)))}"))
        step = rng.choice((10, 50, 100))
        debounce = rng.choice((0, 30, 200, 1600))
        end, paths = inotipy_groups(stream, step, debounce)[0]
        their_end = watchfiles_groups(stream, step, debounce)[0][0]
        assert paths == {p for at, p in stream if at <= end}
        seen: set[str] = set()
        grew_at = stream[0][0]
        for at, p in stream:
            if at > end:
                break
            if p not in seen:
                seen.add(p)
                grew_at = at
        first = stream[0][0]
        case = (stream, step, debounce)
        if end < first + debounce:
            assert grew_at + step <= end <= grew_at + step + SLICE, case
        else:
            assert end <= first + debounce + SLICE, case
        diffs.append(end - their_end)
    later = sum(d > 0 for d in diffs)
    assert sum(diffs) / len(diffs) < -20, sum(diffs) / len(diffs)
    assert later < len(diffs) * 0.05, later
