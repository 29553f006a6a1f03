"""The command line: `inotipy` / `python -m inotipy`, its three modes."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

EVENT_LINE = re.compile(r"^Event\((\d+|None), \[.*\], \d+, .*\)$")


def test_prints_events_and_exits_after_timeout(spawn, tmp_dir: Path) -> None:
    child = spawn(
        [sys.executable, "-m", "inotipy", str(tmp_dir), "--timeout", "2"]
    )
    child.wait_watching()
    (tmp_dir / "f1").mkdir()
    [line] = child.read_lines(1)
    assert EVENT_LINE.match(line), line
    assert "<EVENT_BIT.CREATE: 8>" in line and line.endswith(", 0, 'f1')")
    status, rest, err = child.finish(deadline=10)
    assert status == 0, err
    for line in rest.splitlines():
        assert EVENT_LINE.match(line), line
    assert "Traceback" not in err


def test_timeout_without_events_exits_two(tmp_dir: Path, scaled) -> None:
    """As inotifywait: 2 when the timeout passes with no event at all."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "inotipy", str(tmp_dir), "--timeout", "0.3"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert time.monotonic() - start >= 0.3


def test_missing_path_exits_one_without_traceback(
    tmp_dir: Path, scaled
) -> None:
    missing = str(tmp_dir / "no-such-dir")
    result = subprocess.run(
        [sys.executable, "-m", "inotipy", missing, "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1
    assert missing in result.stderr
    assert "Traceback" not in result.stderr


def test_sigint_exits_without_traceback(spawn, tmp_dir: Path) -> None:
    child = spawn([sys.executable, "-m", "inotipy", str(tmp_dir)])
    child.wait_watching()
    child.signal(signal.SIGINT)
    _, _, err = child.finish(deadline=10)
    assert "Traceback" not in err, err


def inotipy(*args: str) -> list[str]:
    return [sys.executable, "-m", "inotipy", *args]


def test_recursive_format_and_escapes(spawn, tmp_dir: Path) -> None:
    child = spawn(
        inotipy(
            "-r",
            str(tmp_dir),
            "-e",
            "create",
            "--format",
            "{events}\\t{name}\\t{path}",
        )
    )
    child.wait_watching()
    (tmp_dir / "a" / "b").mkdir(parents=True)
    (tmp_dir / "a" / "b" / "two\nlines").touch()
    os.close(os.open(os.fsencode(tmp_dir / "a") + b"/\xff", os.O_CREAT, 0o644))
    lines = child.read_lines(4)
    assert sorted(lines) == sorted(
        [
            f"CREATE,ISDIR\ta\t{tmp_dir}/a",
            f"CREATE,ISDIR\ta/b\t{tmp_dir}/a/b",
            f"CREATE\ta/b/two\\nlines\t{tmp_dir}/a/b/two\\nlines",
            f"CREATE\ta/\\xff\t{tmp_dir}/a/\\xff",
        ]
    )


def test_json_lines_round_trip_any_name(spawn, tmp_dir: Path) -> None:
    child = spawn(inotipy(str(tmp_dir), "--json", "-e", "CREATE,MOVE"))
    child.wait_watching()
    os.close(os.open(os.fsencode(tmp_dir) + b"/caf\xe9", os.O_CREAT, 0o644))
    os.rename(os.fsencode(tmp_dir) + b"/caf\xe9", tmp_dir / "caf\u00e9")
    records = [json.loads(line) for line in child.read_lines(3)]
    assert [r["events"] for r in records] == [
        ["CREATE"],
        ["MOVED_FROM"],
        ["MOVED_TO"],
    ]
    assert (
        os.fsencode(records[0]["path"]) == os.fsencode(tmp_dir) + b"/caf\xe9"
    )
    assert records[2]["name"] == "caf\u00e9"
    assert records[1]["cookie"] == records[2]["cookie"] != 0
    assert records[0]["wd"] == 1 and records[0]["src_path"] is None


def test_include_exclude_and_max_events(spawn, tmp_dir: Path) -> None:
    child = spawn(
        inotipy(
            str(tmp_dir),
            "-e",
            "CREATE",
            "--include",
            "*.py",
            "--exclude",
            "test_*",
            "-n",
            "2",
            "--format",
            "{name}",
        )
    )
    child.wait_watching()
    for name in ("a.txt", "test_b.py", "c.py", "d.py", "e.py"):
        (tmp_dir / name).touch()
    status, out, err = child.finish()
    assert (status, out) == (0, "c.py\nd.py\n"), err


def test_stats_counts_per_path(tmp_dir: Path, spawn) -> None:
    child = spawn(
        inotipy(
            "--stats", "-t", "0.5", "-r", str(tmp_dir), "-e", "CREATE,MODIFY"
        )
    )
    child.wait_watching()
    (tmp_dir / "sub").mkdir()
    # Alternating files: the kernel merges an event into an identical one
    # at the tail of its queue.
    for _ in range(3):
        for name in ("f", "g"):
            with open(tmp_dir / name, "a") as f:
                f.write("x")
    status, out, err = child.finish()
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["total", "create", "modify", "path"]
    assert lines[1].split() == ["4", "1", "3", str(tmp_dir / "f")]
    assert lines[2].split() == ["4", "1", "3", str(tmp_dir / "g")]
    assert lines[3].split() == ["1", "1", "0", str(tmp_dir / "sub")]
    assert lines[4] == "9 events"


def test_usage_errors_exit_one(tmp_dir: Path, scaled) -> None:
    for args in (
        ["-e", "NOPE", str(tmp_dir)],
        [str(tmp_dir), "-t", "-1"],
        [str(tmp_dir), "--"],
        ["--stats", str(tmp_dir), "--", "true"],
        [str(tmp_dir), "-n", "0"],
    ):
        result = subprocess.run(
            inotipy(*args), capture_output=True, text=True, timeout=scaled(30)
        )
        assert result.returncode == 1, (args, result.stderr)
        assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_colour_on_a_terminal_only(tmp_dir: Path, scaled) -> None:
    def run(*extra: str, tty: bool) -> bytes:
        args = inotipy(str(tmp_dir), "-t", "0.3", "-e", "CREATE", *extra)
        main, sub = pty.openpty()
        proc = subprocess.Popen(
            args,
            stdout=sub if tty else subprocess.PIPE,
            stderr=sub if tty else subprocess.DEVNULL,
            env=dict(os.environ, NO_COLOR=""),
        )
        os.close(sub)
        wait_watched_by(proc.pid)
        (tmp_dir / f"f{proc.pid}").touch()
        out = b""
        if tty:
            while True:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the child closed the pty
                    break
                if not chunk:
                    break
                out += chunk
        else:
            assert proc.stdout is not None
            with proc.stdout:
                out = proc.stdout.read()
        proc.wait(scaled(10))
        os.close(main)
        return out

    assert b"\x1b[32m" in run(tty=True)  # CREATE in green
    assert b"\x1b[" not in run("--color=never", tty=True)
    assert b"\x1b[" not in run(tty=False)
    assert b"\x1b[32m" in run("--color=always", tty=False)


def wait_watched_by(pid: int) -> None:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        for name in os.listdir(f"/proc/{pid}/fdinfo"):
            try:
                with open(f"/proc/{pid}/fdinfo/{name}") as f:
                    if "inotify wd:" in f.read():
                        return
            except OSError:
                pass
        time.sleep(0.01)  # polls a condition, against a deadline
    raise AssertionError("never watched")


RUNS = """
import os, sys, time
with open(sys.argv[1], "a") as f:
    f.write("%d\\n" % os.getpid())
time.sleep(60)
"""


def test_runs_a_command_and_restarts_it(
    spawn, tmp_dir: Path, tmp_path: Path, scaled
) -> None:
    log = tmp_path / "starts"
    child = spawn(
        inotipy(
            str(tmp_dir),
            "--step",
            "20",
            "--",
            sys.executable,
            "-c",
            RUNS,
            str(log),
        )
    )
    child.wait_watching()

    def starts() -> list[str]:
        return log.read_text().split() if log.exists() else []

    def until(n: int) -> list[str]:
        end = time.monotonic() + scaled(10)
        while len(starts()) < n:
            assert time.monotonic() < end, starts()
            time.sleep(0.01)  # polls a condition, against a deadline
        return starts()

    first = until(1)
    (tmp_dir / "ignored.pyc").touch()  # the default filter drops it
    (tmp_dir / "app.py").touch()
    second = until(2)
    assert len(second) == 2
    # The first run was stopped, not left behind.
    end = time.monotonic() + scaled(10)
    while os.path.exists(f"/proc/{first[0]}"):
        assert time.monotonic() < end, "the first run is still alive"
        time.sleep(0.01)
    child.signal(signal.SIGINT)
    status, _, err = child.finish()
    assert status == 130, err
    assert "restarting" in err and "app.py" in err and "pyc" not in err
    assert not os.path.exists(f"/proc/{second[1]}")
    assert len(starts()) == 2


def test_run_mode_errors(tmp_dir: Path, scaled) -> None:
    result = subprocess.run(
        inotipy(str(tmp_dir / "missing"), "--", "true"),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1 and "missing" in result.stderr
    result = subprocess.run(
        inotipy(str(tmp_dir), "--", str(tmp_dir / "no-such-program")),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1 and "cannot run" in result.stderr


def gone(pid: str | int, scaled) -> bool:
    end = time.monotonic() + scaled(10)
    while os.path.exists(f"/proc/{pid}"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True  # exited, waiting to be reaped
        except OSError:
            pass
        if time.monotonic() > end:
            return False
        time.sleep(0.01)  # polls a condition, against a deadline
    return True


BACKGROUND = 'sleep 300 & echo $! >> "$1"'


def test_run_mode_stops_what_the_command_left_running(
    spawn, tmp_dir: Path, tmp_path: Path, scaled
) -> None:
    """The command exits at once, leaving a process behind in its group:
    a restart stops that one too, and SIGTERM to inotipy stops the rest."""
    pids = tmp_path / "pids"
    child = spawn(
        inotipy(
            str(tmp_dir),
            "--step",
            "20",
            "--",
            "sh",
            "-c",
            BACKGROUND,
            "sh",
            str(pids),
        )
    )
    child.wait_watching()

    def started(n: int) -> list[str]:
        end = time.monotonic() + scaled(10)
        while True:
            got = pids.read_text().split() if pids.exists() else []
            if len(got) >= n:
                return got
            assert time.monotonic() < end, got
            time.sleep(0.01)  # polls a condition, against a deadline

    first = started(1)[0]
    (tmp_dir / "x.py").touch()
    second = started(2)[1]
    assert gone(first, scaled), "the first run's sleep was left behind"
    child.signal(signal.SIGTERM)
    status, _, err = child.finish()
    assert status == 143, err
    assert gone(second, scaled), "SIGTERM left the command's sleep behind"


def test_bad_format_is_a_usage_error(tmp_dir: Path, scaled) -> None:
    for fmt in ("{foo} {path}", "{path", "{0}"):
        result = subprocess.run(
            inotipy(str(tmp_dir), "--format", fmt),
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )
        assert result.returncode == 1, result.stderr
        assert "bad --format" in result.stderr
        assert "Traceback" not in result.stderr
