from __future__ import annotations

from release import extensions
from release.config import Settings


def run(settings: Settings, args) -> int:
    for extension in extensions.select(extensions.discover(settings.root), settings.extension_type, settings.extension_name):
        print(f"{extension.id}\t{extension.path.relative_to(settings.root)}")
    return 0
