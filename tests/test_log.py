"""release/log.py: plural forms, and no count in release/ pluralised with a bare 's'."""

from __future__ import annotations

import re

from release import log
from tests.conftest import REPO_ROOT


def test_plural():
    assert [log.plural(n, "conflict") for n in (0, 1, 2)] == ["0 conflicts", "1 conflict", "2 conflicts"]
    assert log.plural(1, "entry", "entries") == "1 entry" and log.plural(3, "entry", "entries") == "3 entries"


# `{len(x)} conflicts` prints "1 conflicts"; use log.plural.
_BARE_PLURAL = re.compile(r"\{len\([^{}]*\)\}\s+[a-z]+(?:s\b|\(s\))")


def test_no_count_is_pluralised_with_a_bare_s():
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in sorted((REPO_ROOT / "release").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _BARE_PLURAL.search(line)
    ]
    assert found == []
