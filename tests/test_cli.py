"""The command line: `inotipy` / `python -m inotipy`: printing events as
inotifywait does, counting them (--stats, watch-stats), running a command;
and failures as one line in every mode."""

from __future__ import annotations

import json
import os
import pty
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import scaled, wait_idle

EVENT_LINE = re.compile(r"^Event\((\d+|None), \[.*\], \d+, .*\)$")


def test_prints_what_a_person_reads(spawn, tmp_dir: Path) -> None:
    """The default line is the path and the events, as inotifywait's
    %w%f %e; -t alone waits for one event, as inotifywait does."""
    child = spawn(
        [sys.executable, "-m", "inotipy", str(tmp_dir), "--timeout", "20"]
    )
    child.wait_watching()
    (tmp_dir / "f1").mkdir()
    [line] = child.read_lines(1)
    assert line == f"{tmp_dir}/f1 CREATE,ISDIR"
    status, rest, err = child.finish(deadline=10)
    assert (status, rest) == (0, ""), err
    assert err == "Setting up watches.\nWatches established.\n"


def test_repr_is_a_format(spawn, tmp_dir: Path) -> None:
    child = spawn(inotipy(str(tmp_dir), "--repr", "-n", "1"))
    child.wait_watching()
    (tmp_dir / "f1").mkdir()
    [line] = child.read_lines(1)
    assert EVENT_LINE.match(line), line
    assert "<EVENT_BIT.CREATE: 8>" in line and line.endswith(", 0, 'f1')")
    status, _, err = child.finish(deadline=10)
    assert status == 0 and "Traceback" not in err


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
            # The str.format() fields moved from --format (now
            # inotifywait's) to --pyformat.
            "--pyformat",
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
            # Globs moved to their own flags: --include and --exclude
            # are inotifywait's regular expressions now.
            "--include-glob",
            "*.py",
            "--exclude-glob",
            "test_*",
            "-n",
            "2",
            "--pyformat",
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
    # inotifywatch's table: its columns, in its order.
    assert lines[0].split() == ["total", "modify", "create", "filename"]
    assert lines[1].split() == ["4", "3", "1", str(tmp_dir / "f")]
    assert lines[2].split() == ["4", "3", "1", str(tmp_dir / "g")]
    assert lines[3].split() == ["1", "0", "1", str(tmp_dir / "sub")]
    assert lines[4] == "9 events"
    assert lines[5] == "delivered: 9 events"
    limit = (Path("/proc/sys/fs/inotify/max_user_watches")).read_text()
    assert lines[6] == (
        f"watches: 2 in use by this watcher, of max_user_watches {int(limit)}"
    )
    assert lines[7].startswith("overflows: 0 ")
    assert lines[8].startswith("queue: ")


def usage_error(capsys, *args: str) -> str:
    """Runs the command line in this process on arguments it refuses
    before it watches anything (a subprocess each would only be
    slower); checks status 1 and the usage line, returns stderr."""
    from inotipy import _cli

    with pytest.raises(SystemExit) as info:
        _cli.main(list(args))
    assert info.value.code == 1, args
    err = capsys.readouterr().err
    assert err.startswith("usage: inotipy"), err
    return err


