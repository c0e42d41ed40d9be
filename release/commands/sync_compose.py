"""`make sync-compose [TYPE=.. NAME=..] [SINCE=ref] [CHECK=1]`: write or check docker-compose.appgarden.yml."""

from __future__ import annotations

from collections import Counter

from release import log, selection, sync
from release.config import Settings
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError


def run(settings: Settings, args) -> int:
    chosen = selection.select(settings)
    if settings.since:
        log.info(selection.describe(chosen))
    if not chosen.extensions:
        log.info("no extensions selected; nothing to sync")
        return 0
    title = "check App Garden compose files" if settings.check else "sync App Garden compose files"
    with log.step(title):
        results = sync.sync(chosen.extensions, check=settings.check)
        for result in results:
            log.info(f"  {result.status.value:<9} {result.extension.id}")
            if result.diff:
                log.info(result.diff.rstrip("\n"))
        counts = Counter(result.status for result in results)
        log.info(", ".join(f"{counts[status]} {status.value}" for status in sync.Status if counts[status]))
        failed = [result for result in results if not result.ok]
        if failed:  # raised inside the step, so its closing line says "failed"
            # Bad input outranks drift: exit 2 when any extension could not be rendered.
            code = EXIT_BAD_INPUT if counts[sync.Status.ERROR] else EXIT_FAILED
            raise HarnessError(problems=[problem for result in failed for problem in result.problems], exit_code=code)
    return 0
