"""One contender's side of a measurement, run by run.py in a subprocess.

    python consumer.py CONTENDER MODE DIR [--n N] [--ack-fd FD] [--cpu C]
                       [--flag FILE] [--paths FILE]
                       [--mask M] [--no-index-files] [--index-out PREFIX]

It runs under the Python of the contender's own environment (our package
under the interpreter that has it installed, each peer in its own venv under
benchmarks/.venvs/), imports only the standard library and that one
library, and talks to run.py on standard input and output:

    it sets up a watch on DIR (every event bit the library offers), prints
    READY, and then, by MODE:

    drain     waits for GO on stdin (the events are queued in the kernel by
              then), takes N events the library's natural way, prints
              {"seconds": ...}
    live      takes events until the end marker (an event on DIR itself,
              which has an empty name) and prints the count, whether an
              overflow was seen, the receive time of the marker and the CPU
              time used
    latency   for each event, writes its receive time (8 bytes,
              CLOCK_MONOTONIC ns) to the pipe ACK_FD
    idle      waits for an event that never comes
    mem_watch adds a watch on every path listed in FILE and prints the
              growth of RSS (no READY, no DIR watch)
    mem_queue after GO, makes the library read the N events queued in the
              kernel into its own memory without handing them out, and
              prints the growth of RSS
    tree      watches the tree under DIR recursively, the library's way,
              and prints the time that took, the growth of RSS and the
              number of inotify watches the process holds (counted from
              /proc/self/fdinfo, the same way for every library) (no READY)
    heal      ours only (get_batch()): a tree's heal after a real overflow,
              by the protocol of heal_core.c (STARTED, OPEN, OPENED, READY,
              GO, then the result)

Each contender has one class below, on a base that holds what contenders
share (Contender: the protocol and its hooks; AsyncioContender: a loop
running one coroutine per mode; AwaitGet: `await get()` loops).  Its hot
loops are written the way that library's documentation shows, with the
same minimal work per event.  MODES, at the end, maps each MODE to the
function that runs it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
ALL_EVENTS = 0x00000FFF
Q_OVERFLOW = 0x00004000
monotonic_ns = time.monotonic_ns


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def emit_ready(obj: dict) -> None:
    sys.stdout.write("READY " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def write_index(watch, root: str, path: str) -> None:
    """A tree's index as heal_core.c writes it: KIND<TAB>PATH lines, the
    path below the root."""
    cut = len(root) + 1
    with open(path, "w") as f:
        for full, kind, _size, _mtime in watch.entries():
            f.write(f"{kind or 'unknown'}\t{full[cut:]}\n")


def ready() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()


def wait_go() -> None:
    sys.stdin.readline()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def heap() -> int | None:
    """Bytes malloc() has handed out and not had back (glibc mallinfo2(),
    chunks in use plus mmap()ed ones), or None without it.  CPython's
    small objects live in its own arenas, which this does not count; the
    C core's allocations are all here."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = Mallinfo2
    gc.collect()
    m = fn()
    return m.uordblks + m.hblkhd


def inotify_watches() -> int:
    """The inotify watches this process holds, from /proc/self/fdinfo:
    one `inotify wd:` line per watch, whatever the library."""
    n = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            with open("/proc/self/fdinfo/" + fd, "rb") as f:
                n += f.read().count(b"\ninotify wd:")
        except OSError:
            pass
    return n


def ack(fd: int, t: int) -> None:
    os.write(fd, t.to_bytes(8, "little"))


def new_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


