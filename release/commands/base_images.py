"""`python -m release base-images [--force]`: the same as `make base-images` (scripts/base-images.sh).

The script makes the local base images (kamiwaza-base/python:bookworm by debootstrap and
`docker import`, redis:7-bookworm from Debian's redis-server) without pulling anything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from release.config import Settings
from release.errors import EXIT_FAILED, HarnessError

SCRIPT = Path(__file__).resolve().parent.parent.parent / "scripts" / "base-images.sh"


def run(settings: Settings, args) -> int:
    if not SCRIPT.is_file():
        raise HarnessError("scripts/base-images.sh is missing", file=SCRIPT, fix="run from a full checkout of the harness")
    env = {**os.environ, **settings.env, "FORCE": "1" if settings.force else "0"}
    try:
        code = subprocess.run(["bash", str(SCRIPT)], env=env).returncode
    except OSError as error:
        raise HarnessError(f"cannot run bash: {error}", fix="install bash") from None
    if code != 0:
        raise HarnessError("making the base images failed (see the output above)", fix="run `make bootstrap` first (Docker and debootstrap), then `make base-images`", exit_code=EXIT_FAILED)
    return 0
