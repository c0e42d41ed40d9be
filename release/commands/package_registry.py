"""`make package-registry [IMAGES=1]`: write dist/kamiwaza-registry-YYYYMMDD-HHMMSS.tar.gz.

STAGE, when set, is the stage to package (the registry is rebuilt if it was built
for another); unset, the registry already built is packaged as it is.
"""

from __future__ import annotations

from release import log, package
from release.config import Settings, parse_flag


def run(settings: Settings, args) -> int:
    with_images = parse_flag("IMAGES", settings.env.get("IMAGES"))
    stage = settings.stage if settings.get("STAGE") else None
    with log.step("package-registry" + (" (IMAGES=1)" if with_images else "")):
        result = package.package_registry(settings.root, stage=stage, images=with_images, env=settings.env)
    try:
        shown = result.path.relative_to(settings.root)
    except ValueError:
        shown = result.path
    size = result.path.stat().st_size
    log.info(f"wrote {shown} (STAGE={result.stage}, {log.plural(len(result.members), 'file')}, {log.plural(size, 'byte')}; checksums verified)")
    return 0
