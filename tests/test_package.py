"""What pyproject.toml promises a package index: PEP 639 licence
metadata, project URLs, and wheels for every CPython it supports.
(.ci/package builds the sdist and the wheel and checks the same in their
metadata.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info < (3, 11):
    pytest.skip("tomllib is new in Python 3.11", allow_module_level=True)

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_licence_metadata_is_pep_639() -> None:
    assert PROJECT["license"] == "LGPL-2.1-or-later"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (
        "GNU LESSER GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()
    )
    assert "Version 2.1" in (ROOT / "LICENSE").read_text()
    classifiers = PROJECT.get("classifiers", [])
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_project_urls_are_https() -> None:
    urls = PROJECT["urls"]
    assert "Homepage" in urls
    assert all(url.startswith("https://") for url in urls.values())


def test_cibuildwheel_builds_every_supported_cpython() -> None:
    oldest = re.fullmatch(r">=3\.(\d+)", PROJECT["requires-python"])
    assert oldest, PROJECT["requires-python"]
    wanted = [f"cp3{minor}-*" for minor in range(int(oldest[1]), 14)]
    assert PYPROJECT["tool"]["cibuildwheel"]["build"] == wanted


def test_the_changelog_has_the_version_being_made() -> None:
    version = re.search(
        r"version: '([^']+)'", (ROOT / "meson.build").read_text()
    )
    assert version
    release = re.match(r"\d+\.\d+\.\d+", version[1])
    assert release
    assert f"## {release[0]}" in (ROOT / "CHANGES.md").read_text()
