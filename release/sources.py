"""Reading the files a person hands the harness: safely, once, with positions.

Every manifest, compose file and preview image is read here and nowhere else, so
one set of limits holds for `make validate`, `sync-compose` and the registry:

- only regular files inside the extension folder are opened: a symlink whose
  target leaves the folder, a FIFO, a device, a socket or a directory is refused
  from `lstat`/`realpath` alone, and the file is opened with O_NOFOLLOW|O_NONBLOCK
  and checked again with `fstat` (no hang on a FIFO swapped in meanwhile);
- size limits before reading (KAMIWAZA_MAX_FILE_BYTES, KAMIWAZA_MAX_IMAGE_BYTES);
- structure limits before or while parsing: nesting depth (checked before
  `json.loads`, and per event while reading YAML), YAML alias count and the size
  an alias bomb would expand to (memoised per anchor), integer digit counts;
- duplicate keys, NaN/Infinity, lone surrogates and control characters in keys
  and identity fields are errors, never silently accepted.

YAML is read from the parser's event stream (libyaml's CParser when present, the
pure parser otherwise) with Compose's YAML 1.2 core scalar rules; tabs as
indentation are refused by both parsers' scanners. Each parsed file remembers
where every field starts (`Source.position`, found when a problem first asks),
so a Problem can carry `line:column`. A file is parsed once per process while its (mtime, size) holds.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from release.errors import HarnessError, Problem

try:  # libyaml: the scanner and parser in C, ~10x the pure parser
    from yaml.cyaml import CParser as _Parser

    LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    LIBYAML = False

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


# --------------------------------------------------------------------------- limits (settable)

MIB = 1 << 20
FILE_LIMIT_VARIABLE = "KAMIWAZA_MAX_FILE_BYTES"  # manifests and compose files
IMAGE_LIMIT_VARIABLE = "KAMIWAZA_MAX_IMAGE_BYTES"  # preview images
DATA_LIMIT_VARIABLE = "KAMIWAZA_MAX_DATA_BYTES"  # files the harness wrote itself (registry.json)
DEPTH_VARIABLE = "KAMIWAZA_MAX_NESTING"
DEFAULT_FILE_LIMIT = 1 * MIB
DEFAULT_IMAGE_LIMIT = 5 * MIB
DEFAULT_DATA_LIMIT = 512 * MIB
DEFAULT_MAX_DEPTH = 64
MAX_ALIASES = 200
MAX_EXPANDED_NODES = 200_000  # what every alias would expand to, in nodes
MAX_NUMBER_CHARS = 40  # a port, a count, a size: nothing real is longer
IDENTITY_FIELDS = ("name", "version", "kamiwaza_version", "template_type", "preview_image", "image")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _env_int(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) <= 0:
        raise HarnessError(f'{variable}="{value}" is not a positive whole number', field=variable, fix=f"set it to a number of bytes (default {default}) or unset it")
    return int(value)


def file_limit() -> int:
    return _env_int(FILE_LIMIT_VARIABLE, DEFAULT_FILE_LIMIT)


def image_limit() -> int:
    return _env_int(IMAGE_LIMIT_VARIABLE, DEFAULT_IMAGE_LIMIT)


def data_limit() -> int:
    return _env_int(DATA_LIMIT_VARIABLE, DEFAULT_DATA_LIMIT)


def max_depth() -> int:
    return _env_int(DEPTH_VARIABLE, DEFAULT_MAX_DEPTH)


# --------------------------------------------------------------------------- positions


Path_ = tuple[Any, ...]  # ("services", "web", "ports", 0)
_FIELD_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def field_parts(field: str) -> Path_:
    """`$.a.b[0]` or `services.web.ports[0]` -> ("a", "b", 0) / ("services", "web", "ports", 0)."""
    text = field[1:] if field.startswith("$") else field
    return tuple(int(index) if index else key for index, key in _FIELD_PART.findall(text))


@dataclass
class Source:
    """A parsed file: its data, and where each field starts (1-based line, column)."""

    path: Path
    data: Any
    text: str
    _positions: dict[Path_, tuple[int, int]] | None = None
    _locate: Callable[[str], dict[Path_, tuple[int, int]]] | None = field(default=None, repr=False)

    def positions(self) -> dict[Path_, tuple[int, int]]:
        if self._positions is None:  # found only when a problem asks
            self._positions = self._locate(self.text) if self._locate else {}
        return self._positions

    def position(self, field: str | None) -> tuple[int, int] | None:
        """The field's position, or its nearest located ancestor's (a key with dots, a missing field)."""
        positions = self.positions()
        parts = field_parts(field) if field else ()
        while parts:
            if parts in positions:
                return positions[parts]
            parts = parts[:-1]
        return positions.get((), (1, 1))


def _line_starts(text: str) -> list[int]:
    return [0, *(match.end() for match in re.finditer("\n", text))]


def _line_col(starts: list[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, offset) - 1
    return line + 1, offset - starts[line] + 1


# --------------------------------------------------------------------------- the cache


_CACHE: dict[tuple[str, str, str], tuple[tuple[int, int, int], Source | HarnessError]] = {}
_BY_PATH: dict[str, Source] = {}


def _state(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def _cached(kind: str, path: Path, within: Path | None, load: Callable[[], Source]) -> Source:
    key = (kind, os.path.abspath(path), str(within))
    state = _state(path)
    hit = _CACHE.get(key)
    if hit is not None and state is not None and hit[0] == state:
        value = hit[1]
    else:
        try:
            value = load()
        except HarnessError as error:
            value = error
        if state is not None:
            _CACHE[key] = (state, value)
    if isinstance(value, HarnessError):
        raise value
    _BY_PATH[os.path.abspath(path)] = value
    return value


def clear_cache() -> None:
    _CACHE.clear()
    _BY_PATH.clear()


def source_of(path: Path | str) -> Source | None:
    """The parsed Source last read from `path` in this process, if any."""
    return _BY_PATH.get(os.path.abspath(path))


def locate(problem: Problem) -> Problem:
    """`problem` with line and column from its file's parse, when the file was read here."""
    if problem.line is not None or problem.file is None:
        return problem
    source = source_of(problem.file)
    if source is None:
        return problem
    where = source.position(problem.field)
    if where is None:
        return problem
    return replace(problem, line=where[0], column=where[1])


