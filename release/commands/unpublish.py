"""`make unpublish NAME= VERSION= [STAGE=..] [DRY_RUN=1]`: withdraw one release from the remote catalog."""

from __future__ import annotations

import argparse

from release import publish
from release.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", dest="version", help="the release to withdraw (VERSION)")


def run(settings: Settings, args) -> int:
    version = getattr(args, "version", None) or settings.get("VERSION")
    return publish.unpublish(settings, settings.extension_name, version)
