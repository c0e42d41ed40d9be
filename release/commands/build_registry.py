"""`make build-registry [STAGE=dev|stage|prod]`: write build/registry.json and the garden tree."""

from __future__ import annotations

from release import log, registry
from release.config import Settings


def run(settings: Settings, args) -> int:
    with log.step(f"build-registry (STAGE={settings.stage})"):
        result = registry.build_registry(settings.root, settings.stage, env=settings.env)
    rows = [
        (entry["name"], entry["version"], registry.catalog_for(entry), ", ".join(entry["docker_images"]))
        for entry in result.entries
    ]
    if rows:
        log.info(log.table(("extension", "version", "catalog", "images"), rows))
    else:
        log.warn("no extensions found under extensions/: the registry is empty")
    log.info(f"wrote {_shown(result.registry_path, settings)} and {_shown(result.garden, settings)}/")
    return 0


def _shown(path, settings: Settings) -> str:
    try:
        return str(path.relative_to(settings.root))
    except ValueError:
        return str(path)
