"""`make remove-publish-lock STAGE=.. [LOCK_ID=..]`: remove the registry lock, printing what it removes."""

from __future__ import annotations

import argparse

from release import publish
from release.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock-id", dest="lock_id", help="remove the lock only if its token is this (LOCK_ID)")


def run(settings: Settings, args) -> int:
    lock_id = getattr(args, "lock_id", None) or settings.get("LOCK_ID")
    return publish.remove_lock(settings, lock_id=lock_id)
