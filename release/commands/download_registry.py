"""`make download-registry [STAGE=..]`: save the remote registry under build/registry-download/{stage}/."""

from __future__ import annotations

from release import publish
from release.config import Settings


def run(settings: Settings, args) -> int:
    publish.download(settings)
    return 0
