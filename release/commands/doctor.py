"""`make doctor [STAGE=..]`: one screen of ok/FAIL/skip lines, each failure with its fix; exit 1 when a required part fails.

See release/doctor.py for what is checked. The only write is the conditional-write probe
object of each configured bucket, which is always deleted.
"""

from __future__ import annotations

from release import doctor, log
from release.config import Settings


def run(settings: Settings, args) -> int:
    log.info(f"doctor (STAGE={settings.stage}, root {settings.root})")
    checks = doctor.run_checks(settings, say=lambda check: log.info(check.line()))
    failed = [check for check in checks if check.failed]
    if failed:
        log.info(f"{len(failed)} required checks failed: {', '.join(c.name for c in failed)}")
    else:
        log.info("everything required is ready")
    return doctor.exit_code(checks)
