from __future__ import annotations

from release import scaffold
from release.config import Settings


def run(settings: Settings, args) -> int:
    path = scaffold.create(settings.root, settings.extension_type, settings.extension_name)
    print(f"created {path.relative_to(settings.root)}")
    print(f"next: make validate TYPE={settings.extension_type} NAME={settings.extension_name}")
    return 0
