"""`make restore-registry STAGE=.. BACKUP=<timestamp> [LOCK_ID=..]`: put a bucket backup back, under the lock, verified."""

from __future__ import annotations

import argparse

from release import publish
from release.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backup", dest="backup", help="the backup's timestamp, e.g. 20250101-120000 (BACKUP)")


def run(settings: Settings, args) -> int:
    return publish.restore_registry(settings, getattr(args, "backup", None) or settings.get("BACKUP"))
