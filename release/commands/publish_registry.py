"""`make publish-registry` (version-aware upsert) and `make publish-registry-direct` (legacy sync)."""

from __future__ import annotations

from release import publish
from release.config import Settings


def run(settings: Settings, args) -> int:
    return publish.publish(settings, direct=getattr(args, "command", "") == "publish-registry-direct")
