"""Compose documents: loading, structure, the App Garden transform and the App Garden rules.

Pure functions over parsed documents; `load_compose` is the only file I/O.

Scalars are read the way Compose v2 reads them (YAML 1.2 core schema), not the
YAML 1.1 way of `yaml.safe_load`: an unquoted port `2222:22` is a string, not
the base-60 number 133342, and `on`/`yes` in an environment value stay strings.
Generated text is quoted so that YAML 1.1 and 1.2 readers agree on every value.
"""

from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import yaml

from release import images, sources
from release.errors import HarnessError, Problem

if TYPE_CHECKING:
    from release.manifest import Manifest

DEFAULT_DOCKERFILE = "Dockerfile"

# ---------------------------------------------------------------------------
# Reading and writing YAML
# ---------------------------------------------------------------------------

_STR, _INT, _FLOAT = ("tag:yaml.org,2002:" + t for t in ("str", "int", "float"))
_CORE_INT, _CORE_FLOAT = sources.CORE_INT, sources.CORE_FLOAT
_DIGITS = list("-+0123456789")


class _Dumper(yaml.SafeDumper):
    """Block style, nested lists indented, never an anchor (shared objects are written out)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


# The dumper quotes a string when *either* YAML 1.1 or 1.2 would read it as
# something else, so PyYAML-based readers and Compose see the same value.
_Dumper.yaml_implicit_resolvers = {first: list(resolvers) for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()}
_Dumper.add_implicit_resolver(_INT, _CORE_INT, _DIGITS)
_Dumper.add_implicit_resolver(_FLOAT, _CORE_FLOAT, [*_DIGITS, "."])


# Characters YAML 1.1 readers take for line breaks: written raw inside single quotes, a
# reader folds them into spaces, so only double quotes (which escape them) keep them.
_YAML11_BREAKS = ("\x85", "\u2028", "\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line strings (`sh -c` scripts) as literal blocks; PyYAML falls back
    # to quoting by itself when a block cannot hold the text exactly.
    if any(brk in value for brk in _YAML11_BREAKS):
        return dumper.represent_scalar(_STR, value, style='"')
    return dumper.represent_scalar(_STR, value, style="|" if "\n" in value else None)


def _represent_none(dumper: yaml.SafeDumper, value: None) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "")  # `redis-data:` rather than `redis-data: null`


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(type(None), _represent_none)


def parse_yaml(text: str) -> Any:
    """Parse compose YAML text the way Compose reads it (HarnessError, with line and column, when refused)."""
    return sources.parse_yaml(text).data


def dump_yaml(document: Any) -> str:
    """Deterministic block YAML: key order kept, no anchors, no line folding.

    The text is `reference_dump_yaml`'s, written by libyaml's emitter where that gives the same bytes.
    """
    if _LibyamlDumper is not None and _plain_ascii(document):
        return _indent_sequences(yaml.dump(document, Dumper=_LibyamlDumper, **_DUMP_OPTIONS))
    return reference_dump_yaml(document)


_DUMP_OPTIONS: dict[str, Any] = {"sort_keys": False, "default_flow_style": False, "allow_unicode": True, "width": 1 << 16, "indent": 2}


def reference_dump_yaml(document: Any) -> str:
    """The defining text of `dump_yaml`: PyYAML's pure-Python emitter with the harness's dumper."""
    return yaml.dump(document, Dumper=_Dumper, **_DUMP_OPTIONS)


# --------------------------------------------------------------------------- rendering, faster
# `reference_dump_yaml` (PyYAML's pure-Python emitter) defines the text; rendering was a quarter
# of build-registry. libyaml's emitter, fed the same representers and resolvers, writes the same
# bytes for documents of mappings with non-empty keys shorter than 128 characters, lists,
# whole numbers, booleans, nulls and one-line printable-ASCII strings, except that it writes a
# block sequence inside a mapping at its key's column where compose's dumper indents it by 2
# (`_indent_sequences` adds those 2). Anything else takes the reference emitter.
# tests/test_compose.py checks the two agree byte for byte on generated documents.

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
    _LibyamlDumper.yaml_implicit_resolvers = _Dumper.yaml_implicit_resolvers
    _LibyamlDumper.yaml_representers = _Dumper.yaml_representers
    _LibyamlDumper.yaml_multi_representers = _Dumper.yaml_multi_representers


def _plain_ascii(node: Any) -> bool:
    """Whether libyaml's emitter writes `node` as the reference dumper does (see above)."""
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


def load_compose(path: Path) -> dict[str, Any]:
    """Parse a compose file (through `sources`: safe, once per process) and check its shape."""
    document = sources.load_yaml(path).data
    problems = structural_problems(document, path)
    if problems:
        raise HarnessError(problems=sources.locate_all(problems))
    return document


