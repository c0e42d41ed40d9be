"""Extension discovery and TYPE/NAME selection.

An extension is a folder `extensions/{type}s/{name}/` holding `kamiwaza.json`.
Folders without a manifest are still listed (so a missing manifest is reported
by the checks, not silently skipped); hidden folders and `__pycache__` are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from release.errors import HarnessError

TYPES = ("app", "tool", "service")
EXTENSIONS_DIR = "extensions"
MANIFEST = "kamiwaza.json"
COMPOSE = "docker-compose.yml"
APPGARDEN_COMPOSE = "docker-compose.appgarden.yml"


@dataclass(frozen=True, order=True)
class Extension:
    type: str
    name: str
    path: Path

    @property
    def id(self) -> str:
        """Stable identifier used for test ids and reports: `<type>/<name>`."""
        return f"{self.type}/{self.name}"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def compose_path(self) -> Path:
        return self.path / COMPOSE

    @property
    def appgarden_path(self) -> Path:
        return self.path / APPGARDEN_COMPOSE


def type_dir(root: Path, extension_type: str) -> Path:
    return root / EXTENSIONS_DIR / f"{extension_type}s"


def discover(root: Path) -> list[Extension]:
    """Every extension under `root/extensions`, sorted by type then name."""
    found: list[Extension] = []
    for extension_type in TYPES:
        folder = type_dir(root, extension_type)
        if not folder.is_dir():
            continue
        for child in folder.iterdir():
            if child.is_dir() and not child.name.startswith((".", "_")):
                found.append(Extension(extension_type, child.name, child))
    return sorted(found)


def select(
    extensions: Sequence[Extension],
    extension_type: str | None = None,
    name: str | None = None,
) -> list[Extension]:
    """Narrow to TYPE and/or NAME; an unknown value is an error listing the valid ones."""
    if extension_type is not None and extension_type not in TYPES:
        raise HarnessError(
            f'unknown TYPE "{extension_type}"',
            field="TYPE",
            fix=f"use one of {', '.join(TYPES)}",
        )
    chosen = [e for e in extensions if extension_type is None or e.type == extension_type]
    if name is not None:
        named = [e for e in chosen if e.name == name]
        if not named:
            where = f" of TYPE {extension_type}" if extension_type else ""
            raise HarnessError(
                f'no extension{where} is named "{name}"',
                field="NAME",
                fix=f"use one of: {_names(chosen)}" if chosen else "create it with `make new TYPE=... NAME=...`",
            )
        chosen = named
    return chosen


def _names(extensions: Iterable[Extension]) -> str:
    return ", ".join(e.id for e in extensions)