class Contender:
    """The protocol run by MODES.  A mode a contender cannot do raises
    NotImplementedError, which run.py reports as n/a.

    setup() makes the watch on DIR that the event modes (drain, live,
    latency, idle, mem_queue) read; mem_watch() and tree() make their own
    watches and set self.r0 = rss() just before adding them.  The hooks
    below it are what some contenders do otherwise."""

    def __init__(self, args):
        self.args = args
        self.dir = args.dir

    def setup(self) -> None:
        raise NotImplementedError

    def drain(self, n: int) -> float:
        raise NotImplementedError

    def live(self) -> tuple[int, bool]:
        raise NotImplementedError

    def latency(self, fd: int) -> None:
        raise NotImplementedError

    def idle(self) -> None:
        raise NotImplementedError

    def mem_watch(self, paths: list[str]) -> None:
        raise NotImplementedError

    def mem_queue(self, n: int) -> int:
        raise NotImplementedError

    def tree(self, root: str) -> float:
        raise NotImplementedError

    def heal(self, root: str) -> dict:
        raise NotImplementedError

    # -- hooks

    def wait_for_go(self) -> None:
        """drain: waits until the events are queued (run.py sends GO)."""
        wait_go()

    def live_end_ns(self) -> int:
        """live: when the end marker was received; read after live()."""
        return monotonic_ns()

    def tree_facts(self) -> dict:
        """tree: what else the tree record says, after tree()."""
        return {}


class AsyncioContender(Contender):
    """A library read from an asyncio loop, self.loop (made by setup()):
    drain, live and latency each run one coroutine, which a subclass
    writes the library's way:

        drain_loop(n)      takes N events
        live_loop()        takes events up to the end marker (no name) and
                           returns (count, the end marker's event)
        latency_loop(fd)   acks every event to FD, for ever

    getter() is the library's `get` coroutine function (idle awaits it
    once), and end_mask(event) the mask of an event."""

    def drain(self, n):
        t0 = time.perf_counter()
        self.loop.run_until_complete(self.drain_loop(n))
        return time.perf_counter() - t0

    def live(self):
        count, end = self.loop.run_until_complete(self.live_loop())
        return count, bool(self.end_mask(end) & Q_OVERFLOW)

    def latency(self, fd):
        self.loop.run_until_complete(self.latency_loop(fd))

    def idle(self):
        self.loop.run_until_complete(self.getter()())

    def getter(self):
        raise NotImplementedError

    def drain_loop(self, n):
        raise NotImplementedError

    def live_loop(self):
        raise NotImplementedError

    def latency_loop(self, fd):
        raise NotImplementedError

    @staticmethod
    def end_mask(event) -> int:
        return event.mask


class AwaitGet(AsyncioContender):
    """A library read by `event = await get()` in a loop, get being
    getter(): ours' get(), aionotify's get_event(), inotipy 0.1.1's
    get()."""

    async def drain_loop(self, n):
        get = self.getter()
        for _ in range(n):
            await get()

    async def live_loop(self):
        get = self.getter()
        count = 0
        while True:
            ev = await get()
            if not ev.name:
                return count, ev
            count += 1

    async def latency_loop(self, fd):
        get = self.getter()
        while True:
            await get()
            ack(fd, monotonic_ns())


# ---- ours ------------------------------------------------------------------


class Inotipy(AsyncioContender):
    """This package, read by `async for event in watcher`; InotipyGet and
    InotipyBatch read it by get() and get_batch() instead."""

    def setup(self):
        import inotipy

        self.loop = new_loop()
        self.w = inotipy.Watcher()
        self.w.watch(self.dir, inotipy.IN.ALL_EVENTS)

    def getter(self):
        return self.w.get

    async def drain_loop(self, n):
        i = 0
        async for _ev in self.w:
            i += 1
            if i == n:
                break

    async def live_loop(self):
        count = 0
        async for ev in self.w:
            if not ev.name:
                return count, ev
            count += 1

    async def latency_loop(self, fd):
        async for _ev in self.w:
            ack(fd, monotonic_ns())

    def mem_watch(self, paths):
        import inotipy

        self.w = inotipy.Watcher()
        self.r0 = rss()
        for p in paths:
            self.w.watch(p, inotipy.IN.ALL_EVENTS)

    def mem_queue(self, n):
        self.w.get_nowait()  # polls the kernel: reads everything
        return self.w.queued + 1

    def tree(self, root):
        import inotipy

        self.w = inotipy.Watcher()
        index = self.args.index_files
        self.r0 = rss()
        self.h0 = heap()
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        # mask=IN.ALL_EVENTS, the default
        self.w.watch_tree(root, index_files=index)
        t = time.perf_counter() - t0
        self.cpu = cpu_seconds() - c0
        self.watch_count = self.w.watch_count
        return t

    def tree_facts(self):
        h1 = heap()
        return {
            "watch_count": self.watch_count,
            "cpu_s": self.cpu,
            "index_files": self.args.index_files,
            "heap_growth": None if h1 is None else h1 - self.h0,
        }


