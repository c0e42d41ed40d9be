"""A read-only snapshot of the monorepo: every extension and its parsed manifest.

Loaded once (per pytest worker, per command) so that cross-extension rules
(unique names, unique preview images) do not re-read files per check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from release import extensions as discovery
from release import manifest
from release.errors import HarnessError
from release.extensions import Extension


@dataclass(frozen=True)
class Entry:
    extension: Extension
    data: Mapping[str, Any] | None  # parsed JSON object; None when unreadable
    error: HarnessError | None  # why it could not be read, if so


@dataclass(frozen=True)
class Monorepo:
    root: Path
    entries: Mapping[Extension, Entry]

    @property
    def extensions(self) -> list[Extension]:
        return sorted(self.entries)

    def data(self, extension: Extension) -> Mapping[str, Any]:
        """The manifest object, or raise the error that kept it from loading."""
        entry = self.entries[extension]
        if entry.error is not None:
            raise entry.error
        return entry.data or {}

    def values(self, pick: Callable[[Extension, Mapping[str, Any]], str | None]) -> dict[Extension, str | None]:
        """One derived value per readable manifest (for uniqueness rules)."""
        return {e: pick(e, entry.data) for e, entry in self.entries.items() if entry.data is not None}


def load(root: Path) -> Monorepo:
    entries: dict[Extension, Entry] = {}
    for extension in discovery.discover(root):
        entries[extension] = _read(extension)
    return Monorepo(root=root, entries=entries)


def _read(extension: Extension) -> Entry:
    try:
        data = manifest.read_json(extension.manifest_path)
    except HarnessError as error:
        return Entry(extension, None, error)
    if not isinstance(data, dict):
        error = HarnessError("is not a JSON object", file=extension.manifest_path, field="$", fix='wrap the fields in { ... } (e.g. {"name": ..., "version": ...})')
        return Entry(extension, None, error)
    return Entry(extension, data, None)
