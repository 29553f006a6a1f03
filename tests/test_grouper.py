"""The deadlines of a change set (debounce, step, timeout), on a fake clock.

awatch() and watch() both ask one sans-I/O grouper how long to wait; here
it is driven without a watcher, so each rule is checked exactly (the times
are binary fractions, exact in floating point).
"""

from __future__ import annotations

import math

from inotipy._changes import _Grouper


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


def test_after_the_first_change_a_step_at_most_until_the_debounce() -> None:
    clock = Clock()
    group = grouper(clock, timeout=5.0)
    clock.now += 4.0
    group.on_change()
    clock.now += 1.0  # past the timeout, which no longer counts
    assert group.next_wait() == 0.25
    clock.now += 0.375
    assert group.next_wait() == 0.125
    clock.now += 0.125
    assert group.next_wait() is None


def test_a_zero_step_polls_rather_than_ending_the_group() -> None:
    clock = Clock()
    group = grouper(clock, step=0.0, every_step=True)
    assert group.next_wait() == 0.0
    group.on_change()
    assert group.next_wait() == 0.0