class InotipyGet(AwaitGet, Inotipy):
    """This package, read by `await watcher.get()`."""


class InotipyBatch(Inotipy):
    """This package, read by `await watcher.get_batch()`."""

    async def drain_loop(self, n):
        w = self.w
        i = 0
        while i < n:
            i += len(await w.get_batch())

    async def live_loop(self):
        w = self.w
        count = 0
        while True:
            for ev in await w.get_batch():
                if not ev.name:
                    return count, ev
                count += 1

    async def latency_loop(self, fd):
        w = self.w
        while True:
            evs = await w.get_batch()
            t = monotonic_ns()
            for _ev in evs:
                ack(fd, t)

    def heal(self, root):
        """heal_core.c's steps, through Python: the watcher is made while
        run.py holds max_queued_events low, the tree is watched, and after
        GO (the overflow and the changes are made meanwhile) get_batch()
        is awaited until IN.SYNCED."""
        import inotipy

        print("STARTED", flush=True)
        wait_go()  # OPEN
        self.w = inotipy.Watcher()
        print("OPENED", flush=True)
        t0 = time.perf_counter()
        watch = self.w.watch_tree(
            root, self.args.mask, index_files=self.args.index_files
        )
        setup = time.perf_counter() - t0
        while self.w.get_batch_nowait():
            pass
        write_index(watch, root, self.args.index_out + ".before")
        emit_ready({"setup_s": setup, "files": len(watch.entries())})
        wait_go()
        self.loop = new_loop()
        r = self.loop.run_until_complete(self.heal_loop(root))
        write_index(watch, root, self.args.index_out + ".after")
        return r

    async def heal_loop(self, root):
        import inotipy

        w = self.w
        overflow, synced, rescan = int(inotipy.IN.Q_OVERFLOW), 0x20000, 0x10000
        r = {
            "t_overflow_s": -1.0,
            "reads": 0,
            "before_overflow": 0,
            "overflows": 0,
            "plain_after": 0,
            "events": [],
        }
        prefix = len(root) + 1
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        while True:
            batch = await w.get_batch()
            r["reads"] += 1
            for ev in batch:
                m = ev.mask
                if ev.watch is None and m & overflow:
                    if r["overflows"] == 0:
                        r["t_overflow_s"] = time.perf_counter() - t0
                    r["overflows"] += 1
                elif m & synced:
                    r["t_synced_s"] = time.perf_counter() - t0
                    r["cpu_s"] = cpu_seconds() - c0
                    return r
                elif not r["overflows"]:
                    r["before_overflow"] += 1
                elif not m & rescan:
                    r["plain_after"] += 1
                else:
                    src = ev.src_path
                    r["events"].append([m, ev.pathname, src and src[prefix:]])


# ---- peers -----------------------------------------------------------------


class AsyncInotify(AsyncioContender):
    """asyncinotify: `async for event in inotify`."""

    def setup(self):
        from asyncinotify import Inotify, Mask

        self.loop = new_loop()
        self.ino = Inotify()
        self.ino.add_watch(self.dir, Mask(ALL_EVENTS))

    def getter(self):
        return self.ino.get

    async def drain_loop(self, n):
        i = 0
        async for _ev in self.ino:
            i += 1
            if i == n:
                break

    async def live_loop(self):
        count = 0
        async for ev in self.ino:
            if ev.name is None:
                return count, ev
            count += 1

    async def latency_loop(self, fd):
        async for _ev in self.ino:
            ack(fd, monotonic_ns())

    def tree(self, root):
        from pathlib import Path

        from asyncinotify import Mask, RecursiveInotify

        self.loop = new_loop()
        self.ino = RecursiveInotify()
        self.r0 = rss()
        t0 = time.perf_counter()
        self.ino.add_recursive_watch(Path(root), Mask(ALL_EVENTS))
        return time.perf_counter() - t0

    def mem_watch(self, paths):
        from asyncinotify import Inotify, Mask

        self.ino = Inotify()
        self.r0 = rss()
        for p in paths:
            self.ino.add_watch(p, Mask(ALL_EVENTS))


