"""All settings, resolved once: command-line flags over environment over `.env`.

The Makefile exports its variables (TYPE, NAME, STAGE, DRY_RUN, ...) so every
command reads them here and nowhere else. Modules with settings of their own
(S3, image registry) build them from `Settings.env`, the merged environment.

The monorepo root is found as git finds its checkout: `--root`, else $KAMIWAZA_ROOT,
else the nearest folder at or above the current one that holds `extensions/` and the
harness's Makefile (or a `.kamiwaza-root` marker file). Inside an extension's folder,
commands that work on one extension default TYPE and NAME to it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from release.errors import HarnessError, Problem
from release.extensions import EXTENSIONS_DIR, TYPES
from release.images import DEFAULT_STAGE, STAGES

ROOT_VARIABLE = "KAMIWAZA_ROOT"
ROOT_MARKER = ".kamiwaza-root"
# What the Makefile exports (its `export` line lists exactly these; tests/test_config.py checks it).
MAKE_VARIABLES = (
    "TYPE", "NAME", "STAGE", "DRY_RUN", "FORCE", "BUILD", "NO_BUILD", "CHECK", "SINCE", "IMAGES", "LOCK_TIMEOUT", "LOCK_ID",
    "BACKUP", "VERSION", "IMAGE_REGISTRY", "PIN_DIGESTS", "SKIP_IMAGE_CHECK", "N", "PORT", "TEST_PORTS", "TEST_TIMEOUT",
    "TEST_JOBS", "PART", "PRE",
)
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
    from_folder: bool = False  # TYPE and NAME came from the current folder (an extension's)

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.env.get(key)
        return value if value not in (None, "") else default


def resolve(
    overrides: Mapping[str, str | bool | None] | None = None,
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    folder_defaults: bool = False,
) -> Settings:
    """Build Settings. `overrides` holds flag values keyed like the env (TYPE, STAGE, ...).

    folder_defaults: when TYPE and NAME are not given and `cwd` lies inside an extension,
    they name that extension.
    """
    base_env = dict(os.environ if environ is None else environ)
    misspelled = misspelled_variables(base_env.get("MAKEFLAGS", ""), base_env)
    if misspelled:
        raise HarnessError(problems=misspelled)
    cwd = Path(cwd or Path.cwd()).resolve()
    root = Path(root or base_env.get(ROOT_VARIABLE) or find_root(cwd) or cwd).resolve()
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

    extension_type, extension_name = text("TYPE"), text("NAME")
    here = extension_at(root, cwd) if folder_defaults and extension_name is None else None
    from_folder = here is not None and extension_type in (None, here[0])
    if from_folder and here is not None:
        extension_type, extension_name = here
    return Settings(
        root=root,
        stage=parse_stage(text("STAGE")),
        extension_type=extension_type,
        extension_name=extension_name,
        from_folder=from_folder,
        dry_run=parse_flag("DRY_RUN", merged.get("DRY_RUN")),
        force=parse_flag("FORCE", merged.get("FORCE")),
        build=parse_flag("BUILD", merged.get("BUILD")),
        check=parse_flag("CHECK", merged.get("CHECK")),
        since=text("SINCE"),
        env=merged,
    )


def is_root(folder: Path) -> bool:
    """A monorepo root holds `extensions/` and the harness's Makefile, or the `.kamiwaza-root` marker."""
    if not (folder / EXTENSIONS_DIR).is_dir():
        return False
    if (folder / ROOT_MARKER).is_file():
        return True
    try:
        return "-m release" in (folder / "Makefile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def find_root(start: Path) -> Path | None:
    """The nearest root at or above `start` (as git finds its checkout), or None."""
    start = Path(start).resolve()
    return next((folder for folder in (start, *start.parents) if is_root(folder)), None)


def extension_at(root: Path, folder: Path) -> tuple[str, str] | None:
    """(TYPE, NAME) of the extension `folder` lies in (its folder or any below it), or None."""
    try:
        parts = Path(folder).resolve().relative_to(Path(root).resolve() / EXTENSIONS_DIR).parts
    except ValueError:
        return None
    if len(parts) < 2 or parts[0] not in {f"{kind}s" for kind in TYPES} or parts[1].startswith((".", "_")):
        return None
    return parts[0][:-1], parts[1]


_MAKEFLAGS_VARIABLES = re.compile(r"(?:^|\s)--\s+(.*)$")
_UNESCAPED_SPACE = re.compile(r"(?<!\\) ")


def misspelled_variables(makeflags: str, environ: Mapping[str, str]) -> list[Problem]:
    """A Problem per make command-line variable written in the wrong case (`type=app`).

    make passes its command-line variables in MAKEFLAGS after ` -- `; the harness reads only
    the upper-case names the Makefile exports, so `type=app` would leave TYPE empty.
    """
    match = _MAKEFLAGS_VARIABLES.search(makeflags or "")
    if not match:
        return []
    problems: list[Problem] = []
    for assignment in _UNESCAPED_SPACE.split(match.group(1).strip()):
        key, sep, value = assignment.partition("=")
        wanted = key.upper()
        if not sep or key == wanted or wanted not in MAKE_VARIABLES or environ.get(wanted):
            continue
        value = value.replace("\\ ", " ")
        problems.append(
            Problem(
                f'"{key}={value}": did you mean {wanted}={value}? make variables are upper case, so {wanted} is empty',
                field=key,
                fix=f"write {wanted}={value}",
            )
        )
    return problems


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
