"""Compose validation in process: what `docker compose config -q` rejects, without starting Go.

`problems(document, path, positions)` takes a document the caller already parsed (each file
is parsed once) and follows the order in which Compose (compose-go) loads a file, stopping
after the first stage that finds something, as Compose does:

1. interpolation: `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`,
   `${VAR:?err}`, `${VAR?err}` and `$$`, with the same template grammar as compose-go's
   (an unterminated `${`, `${}` or `${1A}` is an error; `$1` or a lone `$` stay literal).
   Variables come from the process environment over the `.env` file beside the compose file,
   as Compose reads them. Strings at the fields Compose casts after interpolation (booleans
   such as `privileged`, numbers such as `cpus` or `ports[].target`) must cast.
2. the Compose Specification JSON schema, the copy check-jsonschema ships
   (`check_jsonschema/builtin_schemas/vendor/compose-spec.json`), with jsonschema-rs,
   compiled once per process;
3. what Compose checks after the schema: references to undefined services (depends_on,
   links, extends, network_mode/pid/ipc `service:x`, volumes_from), volumes, networks,
   secrets and configs; depends_on cycles; port, duration, byte-size, cpus and extra_hosts
   syntax; unique container names; a service with neither image nor build; top-level
   volumes, secrets and configs Compose refuses (external with other keys, no source);
   extends and env_file files that do not exist.

The real binary stays the reference: tests/test_compose_spec.py runs both over one corpus.
Known differences (kept out of that corpus on purpose, each with its reason there):
- the schema is check-jsonschema's copy, not the one compiled into the installed Compose;
  keys added to the specification after one of the two was cut are judged differently;
- `extends: {file: ...}` and `include:` are not followed into the other file (only its
  existence is checked); services disabled by `profiles` are checked like the others;
- a YAML document that needs YAML 1.1 to parse the same way (`on:`, `0777`, `1:20`) is
  the loader's business: this module sees the document the caller parsed.

The file is never read here except to find `.env`, extends files and env_files beside it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import ipaddress
import json
import os
import re
from collections import ChainMap
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from release.errors import Problem

KeyPath = tuple[str | int, ...]
Positions = Mapping[KeyPath, tuple[int, int]]

SCHEMA_PACKAGE = "check_jsonschema"
SCHEMA_RESOURCE = ("builtin_schemas", "vendor", "compose-spec.json")
DOTENV = ".env"

# --------------------------------------------------------------------------- the schema


@lru_cache(maxsize=1)
def schema_path() -> Path:
    """The compose-spec schema inside the installed check-jsonschema package.

    Found with find_spec rather than importlib.resources.files: the latter imports the
    package, and check_jsonschema's __init__ imports its whole CLI (~170 ms a process).
    """
    spec = importlib.util.find_spec(SCHEMA_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location).joinpath(*SCHEMA_RESOURCE)
        if candidate.is_file():
            return candidate
    raise RuntimeError(f"{'/'.join(SCHEMA_RESOURCE)} is not in the installed {SCHEMA_PACKAGE}; run `pip install -e .`")


@lru_cache(maxsize=1)
def schema() -> Mapping[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Any:
    """jsonschema-rs when installed (the schema uses nothing it lacks), else jsonschema."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - jsonschema-rs is a dependency
        import jsonschema

        return _PurePythonValidator(jsonschema.validators.validator_for(schema())(schema()))
    return jsonschema_rs.validator_for(schema())


@dataclasses.dataclass(frozen=True)
class _SchemaError:
    instance_path: KeyPath
    message: str


class _PurePythonValidator:
    """jsonschema's validator with the two methods this module uses from jsonschema-rs."""

    def __init__(self, validator: Any) -> None:
        self._validator = validator

    def is_valid(self, document: Any) -> bool:
        return self._validator.is_valid(document)

    def iter_errors(self, document: Any) -> Iterator[Any]:
        for error in self._validator.iter_errors(document):
            yield _SchemaError(tuple(error.absolute_path), error.message)


# --------------------------------------------------------------------------- the entry point