class AioNotify(AwaitGet):
    """aionotify: `await watcher.get_event()`.  It swallows IN_Q_OVERFLOW
    (wd -1 is no alias), so a loss shows only in the count."""

    def setup(self):
        import aionotify

        self.loop = new_loop()
        self.w = aionotify.Watcher()
        self.w.watch(path=self.dir, flags=ALL_EVENTS)
        self.loop.run_until_complete(self.w.setup(self.loop))

    def getter(self):
        return self.w.get_event

    @staticmethod
    def end_mask(event):
        return event.flags

    def mem_watch(self, paths):
        import aionotify

        self.loop = new_loop()
        self.w = aionotify.Watcher()
        self.r0 = rss()
        for p in paths:
            self.w.watch(path=p, flags=ALL_EVENTS)
        self.loop.run_until_complete(self.w.setup(self.loop))


class Inotipy011(AwaitGet):
    """inotipy 0.1.1, the original pure-Python package of the same name:
    `await watcher.get()`.  Its events call the name `pathname`."""

    def setup(self):
        import inotipy

        if hasattr(inotipy, "_inotipy"):
            raise SystemExit("this is not inotipy 0.1.1")
        self.loop = new_loop()
        self.w = inotipy.Watcher.create(loop=self.loop)
        self.w.watch(self.dir, ALL_EVENTS)

    def getter(self):
        return self.w.get

    async def live_loop(self):
        get = self.getter()
        count = 0
        while True:
            ev = await get()
            if not ev.pathname:
                return count, ev
            count += 1

    def mem_watch(self, paths):
        import inotipy

        self.loop = new_loop()
        self.w = inotipy.Watcher.create(loop=self.loop)
        self.r0 = rss()
        self.watches = [self.w.watch(p, ALL_EVENTS) for p in paths]


class PyInotify(Contender):
    """pyinotify: its AsyncioNotifier calls a ProcessEvent handler."""

    def _handler(self, on_event):
        import pyinotify

        class Handler(pyinotify.ProcessEvent):
            def process_default(self, event):
                on_event(event)

        return Handler()

    def setup(self):
        import pyinotify

        self.pyinotify = pyinotify
        self.loop = new_loop()
        self.wm = pyinotify.WatchManager()
        self.wm.add_watch(self.dir, ALL_EVENTS)

    def _run(self, on_event):
        # The notifier adds its reader at once, so it is made only when the
        # loop is about to run (the events wait in the kernel until then).
        self.notifier = self.pyinotify.AsyncioNotifier(
            self.wm, self.loop, default_proc_fun=self._handler(on_event)
        )

    def drain(self, n):
        done = self.loop.create_future()
        count = 0

        def on_event(event):
            nonlocal count
            count += 1
            if count == n:
                done.set_result(None)

        t0 = time.perf_counter()
        self._run(on_event)
        self.loop.run_until_complete(done)
        return time.perf_counter() - t0

    def live(self):
        done = self.loop.create_future()
        count = 0

        def on_event(event):
            nonlocal count
            if not event.name:
                if not done.done():
                    done.set_result(event.mask)
                return
            count += 1

        self._run(on_event)
        mask = self.loop.run_until_complete(done)
        return count, bool(mask & Q_OVERFLOW)

    def latency(self, fd):
        self._run(lambda event: ack(fd, monotonic_ns()))
        self.loop.run_forever()

    def idle(self):
        self._run(lambda event: None)
        self.loop.run_forever()

    def mem_watch(self, paths):
        import pyinotify

        self.wm = pyinotify.WatchManager()
        self.r0 = rss()
        for p in paths:
            self.wm.add_watch(p, ALL_EVENTS)

    def tree(self, root):
        import pyinotify

        self.wm = pyinotify.WatchManager()
        self.r0 = rss()
        t0 = time.perf_counter()
        self.wm.add_watch(root, ALL_EVENTS, rec=True, auto_add=True)
        return time.perf_counter() - t0

    def mem_queue(self, n):
        self.notifier = self.pyinotify.Notifier(self.wm)
        self.notifier.read_events()
        return len(self.notifier._eventq)