TOP_LEVEL_MAPPINGS = ("volumes", "networks", "secrets", "configs")  # Compose: "volumes must be a mapping"


def structural_problems(document: Any, path: Path) -> list[Problem]:
    """What makes a document unusable as a compose file for this harness."""
    if not isinstance(document, Mapping):
        return [Problem("is not a YAML mapping", file=path, fix="start the file with a top-level `services:` mapping")]
    services = document.get("services")
    if not isinstance(services, Mapping) or not services:
        return [Problem("has no services", file=path, field="services", fix="add a `services:` mapping with at least one service")]
    problems: list[Problem] = [
        Problem(f"top-level {key} is not a mapping", file=path, field=key, fix=f"write {key} as a mapping of names, e.g. `{key}:\n  data: {{}}`")
        for key in TOP_LEVEL_MAPPINGS
        if document.get(key) is not None and not isinstance(document.get(key), Mapping)
    ]
    for name, service in services.items():
        field = f"services.{name}"
        if not isinstance(service, Mapping):
            problems.append(Problem("service is not a mapping", file=path, field=field, fix="give the service keys such as image or build"))
        elif "image" not in service and "build" not in service:
            problems.append(Problem("service has neither image nor build", file=path, field=field, fix="add `build: .` (built here) or `image: name:tag`"))
        elif "build" in service and build_context(service) is None:
            problems.append(Problem("build is neither a path nor a mapping with context", file=path, field=f"{field}.build", fix="use `build: ./dir` or `build: {context: ./dir}`"))
    return problems


def services(document: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    return document.get("services") or {}


def build_context(service: Mapping[str, Any]) -> str | None:
    """The build context of a service, or None when it is not built here."""
    build = service.get("build")
    if isinstance(build, str):
        return build
    if isinstance(build, Mapping):
        context = build.get("context", ".")
        return context if isinstance(context, str) else None
    return None


def dockerfile_of(service: Mapping[str, Any]) -> str:
    build = service.get("build")
    if isinstance(build, Mapping) and isinstance(build.get("dockerfile"), str):
        return build["dockerfile"]
    return DEFAULT_DOCKERFILE


def dockerfile_problems(document: Mapping[str, Any], compose_path: Path) -> list[Problem]:
    """Every service with a build context needs its context folder and Dockerfile."""
    problems: list[Problem] = []
    base = compose_path.parent
    for name, service in services(document).items():
        if not isinstance(service, Mapping) or "build" not in service:
            continue
        context = build_context(service)
        if context is None:
            continue
        folder = (base / context).resolve()
        field = f"services.{name}.build"
        if not folder.is_dir():
            problems.append(Problem(f'build context "{context}" does not exist', file=compose_path, field=field, fix=f"create {context} or point build at an existing folder"))
            continue
        dockerfile = folder / dockerfile_of(service)
        if not dockerfile.is_file():
            problems.append(Problem(f"no {dockerfile_of(service)} in build context \"{context}\"", file=compose_path, field=field, fix=f"add {Path(context) / dockerfile_of(service)}"))
    return problems


# ---------------------------------------------------------------------------
# Compose syntax helpers: interpolation, short port and volume syntax
# ---------------------------------------------------------------------------

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WITH_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):?-(.*)", re.DOTALL)
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def resolve_defaults(text: str) -> str | None:
    """`text` with every `${VAR:-default}` / `${VAR-default}` replaced by its default.

    None when a variable has no default (`$VAR`, `${VAR}`, `${VAR:?err}`,
    `${VAR:+alt}`): its value depends on the host, so nothing can be decided.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following == "$":  # `$$` is a literal dollar
            out.append("$")
            i += 2
        elif following == "{":
            end = _closing_brace(text, i + 1)
            match = _WITH_DEFAULT.fullmatch(text[i + 2 : end]) if end is not None else None
            default = resolve_defaults(match.group(2)) if match else None
            if default is None:
                return None
            out.append(default)
            i = end + 1  # type: ignore[operator]  # end is set when match is
        elif _VARIABLE.match(text, i + 1):
            return None
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, opening: int) -> int | None:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def split_colons(text: str) -> list[str]:
    """Split short syntax on ':' outside `${...}` and `[ipv6]`."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    in_brackets = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and text[i + 1 : i + 2] == "{":
            depth += 1
            current.append("${")
            i += 2
            continue
        if char == "}" and depth:
            depth -= 1
        elif char == "[" and not depth:
            in_brackets = True
        elif char == "]" and not depth:
            in_brackets = False
        elif char == ":" and not depth and not in_brackets:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def is_host_path(source: str) -> bool:
    """Whether a volume source names a host path (a bind mount) rather than a named volume."""
    resolved = resolve_defaults(source)
    if resolved is None:
        return True  # `$PWD/data`, `${DATA_DIR}`: a host-dependent path
    return resolved.startswith(("/", ".", "~")) or bool(_WINDOWS_PATH.match(resolved))


@dataclass(frozen=True)
class Mount:
    """One entry of a service's `volumes`, short or long syntax."""

    source: str | None  # as written; None for an anonymous volume or an unreadable entry
    bind: bool


def mount_of(entry: Any) -> Mount:
    if isinstance(entry, str):
        parts = split_colons(entry)
        if len(parts) == 1:
            return Mount(None, False)  # `- /data`: an anonymous volume
        return Mount(parts[0], is_host_path(parts[0]))
    if isinstance(entry, Mapping):
        source = entry.get("source")
        source = source if isinstance(source, str) else None
        return Mount(source, entry.get("type") == "bind")
    return Mount(None, False)


def is_host_port(entry: Any) -> bool:
    """Whether a `ports` entry publishes on a chosen host port or address."""
    if isinstance(entry, str):
        return len(split_colons(entry)) > 1
    if isinstance(entry, Mapping):
        return "published" in entry or "host_ip" in entry
    return False


# ---------------------------------------------------------------------------
# Resource limit defaults by kind (data)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceKind:
    name: str
    names: tuple[str, ...]  # image or service name parts that mark this kind
    cpus: str
    memory: str


RESOURCE_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind("database", ("postgres", "postgresql", "pgvector", "postgis", "timescaledb", "mysql", "mariadb", "mongo", "mongodb"), "0.5", "512M"),
    ResourceKind("cache", ("redis", "memcached", "valkey", "keydb"), "0.25", "256M"),
    ResourceKind("frontend", ("frontend", "nginx", "web", "ui"), "0.5", "512M"),
)
DEFAULT_KIND = ResourceKind("default", (), "1.0", "1G")