def problems(document: Any, path: Path, positions: Positions | None = None, *, environment: Mapping[str, str] | None = None) -> list[Problem]:
    """What `docker compose -f <path> config -q` would reject in `document` ([] when it accepts it).

    `positions` maps key paths (("services", "web", "ports", 0)) to (line, column), 1-based;
    `environment` replaces what Compose would read (the process environment over `.env`).
    """
    report = _Reporter(path, positions or {})
    if environment is None:
        environment = project_environment(path.parent)
    _key_problems(document, (), report)
    if report.problems:
        return report.problems
    document = interpolate(document, environment, report)
    if report.problems:
        return report.problems
    document = deduplicated(document)
    _schema_problems(document, report)
    if report.problems:
        return report.problems
    _model_problems(document, path.parent, report)
    return report.problems


def field_name(key_path: Sequence[str | int]) -> str:
    """("services", "web", "ports", 0) -> "services.web.ports[0]"."""
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PROBLEM_FIELDS = {item.name for item in dataclasses.fields(Problem)}


class _Reporter:
    """Collects problems for one file; places each at the closest position known."""

    def __init__(self, path: Path, positions: Positions) -> None:
        self.path = path
        self.positions = positions
        self.problems: list[Problem] = []

    def __call__(self, key_path: KeyPath, message: str, fix: str) -> None:
        where = self._position(key_path)
        extra: dict[str, Any] = {}
        if where is not None:
            if {"line", "column"} <= _PROBLEM_FIELDS:
                extra = {"line": where[0], "column": where[1]}
            else:
                message = f"{message.rstrip('.')} (line {where[0]}, column {where[1]})"
        self.problems.append(Problem(message, file=self.path, field=field_name(key_path) or None, fix=fix, **extra))

    def _position(self, key_path: KeyPath) -> tuple[int, int] | None:
        for end in range(len(key_path), -1, -1):
            found = self.positions.get(tuple(key_path[:end]))
            if found is not None:
                return found
        return None


# --------------------------------------------------------------------------- 1. interpolation


def _key_problems(value: Any, key_path: KeyPath, report: _Reporter) -> None:
    """Compose reads every mapping key as a string; YAML may give a number, a boolean or null."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                report(key_path, f"key {key!r} is not a string", f'quote the key ("{key}")')
            else:
                _key_problems(item, (*key_path, key), report)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _key_problems(item, (*key_path, index), report)

# compose-go's template grammar: `$$`, `$name`, `${name}` with one operator, or an invalid `${`.
_TEMPLATE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))",
    re.IGNORECASE,
)
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class TemplateError(ValueError):
    """An interpolation Compose refuses: bad syntax, or a required variable without a value."""


def dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, `export `, quotes); the simple form people write."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, separator, value = line.partition("=")
        if not separator:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def project_environment(folder: Path) -> Mapping[str, str]:
    """The variables Compose interpolates with: the process's own over the `.env` beside the file."""
    try:
        from_file = dotenv((folder / DOTENV).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        from_file = {}
    return ChainMap(os.environ, from_file)  # type: ignore[arg-type]  # looked up, never copied


def substitute(template: str, lookup: Mapping[str, str]) -> str:
    """`template` with its variables replaced, as compose-go does; TemplateError when it refuses."""
    errors: list[TemplateError] = []

    def replace(match: re.Match[str]) -> str:
        try:
            return _replacement(match.group(0), lookup)
        except TemplateError as error:
            errors.append(error)
            return ""

    result = _TEMPLATE.sub(replace, template)
    if errors:
        raise errors[0]
    return result


def _replacement(substring: str, lookup: Mapping[str, str]) -> str:
    chosen = _first_operator(substring)  # chosen on the whole match, as compose-go does
    closing = _first_closing_brace(substring)
    rest = ""
    if closing > -1:
        substring, rest = substring[: closing + 1], substring[closing + 1 :]
    match = _TEMPLATE.match(substring)
    if match is None or match.group("invalid") is not None:
        raise TemplateError("invalid interpolation format")
    if match.group("escaped"):
        return "$"
    named, braced = match.group("named"), match.group("braced")
    if named:
        return lookup.get(named, "")
    if not braced:
        raise TemplateError("invalid interpolation format")
    if chosen is not None and chosen in braced:
        return _apply(chosen, braced, lookup) + substitute(rest, lookup)
    return lookup.get(braced, "")


def _first_operator(template: str) -> str | None:
    found = [(template.find(operator), order, operator) for order, operator in enumerate(_OPERATORS) if operator in template]
    return min(found)[2] if found else None


def _first_closing_brace(text: str) -> int:
    depth, index = 0, 0
    while index < len(text):
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        if text[index] == "{":
            depth += 1
            index += 1  # compose-go skips the character after an opening brace
        index += 1
    return -1


def _apply(operator: str, braced: str, lookup: Mapping[str, str]) -> str:
    name, argument = braced.split(operator, 1)
    argument = substitute(argument, lookup)
    value = lookup.get(name)
    if operator in (":?", "?"):
        if value is None or (operator == ":?" and value == ""):
            detail = f": {argument}" if argument else ""
            raise TemplateError(f"required variable {name} is missing a value{detail}")
        return value
    if operator in (":-", "-"):
        return argument if value is None or (operator == ":-" and value == "") else value
    # `:+` / `+`: the argument when the variable is set (and, for `:+`, not empty)
    return argument if value is not None and (operator == "+" or value != "") else (value or "")


def _is_go_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None


_GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.IGNORECASE)
_TRUE, _FALSE = ("true", "y", "yes", "on"), ("false", "n", "no", "off")