def locate_all(problems: Iterable[Problem]) -> list[Problem]:
    return [locate(problem) for problem in problems]


# --------------------------------------------------------------------------- safe reading


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _inside(child: str, folder: str) -> bool:
    return child == folder or child.startswith(folder.rstrip(os.sep) + os.sep)


def check_regular_file(path: Path, *, within: Path | None = None, limit: int | None = None, what: str = "file") -> os.stat_result:
    """Why `path` may not be read, as a HarnessError; its stat when it may. Nothing is opened.

    `within` (default: the file's folder) is the folder the file must resolve into.
    """
    return _checked(Path(path), within, limit, what)[0]


def _checked(path: Path, within: Path | None, limit: int | None, what: str) -> tuple[os.stat_result, str]:
    """check_regular_file's stat, and the path resolved (what read_bytes opens)."""
    folder = os.path.realpath(within if within is not None else path.parent)
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        raise HarnessError(f"{what} is missing", file=path, fix=f"create {path.name} (see templates/ for a starting point)") from None
    except OSError as error:
        raise HarnessError(f"cannot read the {what}: {error.strerror}", file=path, fix="make it a readable regular file") from None
    if within is None and not stat.S_ISLNK(link.st_mode) and path.name not in ("", ".", ".."):
        real = os.path.join(folder, path.name)  # the folder is resolved and the file is no link: no second walk
    else:
        real = os.path.realpath(path)
    if not _inside(real, folder):
        raise HarnessError(
            f"{what} resolves to {real}, outside the extension folder",
            file=path,
            fix="replace the symlink with the file itself, inside the extension folder",
        )
    try:
        info = os.stat(real) if stat.S_ISLNK(link.st_mode) else link
    except OSError as error:  # ELOOP: a symlink loop; ENOENT: a dangling link
        raise HarnessError(f"{what} is a symlink that cannot be followed: {error.strerror}", file=path, fix="replace the symlink with the file itself") from None
    kind = _kind(info.st_mode)
    if kind is not None:
        raise HarnessError(f"{what} is {kind}, not a regular file; it was not opened", file=path, fix="replace it with a regular file")
    if limit is not None and info.st_size > limit:
        raise HarnessError(
            f"{what} is {info.st_size} bytes, over the {limit}-byte limit",
            file=path,
            fix=f"make it smaller (the limit is set by {IMAGE_LIMIT_VARIABLE if what == 'preview image' else FILE_LIMIT_VARIABLE})",
        )
    return info, real