def _name_parts(name: str) -> set[str]:
    return {part for part in re.split(r"[^a-z0-9]+", name.lower()) if part}


def resource_kind(service_name: str, image: str | None) -> ResourceKind:
    """Kind from the image of someone else (its last path part), then from the service name.

    A project image is named after the extension (`kamiwazaai/redis-browser-api`),
    which says nothing about the service's kind, so only the service name counts.
    """
    candidates = []
    if isinstance(image, str) and not images.is_project_image(image):
        candidates.append(images.split_ref(image)[0].rsplit("/", 1)[-1])
    candidates.append(service_name)
    for candidate in candidates:
        parts = _name_parts(candidate)
        for kind in RESOURCE_KINDS:
            if parts & set(kind.names):
                return kind
    return DEFAULT_KIND


# ---------------------------------------------------------------------------
# The App Garden transform (pure)
# ---------------------------------------------------------------------------

HOST_GATEWAY = "host.docker.internal"
HOST_GATEWAY_ENTRY = f"{HOST_GATEWAY}:host-gateway"
# Top-level network settings that only make sense on one particular host.
HOST_NETWORK_KEYS = ("external", "name", "driver_opts", "ipam")
HOST_NETWORK_DRIVERS = ("host", "none", "macvlan", "ipvlan")
# Per-service addresses that only make sense with the `ipam` subnets removed above.
HOST_SERVICE_NETWORK_KEYS = ("ipv4_address", "ipv6_address", "link_local_ips")


def appgarden_tag(version: str, stage: str | None = None) -> str:
    """The tag of project images in an App Garden file: the plain version (the prod tag form)."""
    return images.stage_tag(version, stage or "prod")


def to_appgarden(
    document: Mapping[str, Any],
    manifest: Manifest,
    *,
    path: Path | str | None = None,
    stage: str | None = None,
) -> dict[str, Any]:
    """The App Garden form of a compose document (a new object; the input is not changed).

    From the manifest it takes name, version and validation.allowed_bind_mounts;
    `path` names the source file in errors; `stage` None writes the plain version.
    Raises HarnessError naming file, service and key for input that cannot be converted.
    """
    problems = structural_problems(document, Path(path or "docker-compose.yml"))
    if problems:
        raise HarnessError(problems=problems)
    context = _Context(manifest.name, manifest.version, tuple(manifest.allowed_bind_mounts), stage, path)
    result: dict[str, Any] = {}
    for key, value in document.items():
        if key == "services":
            result[key] = {name: _service(context, str(name), service) for name, service in value.items()}
        elif key == "volumes" and isinstance(value, Mapping):
            result[key] = {name: _top_level_volume(context, volume) for name, volume in value.items()}
        elif key == "networks" and isinstance(value, Mapping):
            result[key] = {name: _top_level_network(network) for name, network in value.items()}
        else:
            result[key] = copy.deepcopy(value)
    return result


