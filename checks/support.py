"""How a check reports: every problem, rendered for a person, without a traceback."""

from __future__ import annotations

from typing import Iterable

import pytest

from release.errors import HarnessError, Problem, render_problems


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