def test_usage_errors_exit_one(tmp_dir: Path, scaled, capsys) -> None:
    result = subprocess.run(
        inotipy("-e", "NOPE", str(tmp_dir)),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1, result.stderr
    assert "usage:" in result.stderr and "Traceback" not in result.stderr
    for args in (
        [str(tmp_dir), "-t", "-1"],
        [str(tmp_dir), "--"],
        ["--stats", str(tmp_dir), "--", "true"],
        [str(tmp_dir), "-n", "0"],
    ):
        usage_error(capsys, *args)


def test_colour_on_a_terminal_only(tmp_dir: Path, scaled) -> None:
    def run(*extra: str, tty: bool) -> bytes:
        args = inotipy(str(tmp_dir), "-n", "1", "-e", "CREATE", *extra)
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


def test_bad_format_is_a_usage_error(tmp_dir: Path, capsys) -> None:
    for flag, fmt, says in (
        ("--pyformat", "{foo} {path}", "bad --pyformat"),
        ("--pyformat", "{path", "bad --pyformat"),
        ("--pyformat", "{0}", "bad --pyformat"),
        ("--format", "%w%q", "unknown conversion '%q'"),
        ("--format", "%w%", "unknown conversion '%'"),
        ("--format", "{path} {events}", "--pyformat's"),
    ):
        err = usage_error(capsys, str(tmp_dir), flag, fmt)
        assert says in err, err


# ---- inotifywait's spellings ------------------------------------------------


def read_stderr_until(child, text: str, scaled) -> str:
    """Reads the child's stderr until text appears; returns what was
    read (finish() gives only what comes after)."""
    assert child.proc.stderr is not None
    fd = child.proc.stderr.fileno()
    got = b""
    end = time.monotonic() + scaled(10)
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while text.encode() not in got:
            remaining = end - time.monotonic()
            assert remaining > 0 and sel.select(remaining), got
            chunk = os.read(fd, 65536)
            assert chunk, f"stderr ended early: {got!r}"
            got += chunk
    return got.decode()


def test_watches_established_tells_scripts_when_to_start(
    spawn, tmp_dir: Path, scaled
) -> None:
    """A script waits for the line on stderr, as with inotifywait, not
    for /proc: whatever it does next is seen."""
    child = spawn(inotipy("-m", "-e", "create", "-r", str(tmp_dir)))
    err = read_stderr_until(child, "Watches established.\n", scaled)
    assert err == "Setting up watches.\nWatches established.\n"
    (tmp_dir / "a.txt").touch()
    assert child.read_lines(1) == [f"{tmp_dir}/a.txt CREATE"]


def test_quiet_once_and_twice(tmp_dir: Path, spawn) -> None:
    child = spawn(inotipy("-q", "-e", "create", "-n", "1", str(tmp_dir)))
    child.wait_watching()
    (tmp_dir / "a").touch()
    assert child.finish() == (0, f"{tmp_dir}/a CREATE\n", "")
    # -qq: nothing at all, the exit status says it.
    child = spawn(inotipy("-qq", "-e", "create", "-t", "20", str(tmp_dir)))
    child.wait_watching()
    (tmp_dir / "b").touch()
    assert child.finish() == (0, "", "")


def test_monitor_with_timeout_ends_with_status_two(
    spawn, tmp_dir: Path
) -> None:
    """-m -t N: N seconds without an event end it, status 2 even after
    events, as inotifywait's."""
    child = spawn(inotipy("-m", "-t", "0.5", "-e", "create", str(tmp_dir)))
    child.wait_watching()
    (tmp_dir / "a").touch()
    assert child.read_lines(1) == [f"{tmp_dir}/a CREATE"]
    status, rest, err = child.finish()
    assert (status, rest) == (2, ""), err


def test_events_as_inotifywait_spells_them(spawn, tmp_dir: Path) -> None:
    child = spawn(
        inotipy(
            str(tmp_dir),
            "-e",
            "close_write",
            "-e",
            "moved_to,delete",
            "-n",
            "3",
        )  # fmt: skip
    )
    child.wait_watching()
    with open(tmp_dir / "a", "w") as f:
        f.write("x")
    os.rename(tmp_dir / "a", tmp_dir / "b")
    os.mkdir(tmp_dir / "d")
    os.rmdir(tmp_dir / "d")
    status, out, err = child.finish()
    assert status == 0, err
    assert out.splitlines() == [
        f"{tmp_dir}/a CLOSE_WRITE,CLOSE",
        f"{tmp_dir}/b MOVED_TO",
        f"{tmp_dir}/d DELETE,ISDIR",
    ]


def test_format_conversions(spawn, tmp_dir: Path) -> None:
    child = spawn(
        inotipy(
            "-r",
            str(tmp_dir),
            "-e",
            "create,moved_from,moved_to",
            "--format",
            "[%w|%f|%e|%:e|%c|%%|%T]%n--",
            "--timefmt",
            "%Y",
        )  # fmt: skip
    )
    child.wait_watching()
    year = time.strftime("%Y")
    (tmp_dir / "sub").mkdir()
    # Once its CREATE is out, the tree watches sub: what follows is seen.
    assert child.read_lines(2) == [
        f"[{tmp_dir}/|sub|CREATE,ISDIR|CREATE:ISDIR|0|%|{year}]",
        "--",
    ]
    (tmp_dir / "sub" / "x").touch()
    os.rename(tmp_dir / "sub" / "x", tmp_dir / "y")
    lines = child.read_lines(6)
    assert lines[0] == f"[{tmp_dir}/sub/|x|CREATE|CREATE|0|%|{year}]"
    assert set(lines[1::2]) == {"--"}
    cookie = lines[2].split("|")[4]
    assert int(cookie, 16) != 0
    assert lines[2] == (
        f"[{tmp_dir}/sub/|x|MOVED_FROM|MOVED_FROM|{cookie}|%|{year}]"
    )
    assert lines[4] == f"[{tmp_dir}/|y|MOVED_TO|MOVED_TO|{cookie}|%|{year}]"


def test_format_with_nul_gives_exact_names(spawn, tmp_dir: Path) -> None:
    """inotifywait's man page, example 4: %0 and --no-newline, for names
    holding anything."""
    child = spawn(
        inotipy(
            "-q",
            str(tmp_dir),
            "-e",
            "create",
            "-n",
            "2",
            "--format",
            "%w%f%0",
            "--no-newline",
        )  # fmt: skip
    )
    child.wait_watching()
    names = [b"two\nlines", b"bad\xff\x1b[31m"]
    for name in names:
        os.close(os.open(os.fsencode(tmp_dir) + b"/" + name, os.O_CREAT))
    child.proc.wait(scaled(10))
    out = child.proc.stdout.read()
    base = os.fsencode(tmp_dir) + b"/"
    assert out == b"".join(base + n + b"\0" for n in names)


def test_csv_quotes_as_inotifywait(spawn, tmp_dir: Path) -> None:
    child = spawn(inotipy("-c", str(tmp_dir), "-e", "create", "-n", "3"))
    child.wait_watching()
    (tmp_dir / 'b c,"d"').touch()
    os.mkdir(tmp_dir / " sp")
    os.close(os.open(os.fsencode(tmp_dir) + b"/new\nline\xff", os.O_CREAT))
    child.proc.wait(scaled(10))
    out = child.proc.stdout.read()
    base = os.fsencode(tmp_dir) + b"/"
    assert out.splitlines(keepends=True) == [
        base + b',CREATE,"b c,""d"""\n',
        base + b',"CREATE,ISDIR"," sp"\n',
        base + b',CREATE,"new\n',  # exact names: the line break quoted
        b'line\xff"\n',
    ]


def test_outfile_appends_and_is_private(spawn, tmp_dir: Path, tmp_path: Path):
    log = tmp_path / "events.log"
    log.write_text("before\n")
    os.chmod(log, 0o644)
    child = spawn(
        inotipy(str(tmp_dir), "-o", str(log), "-e", "create", "-n", "1")
    )
    child.wait_watching()
    (tmp_dir / "a").touch()
    assert child.finish() == (
        0, "", "Setting up watches.\nWatches established.\n"
    )  # fmt: skip
    assert log.read_text() == f"before\n{tmp_dir}/a CREATE\n"
    fresh = tmp_path / "new.log"
    child = spawn(
        inotipy(str(tmp_dir), "-qo", str(fresh), "-e", "delete", "-n", "1")
    )
    child.wait_watching()
    (tmp_dir / "a").unlink()
    assert child.finish() == (0, "", "")
    assert fresh.read_text() == f"{tmp_dir}/a DELETE\n"
    assert fresh.stat().st_mode & 0o777 == 0o600


def test_fromfile_with_exclusions(spawn, tmp_dir: Path, tmp_path: Path):
    (tmp_dir / "keep").mkdir()
    (tmp_dir / "skip").mkdir()
    listing = tmp_path / "list"
    listing.write_text(f"{tmp_dir}\n@{tmp_dir}/skip\n\n")
    child = spawn(
        inotipy("-r", "--fromfile", str(listing), "-e", "create", "-n", "2")
    )
    child.wait_watching()
    for name in ("skip/s", "keep/k", "top"):
        (tmp_dir / name).touch()
    status, out, err = child.finish()
    assert (status, out) == (
        0, f"{tmp_dir}/keep/k CREATE\n{tmp_dir}/top CREATE\n"
    ), err  # fmt: skip


def test_fromfile_on_standard_input(tmp_dir: Path, scaled) -> None:
    result = subprocess.run(
        inotipy("--fromfile", "-", "-t", "0.2"),
        input=f"{tmp_dir}\n",
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 2, result.stderr  # watched, then timed out
    result = subprocess.run(
        inotipy("--fromfile", "-", "-t", "0.2"),
        input=f"{tmp_dir}/missing\n",
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1
    assert f"{tmp_dir}/missing" in result.stderr


def test_exclude_and_include_are_regular_expressions_on_the_path(
    spawn, tmp_dir: Path
) -> None:
    (tmp_dir / "sub").mkdir()
    child = spawn(
        inotipy(
            "-r",
            str(tmp_dir),
            "-e",
            "create",
            "--exclude",
            r"\.swp$",
            "--excludei",
            "/SUB/",
            "--include",
            "[[:digit:]]$",
            "-n",
            "2",
        )  # fmt: skip
    )
    child.wait_watching()
    for name in ("a1.swp", "sub/b2", "c", "d3", "e4"):
        (tmp_dir / name).touch()
    status, out, err = child.finish()
    assert (status, out) == (
        0, f"{tmp_dir}/d3 CREATE\n{tmp_dir}/e4 CREATE\n"
    ), err  # fmt: skip


def test_globs_with_a_slash_match_the_path(spawn, tmp_dir: Path) -> None:
    (tmp_dir / "build").mkdir()
    (tmp_dir / "src").mkdir()
    child = spawn(
        inotipy(
            "-r",
            str(tmp_dir),
            "-e",
            "create",
            "--exclude-glob",
            "build/*",
            "--exclude-glob",
            "*.tmp",
            "-n",
            "2",
            "--pyformat",
            "{name}",
        )  # fmt: skip
    )
    child.wait_watching()
    for name in ("build/x", "src/build", "src/y.tmp", "build", "src/z"):
        path = tmp_dir / name
        if not path.exists():
            path.touch()
    status, out, err = child.finish()
    assert (status, out) == (0, "src/build\nsrc/z\n"), err


def test_no_dereference_watches_the_link(spawn, tmp_dir: Path) -> None:
    target = tmp_dir / "target"
    target.touch()
    link = tmp_dir / "link"
    link.symlink_to(target)
    child = spawn(inotipy("-P", str(link), "-e", "attrib,modify", "-n", "1"))
    child.wait_watching()
    target.write_text("not the link")  # MODIFY of the target: not seen
    os.utime(link, follow_symlinks=False)
    status, out, err = child.finish()
    assert (status, out) == (0, f"{link} ATTRIB\n"), err
    child = spawn(inotipy(str(link), "-e", "modify", "-n", "1"))
    child.wait_watching()
    target.write_text("through the link")
    status, out, err = child.finish()
    assert (status, out) == (0, f"{link} MODIFY\n"), err


def test_what_is_not_supported_is_refused_with_a_hint(
    tmp_dir: Path, capsys
) -> None:
    for args, says in (
        (["-d", "-o", "log", str(tmp_dir)], "nohup"),
        (["--daemon", str(tmp_dir)], "nohup"),
        (["-s", str(tmp_dir)], "logger"),
        (["-F", str(tmp_dir)], "fsnotifywait"),
        (["-e", "unmount", str(tmp_dir)], "name an event too"),
        (["-e", "nonblock", str(tmp_dir)], "unknown event 'nonblock'"),
        (["--exclude", "*.pyc", str(tmp_dir)], "--exclude-glob"),
        (["--timefmt", "%s", str(tmp_dir)], "%T"),
        (["--format", "%w", "--timefmt", "%s", str(tmp_dir)], "%T"),
        (["--no-newline", str(tmp_dir)], "--format"),
        (["--debounce", "5", str(tmp_dir)], "COMMAND"),
        (["--zero", str(tmp_dir)], "--stats"),
        (["--stats", "--format", "%w", str(tmp_dir)], "not allowed"),
        (["--stats", "--ascending", "move", str(tmp_dir)], "moved_to"),
        (
            [
                "--stats",
                "-e",
                "create",
                "--descending",
                "modify",
                str(tmp_dir),
            ],
            "not watched",
        ),  # fmt: skip
        (["--filename", str(tmp_dir)], "unrecognized"),
        (["--exc", "x", str(tmp_dir)], "unrecognized"),  # no abbreviations
        ([], "no PATH"),
        (["--", "ls"], "no PATH before --"),
        (["@" + str(tmp_dir)], "no PATH"),
    ):
        err = usage_error(capsys, *args)
        assert says in err, (args, err)


def test_help_exits_zero(scaled) -> None:
    for args in (["--help"], ["watch-stats", "--help"]):
        result = subprocess.run(
            inotipy(*args), capture_output=True, text=True, timeout=scaled(30)
        )
        assert (
            result.returncode == 0
            and "--monitor" in result.stdout
            or ("--ascending" in result.stdout)
        )


def test_a_reader_that_goes_away_ends_it_quietly(spawn, tmp_dir: Path) -> None:
    child = spawn(inotipy(str(tmp_dir), "-e", "create"))
    child.wait_watching()
    (tmp_dir / "first").touch()
    assert child.read_lines(1) == [f"{tmp_dir}/first CREATE"]
    child.proc.stdout.close()  # `| head -1`
    for n in range(50):
        (tmp_dir / f"f{n}").touch()
    child.proc.stdout = None
    _, err = child.proc.communicate(timeout=scaled(10))
    assert child.proc.returncode == 0, err
    assert b"Traceback" not in err and b"Exception" not in err


# ---- every watch gone -------------------------------------------------------


def test_nothing_left_to_watch(spawn, tmp_dir: Path) -> None:
    watched = tmp_dir / "f"
    watched.touch()
    child = spawn(inotipy(str(watched), "-e", "modify"))
    child.wait_watching()
    watched.unlink()
    status, out, err = child.finish()
    assert (status, out) == (0, ""), err
    assert "nothing left to watch" in err
    # Waiting for an event that can no longer come: 1, as inotifywait's
    # "an event you did not ask for".
    watched.touch()
    child = spawn(inotipy(str(watched), "-e", "modify", "-t", "30"))
    child.wait_watching()
    watched.unlink()
    status, out, err = child.finish()
    assert (status, out) == (1, ""), err


# ---- running a command ------------------------------------------------------


def test_run_mode_refuses_what_it_would_ignore(tmp_dir: Path, capsys) -> None:
    for extra, says in (
        (["-e", "create"], "-e picks events to print"),
        (["-t", "5"], "-t and -n"),
        (["-n", "2"], "-t and -n"),
        (["--json"], "no --json"),
        (["--format", "%w"], "no --format"),
        (["-o", "log"], "no --outfile"),
        (["-P"], "links are followed"),
    ):
        err = usage_error(capsys, str(tmp_dir), *extra, "--", "true")
        assert says in err, (extra, err)


def test_run_mode_says_when_the_command_exits_by_itself(
    spawn, tmp_dir: Path, tmp_path: Path, scaled
) -> None:
    """It says so, with the command quoted as a shell would take it, and
    the next change starts it again."""
    log = tmp_path / "runs"
    child = spawn(
        inotipy(
            str(tmp_dir),
            "--step",
            "20",
            "--",
            "sh",
            "-c",
            'echo run >> "$1"; exit 3',
            "two words",
            str(log),
        )  # fmt: skip
    )
    shown = f"sh -c 'echo run >> \"$1\"; exit 3' 'two words' {log}"
    err = read_stderr_until(child, "the next change starts it again", scaled)
    assert f"inotipy: running {shown}\n" in err
    assert f"inotipy: {shown} exited by itself (status 3)" in err
    (tmp_dir / "app.py").touch()
    err = read_stderr_until(child, "the next change starts it again", scaled)
    assert f"restarting {shown}" in err
    assert log.read_text() == "run\nrun\n"


def test_run_mode_watches_before_it_runs(
    tmp_dir: Path, tmp_path: Path, scaled
) -> None:
    """A path that cannot be watched stops it before the command runs."""
    marker = tmp_path / "ran"
    result = subprocess.run(
        inotipy(
            str(tmp_dir),
            str(tmp_dir / "gone"),
            "--",
            "touch",
            str(marker),
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"inotipy: cannot watch '{tmp_dir}/gone': No such file or directory\n"
    )
    assert not marker.exists()


# ---- limits and failures: one line, status 1, in every mode -----------------

MODES = {
    "print": [],
    "stats": ["--stats"],
    "watch-stats": ["watch-stats"],
    "command": ["--", "true"],
}


def _mode_args(mode: str, *paths: str) -> list[str]:
    if mode == "watch-stats":
        return ["watch-stats", "-r", *paths]
    return ["-r", *paths, *MODES[mode]]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_missing_path_is_one_line(mode: str, tmp_dir: Path, scaled):
    missing = str(tmp_dir / "no-such-dir")
    result = subprocess.run(
        inotipy(*_mode_args(mode, str(tmp_dir), missing)),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1, result.stderr
    errors = [
        line for line in result.stderr.splitlines() if "inotipy:" in line
    ]
    assert errors == [
        f"inotipy: cannot watch {missing!r}: No such file or directory"
    ], result.stderr


def _in_process(mode: str, capsys, *paths: str) -> tuple[int, str]:
    from inotipy import _cli

    status = _cli.main(_mode_args(mode, *paths))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


@pytest.mark.root
@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_instance_limit_is_one_line(
    mode: str, tmp_dir: Path, inotify_sysctl, capsys
) -> None:
    """max_user_instances lowered for the call alone (in this process,
    so the machine-wide limit is held for milliseconds)."""
    from inotipy import Watcher

    # Root holds at least this one instance: a limit of 1 is reached.
    with Watcher(), inotify_sysctl.limit("max_user_instances", 1):
        status, err = _in_process(mode, capsys, str(tmp_dir))
    assert status == 1
    [line] = [x for x in err.splitlines() if x.startswith("inotipy:")]
    assert line.startswith("inotipy: cannot create an inotify instance: ")
    assert "/proc/sys/fs/inotify/max_user_instances" in line


@pytest.mark.root
@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_watch_limit_is_one_line(
    mode: str, tmp_dir: Path, inotify_sysctl, capsys, monkeypatch
) -> None:
    from inotipy import IN, Watcher, _fanotify

    # As root, "auto" would take fanotify for a tree inotify cannot hold
    # (tests/test_fanotify.py): this is the message where it cannot.
    monkeypatch.setattr(_fanotify, "usable", lambda: False)
    (tmp_dir / "a" / "b").mkdir(parents=True)
    with Watcher() as held:
        held.watch(tmp_dir, IN.CREATE)  # root holds one: 1 is reached
        with inotify_sysctl.limit("max_user_watches", 1):
            status, err = _in_process(mode, capsys, str(tmp_dir))
    assert status == 1
    [line] = [x for x in err.splitlines() if x.startswith("inotipy:")]
    assert line.startswith(f"inotipy: cannot watch '{tmp_dir}'")
    assert "/proc/sys/fs/inotify/max_user_watches" in line


_EMFILE = """
import os, resource, sys
from inotipy._cli import main
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
held = []
while True:
    try:
        held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        break
for fd in held[len(held) - int(sys.argv[1]):]:
    os.close(fd)  # room for the event loop (epoll, its self-pipe) or none
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize(
    "free, says",
    [(3, "cannot create an inotify instance: "), (0, "Too many open files")],
)
def test_no_descriptor_left_is_one_line(
    mode: str, free: int, says: str, tmp_dir: Path, scaled
) -> None:
    """No root needed: the descriptors run out in the child, leaving room
    for the event loop but not the watcher, or not even for the loop."""
    result = subprocess.run(
        [sys.executable, "-c", _EMFILE, str(free)]
        + _mode_args(mode, str(tmp_dir)),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if "inotipy:" in x]
    assert says in line


def test_warnings_are_one_line(capsys) -> None:
    import warnings

    from inotipy import TreeWarning
    from inotipy._cli_watch import one_line_warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with one_line_warnings(sys.stderr):
            warnings.warn(
                "cannot watch '/x': Permission denied", TreeWarning, 2
            )
    assert capsys.readouterr().err == (
        "inotipy: warning: cannot watch '/x': Permission denied\n"
    )


# ---- statistics -------------------------------------------------------------


def test_watch_stats_is_inotifywatch(spawn, tmp_dir: Path) -> None:
    """A row per watched directory, sorted as -a/-d say, columns of
    zeros with -z; the figures of the watcher on stderr."""
    (tmp_dir / "sub").mkdir()
    child = spawn(
        inotipy(
            "watch-stats",
            "-r",
            str(tmp_dir),
            "-e",
            "create,delete",
            "-a",
            "create",
            "-z",
        )  # fmt: skip
    )
    child.wait_watching()
    for name in ("a", "b", "sub/c"):
        (tmp_dir / name).touch()
    (tmp_dir / "a").unlink()
    wait_idle(child.pid)  # every event counted
    child.signal(signal.SIGINT)
    status, out, err = child.finish()
    assert status == 0, err
    assert out.splitlines() == [
        "total  create  delete  filename",
        f"1      1       0       {tmp_dir}/sub/",
        f"3      2       1       {tmp_dir}/",
    ]
    assert err.startswith(
        "Establishing watches...\n"
        "Finished establishing watches, now collecting statistics.\n"
    )
    assert "inotipy: delivered: 4 events\n" in err
    assert "inotipy: watches: 2 in use by this watcher" in err


def test_watch_stats_without_events(tmp_dir: Path, scaled) -> None:
    result = subprocess.run(
        inotipy("watch-stats", "-t", "0.2", str(tmp_dir)),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert (result.returncode, result.stdout) == (0, "")
    assert "No events occurred.\n" in result.stderr


@pytest.mark.root
def test_stats_count_overflows(
    spawn, tmp_dir: Path, inotify_sysctl, scaled
) -> None:
    """The CLI is stopped while 200 events come to a queue of 16: the
    kernel drops the rest and says so once (Q_OVERFLOW), which --stats
    counts when it reads again, within its -t period."""
    period = str(scaled(2))
    with inotify_sysctl.limit("max_queued_events", 16):
        child = spawn(
            inotipy(
                "-q", "--stats", "-t", period, str(tmp_dir), "-e", "create"
            )
        )
        child.wait_watching()  # its queue is made with the limit of 16
    child.signal(signal.SIGSTOP)
    try:
        for n in range(200):
            (tmp_dir / f"f{n}").touch()
    finally:
        child.signal(signal.SIGCONT)
    status, out, err = child.finish(deadline=30)
    assert status == 0, err
    lines = out.splitlines()
    assert "overflows: 1 (the kernel's queue holds max_queued_events" in out
    counted = int(lines[-5].split()[0])
    assert lines[-5] == f"{counted} events" and 0 < counted <= 16


# ---- progress while trees are set up ----------------------------------------

# watch_tree() has no progress callback yet: this child gives it one (the
# real walk, then the directories counted as a core would report them),
# which the CLI finds from the signature and uses.
_WITH_PROGRESS = """
import os, sys
from inotipy import _cli, _watcher

real = _watcher.Watcher.watch_tree

def watch_tree(self, path, mask=0xfff, *, exclude=(), follow_symlinks=False,
               progress=None, **options):
    watch = real(self, path, mask, exclude=exclude,
                 follow_symlinks=follow_symlinks, **options)
    for count, _ in enumerate(os.walk(path), 1):
        if progress is not None:
            progress(count)
    return watch

_watcher.Watcher.watch_tree = watch_tree
sys.exit(_cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("tty", [True, False])
def test_progress_line_on_a_terminal_only(
    tmp_dir: Path, scaled, tty: bool
) -> None:
    for n in range(30):
        (tmp_dir / f"d{n}").mkdir()
    args = [sys.executable, "-c", _WITH_PROGRESS, "-r", str(tmp_dir)]
    args += ["-t", "0.1"]
    main, sub = pty.openpty()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=sub if tty else subprocess.PIPE,
    )
    os.close(sub)
    err = b""
    if tty:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            err += chunk
    else:
        assert proc.stderr is not None
        with proc.stderr:
            err = proc.stderr.read()
    assert proc.wait(scaled(10)) == 2
    os.close(main)
    if tty:
        assert b"\r\x1b[KSetting up watches: 1 directory" in err, err
        # Cleared before the next line.
        assert b"\r\x1b[KWatches established." in err, err
    else:
        assert err == b"Setting up watches.\nWatches established.\n"


def test_progress_is_found_from_the_signature() -> None:
    from inotipy import Watcher
    from inotipy._cli_watch import tree_takes_progress

    with Watcher() as watcher:
        # watch_tree(progress=) names it in its signature.
        assert tree_takes_progress(watcher)

    class WithProgress(Watcher):
        def watch_tree(self, path, mask=0xFFF, *, progress=None, **kw):  # type: ignore[override]
            raise AssertionError("not called")

    with WithProgress() as watcher:
        assert tree_takes_progress(watcher)


def test_watch_stats_prints_the_table_so_far_on_sigusr1(
    spawn, tmp_dir: Path
) -> None:
    child = spawn(inotipy("watch-stats", str(tmp_dir), "-e", "create"))
    child.wait_watching()
    (tmp_dir / "a").touch()
    wait_idle(child.pid)
    child.signal(signal.SIGUSR1)
    table = ["total  create  filename", f"1      1       {tmp_dir}/"]
    assert child.read_lines(3) == [*table, ""]
    child.signal(signal.SIGTERM)
    status, out, err = child.finish()
    assert (status, out.splitlines()) == (0, table), err
