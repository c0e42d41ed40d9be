"""The registry: build it, and the one reader and writer of its on-disk format.

Layout (under `build_dir`, default `<root>/build`; nothing else in it is touched):

    registry.json                                     {schema_version, stage, generated_at, extensions}
    kamiwaza-extension-registry/garden/v2/apps.json   apps and services (template_type "service")
    kamiwaza-extension-registry/garden/v2/tools.json  tools
    kamiwaza-extension-registry/garden/v2/images/     preview images, one file name per extension

An *entry* (one item of `extensions`, `apps.json`, `tools.json`) is the extension's
validated `kamiwaza.json` plus:
  - `template_type`, taken from the extension's folder when the manifest omits it;
  - `compose_yml`: the App Garden file text for the stage (sync-compose's output with
    every project tag set to `images.stage_tag(version, stage)`); external images untouched;
  - `docker_images`: each service's image in compose service order, once each, then the
    manifest's `image` when no service uses it; `image` and `extra_docker_images` are
    published for the stage by `images.manifest_image` (README "Registry entry format");
  - `preview_image`: a shipped file becomes `images/<file>` (relative to the garden
    folder); a URL stays a URL.
`schemas/registry-entry.schema.json` defines an entry, `schemas/registry.schema.json`
the whole document; every output is validated before anything is written.

Public API (stable; publish and download-registry use it):
    GARDEN_DIR, CATALOG_FILES, REGISTRY_FILE, GARDEN_ROOT
    garden_path(build_dir) -> Path         the v2 folder inside a build dir
    build_registry(root, stage, *, build_dir=None, env=None) -> BuildResult
    read_registry(build_dir) -> dict       registry.json, validated
    read_garden(folder) -> {catalog file: [entry, ...]}
    write_garden(folder, catalogs, *, validate=True)
    catalog_for(entry) -> "apps.json" | "tools.json"
    catalogs(entries) -> {catalog file: sorted entries}
    entry_problems(entry, *, stage=None, file=None) -> [Problem]  (schema, and tags when stage given)
    registry_problems(document, *, file=None) -> [Problem]
    source_date(env) -> datetime           SOURCE_DATE_EPOCH, or now (UTC)

Bytes are deterministic (JSON written with `fileio.canonical_json`): keys and entries sorted, `generated_at` from
SOURCE_DATE_EPOCH when set. The build is assembled in a temporary folder inside
`build_dir` and moved into place only when complete; a failure before that
leaves the previous registry as it was.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from release import compose, engine, fileio, images, log, manifest, rules, sync, versions
from release import sources as safe_files
from release.errors import HarnessError, Problem
from release.extensions import Extension

SCHEMA_VERSION = 1
REGISTRY_FILE = "registry.json"
GARDEN_ROOT = "kamiwaza-extension-registry"
GARDEN_DIR = "v2"
CATALOG_FILES = ("apps.json", "tools.json")
IMAGES_DIR = "images"
BUILD_DIR = "build"
EPOCH_VARIABLE = "SOURCE_DATE_EPOCH"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_SCHEMAS = Path(__file__).parent / "schemas"
ENTRY_SCHEMA_PATH = _SCHEMAS / "registry-entry.schema.json"
REGISTRY_SCHEMA_PATH = _SCHEMAS / "registry.schema.json"
_STAGING_PREFIX = ".registry-staging-"


# --------------------------------------------------------------------------- paths, JSON, time


def default_build_dir(root: Path) -> Path:
    return Path(root) / BUILD_DIR


def garden_path(build_dir: Path) -> Path:
    """The garden folder (`.../garden/v2`) inside a build dir."""
    return Path(build_dir) / GARDEN_ROOT / "garden" / GARDEN_DIR


def source_date(env: Mapping[str, str] | None = None) -> datetime:
    """SOURCE_DATE_EPOCH as a UTC time when set, else now (whole seconds)."""
    value = (os.environ if env is None else env).get(EPOCH_VARIABLE, "").strip()
    if not value:
        return datetime.now(timezone.utc).replace(microsecond=0)
    if not value.isdigit():
        raise HarnessError(
            f'{EPOCH_VARIABLE}="{value}" is not a whole number of seconds',
            field=EPOCH_VARIABLE,
            fix="set it to seconds since 1970-01-01 UTC (e.g. `git log -1 --format=%ct`), or unset it",
        )
    return datetime.fromtimestamp(int(value), timezone.utc)


# --------------------------------------------------------------------------- schemas

def _read_schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _validator(path: Path) -> Draft202012Validator:
    schemas = [manifest.schema(), _read_schema(ENTRY_SCHEMA_PATH), _read_schema(REGISTRY_SCHEMA_PATH)]
    store = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    schema = _read_schema(path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=store, format_checker=manifest.FORMAT_CHECKER)


def _schema_problems(data: Any, schema_path: Path, file: Path | str | None, base: str) -> list[Problem]:
    errors = sorted(_validator(schema_path).iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems: list[Problem] = []
    for error in errors:
        problem = _problem_for(error, file, base)
        if problem not in problems:
            problems.append(problem)
    return problems


def _problem_for(error: ValidationError, file: Path | str | None, base: str) -> Problem:
    location = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    fix = schema.get("x-fix")
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        location.append(missing)
        message = "required field is missing"
        fix = (schema.get("properties", {}).get(missing) or {}).get("x-fix") or manifest.fix_for(missing)
    elif error.validator == "format" and error.cause is not None:
        message = str(error.cause)
    else:
        message = error.message
    return Problem(message, file=file, field=safe_files.json_path(location, base), fix=fix)


def entry_problems(entry: Any, *, stage: str | None = None, file: Path | str | None = None, base: str = "$", used: Sequence[str] | None = None) -> list[Problem]:
    """Schema violations of one entry; with `stage`, also every image not tagged for it
    and any difference between `docker_images` and the images `compose_yml` uses.
    `used`: those images when the caller knows them (it rendered compose_yml from that
    document), so the text is not parsed again."""
    problems = _schema_problems(entry, ENTRY_SCHEMA_PATH, file, base)
    if problems or stage is None:
        return problems
    return _stage_problems(entry, stage, file, base, used)


def _stage_problems(entry: Mapping[str, Any], stage: str, file: Path | str | None, base: str, used: Sequence[str] | None = None) -> list[Problem]:
    tag = images.stage_tag(entry["version"], stage)
    try:
        expected = entry_images(entry["compose_yml"], entry.get("image")) if used is None else _with_manifest_image(list(dict.fromkeys(used)), entry.get("image"))
    except (yaml.YAMLError, HarnessError, AttributeError, TypeError):
        return [Problem("compose_yml is not a compose document with services", file=file, field=f"{base}.compose_yml", fix="rebuild with `make build-registry`")]
    extras = [ref for ref in entry.get("extra_docker_images") or [] if isinstance(ref, str)]
    problems = []
    for ref, field in [*((r, "docker_images") for r in dict.fromkeys([*expected, *entry["docker_images"]])), *((r, "extra_docker_images") for r in extras)]:
        if images.is_project_image(ref) and "@" not in ref and images.split_ref(ref)[1] != tag:
            problems.append(Problem(f'image "{ref}" is not tagged for stage {stage} (expected :{tag})', file=file, field=f"{base}.{field}", fix=f"rebuild with `make build-registry STAGE={stage}`"))
    listed, used = set(entry["docker_images"]), set(expected)
    if listed == used and list(entry["docker_images"]) != expected:
        problems.append(Problem("docker_images is not in the compose file's service order", file=file, field=f"{base}.docker_images", fix="rebuild with `make build-registry`"))
    if listed != used:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(sorted(used - listed))}" if used - listed else "",
                f"not used by compose_yml: {', '.join(sorted(listed - used))}" if listed - used else "",
            )
            if part
        )
        problems.append(Problem(f"docker_images differs from the images compose_yml uses ({detail})", file=file, field=f"{base}.docker_images", fix="rebuild with `make build-registry`"))
    return problems


def registry_problems(document: Any, *, file: Path | str | None = None) -> list[Problem]:
    """Schema violations of a whole registry.json, tag problems, duplicates."""
    problems = _schema_problems(document, REGISTRY_SCHEMA_PATH, file, "$")
    if problems:
        return problems
    for index, entry in enumerate(document["extensions"]):
        problems += _stage_problems(entry, document["stage"], file, f"$.extensions[{index}]")
    problems += duplicate_problems(document["extensions"], file=file)
    return problems


# --------------------------------------------------------------------------- entries (pure)


def catalog_for(entry: Mapping[str, Any]) -> str:
    """The garden file an entry lives in: tools in tools.json, apps and services in apps.json."""
    return "tools.json" if entry.get("template_type") == "tool" else "apps.json"


def sort_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """Name, then version order, then kamiwaza_version; total even for invalid entries."""
    version = entry.get("version")
    ordered = (0, versions.parse_version(version), "") if versions.is_valid_version(version) else (1, versions.parse_version("0.0.0"), str(version))
    return (str(entry.get("name", "")), ordered, str(entry.get("kamiwaza_version") or ""))


def catalogs(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Entries split into the garden files, each sorted."""
    split: dict[str, list[dict[str, Any]]] = {name: [] for name in CATALOG_FILES}
    for entry in entries:
        split[catalog_for(entry)].append(dict(entry))
    return {name: sorted(items, key=sort_key) for name, items in split.items()}


