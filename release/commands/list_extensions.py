from __future__ import annotations

from release import selection
from release.config import Settings


def run(settings: Settings, args) -> int:
    chosen = selection.select(settings)
    if settings.since:
        print(selection.describe(chosen))
    for extension in chosen.extensions:
        print(f"{extension.id}\t{extension.path.relative_to(settings.root)}")
    return 0