def _to_int(text: str) -> int:
    if not _is_go_int(text):
        raise ValueError(f'"{text}" is not a whole number')
    return int(text)


def _to_float(text: str) -> float:
    if not _GO_FLOAT.fullmatch(text):
        raise ValueError(f'"{text}" is not a number')
    return float(text)


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f'"{text}" is not a boolean (true or false)')


# Fields whose strings Compose casts right after interpolation (`*` any key, `[]` any item).
_SERVICE_CASTS: Mapping[tuple[str, ...], Callable[[str], Any]] = {
    ("configs", "[]", "mode"): _to_int, ("cpu_count",): _to_int, ("cpu_percent",): _to_float,
    ("cpu_period",): _to_int, ("cpu_quota",): _to_int, ("cpu_rt_period",): _to_int, ("cpu_rt_runtime",): _to_int,
    ("cpus",): _to_float, ("cpu_shares",): _to_int, ("init",): _to_bool, ("deploy", "replicas"): _to_int,
    ("deploy", "update_config", "parallelism"): _to_int, ("deploy", "update_config", "max_failure_ratio"): _to_float,
    ("deploy", "rollback_config", "parallelism"): _to_int, ("deploy", "rollback_config", "max_failure_ratio"): _to_float,
    ("deploy", "restart_policy", "max_attempts"): _to_int, ("deploy", "placement", "max_replicas_per_node"): _to_int,
    ("healthcheck", "retries"): _to_int, ("healthcheck", "disable"): _to_bool, ("oom_kill_disable",): _to_bool,
    ("oom_score_adj",): _to_int, ("pids_limit",): _to_int, ("ports", "[]", "target"): _to_int, ("privileged",): _to_bool,
    ("read_only",): _to_bool, ("scale",): _to_int, ("secrets", "[]", "mode"): _to_int, ("stdin_open",): _to_bool,
    ("tty",): _to_bool, ("ulimits", "*"): _to_int, ("ulimits", "*", "hard"): _to_int, ("ulimits", "*", "soft"): _to_int,
    ("volumes", "[]", "read_only"): _to_bool, ("volumes", "[]", "volume", "nocopy"): _to_bool,
}
CASTS: Mapping[tuple[str, ...], Callable[[str], Any]] = {
    **{("services", "*", *pattern): cast for pattern, cast in _SERVICE_CASTS.items()},
    **{(kind, "*", "external"): _to_bool for kind in ("networks", "volumes", "secrets", "configs")},
    ("networks", "*", "internal"): _to_bool, ("networks", "*", "attachable"): _to_bool, ("networks", "*", "enable_ipv6"): _to_bool,
}
_LEAF = object()  # the key under which a trie node keeps the value of its pattern


