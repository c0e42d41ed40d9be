"""`python -m release merge --remote R.json --local L.json [--json]`: plan a version-aware merge.

Prints one line per decision, or with --json `{"decisions": [...], "merged": [...]}`.
Exit 0 when no decision is FAIL, 1 otherwise, 2 on bad input. FORCE=1 applies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from release import merge
from release.config import Settings
from release.errors import EXIT_FAILED, EXIT_OK, HarnessError
from release.manifest import read_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--remote", required=True, metavar="R.json", help="the published entries (an apps.json-style array)")
    parser.add_argument("--local", required=True, metavar="L.json", help="the entries to publish (an apps.json-style array)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print decisions and the merged list as JSON")


def run(settings: Settings, args) -> int:
    remote_path, local_path = Path(args.remote), Path(args.local)
    for option, path in (("--remote", remote_path), ("--local", local_path)):
        if not path.is_file():
            raise HarnessError("file is missing", file=path, field=option, fix=f"pass {option} the path of an apps.json-style JSON array")
    remote = read_json(remote_path)
    local = read_json(local_path)
    result = merge.plan(remote, local, force=settings.force, remote_source=str(remote_path), local_source=str(local_path))
    if args.as_json:
        print(json.dumps(result.as_json(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for decision in result.decisions:
            print(decision.line())
        if not result.decisions:
            print("nothing to merge: the local set is empty")
    return EXIT_OK if result.ok else EXIT_FAILED