def duplicate_problems(entries: Sequence[Mapping[str, Any]], *, file: Path | str | None = None, sources: Sequence[str] | None = None) -> list[Problem]:
    """One name and version twice, or two entries shipping one preview image file name."""
    where = list(sources) if sources is not None else [f"$.extensions[{i}]" for i in range(len(entries))]
    releases: dict[tuple[str, str], list[str]] = defaultdict(list)
    previews: dict[str, list[str]] = defaultdict(list)
    for entry, source in zip(entries, where):
        releases[(str(entry.get("name")), str(entry.get("version")))].append(source)
        preview = entry.get("preview_image")
        if isinstance(preview, str) and "://" not in preview:
            previews[PurePosixPath(preview).name].append(source)
    problems = [
        Problem(f'{name} {version} appears {log.plural(len(found), "time")} ({", ".join(found)})', file=file, field="$.name", fix="give each release its own version; remove the duplicate")
        for (name, version), found in sorted(releases.items())
        if len(found) > 1
    ]
    problems += [
        Problem(f'preview image file name "{key}" is used by {", ".join(found)}', file=file, field="$.preview_image", fix="rename the file: the registry copies every preview image into one images/ folder")
        for key, found in sorted(previews.items())
        if len(found) > 1
    ]
    return problems


def compose_images(document: Any) -> list[str]:
    """The `image` of every service, in file order."""
    return [s["image"] for s in compose.services(document).values() if isinstance(s, Mapping) and isinstance(s.get("image"), str)]


