"""Monorepo rules about manifests, names and files (pure functions).

Each function returns the problems it finds; an empty list means the rule holds.
`checks/` turns each into one pytest check per extension.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from collections import defaultdict
from typing import Any, Mapping, Sequence

from release.errors import Problem
from release.extensions import Extension

NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "app": (),
    "tool": ("tool-", "mcp-"),
    "service": ("service-",),
}
PREVIEW_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".svg")
DEFAULT_PREVIEW_URL_PREFIXES = (
    "https://raw.githubusercontent.com/kamiwaza-ai/",
    "https://kamiwaza.ai/",
    "https://assets.kamiwaza.ai/",
)
PREVIEW_PREFIXES_VARIABLE = "KAMIWAZA_PREVIEW_URL_PREFIXES"
RESERVED_ENV_PREFIX = "KAMIWAZA_"


def name_problems(extension_type: str, name: str) -> list[str]:
    """Why `name` cannot name an extension of this type (empty when it can).

    Used before `make new` writes anything and by the naming check.
    """
    reasons = []
    if not NAME_PATTERN.match(name):
        reasons.append(f'"{name}" is not lowercase kebab-case (a-z, 0-9, single dashes)')
    prefixes = NAME_PREFIXES.get(extension_type, ())
    if prefixes and not name.startswith(prefixes):
        reasons.append(f'{extension_type} names must start with {" or ".join(prefixes)}; "{name}" does not')
    return reasons


def naming_problems(extension: Extension, data: Mapping[str, Any]) -> list[Problem]:
    path = extension.manifest_path
    problems = [
        Problem(reason, file=path, field="$.name", fix=_rename_fix(extension.type))
        for reason in name_problems(extension.type, extension.name)
    ]
    declared = data.get("name")
    if isinstance(declared, str) and declared != extension.name:
        problems.append(
            Problem(
                f'name "{declared}" differs from the folder name "{extension.name}"',
                file=path,
                field="$.name",
                fix=f'set "name" to "{extension.name}" or rename the folder to {declared}',
            )
        )
    template_type = data.get("template_type")
    if isinstance(template_type, str) and template_type != extension.type:
        problems.append(
            Problem(
                f'template_type "{template_type}" but the extension lives under extensions/{extension.type}s/',
                file=path,
                field="$.template_type",
                fix=f'set "template_type" to "{extension.type}" or move the folder',
            )
        )
    return problems


def _rename_fix(extension_type: str) -> str:
    prefixes = NAME_PREFIXES.get(extension_type, ())
    hint = f", starting with {' or '.join(prefixes)}" if prefixes else ""
    return f"rename the folder and the manifest name to lowercase kebab-case{hint}"


def preview_prefixes(env: Mapping[str, str]) -> tuple[str, ...]:
    configured = env.get(PREVIEW_PREFIXES_VARIABLE, "")
    custom = tuple(p.strip() for p in configured.split(",") if p.strip())
    return custom or DEFAULT_PREVIEW_URL_PREFIXES


def preview_image_problems(extension: Extension, data: Mapping[str, Any], allowed_prefixes: Sequence[str]) -> list[Problem]:
    value = data.get("preview_image")
    if not isinstance(value, str) or not value:
        return []
    path = extension.manifest_path
    field = "$.preview_image"
    if "://" in value:
        if value.startswith(tuple(allowed_prefixes)):
            return []
        return [Problem(f'URL "{value}" is not under an allowed prefix', file=path, field=field, fix=f"host it under one of {', '.join(allowed_prefixes)} (or set {PREVIEW_PREFIXES_VARIABLE}), or ship the file in the extension")]
    relative = PurePosixPath(value)
    if relative.is_absolute() or ".." in relative.parts:
        return [Problem(f'path "{value}" leaves the extension folder', file=path, field=field, fix="use a path relative to the extension folder, such as assets/preview.png")]
    if relative.suffix.lower() not in PREVIEW_IMAGE_SUFFIXES:
        return [Problem(f'"{value}" is not an image file', file=path, field=field, fix=f"use one of {', '.join(PREVIEW_IMAGE_SUFFIXES)}")]
    if not (extension.path / relative).is_file():
        return [Problem(f'preview image "{value}" does not exist', file=path, field=field, fix=f"add the file at {extension.path.name}/{value} or correct the path")]
    return []


def holders_of_same_value(values: Mapping[Extension, str | None]) -> dict[Extension, dict[Extension, str | None]]:
    """Each extension -> {extension: value} of every extension holding its value (itself included).

    That is all `shared_value_problems` needs; grouping once keeps the uniqueness
    checks linear in the number of extensions instead of quadratic.
    """
    by_value: dict[str | None, dict[Extension, str | None]] = defaultdict(dict)
    for extension, value in values.items():
        by_value[value][extension] = value
    return {extension: by_value[value] for extension, value in values.items()}


def preview_image_key(data: Mapping[str, Any]) -> str | None:
    """The name the preview image will have in the registry's images/ folder."""
    value = data.get("preview_image")
    if not isinstance(value, str) or not value or "://" in value:
        return None
    return PurePosixPath(value).name


def env_defaults_problems(extension: Extension, data: Mapping[str, Any]) -> list[Problem]:
    defaults = data.get("env_defaults")
    if not isinstance(defaults, Mapping):
        return []
    return [
        Problem(
            f'env_defaults sets the reserved variable {key}',
            file=extension.manifest_path,
            field=f"$.env_defaults.{key}",
            fix=f"remove it: Kamiwaza sets {RESERVED_ENV_PREFIX}* variables itself; use a name without that prefix",
        )
        for key in sorted(defaults)
        if str(key).upper().startswith(RESERVED_ENV_PREFIX)
    ]


def shared_value_problems(
    extension: Extension,
    values: Mapping[Extension, str | None],
    *,
    field: str,
    what: str,
    fix: str,
) -> list[Problem]:
    """Problems when `extension`'s value is also held by another extension."""
    mine = values.get(extension)
    if mine is None:
        return []
    others = sorted(e.id for e, value in values.items() if value == mine and e != extension)
    if not others:
        return []
    return [Problem(f'{what} "{mine}" is also used by {", ".join(others)}', file=extension.manifest_path, field=field, fix=fix)]


