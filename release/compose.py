"""Compose documents: loading, structure, and the App Garden rules.

Pure functions over parsed documents; `load_compose` is the only file I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from release.errors import HarnessError, Problem

DEFAULT_DOCKERFILE = "Dockerfile"


def load_compose(path: Path) -> dict[str, Any]:
    """Parse a compose file and check the shape every later step relies on."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError("file is missing", file=path, fix="create it (see templates/ for a starting point)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HarnessError(f"cannot read the file: {error}", file=path, fix="make it a readable UTF-8 text file") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise HarnessError(
            f"is not valid YAML: {problem}{where}",
            file=path,
            field=f"line {mark.line + 1}" if mark else None,
            fix="correct the YAML there (indentation and unquoted ':' are the usual causes)",
        ) from None
    problems = structural_problems(document, path)
    if problems:
        raise HarnessError(problems=problems)
    return document


def structural_problems(document: Any, path: Path) -> list[Problem]:
    """What makes a document unusable as a compose file for this harness."""
    if not isinstance(document, Mapping):
        return [Problem("is not a YAML mapping", file=path, fix="start the file with a top-level `services:` mapping")]
    services = document.get("services")
    if not isinstance(services, Mapping) or not services:
        return [Problem("has no services", file=path, field="services", fix="add a `services:` mapping with at least one service")]
    problems: list[Problem] = []
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
