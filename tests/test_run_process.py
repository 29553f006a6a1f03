"""run_process(), arun_process(), detect_target_type() and ``inotipy
run``: watchfiles' way of running a program again on changes.

Each run happens in a child process of the test (run_process() blocks
and takes SIGTERM): the child prints what it runs, the test changes a
file once the child watches, and reads what runs next.  The program run
is a small Python one that prints its pid and WATCHFILES_CHANGES.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import inotipy
from inotipy import detect_target_type
from support import Child

# The program run: says it started, with its pid and the changes, then
# waits to be stopped.  With IGNORE in argv it ignores SIGINT.
PROGRAM = textwrap.dedent(
    """
    import json, os, signal, sys, time
    if "IGNORE" in sys.argv:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("started", os.getpid(), os.environ["WATCHFILES_CHANGES"],
          flush=True)
    try:
        time.sleep(600)
    except KeyboardInterrupt:  # SIGINT: stopped, quietly
        pass
    """
)

# The runner: run_process() or arun_process() on argv's directory, the
# program as a command or as a function; prints the restarts at the end.
RUNNER = textwrap.dedent(
    """
    import asyncio, logging, os, sys, time
    import inotipy

    def program(tag):
        print("started", os.getpid(), os.environ["WATCHFILES_CHANGES"],
              tag, flush=True)
        time.sleep(600)

    def callback(changes):
        print("callback", sorted(p for _, p in changes), flush=True)

    async def acallback(changes):
        await asyncio.sleep(0)
        callback(changes)

    if __name__ == "__main__":
        logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")
        mode, kind, where = sys.argv[1:4]
        extra = sys.argv[4:]
        if kind == "command":
            target = " ".join([sys.executable, os.environ["PROGRAM"], *extra])
            options = {}
        elif kind == "callable":
            target, options = program, {"args": ("callable",)}
        else:
            target, options = "runner.program", {"kwargs": {"tag": "dotted"}}
        options.update(step=20, sigint_timeout=float(os.environ["SIGINT_S"]))
        if mode == "sync":
            n = inotipy.run_process(where, target=target, callback=callback,
                                    **options)
        else:
            try:
                n = asyncio.run(inotipy.arun_process(
                    where, target=target, callback=acallback, **options))
            except KeyboardInterrupt:
                n = "interrupted"
        print("restarts", n, flush=True)
    """
)


@pytest.fixture
def runner(tmp_path: Path, spawn: Any) -> Any:
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "runner.py").write_text(RUNNER)

    def start(mode: str, kind: str, where: Path, *extra: str) -> Child:
        env = dict(
            os.environ,
            PROGRAM=str(tmp_path / "program.py"),
            PYTHONPATH=str(tmp_path),
            SIGINT_S="0.2" if "IGNORE" in extra else "30",
        )
        return spawn(
            [sys.executable, str(tmp_path / "runner.py"), mode, kind]
            + [str(where), *extra],
            env=env,
            cwd=tmp_path,
        )

    return start


def started(line: str) -> tuple[int, list[list[str]], list[str]]:
    word, pid, rest = line.split(" ", 2)
    assert word == "started", line
    decoder = json.JSONDecoder()
    changes, end = decoder.raw_decode(rest)
    return int(pid), changes, rest[end:].split()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(
    "mode, kind",
    [
        ("sync", "command"),
        ("sync", "callable"),
        ("sync", "dotted"),
        ("async", "command"),
        ("async", "dotted"),
    ],
)
def test_a_change_starts_the_target_again(
    runner: Any, tmp_dir: Path, mode: str, kind: str
) -> None:
    child = runner(mode, kind, tmp_dir)
    pid, changes, tags = started(child.read_lines(1)[0])
    assert changes == []
    assert tags == {"command": [], "callable": ["callable"]}.get(
        kind, ["dotted"]
    )
    child.wait_watching()
    (tmp_dir / "new.txt").write_text("x")
    path = str(tmp_dir / "new.txt")
    assert child.read_lines(1) == [f"callback {[path]}"]
    pid2, changes, _ = started(child.read_lines(1)[0])
    assert changes == [["added", path]]
    assert pid2 != pid and gone(pid)  # stopped, and waited for
    # SIGTERM ends it as Ctrl-C does: the program is stopped first.
    child.signal(signal.SIGTERM)
    status, out, err = child.finish()
    want = "interrupted" if mode == "async" else "1"
    assert (status, out.splitlines()[-1]) == (0, f"restarts {want}")
    assert gone(pid2)
    assert "watchfiles.main received signal SIGTERM" in err


def test_a_program_deaf_to_sigint_is_killed(
    runner: Any, tmp_dir: Path
) -> None:
    child = runner("sync", "command", tmp_dir, "IGNORE")
    pid, _, _ = started(child.read_lines(1)[0])
    child.wait_watching()
    (tmp_dir / "new.txt").touch()
    child.read_lines(1)  # the callback
    pid2, _, _ = started(child.read_lines(1)[0])
    assert gone(pid)
    child.signal(signal.SIGTERM)
    status, _, err = child.finish()
    assert status == 0 and gone(pid2)
    assert "process has not terminated, sending SIGKILL" in err


def test_detect_target_type_as_watchfiles() -> None:
    import watchfiles.run

    cases = [
        "app.main",
        "pkg.mod.func",
        "main",
        "script.py",
        "run.sh",
        "pytest --lf",
        "./app.main",
        "a.b c",
        print,
    ]
    for target in cases:
        assert detect_target_type(target) == watchfiles.run.detect_target_type(
            target
        ), target
    assert detect_target_type("app.main") == "function"
    assert detect_target_type("pytest --lf") == "command"


def test_bad_targets() -> None:
    with pytest.raises(ValueError, match="target_type"):
        inotipy.run_process(".", target="ls", target_type="shell")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="command target is a string"):
        inotipy.run_process(".", target=print, target_type="command")


def test_version() -> None:
    assert inotipy.__version__ == inotipy.VERSION


# ---- inotipy run ------------------------------------------------------------


def cli(spawn: Any, *args: str, **kwargs: Any) -> Child:
    child: Child = spawn(
        [sys.executable, "-m", "inotipy", "run", *args], **kwargs
    )
    return child


def test_cli_runs_a_command_again_on_changes(
    spawn: Any, tmp_path: Path, tmp_dir: Path
) -> None:
    (tmp_path / "program.py").write_text(PROGRAM)
    child = cli(
        spawn, f"{sys.executable} {tmp_path / 'program.py'}", str(tmp_dir)
    )
    pid, changes, _ = started(child.read_lines(1)[0])
    child.wait_watching()
    (tmp_dir / "a.py").touch()
    pid2, changes, _ = started(child.read_lines(1)[0])
    assert changes == [["added", str(tmp_dir / "a.py")]] and gone(pid)
    child.signal(signal.SIGTERM)
    status, _, err = child.finish()
    assert status == 0 and gone(pid2)
    lines = err.splitlines()
    assert "watching" in lines[0] and "(command)" in lines[0]
    assert any(line.endswith("1 change detected") for line in lines)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["ls", "/no/such/path"], 'path "/no/such/path" does not exist'),
        (["no_such_module.func", "."], "ImportError: No module named"),
        (["--filter", "no_such.Filter", "ls", "."], "ImportError:"),
        (["no-such-command-here", "."], "No such file or directory"),
    ],
)
def test_cli_mistakes_are_one_line(
    spawn: Any, tmp_dir: Path, args: list[str], message: str
) -> None:
    status, out, err = cli(spawn, *args, cwd=tmp_dir).finish()
    lines = [line for line in err.splitlines() if "watching" not in line]
    assert status == 1 and out == ""
    assert len(lines) == 1 and message in lines[0], err


def test_cli_version_and_usage(spawn: Any) -> None:
    status, out, _ = cli(spawn, "--version").finish()
    assert (status, out) == (0, f"inotipy run v{inotipy.VERSION}\n")
    status, _, err = cli(spawn).finish()
    assert status == 2 and "usage: inotipy run" in err