@lru_cache(maxsize=4096)
def images_in(compose_yml: str) -> tuple[str, ...]:
    """`compose_images` of a compose_yml text. One build reads each text three times
    (the entry, its check, the whole document's check) and parsing is the cost, so
    the answer is remembered per text; errors are not (they are raised each time)."""
    return tuple(compose_images(compose.parse_yaml(compose_yml)))


def entry_images(compose_yml: str, image: Any = None) -> list[str]:
    """`docker_images` as Kamiwaza writes it: each service's image in the compose file's
    service order, once each; then the manifest's top-level `image` when no service uses it."""
    return _with_manifest_image(list(dict.fromkeys(images_in(compose_yml))), image)


def _with_manifest_image(listed: list[str], image: Any) -> list[str]:
    if isinstance(image, str) and image not in listed:
        listed.append(image)
    return listed


def make_entry(extension: Extension, data: Mapping[str, Any], staged_compose: str, stage: str, *, used: Sequence[str] | None = None) -> dict[str, Any]:
    """One registry entry from a validated manifest and its App Garden text for `stage`.

    Every manifest key is kept as written, except: `image` and each `extra_docker_images`
    item are published for the stage (`images.manifest_image`), and `preview_image`
    becomes `images/<file>`. Added: `template_type` (when missing), `compose_yml` (the
    App Garden file text for the stage, byte for byte) and `docker_images`. `used`: the
    services' images (`compose_images`) of the document `staged_compose` was rendered
    from, when the caller has it (the text is then not parsed again).
    """
    entry = copy.deepcopy(dict(data))
    entry.setdefault("template_type", extension.type)
    version = entry["version"]
    if isinstance(entry.get("image"), str):
        entry["image"] = images.manifest_image(entry["image"], version, stage)
    extras = entry.get("extra_docker_images")
    if isinstance(extras, list):
        entry["extra_docker_images"] = list(dict.fromkeys(images.manifest_image(ref, version, stage) if isinstance(ref, str) else ref for ref in extras))
    entry["compose_yml"] = staged_compose
    images_used = images_in(staged_compose) if used is None else used
    entry["docker_images"] = _with_manifest_image(list(dict.fromkeys(images_used)), entry.get("image"))
    key = rules.preview_image_key(entry)
    if key is not None:
        entry["preview_image"] = f"{IMAGES_DIR}/{key}"
    return entry


