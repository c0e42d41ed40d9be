"""Extension versions and `kamiwaza_version` specifiers: grammar and parsing.

Versions are `X.Y.Z` with an optional semver `-pre` and `+build`; they are
compared with `packaging`, so the pre-release part must be one packaging
understands (`-alpha.1`, `-beta`, `-rc.2`, `-dev3`, `-post1`).
`kamiwaza_version` is a comma-separated list of clauses `OP X.Y.Z` parsed by
`packaging.specifiers`. The exact set algebra over these lives in `ranges.py`.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

# The shape packaging cannot enforce: exactly three numeric parts, no leading
# zeros, no 'v' prefix. packaging then decides whether the pre/build parts parse.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_RELEASE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

ALLOWED_OPERATORS = (">=", "<=", ">", "<", "==", "!=", "~=")



class VersionSyntaxError(ValueError):
    """A version or specifier string that does not follow the grammar above."""


def parse_version(text: object) -> Version:
    """Parse an extension version; raise VersionSyntaxError with the reason."""
    if not isinstance(text, str):
        raise VersionSyntaxError(f"version must be a string, not {type(text).__name__}")
    if not _SEMVER.match(text):
        raise VersionSyntaxError(f'"{text}" is not X.Y.Z[-pre][+build]')
    try:
        return Version(text)
    except InvalidVersion:
        raise VersionSyntaxError(
            f'"{text}" has a pre-release part that cannot be ordered; use -alpha.N, -beta.N, -rc.N or -dev.N'
        ) from None


def is_valid_version(text: object) -> bool:
    try:
        parse_version(text)
    except VersionSyntaxError:
        return False
    return True


def parse_range(text: object) -> SpecifierSet:
    """Parse a `kamiwaza_version` value. Missing or empty means unrestricted."""
    if text is None:
        return SpecifierSet()
    if not isinstance(text, str):
        raise VersionSyntaxError(f"kamiwaza_version must be a string, not {type(text).__name__}")
    if not text.strip():
        return SpecifierSet()
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        raise VersionSyntaxError(f'"{text}" is not a valid version specifier') from None
    for clause in specifiers:
        _check_clause(clause, text)
    return specifiers


def is_valid_range(text: object) -> bool:
    try:
        parse_range(text)
    except VersionSyntaxError:
        return False
    return True


def _check_clause(clause: Specifier, whole: str) -> None:
    if clause.operator not in ALLOWED_OPERATORS:
        raise VersionSyntaxError(f'operator "{clause.operator}" in "{whole}" is not one of {", ".join(ALLOWED_OPERATORS)}')
    if not _RELEASE.match(clause.version):
        raise VersionSyntaxError(f'"{clause}" in "{whole}" must compare against a plain X.Y.Z version')
