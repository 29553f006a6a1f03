"""IN, EVENT_BIT, decode_mask, STOP_ON and get_event_loop."""

from __future__ import annotations

import asyncio
import enum
import os

import pytest

import inotipy
from inotipy import EVENT_BIT, IN

# The kernel's values (<sys/inotify.h>), by name.
KERNEL_VALUES = {
    "ACCESS": 0x1,
    "MODIFY": 0x2,
    "ATTRIB": 0x4,
    "CLOSE_WRITE": 0x8,
    "CLOSE_NOWRITE": 0x10,
    "CLOSE": 0x18,
    "OPEN": 0x20,
    "MOVED_FROM": 0x40,
    "MOVED_TO": 0x80,
    "MOVE": 0xC0,
    "CREATE": 0x100,
    "DELETE": 0x200,
    "DELETE_SELF": 0x400,
    "MOVE_SELF": 0x800,
    "ALL_EVENTS": 0xFFF,
    "UNMOUNT": 0x2000,
    "Q_OVERFLOW": 0x4000,
    "IGNORED": 0x8000,
    "ONLYDIR": 0x01000000,
    "DONT_FOLLOW": 0x02000000,
    "EXCL_UNLINK": 0x04000000,
    "MASK_CREATE": 0x10000000,
    "MASK_ADD": 0x20000000,
    "ISDIR": 0x40000000,
    "ONESHOT": 0x80000000,
    # inotify_init1() flags, equal to the open(2) flags of the same name.
    "CLOEXEC": os.O_CLOEXEC,
    "NONBLOCK": os.O_NONBLOCK,
}

# Single bits of event masks: each has an EVENT_BIT of the same name.
MASK_BITS = [
    name
    for name, value in KERNEL_VALUES.items()
    if name not in ("CLOEXEC", "NONBLOCK") and value & (value - 1) == 0
]


@pytest.mark.parametrize("name", sorted(KERNEL_VALUES))
def test_in_has_the_kernel_value(name: str) -> None:
    value = getattr(IN, name)
    assert value == KERNEL_VALUES[name]
    assert int(value) == KERNEL_VALUES[name]
    assert isinstance(value, int)


def test_in_values_combine_as_ints() -> None:
    combined = IN.CREATE | IN.DELETE | IN.ISDIR
    assert combined == 0x40000300
    assert isinstance(combined, int)
    assert IN.CLOSE == IN.CLOSE_WRITE | IN.CLOSE_NOWRITE
    assert IN.MOVE == IN.MOVED_FROM | IN.MOVED_TO
    assert IN.CREATE | 0x200 == 0x300
    assert 0x200 | IN.CREATE == 0x300
    assert IN.ALL_EVENTS & IN.CREATE == IN.CREATE
    assert {IN.CREATE: "x"}[0x100] == "x"


def test_event_bit_is_an_int_enum_of_bit_numbers() -> None:
    assert issubclass(EVENT_BIT, enum.IntEnum)
    assert EVENT_BIT.ACCESS == 0
    assert EVENT_BIT.CREATE == 8
    assert EVENT_BIT.Q_OVERFLOW == 14
    assert EVENT_BIT.IGNORED == 15
    assert EVENT_BIT.ISDIR == 30
    assert EVENT_BIT.ONESHOT == 31
    assert repr(EVENT_BIT.CREATE) == "<EVENT_BIT.CREATE: 8>"


@pytest.mark.parametrize("name", MASK_BITS)
def test_event_bit_mask_matches_in(name: str) -> None:
    bit = EVENT_BIT[name]
    assert bit.mask == 1 << bit.value
    assert getattr(IN, name) == bit.mask


def test_decode_mask_lists_bits_in_ascending_order() -> None:
    decoded = inotipy.decode_mask(IN.ISDIR | IN.CREATE | IN.ACCESS)
    assert decoded == [EVENT_BIT.ACCESS, EVENT_BIT.CREATE, EVENT_BIT.ISDIR]
    assert all(type(bit) is EVENT_BIT for bit in decoded)
    assert inotipy.decode_mask(0) == []
    assert inotipy.decode_mask(IN.ALL_EVENTS) == [
        EVENT_BIT(n) for n in range(12)
    ]


def test_decode_mask_names_unnamed_bits_by_number() -> None:
    mask = IN.ACCESS | 1 << 12 | IN.IGNORED | 1 << 20 | 1 << 27
    assert inotipy.decode_mask(mask) == [
        EVENT_BIT.ACCESS,
        "?12",
        EVENT_BIT.IGNORED,
        "?20",
        "?27",
    ]


def test_decode_mask_repr_matches_event_repr_style() -> None:
    assert repr(inotipy.decode_mask(IN.CREATE)) == "[<EVENT_BIT.CREATE: 8>]"


def test_stop_on_timeout() -> None:
    assert isinstance(inotipy.STOP_ON.TIMEOUT, enum.Enum)
    assert inotipy.STOP_ON.TIMEOUT in {inotipy.STOP_ON.TIMEOUT}


def test_get_event_loop_outside_a_running_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        assert inotipy.get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.asyncio_only
def test_get_event_loop_inside_a_running_loop(run) -> None:
    async def main() -> None:
        assert inotipy.get_event_loop() is asyncio.get_running_loop()

    run(main)


def test_watcher_closed_error_is_a_value_error() -> None:
    assert issubclass(inotipy.WatcherClosedError, ValueError)