# --------------------------------------------------------------------------- build (I/O)


@dataclass(frozen=True)
class BuildResult:
    build_dir: Path
    document: Mapping[str, Any]

    @property
    def stage(self) -> str:
        return self.document["stage"]

    @property
    def entries(self) -> list[Mapping[str, Any]]:
        return list(self.document["extensions"])

    @property
    def registry_path(self) -> Path:
        return self.build_dir / REGISTRY_FILE

    @property
    def garden(self) -> Path:
        return garden_path(self.build_dir)


@dataclass(frozen=True)
class _Source:
    extension: Extension
    entry: dict[str, Any]
    preview: Path | None  # the file to copy into images/
    used: tuple[str, ...]  # the services' images of the document compose_yml was rendered from


def build_registry(
    root: Path,
    stage: str,
    *,
    build_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    """Validate every extension, then write registry.json and the garden tree.

    Every problem across all extensions is reported at once, and nothing is
    written when there is one. `env` supplies SOURCE_DATE_EPOCH and the preview
    URL prefixes (default: os.environ).
    """
    root = Path(root)
    env = os.environ if env is None else env
    if stage not in images.STAGES:
        raise HarnessError(f'unknown STAGE "{stage}"', field="STAGE", fix=f"set STAGE to one of {', '.join(images.STAGES)}")
    build_dir = Path(build_dir) if build_dir is not None else default_build_dir(root)
    sources = _collect(root, stage, env)
    entries = [s.entry for s in sources]
    problems = duplicate_problems(entries, sources=[s.extension.id for s in sources])
    for source in sources:
        problems += entry_problems(source.entry, stage=stage, file=source.extension.manifest_path, used=source.used)
    if problems:
        raise HarnessError(problems=problems)
    ordered = sorted(sources, key=lambda s: sort_key(s.entry))
    document = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "generated_at": source_date(env).strftime(TIME_FORMAT),
        "extensions": [s.entry for s in ordered],
    }
    # Each entry passed the entry schema and its stage check above (the registry schema's items
    # are that schema); the document's own fields are checked here, entries not a second time.
    problems = registry_problems({**document, "extensions": []}, file=build_dir / REGISTRY_FILE)
    if problems:  # a harness bug if it happens: entries were validated above
        raise HarnessError(problems=problems, exit_code=1)
    try:
        _write(build_dir, document, ordered)
    except OSError as error:
        raise HarnessError(
            f"cannot write the registry: {error.strerror or error}",
            file=error.filename or build_dir,
            fix=f"check that {build_dir} is writable and the disk has room; the previous registry is unchanged",
            exit_code=1,
        ) from None
    return BuildResult(build_dir, document)


def _collect(root: Path, stage: str, env: Mapping[str, str]) -> list[_Source]:
    # The gate: every rule of `make validate` (release.engine), before any entry is made; the
    # entries are then made from the sources the engine loaded (each file read and parsed once).
    repo = engine.Repo(root, env)
    refusal = engine.refusal(repo.run())
    if refusal is not None:
        raise refusal
    problems: list[Problem] = []
    sources: list[_Source] = []
    for extension in repo.extensions:
        try:
            sources.append(_source(repo.inputs(extension), stage))
        except HarnessError as error:
            problems += error.problems
    if problems:
        raise HarnessError(problems=problems)
    return sources