def _trie(patterns: Mapping[tuple[str, ...], Any]) -> dict:
    """Key-path patterns (`*` any key, `[]` any list item) as nested dicts, walked with the document."""
    root: dict = {}
    for pattern, value in patterns.items():
        node = root
        for part in pattern:
            node = node.setdefault(part, {})
        node[_LEAF] = value
    return root


def _step(node: dict | None, key: str | int) -> dict | None:
    """The trie node below `node` for one more key (an exact key wins over a wildcard)."""
    if node is None:
        return None
    if isinstance(key, int):
        return node.get("[]")
    return node.get(key) or node.get("*")


_CAST_TRIE = _trie(CASTS)


def interpolate(document: Any, lookup: Mapping[str, str], report: Callable[[KeyPath, str, str], None]) -> Any:
    """A copy of `document` with every string value interpolated and cast (keys stay as written)."""

    def walk(value: Any, key_path: KeyPath, casts: dict | None) -> Any:
        if isinstance(value, str):
            if "$" in value:
                try:
                    value = substitute(value, lookup)
                except TemplateError as error:
                    report(key_path, f"{error} in {value!r}", "write `$$` for a literal dollar and close every `${` with `}` (`${NAME:-default}`); give required variables a value")
                    return value
            cast = casts.get(_LEAF) if casts else None
            if cast is not None:
                try:
                    return cast(value)
                except ValueError as error:
                    report(key_path, f"{error}", "use a value of the field's type (see the Compose Specification)")
            return value
        if isinstance(value, dict):
            return {key: walk(item, (*key_path, key), _step(casts, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*key_path, index), _step(casts, index)) for index, item in enumerate(value)]
        return value

    return walk(document, (), _CAST_TRIE)


# --------------------------------------------------------------------------- 1b. repeated entries

# Compose keeps one entry per key in these lists (the last one wins, in the first one's place)
# before it applies the schema, so `ports: ["80", "80"]` passes its uniqueItems.


def _key_value(entry: Any) -> str:
    if not isinstance(entry, str):
        raise TypeError
    return entry.split("=", 1)[0]


def _volume_target(entry: Any) -> str:
    if isinstance(entry, dict):
        if not isinstance(entry.get("target"), str):
            raise TypeError
        return entry["target"]
    if isinstance(entry, str):
        parts = _split_volume(entry)
        return parts[1] if len(parts) > 1 else parts[0]
    return ""


def _device_target(entry: Any) -> str:
    if isinstance(entry, dict):
        if not isinstance(entry.get("target"), str):
            raise TypeError
        return entry["target"]
    if isinstance(entry, str):
        parts = entry.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return ""


def _expose_key(entry: Any) -> str:
    if isinstance(entry, bool) or not isinstance(entry, (str, int)):
        raise TypeError
    return str(entry)


def _mount_key(default: str) -> Callable[[Any], str]:
    def key(entry: Any) -> str:
        if isinstance(entry, str):
            return f"{default}/{entry}"
        if isinstance(entry, dict):
            return str(entry["target"]) if "target" in entry else f"{default}/{entry.get('source')}"
        raise TypeError

    return key


def _port_key(entry: Any) -> str:
    if isinstance(entry, dict):
        if "target" not in entry:
            raise TypeError
        return f"{entry.get('host_ip', '0.0.0.0')}:{entry.get('published', '')}:{entry['target']}/{entry.get('protocol', 'tcp')}"
    return str(entry)


def _env_file_key(entry: Any) -> str:
    if isinstance(entry, dict):
        if "path" not in entry:
            raise TypeError
        return str(entry["path"])
    return str(entry)


_KEY_VALUE_LISTS = (
    "annotations", "build.args", "build.additional_contexts", "build.platform", "build.tags", "build.labels", "cap_add",
    "cap_drop", "deploy.labels", "dns", "dns_opt", "dns_search", "environment", "labels", "links",
    "networks.*.aliases", "networks.*.link_local_ips", "profiles", "sysctls", "tmpfs",
)
UNIQUE_LISTS: Mapping[tuple[str, ...], Callable[[Any], str]] = {
    ("networks", "*", "labels"): _key_value, ("networks", "*", "ipam", "options"): _key_value,
    **{("services", "*", *name.split(".")): _key_value for name in _KEY_VALUE_LISTS},
    ("services", "*", "devices"): _device_target, ("services", "*", "configs"): _mount_key(""),
    ("services", "*", "env_file"): _env_file_key, ("services", "*", "expose"): _expose_key,
    ("services", "*", "ports"): _port_key, ("services", "*", "secrets"): _mount_key("/run/secrets"),
    ("services", "*", "volumes"): _volume_target,
}