@dataclass(frozen=True)
class _Context:
    name: str
    version: str
    allowed_bind_mounts: tuple[str, ...]
    stage: str | None
    path: Path | str | None

    def error(self, message: str, field: str, fix: str) -> HarnessError:
        return HarnessError(message, file=self.path, field=field, fix=fix)


def _service(context: _Context, name: str, service: Mapping[str, Any]) -> dict[str, Any]:
    field = f"services.{name}"
    out: dict[str, Any] = {}
    for key, value in service.items():
        if key == "build":
            if "image" not in service:  # the built image takes build's place in the file
                out["image"] = _generated_image(context, name, service)
        elif key == "image":
            out[key] = _image(context, name, service, f"{field}.image")
        elif key == "container_name":
            continue  # a fixed name collides when App Garden runs the extension twice
        elif key == "pull_policy" and value == "build":
            continue  # there is nothing left to build
        elif key == "ports":
            out[key] = _ports(context, value, f"{field}.ports")
        elif key == "volumes":
            kept = _volumes(context, value, f"{field}.volumes")
            if kept:
                out[key] = kept
        elif key == "networks" and isinstance(value, Mapping):
            out[key] = {net: _service_network(attachment) for net, attachment in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    _ensure_host_gateway(context, out, f"{field}.extra_hosts")
    _ensure_limits(context, name, out, f"{field}.deploy")
    return out


def _generated_image(context: _Context, service_name: str, service: Mapping[str, Any]) -> str:
    """The image a build-only service gets in the App Garden file (images.py names it)."""
    reference = _project_image(context, service_name, service)
    assert reference is not None  # a built service always has a project image
    return reference


def _image(context: _Context, service_name: str, service: Mapping[str, Any], field: str) -> Any:
    value = service.get("image")
    if not isinstance(value, str) or not value:
        raise context.error("image is not a non-empty string", field, "write `image: name:tag`")
    reference = _project_image(context, service_name, service)
    return value if reference is None else reference  # other people's images are kept byte for byte


def _project_image(context: _Context, service_name: str, service: Mapping[str, Any]) -> str | None:
    try:
        return images.service_image(context.name, service_name, service, context.version, context.stage or "prod")
    except images.ImageNameError as error:
        raise context.error(str(error), error.field, error.fix) from None


def _ports(context: _Context, value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise context.error("ports is not a list", field, 'write ports as a list, e.g. `ports: ["8000"]`')
    kept: list[Any] = []
    for index, entry in enumerate(value):
        port = _container_port(context, entry, f"{field}[{index}]")
        if port not in kept:  # `127.0.0.1:80:80` and `[::1]:80:80` collapse to one entry
            kept.append(port)
    return kept


def _container_port(context: _Context, entry: Any, field: str) -> Any:
    if isinstance(entry, bool) or not isinstance(entry, (int, str, Mapping)):
        raise context.error("port entry is neither a number, a string nor a mapping", field, 'use "8000", "8080:8000" or {target: 8000}')
    if isinstance(entry, int):
        return entry  # `- 8000` is already container-only
    if isinstance(entry, str):
        return _resolved_port(context, split_colons(entry)[-1], field)
    kept = {key: copy.deepcopy(value) for key, value in entry.items() if key not in ("published", "host_ip")}
    if "target" not in kept:
        raise context.error("long-syntax port has no target", field, "add `target:` (the container port)")
    if isinstance(kept["target"], str):
        kept["target"] = _resolved_port(context, kept["target"], f"{field}.target")
    return kept


def _resolved_port(context: _Context, text: str, field: str) -> str:
    resolved = resolve_defaults(text)
    if resolved is None or not resolved.strip():
        raise context.error(
            f'container port "{text}" depends on a variable without a default',
            field,
            'give it a default, e.g. "${PORT:-8000}", or write the number',
        )
    return resolved


def _volumes(context: _Context, value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise context.error("volumes is not a list", field, "write service volumes as a list, e.g. `- data:/data`")
    kept = []
    for index, entry in enumerate(value):
        if not isinstance(entry, (str, Mapping)):
            raise context.error("volume entry is neither a string nor a mapping", f"{field}[{index}]", "use `name:/path` or {type: volume, source: name, target: /path}")
        mount = mount_of(entry)
        if mount.bind and mount.source not in context.allowed_bind_mounts:
            continue  # host paths do not exist where App Garden runs the extension
        kept.append(copy.deepcopy(entry))
    return kept


def _driver_opts_point_at_host(volume: Mapping[str, Any]) -> str | None:
    """The host path a top-level volume's driver_opts bind, if any."""
    options = volume.get("driver_opts")
    if not isinstance(options, Mapping):
        return None
    device = options.get("device")
    if isinstance(device, str) and is_host_path(device):
        return device
    if "bind" in str(options.get("o", "")).split(","):
        return str(device)
    return None


def _top_level_volume(context: _Context, volume: Any) -> Any:
    if not isinstance(volume, Mapping):
        return copy.deepcopy(volume)
    host_path = _driver_opts_point_at_host(volume)
    if host_path is None or host_path in context.allowed_bind_mounts:
        return copy.deepcopy(volume)
    kept = {key: copy.deepcopy(value) for key, value in volume.items() if key != "driver_opts"}
    return kept or None


def _top_level_network(network: Any) -> Any:
    if not isinstance(network, Mapping):
        return copy.deepcopy(network)
    kept = {
        key: copy.deepcopy(value)
        for key, value in network.items()
        if key not in HOST_NETWORK_KEYS and not (key == "driver" and value in HOST_NETWORK_DRIVERS)
    }
    return kept or None


def _service_network(attachment: Any) -> Any:
    if not isinstance(attachment, Mapping):
        return copy.deepcopy(attachment)
    kept = {key: copy.deepcopy(value) for key, value in attachment.items() if key not in HOST_SERVICE_NETWORK_KEYS}
    return kept or None


def extra_host_names(extra_hosts: Any) -> list[str]:
    """Host names in `extra_hosts` (list of `host:ip` / `host=ip`, or a mapping)."""
    if isinstance(extra_hosts, Mapping):
        return [str(host) for host in extra_hosts]
    if isinstance(extra_hosts, list):
        return [re.split(r"[:=]", str(entry), maxsplit=1)[0].strip() for entry in extra_hosts]
    return []


def _ensure_host_gateway(context: _Context, service: dict[str, Any], field: str) -> None:
    """Let every service reach Kamiwaza on the host through host.docker.internal."""
    extra_hosts = service.get("extra_hosts")
    if extra_hosts is None:
        service["extra_hosts"] = [HOST_GATEWAY_ENTRY]
    elif HOST_GATEWAY in extra_host_names(extra_hosts):
        return  # an explicit entry is the author's choice
    elif isinstance(extra_hosts, list):
        extra_hosts.append(HOST_GATEWAY_ENTRY)
    elif isinstance(extra_hosts, dict):
        extra_hosts[HOST_GATEWAY] = "host-gateway"
    else:
        raise context.error("extra_hosts is neither a list nor a mapping", field, 'use a list such as ["host.docker.internal:host-gateway"]')


def _ensure_limits(context: _Context, name: str, service: dict[str, Any], field: str) -> None:
    """Add deploy.resources.limits by kind unless the service has limits already."""
    if service.get("deploy") is None:
        service["deploy"] = {}
    deploy = service["deploy"]
    if not isinstance(deploy, dict):
        raise context.error("deploy is not a mapping", field, "write deploy as a mapping")
    if deploy.get("resources") is None:
        deploy["resources"] = {}
    resources = deploy["resources"]
    if not isinstance(resources, dict):
        raise context.error("deploy.resources is not a mapping", f"{field}.resources", "write resources as a mapping")
    if resources.get("limits"):
        return
    kind = resource_kind(name, service.get("image"))
    # Compose refuses service-level cpus/mem_limit that differ from deploy limits, so reuse them.
    resources["limits"] = {
        "cpus": str(service.get("cpus", kind.cpus)),
        "memory": str(service.get("mem_limit", kind.memory)),
    }


def render(document: Mapping[str, Any], manifest: Manifest, sources: Sequence[str] = ("docker-compose.yml", "kamiwaza.json")) -> str:
    """The file text: a header saying how the file is made, then the document."""
    header = (
        "# GENERATED FILE - do not edit by hand.\n"
        f"# Made by `make sync-compose` from {' and '.join(sources)} ({manifest.name} {manifest.version}).\n"
        "# Change those files and run `make sync-compose`; `make sync-compose CHECK=1` fails while this file is stale.\n"
    )
    return header + dump_yaml(dict(document))


# ---------------------------------------------------------------------------
# App Garden rules (pure): what every docker-compose.appgarden.yml must satisfy
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AppGardenFile:
    """A parsed App Garden file with what the rules compare it against."""

    document: Mapping[str, Any]
    path: Path
    version: str
    allowed_bind_mounts: tuple[str, ...] = ()
    allowed_capabilities: tuple[str, ...] = ()

    def services(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for name, service in services(self.document).items():
            if isinstance(service, Mapping):
                yield str(name), service

    def problem(self, message: str, field: str | None, fix: str) -> Problem:
        return Problem(message, file=self.path, field=field, fix=fix)


_RESYNC = "run `make sync-compose`"
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
FORBIDDEN_CAPABILITIES = ("ALL", "SYS_ADMIN")


def host_port_problems(garden: AppGardenFile) -> list[Problem]:
    return [
        garden.problem(f"port {entry!r} is published on the host", f"services.{name}.ports[{index}]", f"keep only the container port; {_RESYNC}")
        for name, service in garden.services()
        for index, entry in enumerate(service.get("ports") or [])
        if is_host_port(entry)
    ]


def bind_mount_problems(garden: AppGardenFile) -> list[Problem]:
    fix = f"use a named volume, or list the source under validation.allowed_bind_mounts in kamiwaza.json; {_RESYNC}"
    problems = [
        garden.problem(f"bind mount of host path {mount.source!r}", f"services.{name}.volumes[{index}]", fix)
        for name, service in garden.services()
        for index, entry in enumerate(_list(service.get("volumes")))
        for mount in [mount_of(entry)]
        if mount.bind and mount.source not in garden.allowed_bind_mounts
    ]
    for name, volume in (garden.document.get("volumes") or {}).items():
        host_path = _driver_opts_point_at_host(volume) if isinstance(volume, Mapping) else None
        if host_path is not None and host_path not in garden.allowed_bind_mounts:
            problems.append(garden.problem(f"volume driver_opts bind host path {host_path!r}", f"volumes.{name}.driver_opts", fix))
    return problems


def build_problems(garden: AppGardenFile) -> list[Problem]:
    return [
        garden.problem("service still has build (App Garden pulls images, it builds nothing)", f"services.{name}.build", _RESYNC)
        for name, service in garden.services()
        if "build" in service
    ]


def privilege_problems(garden: AppGardenFile) -> list[Problem]:
    """Settings that hand the host to a container, in the App Garden file (see host_privilege_problems)."""
    return host_privilege_problems(garden.document, garden.path, HostAllowances(garden.allowed_bind_mounts, garden.allowed_capabilities))


def resource_limit_problems(garden: AppGardenFile) -> list[Problem]:
    problems = []
    for name, service in garden.services():
        deploy = service.get("deploy")
        resources = deploy.get("resources") if isinstance(deploy, Mapping) else None
        limits = resources.get("limits") if isinstance(resources, Mapping) else None
        if not isinstance(limits, Mapping) or not limits:
            problems.append(garden.problem("no deploy.resources.limits", f"services.{name}.deploy.resources.limits", _RESYNC))
    return problems


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def host_gateway_problems(garden: AppGardenFile) -> list[Problem]:
    problems = []
    for name, service in garden.services():
        uses = any(HOST_GATEWAY in text for key, value in service.items() if key != "extra_hosts" for text in _strings(value))
        if uses and HOST_GATEWAY not in extra_host_names(service.get("extra_hosts")):
            problems.append(garden.problem(f"uses {HOST_GATEWAY} without an extra_hosts entry for it", f"services.{name}.extra_hosts", f'add "{HOST_GATEWAY_ENTRY}" or {_RESYNC}'))
    return problems


def image_tag_problems(garden: AppGardenFile) -> list[Problem]:
    problems = []
    for name, service in garden.services():
        field = f"services.{name}.image"
        image = service.get("image")
        if not isinstance(image, str) or not image:
            problems.append(garden.problem("service has no image", field, _RESYNC))
            continue
        resolved = resolve_defaults(image)
        if resolved is None:
            problems.append(garden.problem(f'image "{image}" uses a variable without a default', field, "write the image reference out in full"))
            continue
        pinned = "@" in resolved
        tag = images.split_ref(resolved)[1]
        if tag is None and not pinned:
            problems.append(garden.problem(f'image "{image}" has no tag', field, "pin a version tag (name:1.2.3) in docker-compose.yml"))
        elif tag == images.LOCAL_ONLY_TAG:
            problems.append(garden.problem(f'image "{image}" uses the :{images.LOCAL_ONLY_TAG} tag', field, "pin a version tag (name:1.2.3) in docker-compose.yml"))
    return problems


def project_version_problems(garden: AppGardenFile) -> list[Problem]:
    expected = appgarden_tag(garden.version)
    return [
        garden.problem(f'image "{image}" is not tagged with the kamiwaza.json version {expected}', f"services.{name}.image", _RESYNC)
        for name, service in garden.services()
        for image in [service.get("image")]
        if isinstance(image, str) and images.is_project_image(image) and images.split_ref(image)[1] != expected
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    check: Callable[[AppGardenFile], list[Problem]]


APPGARDEN_RULES: tuple[Rule, ...] = (
    Rule("no-host-ports", "ports are container-only", host_port_problems),
    Rule("no-bind-mounts", "no host paths mounted (except validation.allowed_bind_mounts)", bind_mount_problems),
    Rule("no-build", "no build sections", build_problems),
    Rule("no-host-privileges", "no setting that hands the host to a container (see host_privilege_problems)", privilege_problems),
    Rule("resource-limits", "deploy.resources.limits on every service", resource_limit_problems),
    Rule("host-gateway", "services using host.docker.internal map it in extra_hosts", host_gateway_problems),
    Rule("tagged-images", "every image has a tag other than latest", image_tag_problems),
    Rule("project-image-version", "kamiwazaai/* images carry the kamiwaza.json version", project_version_problems),
)


def appgarden_problems(garden: AppGardenFile) -> list[Problem]:
    """Every App Garden rule at once (the checks run them one by one)."""
    return [problem for rule in APPGARDEN_RULES for problem in rule.check(garden)]


# ---------------------------------------------------------------------------
# Host privileges (pure): what no App Garden service may have, on the source too
# ---------------------------------------------------------------------------

# The Docker socket and every folder that holds it: mounting any of them hands
# the host's Docker to the container, so no allowance exempts them.
DOCKER_SOCKET_HOLDERS = frozenset({"/", "/var", "/var/run", "/run", *DOCKER_SOCKETS})
HOST_NAMESPACE_KEYS = ("pid", "ipc", "uts", "userns_mode", "cgroup")
_TRUE_WORDS = frozenset({"1", "t", "true", "y", "yes", "on"})  # Go's ParseBool and YAML 1.1 both


@dataclass(frozen=True)
class HostAllowances:
    """What the manifest's `validation` block exempts (never the socket, never ALL/SYS_ADMIN)."""

    bind_mounts: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()


def allowances(data: Mapping[str, Any]) -> HostAllowances:
    """The `validation` block of a manifest's data, tolerant of a wrong shape (the schema reports that)."""
    validation = data.get("validation") if isinstance(data, Mapping) else None
    validation = validation if isinstance(validation, Mapping) else {}

    def strings(key: str) -> tuple[str, ...]:
        value = validation.get(key)
        return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()

    return HostAllowances(strings("allowed_bind_mounts"), tuple(capability_name(c) for c in strings("allowed_capabilities")))


def capability_name(value: Any) -> str:
    """`cap_sys_admin`, `CAP_SYS_ADMIN`, `sys_admin` -> `SYS_ADMIN` (as the engine reads them)."""
    return str(value).strip().upper().removeprefix("CAP_")


def _text(value: Any) -> str | None:
    """A setting as Compose sees it after interpolation; None when a variable has no default."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return resolve_defaults(str(value))


def _truthy(value: Any) -> bool:
    text = _text(value)
    return text is None or text.strip().lower() in _TRUE_WORDS  # a variable without a default may be true


def _socket_path(source: str | None) -> str | None:
    if not source:
        return None
    resolved = resolve_defaults(source)
    if resolved is None:
        return None
    # normpath keeps a leading `//` (POSIX allows it), so collapse slashes first
    normal = posixpath.normpath(re.sub(r"/+", "/", resolved))
    return normal if normal in DOCKER_SOCKET_HOLDERS else None


def _entries(value: Any) -> list[tuple[str, Any]]:
    """(field suffix, item) of a list (`[i]`) or a mapping (`.key`) setting."""
    if isinstance(value, list):
        return [(f"[{index}]", item) for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        return [(f".{key}", item) for key, item in value.items()]
    if value in (None, "", ()):
        return []
    return [("", value)]


_UNCONFINED = {"apparmor": ("unconfined",), "seccomp": ("unconfined",), "systempaths": ("unconfined",), "label": ("disable", "type:spc_t", "type:unconfined_t")}


def unconfined_security_opt(entry: Any) -> bool:
    """`apparmor:unconfined`, `seccomp=unconfined`, `label:disable`, `systempaths=unconfined`, ..."""
    text = _text(entry)
    if text is None:
        return True
    match = re.match(r"\s*([^:=]*)[:=]?(.*)", text, re.DOTALL)
    key, value = (match.group(1), match.group(2)) if match else (text, "")
    value = value.strip().lower().replace("=", ":")
    return value in _UNCONFINED.get(key.strip().lower(), ())


def host_privilege_problems(document: Any, path: Path | str | None, allowed: HostAllowances = HostAllowances()) -> list[Problem]:
    """Every setting that gives a service host privileges, read as Compose reads it.

    Runs on the source docker-compose.yml (where a person fixes it) and on the App
    Garden file. Values are normalised as Compose does: `privileged: "true"` is true,
    `${PID:-host}` is host, a variable without a default could be anything and is refused.
    """
    if not isinstance(document, Mapping):
        return []
    problems: list[Problem] = []

    def add(message: str, field: str, fix: str) -> None:
        problems.append(Problem(message, file=path, field=field, fix=fix))

    for name, service in services(document).items():
        if not isinstance(service, Mapping):
            continue
        base = f"services.{name}"
        for key, where in (("privileged", service), ("privileged", service.get("build"))):
            if isinstance(where, Mapping) and key in where and _truthy(where[key]):
                field = f"{base}.privileged" if where is service else f"{base}.build.privileged"
                add(f"service {name} sets privileged: {where[key]!r}", field, f"remove {field.split('.', 2)[2]} from docker-compose.yml; App Garden runs extensions unprivileged")
        for suffix, capability in _entries(service.get("cap_add")):
            cap = capability_name(capability)
            if cap in FORBIDDEN_CAPABILITIES:
                add(f"service {name} adds capability {capability}, which no allowance can grant", f"{base}.cap_add{suffix}", "add only the narrow capabilities the service needs")
            elif cap not in allowed.capabilities:
                add(f"service {name} adds capability {capability}", f"{base}.cap_add{suffix}", f'remove it, or name it in kamiwaza.json: "validation": {{"allowed_capabilities": ["{cap}"]}}')
        for key, what in (("devices", "host device"), ("device_cgroup_rules", "device cgroup rule")):
            for suffix, entry in _entries(service.get(key)):
                add(f"service {name} gets {what} {entry!r}", f"{base}.{key}{suffix}", f"remove {key}: App Garden services get no host devices")
        for key in HOST_NAMESPACE_KEYS:
            if key in service and (_text(service[key]) is None or (_text(service[key]) or "").strip().lower() == "host"):
                add(f"service {name} sets {key}: {service[key]!r} (the host's namespace)", f"{base}.{key}", f"remove {key} from docker-compose.yml; App Garden extensions use their own namespaces")
        if "network_mode" in service:
            mode = _text(service["network_mode"])
            if mode is None or mode.strip().lower() == "host" or mode.strip().lower().startswith("container:"):
                add(f"service {name} sets network_mode: {service['network_mode']!r}", f"{base}.network_mode", "remove network_mode; App Garden services join the extension's own network (use `networks:`)")
        for suffix, entry in _entries(service.get("security_opt")):
            if unconfined_security_opt(entry):
                add(f"service {name} unconfines the container with security_opt {entry!r}", f"{base}.security_opt{suffix}", "remove it: App Garden keeps the default AppArmor, seccomp and SELinux profiles")
        for suffix, _ in _entries(service.get("sysctls")):
            add(f"service {name} sets kernel parameters (sysctls{suffix})", f"{base}.sysctls{suffix}", "remove sysctls: App Garden does not change kernel settings for an extension")
        for suffix, entry in _entries(service.get("volumes_from")):
            add(f"service {name} mounts the volumes of {entry!r} (volumes_from)", f"{base}.volumes_from{suffix}", "share data through a named volume under top-level `volumes:` instead")
        if "env_file" in service:
            add(f"service {name} reads env_file {service['env_file']!r}, which App Garden does not have", f"{base}.env_file", "move the variables to `environment:` or to env_defaults in kamiwaza.json")
        for index, entry in enumerate(_list(service.get("volumes"))):
            socket = _socket_path(mount_of(entry).source)
            if socket is not None:
                what = "the Docker socket" if socket in DOCKER_SOCKETS else f"{socket}, which holds the Docker socket"
                add(f"service {name} mounts {what}", f"{base}.volumes[{index}]", "remove the mount; an extension may not control the host's Docker (no allowance exempts it)")
    for name, volume in _mapping(document.get("volumes")).items():
        if isinstance(volume, Mapping):
            socket = _socket_path(_driver_opts_point_at_host(volume))
            if socket is not None:
                add(f"volume {name} binds {socket}, which holds the Docker socket", f"volumes.{name}.driver_opts", "remove the driver_opts; an extension may not control the host's Docker")
    base_dir = Path(path).parent if path is not None else None
    for section in ("secrets", "configs"):
        for name, item in _mapping(document.get(section)).items():
            file = item.get("file") if isinstance(item, Mapping) else None
            if file is not None and not _inside_extension(file):
                add(f"{section[:-1]} {name} reads {file!r}, outside the extension folder", f"{section}.{name}.file", f"keep the file inside the extension folder{f' ({base_dir.name})' if base_dir else ''}, or use `environment:`")
    return problems


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _inside_extension(file: Any) -> bool:
    resolved = resolve_defaults(str(file))
    if resolved is None or resolved.startswith(("/", "~")) or _WINDOWS_PATH.match(resolved):
        return False
    return not posixpath.normpath(resolved).startswith("..")


def source_privilege_problems(document: Any, path: Path | str, data: Mapping[str, Any]) -> list[Problem]:
    """host_privilege_problems on a source docker-compose.yml with its manifest's allowances."""
    return host_privilege_problems(document, path, allowances(data))