class AsyncioFloor(AwaitGet):
    """No library: the least an asyncio consumer woken through a Future
    pays, the reference for what asyncio itself costs per wake-up.  An
    inotify descriptor made with ctypes, a reader callback registered with
    loop.add_reader() that os.read()s 64 KiB, splits the records into
    (mask, has-a-name) tuples and resolves the Future the coroutine
    awaits.  Its drain is Python per record; its live and latency phases
    are the loop's wake-up path and nothing else."""

    def setup(self):
        import collections
        import ctypes
        import struct

        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if (
            self.fd < 0
            or libc.inotify_add_watch(
                self.fd, os.fsencode(self.dir), ALL_EVENTS
            )
            < 0
        ):
            raise OSError(ctypes.get_errno(), "inotify")
        self.header = struct.Struct("iIII")
        self.pending = collections.deque()
        self.waiter = None
        self.loop = new_loop()
        self.loop.add_reader(self.fd, self._readable)

    def _readable(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        unpack, append = self.header.unpack_from, self.pending.append
        off = 0
        while off < len(data):
            _wd, mask, _cookie, length = unpack(data, off)
            append((mask, length > 0))
            off += 16 + length
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self):
        pending = self.pending
        while not pending:
            self.waiter = self.loop.create_future()
            await self.waiter
        return pending.popleft()

    def getter(self):
        return self.get

    async def live_loop(self):
        get = self.get
        count = 0
        while True:
            ev = await get()
            if not ev[1]:
                return count, ev
            count += 1

    @staticmethod
    def end_mask(event):
        return event[0]


class InotifySimple(Contender):
    """inotify_simple: synchronous `for event in inotify.read()`."""

    def setup(self):
        from inotify_simple import INotify

        self.ino = INotify()
        self.ino.add_watch(self.dir, ALL_EVENTS)

    def drain(self, n):
        read = self.ino.read
        t0 = time.perf_counter()
        i = 0
        while i < n:
            for _ev in read():
                i += 1
        return time.perf_counter() - t0

    def live(self):
        read = self.ino.read
        count = 0
        while True:
            for ev in read():
                if not ev.name:
                    return count, bool(ev.mask & Q_OVERFLOW)
                count += 1

    def latency(self, fd):
        read = self.ino.read
        while True:
            events = read()
            t = monotonic_ns()
            for _ev in events:
                ack(fd, t)

    def idle(self):
        self.ino.read()

    def mem_watch(self, paths):
        from inotify_simple import INotify

        self.ino = INotify()
        self.r0 = rss()
        for p in paths:
            self.ino.add_watch(p, ALL_EVENTS)

    def mem_queue(self, n):
        self.held = self.ino.read()
        return len(self.held)