_UNIQUE_TRIE = _trie(UNIQUE_LISTS)


def deduplicated(document: Any) -> Any:
    """`document` with the repeated entries Compose drops dropped (an entry it cannot key stays)."""

    def walk(value: Any, lists: dict | None) -> Any:
        if lists is None:
            return value
        if isinstance(value, dict):
            return {key: walk(item, _step(lists, key)) for key, item in value.items()}
        if isinstance(value, list):
            key_of = lists.get(_LEAF)
            if key_of is not None:
                try:
                    kept: dict[str, Any] = {}
                    for entry in value:
                        kept[key_of(entry)] = entry  # a later entry replaces an earlier one, in its place
                    return list(kept.values())
                except (TypeError, KeyError):
                    return value
        return value

    return walk(document, _UNIQUE_TRIE)


# --------------------------------------------------------------------------- 2. the schema


def _schema_problems(document: Any, report: _Reporter) -> None:
    validator = _validator()
    if validator.is_valid(document):
        return
    for error in validator.iter_errors(document):
        key_path = tuple(error.instance_path)
        message = error.message
        if "nevaluated properties" in message or "dditional properties" in message:
            unknown = _unknown_keys(document, key_path)
            if unknown == []:
                continue  # jsonschema-rs repeats a failing property as "unevaluated": reported once, at the property
            if unknown:
                message = f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}"
        report(key_path, f"the Compose Specification rejects it: {message}", "correct the value or remove the key (see https://docs.docker.com/reference/compose-file/)")


def _unknown_keys(document: Any, key_path: KeyPath) -> list[str] | None:
    """The keys of the mapping at `key_path` its schema does not define; None when its schema is not found."""
    node: Any = document
    for part in key_path:
        node = node[part]
    definition = _definition_at(key_path)
    if not isinstance(node, dict) or definition is None:
        return None
    known, patterns = _known_keys(definition)
    return [key for key in node if key not in known and not any(re.search(p, str(key)) for p in patterns)]


def _resolve(definition: Any) -> Any:
    while isinstance(definition, dict) and "$ref" in definition:
        definition = schema()["$defs"].get(str(definition["$ref"]).rsplit("/", 1)[-1])
    return definition


def _known_keys(definition: Mapping[str, Any]) -> tuple[set[str], list[str]]:
    """Properties and property patterns of a definition, with those of its allOf parts."""
    known, patterns = set(definition.get("properties", {})), list(definition.get("patternProperties", {}))
    for part in definition.get("allOf", ()):
        more, more_patterns = _known_keys(_resolve(part) or {})
        known |= more
        patterns += more_patterns
    return known, patterns


def _definition_at(key_path: KeyPath) -> Mapping[str, Any] | None:
    """The schema of the mapping at `key_path`, followed through properties, allOf and $ref."""
    definition: Any = _resolve(schema())
    for part in key_path:
        definition = _resolve(_child(definition, part)) if isinstance(part, str) else None
        if not isinstance(definition, dict):
            return None
    return definition


def _child(definition: Mapping[str, Any], key: str) -> Any:
    if key in definition.get("properties", {}):
        return definition["properties"][key]
    for pattern, value in definition.get("patternProperties", {}).items():
        if re.search(pattern, key):
            return value
    for part in definition.get("allOf", ()):
        found = _child(_resolve(part) or {}, key)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- 3. the model


