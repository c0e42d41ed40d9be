"""`make sync-compose`: the file edge around the pure transform in `compose.py`.

Reads each extension's docker-compose.yml and kamiwaza.json, writes
docker-compose.appgarden.yml beside them, or (check mode) reports drift with a
unified diff. One extension's bad input never stops the others.

Drift is about content: the file on disk and the generated text are compared
as parsed YAML documents, so a file written by Kamiwaza's own tooling with other
indentation, quoting, key order or comments is not stale, and writing mode
leaves such an equivalent file alone. Only a real difference is stale (with the
text diff) or rewritten (with the canonical text).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable, Mapping

from release import compose, fileio, manifest, sources
from release.errors import HarnessError, Problem, render_problems
from release.extensions import APPGARDEN_COMPOSE, COMPOSE, MANIFEST, Extension

FIX_STALE = "run `make sync-compose` and commit docker-compose.appgarden.yml"


class Status(StrEnum):
    WRITTEN = "written"  # created or updated
    UNCHANGED = "unchanged"  # already what the sources give
    STALE = "stale"  # check mode: missing or different
    ERROR = "error"  # bad input; nothing was written


@dataclass(frozen=True)
class SyncResult:
    extension: Extension
    status: Status
    diff: str = ""  # unified diff, current file -> generated text (stale only)
    problems: tuple[Problem, ...] = ()

    @property
    def path(self) -> Path:
        return self.extension.appgarden_path

    @property
    def ok(self) -> bool:
        return self.status in (Status.WRITTEN, Status.UNCHANGED)

    def render(self) -> str:
        """Problems, then the diff: what a person needs to see for this extension."""
        parts = [render_problems(self.problems)] if self.problems else []
        if self.diff:
            parts.append(self.diff.rstrip("\n"))
        return "\n".join(parts)


def load_sources(extension: Extension) -> tuple[manifest.Manifest, dict]:
    """The validated manifest and parsed docker-compose.yml every extension command starts from."""
    return manifest.load(extension.manifest_path), compose.load_compose(extension.compose_path)


Loaded = tuple[manifest.Manifest, Mapping[str, Any]]  # what load_sources returns


def render_appgarden(extension: Extension, *, stage: str | None = None, loaded: Loaded | None = None) -> str:
    """The exact text `make sync-compose` writes for an extension; HarnessError on bad input.

    `stage` None gives the plain version tags of the committed file; the registry
    may ask for a stage's tags (`1.0.0-dev`) without touching the file. `loaded`:
    the manifest and compose document when the caller has them already.
    """
    parsed, document = loaded or load_sources(extension)
    return render_document(appgarden_document(extension, parsed, document, stage=stage), parsed)


def appgarden_document(extension: Extension, parsed: manifest.Manifest, document: Mapping[str, Any], *, stage: str | None = None) -> dict[str, Any]:
    """The App Garden document (before rendering) for the sources."""
    return compose.to_appgarden(document, parsed, path=extension.compose_path, stage=stage)


def render_document(garden: Mapping[str, Any], parsed: manifest.Manifest) -> str:
    """The App Garden text for an App Garden document: `compose.render` with this file's sources."""
    return compose.render(garden, parsed, sources=SOURCES)


SOURCES = (COMPOSE, MANIFEST)


def sync(extensions: Iterable[Extension], *, check: bool) -> list[SyncResult]:
    """Write (or, with check, compare) every extension's App Garden file; one result each."""
    return [sync_one(extension, check=check) for extension in extensions]


