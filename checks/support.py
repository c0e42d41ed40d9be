"""How a check reports: every problem, rendered for a person, without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, TypeVar

import pytest

from release.errors import HarnessError, Problem, render_problems
from release.extensions import Extension

T = TypeVar("T")
_LOADED: dict[tuple, tuple[object, HarnessError | None]] = {}


def expect_no_problems(problems: Iterable[Problem]) -> None:
    found = list(problems)
    if found:
        pytest.fail(render_problems(found), pytrace=False)


def manifest_or_fail(repo, extension):
    """The parsed manifest; an unreadable one fails the check with its error."""
    try:
        return repo.data(extension)
    except HarnessError as error:
        pytest.fail(error.render(), pytrace=False)


def _state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def loaded(load: Callable[[Extension], T], extension: Extension, *paths: Path) -> T:
    """`load(extension)` once per worker while `paths` are unchanged (mtime and size).

    Many checks read the same file (nine App Garden rules, one file); parsing it
    and validating its manifest once instead of per check is most of `make
    validate`'s time. The result is shared: rules only read it. A HarnessError
    is remembered too and raised again for every check that asks.
    """
    key = (load, extension, tuple(_state(path) for path in paths))
    if key not in _LOADED:
        try:
            _LOADED[key] = (load(extension), None)
        except HarnessError as error:
            _LOADED[key] = (None, error)
    value, error = _LOADED[key]
    if error is not None:
        raise error
    return value  # type: ignore[return-value]
