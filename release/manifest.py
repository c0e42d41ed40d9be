"""`kamiwaza.json`: loading and validation against the one schema file.

The schema (`schemas/kamiwaza.schema.json`, Draft 2020-12) is the single
definition of the manifest: the kz-ext SDK's `KamiwazaMetadata` plus the
harness's own keys; every other key is allowed and kept. Three formats the
schema names are backed by code: `semver` (`versions.parse_version`),
`kamiwaza-version-range` (`ranges.parse`: Core's grammar and a satisfiable set)
and `kz-ext-version-range` (`versions.check_kz_ext_range`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from release import ranges, sources, versions
from release.errors import HarnessError, Problem

SCHEMA_PATH = Path(__file__).parent / "schemas" / "kamiwaza.schema.json"

FORMAT_CHECKER = FormatChecker()
"""The formats the manifest schema names; any schema that embeds it validates with this."""
FORMAT_CHECKER.checks("semver", raises=versions.VersionSyntaxError)(lambda value: not isinstance(value, str) or bool(versions.parse_version(value)))
FORMAT_CHECKER.checks("kamiwaza-version-range", raises=versions.VersionSyntaxError)(
    lambda value: not isinstance(value, str) or ranges.parse(value) is not None
)
FORMAT_CHECKER.checks("kz-ext-version-range", raises=versions.VersionSyntaxError)(
    lambda value: versions.check_kz_ext_range(value) is None
)


@dataclass(frozen=True)
class Manifest:
    path: Path
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def kamiwaza_version(self) -> str:
        return self.data.get("kamiwaza_version") or ""

    @property
    def allowed_bind_mounts(self) -> tuple[str, ...]:
        return tuple((self.data.get("validation") or {}).get("allowed_bind_mounts") or ())


@lru_cache(maxsize=1)
def schema() -> Mapping[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema(), format_checker=FORMAT_CHECKER)


def read_json(path: Path) -> Any:
    """Parse a JSON file through `sources` (safe reading, strict JSON, positions, parsed once)."""
    return sources.read_json(path, limit=sources.limit_for(path))


def schema_problems(data: Any, path: Path) -> list[Problem]:
    """Every schema violation in `data`, one Problem each, in document order."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [_problem_for(error, path) for error in errors]


def unknown_keys(data: Mapping[str, Any]) -> list[str]:
    """Top-level keys the schema does not define (allowed, but worth a warning)."""
    known = schema()["properties"]
    return sorted(key for key in data if key not in known)


def load(path: Path) -> Manifest:
    """Read and validate a manifest; raise HarnessError listing every problem."""
    data = read_json(path)
    problems = schema_problems(data, path)
    if problems:
        raise HarnessError(problems=problems)
    return Manifest(path=path, data=data)


def _problem_for(error: ValidationError, path: Path) -> Problem:
    location = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        location = [missing]
        message = "required field is missing"
    elif error.validator == "format" and error.cause is not None:
        message = str(error.cause)
    else:
        message = error.message
    return Problem(message, file=path, field=sources.json_path(location), fix=_fix_for(location))


def fix_for(field: str) -> str | None:
    """The schema's advice for a top-level field."""
    return _fix_for([field])


def _fix_for(location: list[Any]) -> str | None:
    node: Mapping[str, Any] = schema()
    fix = None
    for part in location:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            break
        fix = node.get("x-fix", fix)
    return fix
