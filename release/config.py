"""All settings, resolved once: command-line flags over environment over `.env`.

The Makefile exports its variables (TYPE, NAME, STAGE, DRY_RUN, ...) so every
command reads them here and nowhere else. Modules with settings of their own
(S3, image registry) build them from `Settings.env`, the merged environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from release.errors import HarnessError
from release.images import DEFAULT_STAGE, STAGES

ROOT_VARIABLE = "KAMIWAZA_ROOT"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Settings:
    root: Path
    stage: str = DEFAULT_STAGE
    extension_type: str | None = None
    extension_name: str | None = None
    dry_run: bool = False
    force: bool = False
    build: bool = False
    check: bool = False
    since: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.env.get(key)
        return value if value not in (None, "") else default


def resolve(
    overrides: Mapping[str, str | bool | None] | None = None,
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings. `overrides` holds flag values keyed like the env (TYPE, STAGE, ...)."""
    base_env = dict(os.environ if environ is None else environ)
    root = Path(root or base_env.get(ROOT_VARIABLE) or Path.cwd()).resolve()
    # An empty environment value counts as unset: the Makefile exports every variable it
    # names, empty when not given, and that must not hide a value from .env.
    merged = {**load_dotenv(root / ".env"), **{k: v for k, v in base_env.items() if v != ""}}
    for key, value in (overrides or {}).items():
        if value is None or value is False:
            continue
        merged[key] = "1" if value is True else str(value)

    def text(key: str) -> str | None:
        value = merged.get(key, "").strip()
        return value or None

    return Settings(
        root=root,
        stage=parse_stage(text("STAGE")),
        extension_type=text("TYPE"),
        extension_name=text("NAME"),
        dry_run=parse_flag("DRY_RUN", merged.get("DRY_RUN")),
        force=parse_flag("FORCE", merged.get("FORCE")),
        build=parse_flag("BUILD", merged.get("BUILD")),
        check=parse_flag("CHECK", merged.get("CHECK")),
        since=text("SINCE"),
        env=merged,
    )


def parse_stage(value: str | None) -> str:
    if value is None or value == "":
        return DEFAULT_STAGE
    if value not in STAGES:
        raise HarnessError(
            f'unknown STAGE "{value}"',
            field="STAGE",
            fix=f"set STAGE to one of {', '.join(STAGES)}",
        )
    return value


def parse_flag(name: str, value: str | None) -> bool:
    normalized = (value or "").strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    raise HarnessError(f'{name}="{value}" is not a yes/no value', field=name, fix=f"set {name}=1 to turn it on, or leave it empty")


def parse_seconds(name: str, value: str | None, default: float = 0.0) -> float:
    if value is None or value.strip() == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise HarnessError(f'{name}="{value}" is not a number of seconds', field=name, fix=f"set {name} to a number >= 0")
    return seconds


def load_dotenv(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines; quotes around a value are removed. Missing file: empty."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise HarnessError(f"cannot read {path.name}: {error.strerror}", file=path) from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            raise HarnessError(
                f"line {number} is not KEY=VALUE",
                file=path,
                field=f"line {number}",
                fix="write one KEY=VALUE per line; comments start with #",
            )
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values
