"""`make list [TYPE=..] [NAME=..] [SINCE=ref]`: the selected extensions, one per line.

`--json` prints instead one line of JSON, a GitHub Actions matrix
`{"include": [{"type", "name", "id", "path"}, ...]}` (what CI fans out over);
with SINCE, why each extension was selected then goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from release import selection
from release.config import Settings
from release.extensions import Extension


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", dest="as_json", action="store_true", help='print a GitHub Actions matrix: {"include": [{"type", "name", "id", "path"}]}')


def matrix(chosen: Sequence[Extension], root: Path) -> dict[str, list[dict[str, Any]]]:
    """The matrix of the chosen extensions; `path` is relative to the root, POSIX style."""
    return {"include": [{"type": e.type, "name": e.name, "id": e.id, "path": e.path.relative_to(root).as_posix()} for e in chosen]}


def run(settings: Settings, args) -> int:
    chosen = selection.select(settings)
    if getattr(args, "as_json", False):
        if settings.since:
            print(selection.describe(chosen), file=sys.stderr)
        print(json.dumps(matrix(chosen.extensions, settings.root), separators=(",", ":")))
        return 0
    if settings.since:
        print(selection.describe(chosen))
    for extension in chosen.extensions:
        print(f"{extension.id}\t{extension.path.relative_to(settings.root)}")
    return 0