class Watchdog(Contender):
    """watchdog: an Observer thread calls a FileSystemEventHandler.  It
    reads the kernel in a thread of its own from the moment it starts, so
    for drain the main thread holds the GIL (a long switch interval and a
    busy loop on a shared flag, not GO) while the events are made: they
    wait in the kernel until the flag is set."""

    def _observer(self, path, recursive, handler):
        from watchdog.observers import Observer

        self.observer = Observer()
        self.observer.schedule(handler, path, recursive=recursive)
        self.observer.start()

    def _handler(self, on_file, on_dir_attrib=None, on_modified=None):
        from watchdog.events import FileSystemEventHandler

        class Handler(FileSystemEventHandler):
            def on_created(self, event):
                on_file(event)

            def on_deleted(self, event):
                on_file(event)

            def on_attrib(self, event):
                if on_dir_attrib is not None and event.is_directory:
                    on_dir_attrib(event)

            def on_modified(self, event):
                if on_modified is not None and not event.is_directory:
                    on_modified(event)

        return Handler()

    def setup(self):
        self.done = threading.Event()
        self.count = 0
        self.target = -1
        self.t_end = 0

        def on_file(event):
            self.count += 1
            if self.count == self.target:
                self.done.set()

        def on_dir_attrib(event):
            if not self.done.is_set():
                self.t_end = monotonic_ns()
                self.done.set()

        def on_modified(event):
            if self.ack_fd is not None:
                ack(self.ack_fd, monotonic_ns())

        self.ack_fd = self.args.ack_fd if self.args.mode == "latency" else None
        self._observer(
            self.dir, False, self._handler(on_file, on_dir_attrib, on_modified)
        )
        if self.args.mode == "drain":
            self._hold_gil()

    def _hold_gil(self):
        """The flag run.py sets when the events are queued, and a switch
        interval long enough that the observer thread cannot run until
        drain() lets it."""
        import mmap

        with open(self.args.flag, "r+b") as f:
            self.flag = mmap.mmap(f.fileno(), 1)  # keeps its own fd
        sys.setswitchinterval(100.0)

    def wait_for_go(self):
        pass  # drain() waits on the flag instead

    def drain(self, n):
        flag = self.flag
        self.target = n
        while flag[0] == 0:  # holds the GIL: nothing else runs
            pass
        sys.setswitchinterval(0.005)
        t0 = time.perf_counter()
        self.done.wait()
        return time.perf_counter() - t0

    def live(self):
        self.done.wait()
        return self.count, False

    def live_end_ns(self):
        # The handler's thread saw the marker; 0 if it never did.
        return self.t_end or monotonic_ns()

    def latency(self, fd):
        threading.Event().wait()

    def idle(self):
        threading.Event().wait()

    def tree(self, root):
        from watchdog.observers import Observer

        self.observer = Observer()
        self.r0 = rss()
        t0 = time.perf_counter()
        self.observer.schedule(
            self._handler(lambda e: None), root, recursive=True
        )
        self.observer.start()  # adds the watches before it returns
        return time.perf_counter() - t0

    def tree_facts(self):
        # Its walk opens every watched directory, which queues IN_OPEN,
        # IN_ACCESS and IN_CLOSE_NOWRITE events; past the kernel queue's
        # 16,384 its reader thread sees IN_Q_OVERFLOW and walks the tree
        # again, removing and adding watches, from start() on: the count
        # read after start() is then a moving number.
        return {"watches_moving": True}

    def mem_watch(self, paths):
        # Its natural way to watch many directories: one recursive watch.
        from watchdog.observers import Observer

        base = os.path.dirname(paths[0])
        self.observer = Observer()
        self.r0 = rss()
        self.observer.schedule(
            self._handler(lambda e: None), base, recursive=True
        )
        self.observer.start()


class Watchfiles(Contender):
    """watchfiles: `async for changes in awatch(path)`, sets of (change,
    path), no filter.  Its Rust thread reads the kernel from the moment the
    watch is made, so drain does not apply."""

    def setup(self):
        self.loop = new_loop()
        if self.args.mode in ("live", "latency", "idle"):
            self._start(self.dir)

    def _start(self, path):
        from watchfiles import awatch

        self.agen = awatch(path, watch_filter=None)
        self.first = self.loop.create_task(self.agen.__anext__())
        # The watch is made when the generator first runs.
        self.loop.run_until_complete(asyncio.sleep(0.3))

    def live(self):
        agen, first, end = self.agen, self.first, self.dir

        async def run():
            count = 0
            changes = await first
            while True:
                for _change, path in changes:
                    if path == end:
                        return count + len(changes) - 1
                count += len(changes)
                changes = await agen.__anext__()

        return self.loop.run_until_complete(run()), False

    def latency(self, fd):
        agen, first = self.agen, self.first

        async def run():
            changes = await first
            while True:
                t = monotonic_ns()
                for _c in changes:
                    ack(fd, t)
                changes = await agen.__anext__()

        self.loop.run_until_complete(run())

    def idle(self):
        self.loop.run_until_complete(self.first)

    def mem_watch(self, paths):
        base = os.path.dirname(paths[0])
        self.loop = new_loop()
        self.r0 = rss()
        self._start(base)

    def tree(self, root):
        # watch() and awatch() build a RustNotify and then wait in its
        # watch() for changes: the watches all exist when the constructor
        # returns (notify's inotify backend adds them, recursively, before
        # its watch() call returns), so the constructor is the setup time.
        # The arguments are those watch(root) passes by default.
        from watchfiles._rust_notify import RustNotify

        self.r0 = rss()
        t0 = time.perf_counter()
        self.rn = RustNotify([root], False, False, 300, True, False)
        return time.perf_counter() - t0


