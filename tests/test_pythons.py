"""The Pythons inotipy claims are said alike everywhere: pyproject.toml's
requires-python and classifiers, the binding's version guard, the linters'
target, the CI leg that runs the other Pythons, and the README.  And what
the binding declares to free-threaded builds (it needs the GIL), checked
on one when the suite runs there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text()
MODULE_C = (ROOT / "binding" / "module.c").read_text()


def _minor(text: str) -> int:
    major, minor = text.split(".")
    assert major == "3"
    return int(minor)


def oldest() -> int:
    match = re.search(r'^requires-python = ">=(3\.\d+)"$', PYPROJECT, re.M)
    assert match, "requires-python is not a plain >=3.N"
    return _minor(match.group(1))


def classified() -> list[int]:
    return sorted(
        _minor(v)
        for v in re.findall(
            r'"Programming Language :: Python :: (3\.\d+)"', PYPROJECT
        )
    )


def test_classifiers_list_every_version_from_the_oldest() -> None:
    versions = classified()
    assert versions[0] == oldest()
    assert versions == list(range(versions[0], versions[-1] + 1))
    assert '"Programming Language :: Python :: 3 :: Only"' in PYPROJECT
    assert (
        '"Programming Language :: Python :: Implementation :: CPython"'
        in PYPROJECT
    )


def test_the_binding_refuses_what_requires_python_refuses() -> None:
    match = re.search(
        r"#if PY_VERSION_HEX < 0x030([0-9A-F])0000\n#error", MODULE_C
    )
    assert match, "binding/module.c has no #error for old Pythons"
    assert int(match.group(1), 16) == oldest()
    # Every other guard names a version past the oldest (a guard for an
    # older one would be dead code).
    for guard in re.findall(
        r"PY_VERSION_HEX [<>]=? 0x030([0-9A-F])", MODULE_C
    ):
        assert int(guard, 16) >= oldest()


def test_linters_target_the_oldest() -> None:
    assert f'target-version = "py3{oldest()}"' in PYPROJECT
    assert f'python_version = "3.{oldest()}"' in PYPROJECT


def test_ci_and_readme_say_the_same_versions() -> None:
    leg = (ROOT / ".ci" / "pythons").read_text()
    assert f"min_minor={oldest()}\n" in leg
    assert "bash .ci/pythons" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    *rest, last = [f"3.{m}" for m in classified()]
    named = f"CPython {', '.join(rest)} and {last}"
    assert readme.count(named) >= 2, f"README does not say {named!r}"


def test_this_python_is_one_the_package_accepts() -> None:
    assert sys.version_info >= (3, oldest())


def test_the_binding_declares_that_it_needs_the_gil() -> None:
    match = re.search(
        r"#if PY_VERSION_HEX >= 0x030D0000\n(?:\s*/\*.*?\*/\n)?"
        r"\s*\{Py_mod_gil, Py_MOD_GIL_USED\},\n#endif",
        MODULE_C,
        re.S,
    )
    assert match, "binding/module.c does not declare Py_MOD_GIL_USED"


@pytest.mark.skipif(
    not sysconfig.get_config_var("Py_GIL_DISABLED"),
    reason="not a free-threaded build",
)
def test_on_a_free_threaded_build_importing_turns_the_gil_on() -> None:
    # Without PYTHON_GIL in the environment: the build's default, no GIL.
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            "import sys; import inotipy; print(sys._is_gil_enabled())",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.stdout.strip() == "True", proc.stderr
    assert "GIL" in proc.stderr