def _source(inputs: engine.Inputs, stage: str) -> _Source:
    extension = inputs.extension
    parsed = inputs.parsed_manifest()  # validated by the engine in _collect
    garden = sync.appgarden_document(extension, parsed, inputs.compose_document(), stage=stage)
    used = tuple(compose_images(garden))
    entry = make_entry(extension, parsed.data, sync.render_document(garden, parsed), stage, used=used)
    key = rules.preview_image_key(parsed.data)
    return _Source(extension, entry, extension.path / parsed.data["preview_image"] if key else None, used)


def _write(build_dir: Path, document: Mapping[str, Any], sources: Sequence[_Source]) -> None:
    """Assemble in a staging folder inside build_dir, then move into place."""
    build_dir.mkdir(parents=True, exist_ok=True)
    for leftover in build_dir.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=build_dir))
    try:
        garden = garden_path(staging)
        write_garden(garden, catalogs(document["extensions"]), validate=False)  # validated in build_registry
        (garden / IMAGES_DIR).mkdir()
        for source in sources:
            if source.preview is not None:
                # checked again right before the copy: a regular file inside the extension, within the limit
                safe_files.check_regular_file(source.preview, within=source.extension.path, limit=safe_files.image_limit(), what="preview image")
                shutil.copyfile(source.preview, garden / source.entry["preview_image"], follow_symlinks=False)
        (staging / REGISTRY_FILE).write_bytes(fileio.canonical_json(document))
        _commit(staging, build_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, build_dir: Path) -> None:
    target = build_dir / GARDEN_ROOT
    aside = staging / "previous"
    aside.mkdir()
    moved = False
    if target.exists() or target.is_symlink():
        os.rename(target, aside / GARDEN_ROOT)
        moved = True
    try:
        os.rename(staging / GARDEN_ROOT, target)
    except OSError:
        if moved:
            os.rename(aside / GARDEN_ROOT, target)
        raise
    os.replace(staging / REGISTRY_FILE, build_dir / REGISTRY_FILE)


# --------------------------------------------------------------------------- read / write


def read_registry(build_dir: Path) -> dict[str, Any]:
    """registry.json from a build dir, validated; an error says to rebuild."""
    path = Path(build_dir) / REGISTRY_FILE
    if not path.is_file():
        raise HarnessError("file is missing", file=path, fix="run `make build-registry`")
    document = manifest.read_json(path)
    problems = registry_problems(document, file=path)
    if problems:
        raise HarnessError(problems=[*problems, Problem("the registry is invalid", file=path, fix="run `make build-registry`")])
    return document


def read_garden(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """apps.json and tools.json of a garden folder (a missing file is an empty list)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HarnessError("garden folder is missing", file=folder, fix="run `make build-registry`")
    result: dict[str, list[dict[str, Any]]] = {}
    for name in CATALOG_FILES:
        path = folder / name
        items = manifest.read_json(path) if path.is_file() else []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise HarnessError("is not a JSON array of objects", file=path, field="$", fix="rebuild it with `make build-registry` or restore it from a backup")
        result[name] = items
    return result


def write_garden(folder: Path, catalogs_by_file: Mapping[str, Sequence[Mapping[str, Any]]], *, validate: bool = True) -> None:
    """Write apps.json and tools.json (both, sorted, canonical bytes; each file replaced atomically).

    With `validate`, every entry must pass `entry_problems` and sit in its `catalog_for` file.
    The images/ folder is not touched.
    """
    unknown = sorted(set(catalogs_by_file) - set(CATALOG_FILES))
    if unknown:
        raise ValueError(f"unknown catalog files {unknown}; expected {CATALOG_FILES}")
    folder = Path(folder)
    if validate:
        problems = []
        for name, items in catalogs_by_file.items():
            for index, entry in enumerate(items):
                base = f"$[{index}]"
                problems += entry_problems(entry, file=folder / name, base=base)
                if isinstance(entry, Mapping) and catalog_for(entry) != name:
                    problems.append(Problem(f'{entry.get("name")} ({entry.get("template_type")}) belongs in {catalog_for(entry)}', file=folder / name, field=f"{base}.template_type", fix="put tools in tools.json, apps and services in apps.json"))
        if problems:
            raise HarnessError(problems=problems)
    folder.mkdir(parents=True, exist_ok=True)
    for name in CATALOG_FILES:
        items = sorted(catalogs_by_file.get(name, ()), key=sort_key)
        fileio.write_atomically(folder / name, fileio.canonical_json(items))