def _model_problems(document: Mapping[str, Any], folder: Path, report: _Reporter) -> None:
    services = document.get("services") or {}
    for kind in ("volumes", "networks"):
        for name, item in (document.get(kind) or {}).items():
            if isinstance(item, dict):
                _external_problems(item, (kind, name), report)
    for kind in ("secrets", "configs"):
        for name, item in (document.get(kind) or {}).items():
            _file_object_problems(kind, name, item or {}, report)
    names: dict[str, str] = {}
    for name, service in services.items():
        _service_problems(document, name, service or {}, folder, report)
        container = (service or {}).get("container_name")
        if isinstance(container, str):
            if container in names:
                report(("services", name, "container_name"), f'container name "{container}" is already used by service "{names[container]}"', "give each service its own container_name, or remove it")
            names.setdefault(container, name)
    _cycle_problems(services, report)


def _external_problems(item: Mapping[str, Any], key_path: KeyPath, report: _Reporter) -> None:
    if item.get("external") is not True:
        return
    for key in item:
        if key not in ("name", "external") and not str(key).startswith("x-"):
            report((*key_path, key), f'conflicting parameters "external" and "{key}"', f'remove "{key}" (an external {key_path[0][:-1]} is created outside Compose) or drop "external"')


def _file_object_problems(kind: str, name: str, item: Mapping[str, Any], report: _Reporter) -> None:
    sources = ("file", "environment") if kind == "secrets" else ("file", "environment", "content")
    given = [key for key in sources if key in item]
    key_path: KeyPath = (kind, name)
    if len(given) > 1:
        report(key_path, f"{' and '.join(given)} are mutually exclusive", f"keep one of {'|'.join(sources)}")
    elif not given and "driver" not in item and "external" not in item:
        report(key_path, f"one of {'|'.join(sources)} must be set", f"point the {kind[:-1]} at a file (`file: ./x`), an environment variable, or mark it external")
    if kind == "secrets" and "content" in item:
        report((*key_path, "content"), "content is not allowed for secrets", "put the secret in a file or an environment variable")