def read_bytes(path: Path, *, within: Path | None = None, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of a regular file inside `within`, at most `limit` (default KAMIWAZA_MAX_FILE_BYTES)."""
    limit = file_limit() if limit is None else limit
    _, real = _checked(Path(path), within, limit, what)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        handle = os.open(real, flags)
    except OSError as error:
        raise HarnessError(f"cannot open the {what}: {error.strerror}", file=path, fix="make it a readable regular file") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):  # swapped between the checks and the open
            raise HarnessError(f"{what} is {_kind(info.st_mode)}, not a regular file", file=path, fix="replace it with a regular file")
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(handle, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as error:
        raise HarnessError(f"cannot read the {what}: {error.strerror}", file=path, fix="make it a readable regular file") from None
    finally:
        os.close(handle)
    data = b"".join(chunks)
    if len(data) > limit:
        raise HarnessError(f"{what} is over the {limit}-byte limit", file=path, fix=f"make it smaller (the limit is set by {FILE_LIMIT_VARIABLE})")
    return data


def read_text(path: Path, *, within: Path | None = None, limit: int | None = None) -> str:
    data = read_bytes(path, within=within, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        starts = _line_starts(data[: error.start].decode("utf-8", "replace"))
        line = len(starts)
        raise HarnessError(
            f"is not UTF-8 text (byte {error.start})",
            file=path,
            line=line,
            column=error.start - len(data[: error.start].rsplit(b"\n", 1)[0]) if line > 1 else error.start + 1,
            fix="save the file as UTF-8",
        ) from None


# --------------------------------------------------------------------------- JSON


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused("duplicate key")
    return result


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused("number has too many digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise _Refused("number is too large")
    return value


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: one step per run, not per character
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_too_deep(text: str, limit: int) -> int | None:
    """Offset of the first bracket nested deeper than `limit` (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = 0
    # the common case first: strings emptied (a C-level substitution), only the depth counted
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return _json_deep_offset(text, limit)
    return None


def _json_deep_offset(text: str, limit: int) -> int | None:
    """Where the nesting first passes `limit` in the original text (strings blanked, offsets kept)."""
    blank = _JSON_STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)
    depth = 0
    for match in _JSON_BRACKET.finditer(blank):
        depth += 1 if match.group() in "[{" else -1
        if depth > limit:
            return match.start()
    return None


_JSON_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([\[\]{}:,])|([^\s\[\]{}:,"]+))', re.DOTALL)


@dataclass
class _JsonScan:
    positions: dict[Path_, tuple[int, int]]
    refusals: list[tuple[Path_, tuple[int, int], str]]


def _scan_json(text: str) -> _JsonScan:
    """Positions of every key and value, and what the strict parse refuses, by JSON path.

    A tokenizer, not a validator: run after json.loads said the syntax is fine
    (or to place a refusal it made), so it only needs to follow structure.
    """
    starts = _line_starts(text)
    positions: dict[Path_, tuple[int, int]] = {(): (1, 1)}
    refusals: list[tuple[Path_, tuple[int, int], str]] = []
    stack: list[tuple[str, Path_, set, list]] = []  # (kind, path, seen keys, [next key or index])
    offset = 0
    expecting_key = False
    while offset < len(text):
        match = _JSON_TOKEN.match(text, offset)
        if not match or match.end() == offset:
            break
        offset = match.end()
        string, punct, literal = match.groups()
        start = match.start(1 if string else 2 if punct else 3)
        where = _line_col(starts, start)
        if punct in ("{", "["):
            path = _value_path(stack)
            if path is not None:
                positions.setdefault(path, where)
            stack.append(("{" if punct == "{" else "[", path if path is not None else (), set(), [0 if punct == "[" else None]))
            expecting_key = punct == "{"
        elif punct in ("}", "]"):
            if stack:
                stack.pop()
            expecting_key = False
        elif punct == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][3][0] += 1
            expecting_key = bool(stack) and stack[-1][0] == "{"
        elif punct == ":":
            expecting_key = False
        elif string is not None and expecting_key and stack:
            try:
                key = json.loads(string)
            except ValueError:
                key = string[1:-1]
            kind, path, seen, slot = stack[-1]
            if key in seen:
                refusals.append(((*path, key), where, "duplicate key"))
            seen.add(key)
            slot[0] = key
            positions[(*path, key)] = where
            expecting_key = False
        else:
            path = _value_path(stack) or ()
            positions.setdefault(path, where)
            if literal is not None:
                if literal in ("NaN", "Infinity", "-Infinity"):
                    refusals.append((path, where, f"{literal} is not a JSON number"))
                elif len(literal) > MAX_NUMBER_CHARS:
                    refusals.append((path, where, "number has too many digits"))
                elif literal[:1] in "-0123456789":
                    try:
                        if not math.isfinite(float(literal)):
                            refusals.append((path, where, "number is too large"))
                    except ValueError:
                        pass
    return _JsonScan(positions, refusals)


def _value_path(stack: list[tuple[str, Path_, set, list]]) -> Path_ | None:
    if not stack:
        return ()
    kind, path, _, slot = stack[-1]
    if slot[0] is None:
        return None
    return (*path, slot[0])


def json_path(parts: Iterable[Any], base: str = "$") -> str:
    """("services", 0, "x") -> "$.services[0].x": the one spelling of a JSON path in problems."""
    text = base
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def parse_json(text: str, path: Path | str | None = None) -> Source:
    """Strict JSON: depth, duplicate keys, NaN/Infinity, huge numbers, lone surrogates refused."""
    source_path = Path(path) if path is not None else Path("<text>")
    limit = max_depth()
    deep = _json_too_deep(text, limit)
    if deep is not None:
        line, column = _line_col(_line_starts(text), deep)
        raise HarnessError(f"nests deeper than {limit} levels", file=path, line=line, column=column, fix=f"flatten the structure (the limit is set by {DEPTH_VARIABLE})")
    try:
        keys = _KeyWatch()
        data = json.loads(text, object_pairs_hook=keys, parse_constant=_refuse_constant, parse_int=_int, parse_float=_float)
    except _Refused as refused:
        scan = _scan_json(text)
        problems = [
            Problem(message, file=path, field=json_path(parts), line=where[0], column=where[1], fix=_JSON_FIXES.get(message.split(" ")[0], "write a plain JSON value"))
            for parts, where, message in scan.refusals
        ] or [Problem(str(refused), file=path, fix="correct the JSON value")]
        raise HarnessError(problems=problems) from None
    except json.JSONDecodeError as error:
        raise HarnessError(
            f"is not valid JSON: {error.msg}",
            file=path,
            line=error.lineno,
            column=error.colno,
            fix="correct the JSON syntax there (a missing comma or quote, or a trailing comma, is the usual cause)",
        ) from None
    except RecursionError:  # unreachable after the depth check; kept so no input can crash
        raise HarnessError(f"nests deeper than {limit} levels", file=path, fix="flatten the structure") from None
    source = Source(source_path, data, text, _locate=lambda t: _scan_json(t).positions)
    if keys.odd or _may_hold_bad_strings(text, data):
        problems = _string_problems(data, (), path)
        if problems:
            located = [replace(p, line=(w := source.position(p.field) or (None, None))[0], column=w[1]) for p in problems]
            raise HarnessError(problems=located)
    return source


_JSON_FIXES = {
    "duplicate": "keep one of the two entries: with duplicate keys the last silently wins",
    "NaN": "write a number, a string or null",
    "Infinity": "write a number, a string or null",
    "-Infinity": "write a number, a string or null",
    "number": "write a number of at most 40 characters, or a string",
}


# What `_string_problems` can find is looked for cheaply first, so that a large file (a 9 MB
# remote registry) is walked only when it may hold one: keys as the parser builds each object
# (one search per object), values only where the walk checks them -- a lone surrogate arrives
# only as a \\uD800-\\uDFFF escape, and control characters matter in identity fields only.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ODD_KEY_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class _KeyWatch:
    """The object hook: duplicate keys refused; notes whether any key holds an odd character."""

    def __init__(self) -> None:
        self.odd = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = _no_duplicates(pairs)
        if not self.odd and _ODD_KEY_CHARACTER.search("".join(result)):
            self.odd = True
        return result


def _may_hold_bad_strings(text: str, data: Any) -> bool:
    if _SURROGATE_ESCAPE.search(text):
        return True
    top = data if isinstance(data, dict) else {}
    return any(isinstance(top.get(field), str) and _CONTROL.search(top[field]) for field in IDENTITY_FIELDS)


def _string_problems(value: Any, parts: Path_, path: Path | str | None) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            problems.append(Problem("contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)", file=path, field=json_path(parts), fix="write the character itself, or a valid surrogate pair"))
        elif len(parts) == 1 and parts[0] in IDENTITY_FIELDS and _CONTROL.search(value):
            problems.append(Problem("contains a control character (newline, tab, ...)", file=path, field=json_path(parts), fix="remove it: names, versions and file names are one plain line"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if _LONE_SURROGATE.search(key) or _CONTROL.search(key):
                problems.append(Problem(f"key {key!r} contains a control character or a lone surrogate", file=path, field=json_path(parts), fix="rename the key to plain text"))
                continue
            problems += _string_problems(item, (*parts, key), path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _string_problems(item, (*parts, index), path)
    return problems


def load_json(path: Path, *, within: Path | None = None, limit: int | None = None) -> Source:
    """Read and parse a JSON file once per process (while its mtime and size hold)."""
    path = Path(path)
    return _cached("json", path, within, lambda: parse_json(read_text(path, within=within, limit=limit), path))


def read_json(path: Path, *, within: Path | None = None, limit: int | None = None) -> Any:
    return load_json(path, within=within, limit=limit).data


# --------------------------------------------------------------------------- YAML (Compose's reading)

_STR, _INT, _FLOAT, _BOOL, _NULL = ("tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null"))
_MERGE = object()  # marks a `<<` merge key while a mapping is read
CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# Sexagesimal forms left out on purpose (Compose reads `2222:22` as a string); a
# leading 0 stays octal because Compose (Go's ParseInt with base 0) reads it so too.
CORE_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o[0-7]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
CORE_FLOAT = re.compile(
    r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_PLAIN_FIRST = frozenset("-+0123456789.~nNtTfF")


class _YamlRefused(Exception):
    def __init__(self, message: str, mark: Any, parts: Path_ = (), fix: str = "") -> None:
        super().__init__(message)
        self.message, self.mark, self.parts, self.fix = message, mark, parts, fix


def _to_int(text: str) -> int:
    value = text.replace("_", "")
    if len(value) > MAX_NUMBER_CHARS:
        raise ValueError("number has too many digits")
    sign = -1 if value.startswith("-") else 1
    value = value.lstrip("+-")
    if value.startswith("0b"):
        return sign * int(value[2:], 2)
    if value.startswith("0x"):
        return sign * int(value[2:], 16)
    if value.startswith("0o"):
        return sign * int(value[2:], 8)
    if value.startswith("0") and len(value) > 1:
        return sign * int(value, 8)
    return sign * int(value)


def _to_float(text: str) -> float:
    value = text.replace("_", "").lower()
    if value.lstrip("+-") == ".inf":
        return -math.inf if value.startswith("-") else math.inf
    if value == ".nan":
        return math.nan
    if len(value) > MAX_NUMBER_CHARS:
        raise ValueError("number has too many digits")
    return float(value)


def _scalar(event: yaml.ScalarEvent) -> Any:
    """A scalar the way Compose (YAML 1.2 core schema) reads it."""
    value, tag = event.value, event.tag
    if tag in (None, "!") and event.implicit[0]:  # plain: resolve by its text
        if not value or value[0] in _PLAIN_FIRST:
            if CORE_NULL.match(value):
                return None
            if CORE_BOOL.match(value):
                return value[0] in "tT"
            if CORE_INT.match(value):
                return _to_int(value)
            if CORE_FLOAT.match(value):
                return _to_float(value)
        return value
    if tag in (None, "!", _STR):
        return value
    if tag == _INT and CORE_INT.match(value):
        return _to_int(value)
    if tag == _FLOAT and (CORE_FLOAT.match(value) or CORE_INT.match(value)):
        return _to_float(value)
    if tag == _BOOL and CORE_BOOL.match(value):
        return value[0] in "tT"
    if tag == _NULL and CORE_NULL.match(value):
        return None
    raise _YamlRefused(f"tag {tag} is not supported here", event.start_mark, fix="remove the tag (Compose files need plain YAML values)")


@dataclass
class _Frame:
    kind: str  # "map" | "seq"
    value: Any
    parts: Path_
    anchor: str | None
    size: int = 1
    key: Any = None
    has_key: bool = False
    merges: list | None = None


_MISSING = object()


def _build_yaml(parser: Any, limit: int, record: bool = True) -> tuple[Any, dict[Path_, tuple[int, int]] | None]:
    """The document from the parser's events, with every field's mark (unless not `record`);
    limits enforced as it goes."""
    positions: dict[Path_, tuple[int, int]] | None = {(): (1, 1)} if record else None
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    aliases = 0
    result: Any = _MISSING
    documents = 0
    while True:
        event = parser.get_event()
        kind = type(event)
        if kind is yaml.StreamEndEvent:
            break
        if kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _YamlRefused("holds more than one YAML document", event.start_mark, fix="keep one document (remove the `---` separator)")
            continue
        if kind in (yaml.StreamStartEvent, yaml.DocumentEndEvent):
            continue
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = stack.pop()
            value = frame.value
            if frame.merges:
                merged: dict[Any, Any] = {}
                for source in frame.merges:  # earlier merge sources win, explicit keys win over all
                    for key, item in source.items():
                        merged.setdefault(key, item)
                merged.update(value)
                value = merged
            if frame.anchor is not None:
                anchors[frame.anchor] = (value, frame.size)
            _attach(stack, value, frame.size, frame.parts, event, positions)
            if not stack:
                result = value
            continue
        if kind is yaml.AliasEvent:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _YamlRefused(f"uses more than {MAX_ALIASES} aliases", event.start_mark, fix="write the values out; alias bombs are refused")
            if event.anchor not in anchors:
                raise _YamlRefused(f"alias *{event.anchor} has no complete anchor &{event.anchor} before it", event.start_mark, fix="define the anchor before its use, outside the node that uses it")
            value, size = anchors[event.anchor]
            parts = _child_parts(stack)
            if parts is _MISSING:  # an alias as a mapping key
                parts = stack[-1].parts
            _attach(stack, value, size, parts, event, positions)
            if not stack:
                result = value
            continue
        parts = _child_parts(stack)
        is_key = parts is _MISSING
        if is_key:
            parts = stack[-1].parts
        if kind is yaml.ScalarEvent:
            if event.style == '"' and _LONE_SURROGATE.search(event.value):
                raise _YamlRefused("contains a lone UTF-16 surrogate escape", event.start_mark, parts, fix="write the character itself, or a valid surrogate pair")
            try:
                value = _scalar(event)
            except ValueError as error:
                raise _YamlRefused(str(error), event.start_mark, parts, fix="write a shorter number, or quote it as a string") from None
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
            if is_key and event.value == "<<" and event.implicit[0]:
                value = _MERGE
            _attach(stack, value, 1, parts, event, positions)
            if not stack:
                result = value
            continue
        # a mapping or sequence starts
        if is_key:
            raise _YamlRefused("a mapping key is a mapping or a list", event.start_mark, parts, fix="use a plain string as the key")
        if len(stack) >= limit:
            raise _YamlRefused(f"nests deeper than {limit} levels", event.start_mark, (), fix=f"flatten the structure (the limit is set by {DEPTH_VARIABLE})")
        if event.tag not in (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
            raise _YamlRefused(f"tag {event.tag} is not supported here", event.start_mark, parts, fix="remove the tag (Compose files need plain YAML values)")
        mark = event.start_mark
        if positions is not None:
            positions.setdefault(parts, (mark.line + 1, mark.column + 1))
        container: Any = {} if kind is yaml.MappingStartEvent else []
        stack.append(_Frame("map" if kind is yaml.MappingStartEvent else "seq", container, parts, event.anchor))
    if result is _MISSING:
        result = None
    return result, positions


def _child_parts(stack: list[_Frame]) -> Any:
    """The path of the node about to start, or _MISSING when it is a mapping key."""
    if not stack:
        return ()
    frame = stack[-1]
    if frame.kind == "seq":
        return (*frame.parts, len(frame.value))
    if not frame.has_key:
        return _MISSING
    return (*frame.parts, frame.key)


def _attach(stack: list[_Frame], value: Any, size: int, parts: Path_, event: Any, positions: dict[Path_, tuple[int, int]] | None) -> None:
    if not stack:
        return
    frame = stack[-1]
    frame.size += size
    if frame.size > MAX_EXPANDED_NODES:
        raise _YamlRefused(f"expands to more than {MAX_EXPANDED_NODES} nodes through its aliases", event.start_mark, frame.parts, fix="write the values out; alias bombs are refused")
    if frame.kind == "seq":
        frame.value.append(value)
        if positions is not None:
            mark = event.start_mark
            positions.setdefault(parts, (mark.line + 1, mark.column + 1))
        return
    if not frame.has_key:  # this is a key
        if isinstance(value, (dict, list)):
            raise _YamlRefused("a mapping key is a mapping or a list", event.start_mark, frame.parts, fix="use a plain string as the key")
        if value is not _MERGE and value in frame.value:
            raise _YamlRefused(f"duplicate key {value!r}", event.start_mark, (*frame.parts, value), fix="keep one of the two entries: with duplicate keys the last silently wins")
        frame.key, frame.has_key = value, True
        if positions is not None:
            mark = event.start_mark
            positions[(*frame.parts, value)] = (mark.line + 1, mark.column + 1)
        return
    key = frame.key
    frame.key, frame.has_key = None, False
    if key is _MERGE:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            raise _YamlRefused("merge key << needs a mapping or a list of mappings", event.start_mark, frame.parts, fix="merge only mappings (`<<: *anchor`)")
        frame.merges = (frame.merges or []) + sources
        return
    frame.value[key] = value


def parse_yaml(text: str, path: Path | str | None = None) -> Source:
    """Compose YAML with every limit; HarnessError (with line and column) on anything refused."""
    source_path = Path(path) if path is not None else Path("<text>")
    try:
        limit = max_depth()
        data, _ = _build_yaml(_Parser(text), limit, record=False)
    except _YamlRefused as refused:
        mark = refused.mark
        field = _compose_field(refused.parts) if refused.parts else None
        raise HarnessError(refused.message, file=path, field=field, line=mark.line + 1, column=mark.column + 1, fix=refused.fix or None) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise HarnessError(
            f"is not valid YAML: {problem}",
            file=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            fix="correct the YAML there (indentation with spaces, not tabs, and unquoted ':' are the usual causes)",
        ) from None
    except (UnicodeError, ValueError) as error:  # libyaml on characters it cannot carry
        raise HarnessError(f"is not valid YAML: {error}", file=path, fix="remove unusual characters (lone surrogates, control characters)") from None
    # Positions are found again only when a problem asks for one (most files have none):
    # kept for every file, they were a third of validate's memory at N=800.
    return Source(source_path, data, text, _locate=lambda t: _build_yaml(_Parser(t), limit)[1] or {})


def _compose_field(parts: Path_) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def compose_field(parts: Iterable[Any]) -> str:
    """("services", "web", "ports", 0) -> `services.web.ports[0]`."""
    return _compose_field(tuple(parts))


def load_yaml(path: Path, *, within: Path | None = None, limit: int | None = None) -> Source:
    """Read and parse a compose file once per process (while its mtime and size hold)."""
    path = Path(path)
    return _cached("yaml", path, within, lambda: parse_yaml(read_text(path, within=within, limit=limit), path))


def limit_for(path: Path) -> int:
    """Person-written files get the strict limit; files the harness wrote (registry.json) a wide one."""
    return file_limit() if Path(path).name in ("kamiwaza.json", "docker-compose.yml", "docker-compose.appgarden.yml") else data_limit()