def sync_one(extension: Extension, *, check: bool, loaded: Loaded | None = None) -> SyncResult:
    """One extension's App Garden file written or compared. `loaded`: the validated manifest
    and compose document when the caller has them already (the engine, the registry)."""
    try:
        parsed, document = loaded or load_sources(extension)
        garden = appgarden_document(extension, parsed, document)
    except HarnessError as error:
        return SyncResult(extension, Status.ERROR, problems=error.problems)
    try:
        current = _current(extension.appgarden_path)
    except HarnessError as error:
        return SyncResult(extension, Status.ERROR, problems=error.problems)
    # Drift is about content: a committed document equal to the generated one is unchanged,
    # decided without rendering text (the pure-Python YAML emitter is the costly part).
    if current is not None and current[1] is not _UNREADABLE and current[1] == garden:
        return SyncResult(extension, Status.UNCHANGED)
    expected = render_document(garden, parsed)
    text = None if current is None else current[0]
    if same_content(text, expected):
        return SyncResult(extension, Status.UNCHANGED)
    if check:
        what = "is missing" if text is None else "is stale: it differs from what `make sync-compose` generates"
        problem = Problem(what, file=extension.appgarden_path, fix=FIX_STALE)
        return SyncResult(extension, Status.STALE, diff=unified_diff(extension, text, expected), problems=(problem,))
    try:
        fileio.write_atomically(extension.appgarden_path, expected)
    except OSError as error:
        problem = Problem(f"cannot write the file: {error.strerror}", file=extension.appgarden_path, fix="make the extension folder writable")
        return SyncResult(extension, Status.ERROR, problems=(problem,))
    return SyncResult(extension, Status.WRITTEN)


def same_content(current: str | None, expected: str) -> bool:
    """Whether the file on disk holds the same YAML document as the generated text."""
    if current is None:
        return False
    if current == expected:
        return True
    try:
        return compose.parse_yaml(current) == compose.parse_yaml(expected)
    except HarnessError:
        return False  # unreadable YAML is stale: it gets rewritten (or reported)


def check(extension: Extension) -> SyncResult:
    """Drift check for one extension (what `make validate` runs)."""
    return sync_one(extension, check=True)


def unified_diff(extension: Extension, current: str | None, expected: str) -> str:
    label = _display(extension.appgarden_path)
    lines = difflib.unified_diff(
        (current or "").splitlines(keepends=True),
        expected.splitlines(keepends=True),
        fromfile=f"{label} (on disk)" if current is not None else "/dev/null",
        tofile=f"{label} (generated)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def presence_problems(extension: Extension) -> list[Problem]:
    """Apps must ship an App Garden file; so must anything with a docker-compose.yml."""
    path = extension.appgarden_path
    if path.is_file() or (extension.type != "app" and not extension.compose_path.is_file()):
        return []
    return [Problem(f"{APPGARDEN_COMPOSE} is missing", file=path, fix=FIX_STALE)]


def load_appgarden(extension: Extension) -> compose.AppGardenFile | None:
    """The committed App Garden file ready for the rules; None when there is none."""
    if not extension.appgarden_path.is_file():
        return None
    document = compose.load_compose(extension.appgarden_path)
    parsed = manifest.load(extension.manifest_path)
    allowed = compose.allowances(parsed.data)
    return compose.AppGardenFile(document, extension.appgarden_path, parsed.version, allowed.bind_mounts, allowed.capabilities)


def _read(path: Path) -> str | None:
    """The committed App Garden text, through `sources`: a FIFO, a device or a symlink out of
    the extension is refused (HarnessError), never opened; text that is not UTF-8 counts as
    missing (it gets rewritten, or reported stale)."""
    if not os.path.lexists(path):
        return None
    try:
        return sources.read_text(path)
    except HarnessError as error:
        if any(problem.message.startswith("is not UTF-8") for problem in error.problems):
            return None
        raise


_UNREADABLE = object()  # the committed text is not a YAML document


def _current(path: Path) -> tuple[str, Any] | None:
    """The committed App Garden text and its parsed document, through `sources` (parsed once per
    process, shared with the engine's rules); `_UNREADABLE` for text that is not YAML."""
    if not os.path.lexists(path):
        return None
    try:
        source = sources.load_yaml(path)
    except HarnessError:
        text = _read(path)  # refuses what may not be read; None for text that is not UTF-8
        return None if text is None else (text, _UNREADABLE)
    return source.text, source.data


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