def _defined(document: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return document.get(kind) or {}


def _service_problems(document: Mapping[str, Any], name: str, service: Mapping[str, Any], folder: Path, report: _Reporter) -> None:
    services = _defined(document, "services")
    base: KeyPath = ("services", name)

    def undefined(key_path: KeyPath, kind: str, target: str) -> None:
        fix = f"define `{target}` under top-level `{kind}s:` or correct the name"
        if kind == "service":
            fix = f"add a service `{target}` or correct the name"
        report(key_path, f'service "{name}" refers to undefined {kind} "{target}"', fix)

    if "image" not in service and "build" not in service and "extends" not in service:
        report(base, f'service "{name}" has neither an image nor a build context', "add `image: name:tag` or `build: ./dir`")

    extends = service.get("extends")
    if extends is not None:
        target = extends if isinstance(extends, str) else extends.get("service")
        other = None if isinstance(extends, str) else extends.get("file")
        if other:
            if not (folder / other).is_file():
                report((*base, "extends", "file"), f'extends file "{other}" does not exist', "correct the path (relative to the compose file)")
        elif target not in services:
            report((*base, "extends"), f'cannot extend service "{name}": service "{target}" not found', f"add a service `{target}` or correct the name")

    depends_on = service.get("depends_on") or ()
    for index, dependency in enumerate(depends_on):
        key: str | int = dependency if isinstance(depends_on, dict) else index
        if dependency not in services:
            undefined((*base, "depends_on", key), "service", dependency)
    for index, link in enumerate(service.get("links") or ()):
        if link.split(":", 1)[0] not in services:
            undefined((*base, "links", index), "service", link.split(":", 1)[0])
    for key in ("network_mode", "pid", "ipc"):
        value = service.get(key)
        if isinstance(value, str) and value.startswith("service:") and value[len("service:") :] not in services:
            undefined((*base, key), "service", value[len("service:") :])
    for index, entry in enumerate(service.get("volumes_from") or ()):
        if entry.startswith("container:"):
            continue
        source = entry[len("service:") :] if entry.startswith("service:") else entry
        if source.split(":", 1)[0] not in services:
            undefined((*base, "volumes_from", index), "service", source.split(":", 1)[0])

    networks = service.get("networks") or ()
    for index, network in enumerate(networks):
        key = network if isinstance(networks, dict) else index
        if network != "default" and network not in _defined(document, "networks"):
            undefined((*base, "networks", key), "network", network)
    for kind in ("secrets", "configs"):
        for index, entry in enumerate(service.get(kind) or ()):
            source = entry if isinstance(entry, str) else entry.get("source")
            if source not in _defined(document, kind):
                undefined((*base, kind, index), kind[:-1], source)
    for index, entry in enumerate(service.get("volumes") or ()):
        _volume_problems(document, name, entry, (*base, "volumes", index), report)
    for index, entry in enumerate(service.get("ports") or ()):
        message = None
        if isinstance(entry, float):
            message = f"port {entry} is not a whole number"
        elif isinstance(entry, int) and not isinstance(entry, bool):
            message = port_problem(str(entry))
        elif isinstance(entry, str):
            message = port_problem(entry)
        if message:
            report((*base, "ports", index), message, 'write the port as "[[ip:]host:]container[/tcp|udp|sctp]", ranges as "8000-8001"')
    _env_file_problems(service.get("env_file"), folder, (*base, "env_file"), report)
    _typed_value_problems(service, base, report)


def _volume_problems(document: Mapping[str, Any], service: str, entry: Any, key_path: KeyPath, report: _Reporter) -> None:
    if isinstance(entry, str):
        if not entry:
            report(key_path, "empty volume", "write `source:target[:mode]` or remove the entry")
            return
        parts = _split_volume(entry)
        source = parts[0] if len(parts) > 1 else None
    else:
        source = entry.get("source") if entry.get("type") == "volume" else None
    if source and not _is_path(source) and source not in _defined(document, "volumes"):
        report(key_path, f'service "{service}" refers to undefined volume "{source}"', f"define `{source}` under top-level `volumes:`, or write a path (`./{source}`) for a bind mount")


def _split_volume(entry: str) -> list[str]:
    if re.match(r"^[A-Za-z]:[\\/]", entry):  # a Windows drive letter is not a separator
        rest = _split_volume(entry[2:])
        return [entry[:2] + rest[0], *rest[1:]]
    return entry.split(":")


def _is_path(source: str) -> bool:
    return source.startswith((".", "/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", source) is not None


def _env_file_problems(value: Any, folder: Path, key_path: KeyPath, report: _Reporter) -> None:
    entries = [value] if isinstance(value, str) else list(value or ())
    for index, entry in enumerate(entries):
        relative, required = (entry, True) if isinstance(entry, str) else (entry.get("path"), entry.get("required", True))
        if required and isinstance(relative, str) and not (folder / os.path.expanduser(relative)).is_file():
            report(key_path if isinstance(value, str) else (*key_path, index), f'env file "{relative}" not found', "create the file, correct the path, or mark it `required: false`")


# --- port, duration, size, cpus, extra_hosts syntax (as Compose decodes them)

_PROTOCOLS = ("tcp", "udp", "sctp")
_PORT_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def _port_range(text: str) -> tuple[int, int] | None:
    match = _PORT_RANGE.fullmatch(text)
    if match is None:
        return None
    start, end = match.group(1), match.group(2)
    low, high = int(start), int(end or start)
    return (low, high) if low <= high <= 65535 else None


def port_problem(spec: str) -> str | None:
    """What Compose says about a short-syntax port ("[[ip:]host:]container[/proto]"), or None."""
    parts = spec.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) > 1 else ""
    ip = ":".join(parts[:-2]) if len(parts) > 2 else ""
    if "/" in container or container == "":
        container, _, protocol = container.partition("/")
        if container == "":
            protocol = ""
        elif protocol == "":
            protocol = "tcp"
        else:
            protocol = protocol.split("/")[0]
        if protocol.lower() not in _PROTOCOLS:
            return f'invalid protocol "{protocol}" in port "{spec}"'
    if ip:
        try:
            ipaddress.ip_address(ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip)
        except ValueError:
            return f'invalid IP address "{ip}" in port "{spec}"'
    container_range = _port_range(container)
    if container_range is None:
        return f'invalid container port "{container}" in port "{spec}"'
    if container_range[0] == 0:  # Compose reads container port 0 as no port at all
        return f'port "{spec}" has no target port (container port 0)'
    if host:
        host_range = _port_range(host)
        if host_range is None:
            return f'invalid host port "{host}" in port "{spec}"'
        if container_range[1] != container_range[0] and host_range[1] - host_range[0] != container_range[1] - container_range[0]:
            return f'host and container port ranges differ in size in "{spec}"'
    return None


_DURATION = re.compile(r"[-+]?(?:0|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_SIZE = re.compile(r"[0-9]+(?:\.[0-9]+)* ?[kKmMgGtTpP]?[iI]?[bB]?")

DURATION_FIELDS = (
    ("healthcheck", "interval"), ("healthcheck", "timeout"), ("healthcheck", "start_period"), ("healthcheck", "start_interval"),
    ("stop_grace_period",), ("deploy", "update_config", "delay"), ("deploy", "update_config", "monitor"),
    ("deploy", "rollback_config", "delay"), ("deploy", "rollback_config", "monitor"),
    ("deploy", "restart_policy", "delay"), ("deploy", "restart_policy", "window"),
)
SIZE_FIELDS = (
    ("mem_limit",), ("mem_reservation",), ("memswap_limit",), ("shm_size",), ("build", "shm_size"),
    ("deploy", "resources", "limits", "memory"), ("deploy", "resources", "reservations", "memory"),
)
CPU_FIELDS = (("deploy", "resources", "limits", "cpus"), ("deploy", "resources", "reservations", "cpus"))


def is_duration(value: Any) -> bool:
    """Go's time.ParseDuration, which Compose uses: "1m30s", "1.5h", "0"; not "10" or "5x"."""
    return _DURATION.fullmatch(str(value)) is not None


def _lookup(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    node: Any = mapping
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _typed_value_problems(service: Mapping[str, Any], base: KeyPath, report: _Reporter) -> None:
    for keys in DURATION_FIELDS:
        value = _lookup(service, keys)
        if value is not None and not is_duration(value):
            report((*base, *keys), f'"{value}" is not a duration', 'write it as a number with a unit: "30s", "1m30s", "500ms"')
    for keys in SIZE_FIELDS:
        value = _lookup(service, keys)
        if isinstance(value, str) and not _SIZE.fullmatch(value):
            report((*base, *keys), f'"{value}" is not a size', 'write it as bytes or with a unit: "512m", "1g"')
    for keys in CPU_FIELDS:
        value = _lookup(service, keys)
        if isinstance(value, str) and not _GO_FLOAT.fullmatch(value):
            report((*base, *keys), f'"{value}" is not a number of CPUs', 'write it as a number: "0.5", "2"')
    for index, entry in enumerate(service.get("volumes") or ()):
        size = _lookup(entry, ("tmpfs", "size")) if isinstance(entry, dict) else None
        if isinstance(size, str) and not _SIZE.fullmatch(size):
            report((*base, "volumes", index, "tmpfs", "size"), f'"{size}" is not a size', 'write it as bytes or with a unit: "64m"')
    extra_hosts = service.get("extra_hosts")
    if isinstance(extra_hosts, list):
        for index, entry in enumerate(extra_hosts):
            separator = "=" if "=" in entry else ":"
            host, found, address = entry.partition(separator)
            if not found or not address:
                report((*base, "extra_hosts", index), f'extra host "{entry}" has no IP address', 'write it as "name:ip" or "name=ip" (e.g. "host.docker.internal:host-gateway")')


# --- depends_on cycles


def _dependencies(service: Any) -> Iterable[str]:
    depends_on = service.get("depends_on") if isinstance(service, dict) else None
    return list(depends_on or ())


def _cycle_problems(services: Mapping[str, Any], report: _Reporter) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    reported: set[frozenset[str]] = set()

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        trail.append(name)
        for dependency in _dependencies(services.get(name)):
            if dependency not in services:
                continue  # reported as undefined
            if state.get(dependency) == 1:
                cycle = trail[trail.index(dependency) :] + [dependency]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    report(("services", cycle[0], "depends_on"), f"dependency cycle: {' -> '.join(cycle)}", "remove one depends_on entry of the cycle")
            elif dependency not in state:
                visit(dependency, trail)
        trail.pop()
        state[name] = 2

    for name in services:
        if name not in state:
            visit(name, [])
