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

NAME_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*", re.ASCII)  # used with fullmatch
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
# Exactly the variables Kamiwaza Core documents as set by itself at deploy time.
# Other KAMIWAZA_* names (KAMIWAZA_URL, KAMIWAZA_USE_AUTH) are the extension's own.
RESERVED_ENV_NAMES = frozenset(
    {"KAMIWAZA_API_URL", "KAMIWAZA_APP_PORT", "KAMIWAZA_MODEL_PORT", "KAMIWAZA_DEPLOYMENT_ID", "OPENAI_BASE_URL"}
)


def name_problems(extension_type: str, name: str) -> list[str]:
    """Why `name` cannot name an extension of this type (empty when it can).

    Used before `make new` writes anything and by the naming check.
    """
    reasons = []
    if not NAME_PATTERN.fullmatch(name):
        reasons.append(f'"{name}" is not lowercase kebab-case (a-z, 0-9, single dashes)')
    prefixes = NAME_PREFIXES.get(extension_type, ())
    if prefixes and not name.startswith(prefixes):
        reasons.append(
            f'{extension_type} names must start with {" or ".join(prefixes)}; "{name}" does not '
            f'(e.g. "{suggested_name(extension_type, name)}")'
        )
    return reasons


def suggested_name(extension_type: str, name: str) -> str:
    """A valid name close to `name`: kebab-cased, with the type's first prefix when it lacks one."""
    kebab = "-".join(part for part in re.split(r"[^a-z0-9]+", name.lower(), flags=re.ASCII) if part) or "my-extension"
    prefixes = NAME_PREFIXES.get(extension_type, ())
    if prefixes and not kebab.startswith(prefixes):
        kebab = prefixes[0] + kebab
    return kebab


def naming_problems(extension: Extension, data: Mapping[str, Any]) -> list[Problem]:
    """The folder name and the manifest name: valid, and equal.

    When they differ, one problem says which one to change: the manifest name
    when the folder name is valid (the folder is what TYPE/NAME select), the
    folder when only the manifest name is valid, both to one suggestion otherwise.
    """
    path = extension.manifest_path
    declared = data.get("name")
    if isinstance(declared, str) and declared != extension.name:
        problems = [_mismatch_problem(extension, declared)]
    else:
        problems = [
            Problem(reason, file=path, field="$.name", fix=_rename_fix(extension))
            for reason in name_problems(extension.type, extension.name)
        ]
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


def _mismatch_problem(extension: Extension, declared: str) -> Problem:
    folder = extension.name
    message = f'name "{declared}" differs from the folder name "{folder}"'
    if not name_problems(extension.type, folder):
        fix = f'set "name" to "{folder}" in kamiwaza.json (the folder name is valid and is what TYPE/NAME select)'
    elif not name_problems(extension.type, declared):
        fix = f'rename the folder extensions/{extension.type}s/{folder} to {declared} (the manifest name is the valid one)'
    else:
        suggestion = suggested_name(extension.type, folder)
        reasons = "; ".join(name_problems(extension.type, folder))
        message += f", and neither is valid ({reasons})"
        fix = f'rename the folder to {suggestion} and set "name" to "{suggestion}"'
    return Problem(message, file=extension.manifest_path, field="$.name", fix=fix)


def _rename_fix(extension: Extension) -> str:
    suggestion = suggested_name(extension.type, extension.name)
    return f'rename the folder extensions/{extension.type}s/{extension.name} to {suggestion} and set "name" to "{suggestion}"'


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
    """`env_defaults` may not set a variable Kamiwaza sets itself at deploy time."""
    defaults = data.get("env_defaults")
    if not isinstance(defaults, Mapping):
        return []
    reserved = ", ".join(sorted(RESERVED_ENV_NAMES))
    return [
        Problem(
            f"env_defaults sets {key}, which Kamiwaza sets itself at deploy time",
            file=extension.manifest_path,
            field=f"$.env_defaults.{key}",
            fix=f"remove it (Kamiwaza sets {reserved}); read the value Kamiwaza provides instead",
        )
        for key in sorted(defaults)
        if key in RESERVED_ENV_NAMES
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


