"""`make list-published [STAGE=..]`: the stage's remote catalog as a table, and the lock state.

`python -m release list-published --json` prints the same as one JSON document for scripts:
`{"stage", "url", "releases": [{name, version, kamiwaza_version, template_type, catalog, images, pinned}], "lock"}`
(`lock` is null when free). Reads only.
"""

from __future__ import annotations

import argparse
import json

from release import log, published, s3
from release.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON document (releases and lock) for scripts")


def run(settings: Settings, args) -> int:
    remote = s3.connect(settings)
    catalogs, lock = published.read(remote)
    found = published.releases(catalogs)
    if getattr(args, "as_json", False):
        print(json.dumps(published.as_json(remote.target, found, lock), indent=2, sort_keys=True))
        return 0
    log.info(f"{remote.target.describe()}: {log.plural(len(found), 'release')}")
    if found:
        log.info(log.table(published.HEADERS, published.rows(found)))
    log.info(published.lock_line(lock))
    return 0
