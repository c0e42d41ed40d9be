"""`make ci-pipeline`: build-all, test-all, sync-compose, validate, build-registry, package-registry."""

from __future__ import annotations

from release import log, pipeline
from release.config import Settings


def run(settings: Settings, args) -> int:
    started_steps = pipeline.default_steps(settings)
    log.info(f"ci-pipeline: {' -> '.join(step.name for step in started_steps)}")
    results = pipeline.run_steps(started_steps)
    log.info("\nci-pipeline summary")
    log.info(log.table(pipeline.HEADERS, pipeline.rows(results)))
    code = pipeline.exit_code(results)
    if code == 0:
        package = pipeline.newest_package(settings.root)
        if package is not None:
            log.info(f"ci-pipeline: ok; package {package.relative_to(settings.root)}")
    else:
        failed = next(r for r in results if r.status == pipeline.FAILED)
        log.info(f"ci-pipeline: stopped at {failed.name} (exit {failed.code}); later steps did not run")
    return code
