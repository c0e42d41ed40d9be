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
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

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
    """`compose.render`'s exact text; through libyaml's emitter when the document allows (below)."""
    if _LibyamlDumper is None or not _plain_ascii(garden):
        return compose.render(garden, parsed, sources=SOURCES)
    empty = compose.render({}, parsed, sources=SOURCES)  # the header, as compose.render writes it
    header = empty[: len(empty) - len(compose.dump_yaml({}))]
    text = yaml.dump(dict(garden), Dumper=_LibyamlDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1 << 16, indent=2)
    return header + _indent_sequences(text)


# --------------------------------------------------------------------------- rendering, faster
# compose.render (PyYAML's pure-Python emitter) defines the text; rendering was a quarter of
# build-registry. libyaml's emitter, fed the same representers and resolvers, writes the same
# bytes for documents of mappings with non-empty keys shorter than 128 characters, lists,
# whole numbers, booleans, nulls and one-line printable-ASCII strings, except that it writes a
# block sequence inside a mapping at its key's column where compose's dumper indents it by 2
# (`_indent_sequences` adds those 2). Anything else takes compose.render itself.
# tests/test_sync.py checks the two agree byte for byte on generated documents.

SOURCES = (COMPOSE, MANIFEST)
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*\Z")

try:
    from yaml.cyaml import CEmitter as _CEmitter
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _LibyamlDumper = None
else:

    class _LibyamlDumper(_CEmitter, yaml.representer.SafeRepresenter, yaml.resolver.Resolver):  # type: ignore[no-redef]
        def __init__(self, stream: Any, default_style: Any = None, default_flow_style: Any = False, canonical: Any = None, indent: Any = None,
                     width: Any = None, allow_unicode: Any = None, line_break: Any = None, encoding: Any = None, explicit_start: Any = None,
                     explicit_end: Any = None, version: Any = None, tags: Any = None, sort_keys: bool = True) -> None:
            _CEmitter.__init__(self, stream, canonical=canonical, indent=indent, width=width, encoding=encoding, allow_unicode=allow_unicode,
                               line_break=line_break, explicit_start=explicit_start, explicit_end=explicit_end, version=version, tags=tags)
            yaml.representer.SafeRepresenter.__init__(self, default_style=default_style, default_flow_style=default_flow_style, sort_keys=sort_keys)
            yaml.resolver.Resolver.__init__(self)

        def ignore_aliases(self, data: Any) -> bool:
            return True

    # the same quoting decisions and scalar forms as compose's dumper
    _LibyamlDumper.yaml_implicit_resolvers = compose._Dumper.yaml_implicit_resolvers
    _LibyamlDumper.yaml_representers = compose._Dumper.yaml_representers
    _LibyamlDumper.yaml_multi_representers = compose._Dumper.yaml_multi_representers


def _plain_ascii(node: Any) -> bool:
    """Whether libyaml's emitter writes `node` as compose's dumper does (see above)."""
    if isinstance(node, dict):
        return all(type(key) is str and 0 < len(key) < 128 and _PRINTABLE_ASCII.match(key) and _plain_ascii(value) for key, value in node.items())
    if isinstance(node, list):
        return all(_plain_ascii(item) for item in node)
    if isinstance(node, str):
        return _PRINTABLE_ASCII.match(node) is not None
    return node is None or type(node) in (bool, int)


_LEAD = re.compile(r" *(?:- )*")  # indentation, then any `- ` item indicators


def _indent_sequences(text: str) -> str:
    """Indent by 2 every block sequence libyaml wrote at its key's column (nested ones add up)."""
    out = []
    opened: list[int] = []  # the dash column (in libyaml's text) of each open sequence
    previous = ""
    for line in text.splitlines(keepends=True):
        body = line.lstrip(" ")
        column = len(line) - len(body)
        item = body.startswith("- ") or body.rstrip("\n") == "-"
        while opened and not (column > opened[-1] or (column == opened[-1] and item)):
            opened.pop()
        if item and previous.rstrip("\n").endswith(":") and _LEAD.match(previous).end() == column:
            opened.append(column)  # the value of the key on the line before
        out.append(" " * (2 * len(opened)) + line)
        previous = line
    return "".join(out)


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