class InotifyRecursive(Contender):
    """inotifyrecursive (on inotify_simple): only the tree phase."""

    def tree(self, root):
        from inotifyrecursive import INotify

        self.ino = INotify()
        self.r0 = rss()
        t0 = time.perf_counter()
        self.ino.add_watch_recursive(root, ALL_EVENTS)
        return time.perf_counter() - t0


CONTENDERS = {
    "inotipy-get": InotipyGet,
    "inotipy-for": Inotipy,
    "inotipy-batch": InotipyBatch,
    "asyncinotify": AsyncInotify,
    "aionotify": AioNotify,
    "pyinotify": PyInotify,
    "inotify_simple": InotifySimple,
    "asyncio-floor": AsyncioFloor,
    "watchdog": Watchdog,
    "watchfiles": Watchfiles,
    "inotipy-0.1.1": Inotipy011,
    "inotifyrecursive": InotifyRecursive,
}


# ---- modes -----------------------------------------------------------------


def run_drain(c: Contender, args) -> None:
    c.setup()
    ready()
    c.wait_for_go()
    seconds = c.drain(args.n)
    emit({"seconds": seconds, "events": args.n})


def run_live(c: Contender, args) -> None:
    c.setup()
    cpu0 = cpu_seconds()
    ready()
    count, overflow = c.live()
    emit(
        {
            "events": count,
            "overflow": overflow,
            "t_end_ns": c.live_end_ns(),
            "cpu_s": cpu_seconds() - cpu0,
        }
    )


def run_latency(c: Contender, args) -> None:
    c.setup()
    ready()
    c.latency(args.ack_fd)


def run_idle(c: Contender, args) -> None:
    c.setup()
    ready()
    c.idle()


def run_mem_watch(c: Contender, args) -> None:
    with open(args.paths) as f:
        paths = f.read().split("\n")
    c.mem_watch(paths)
    grown = rss() - c.r0
    emit(
        {
            "bytes_per_watch": grown / len(paths),
            "watches": len(paths),
            "rss_growth": grown,
        }
    )


def run_mem_queue(c: Contender, args) -> None:
    c.setup()
    r0 = rss()
    ready()
    wait_go()
    held = c.mem_queue(args.n)
    grown = rss() - r0
    emit(
        {
            "bytes_per_event": grown / max(held, 1),
            "held": held,
            "rss_growth": grown,
        }
    )


def run_tree(c: Contender, args) -> None:
    seconds = c.tree(args.dir)
    grown = rss() - c.r0
    emit(
        {
            "seconds": seconds,
            "rss_growth": grown,
            "watches": inotify_watches(),
            **c.tree_facts(),
        }
    )


def run_heal(c: Contender, args) -> None:
    emit(c.heal(args.dir))


# What each MODE runs, given the contender and the arguments.
MODES = {
    "drain": run_drain,
    "live": run_live,
    "latency": run_latency,
    "idle": run_idle,
    "mem_watch": run_mem_watch,
    "mem_queue": run_mem_queue,
    "tree": run_tree,
    "heal": run_heal,
}


def parse_args(argv: list[str]):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("contender", choices=sorted(CONTENDERS))
    p.add_argument("mode", choices=list(MODES))
    p.add_argument("dir")
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--ack-fd", type=int, default=-1)
    p.add_argument("--cpu", type=int, default=-1)
    p.add_argument("--flag", default=None)
    p.add_argument("--paths", default=None)
    p.add_argument("--mask", type=lambda x: int(x, 0), default=0xFFF)
    p.add_argument(
        "--no-index-files", dest="index_files", action="store_false"
    )
    p.add_argument("--index-out", default=None)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    c = CONTENDERS[args.contender](args)
    try:
        MODES[args.mode](c, args)
    except NotImplementedError:
        emit({"skipped": f"{args.contender} has no {args.mode} mode"})
    sys.stdout.flush()
    # Skip the teardown of threads and loops: the numbers are out.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
