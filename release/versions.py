"""Extension versions (SemVer 2.0.0) and the `kamiwaza_version` grammar (Kamiwaza Core's).

Extension versions are parsed and ordered by the `semver` library: SemVer
precedence, so `1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0-rc.1 < 1.0.0`,
`1.0.0-1` is a pre-release of 1.0.0 and build metadata (`+b1`) never changes
precedence. Strict: no `v` prefix, no leading zeros, no trailing newline, ASCII
digits only.

`kamiwaza_version` follows the grammar Kamiwaza Core accepts, exactly:

    value   := "" | "*" | clause ("," clause)*        (missing or null: unrestricted)
    clause  := ws* op? number "." number ("." number)? ws*
    op      := ">=" | ">" | "<=" | "<" | "==" | "!="   (none: "==")
    number  := [0-9]+                                  (ASCII digits)

A two-part version means `.0`. Whitespace is allowed only around a clause, and
a value of only whitespace counts as empty. Everything else is refused with a
message naming the clause and the fix: `~=`, `===`, wildcards, a `v` prefix,
pre-release or local segments, an empty clause, a space inside a clause and
non-ASCII digits. `ranges.py` turns the clauses into exact sets of releases
(and refuses a set no release satisfies).
"""

from __future__ import annotations

import re

import semver
from packaging.specifiers import InvalidSpecifier, SpecifierSet

Release = tuple[int, int, int]
Clause = tuple[str, Release]  # (operator, (major, minor, patch))

OPERATORS = (">=", "<=", "==", "!=", ">", "<")  # longest first: the order a clause is matched in
UNRESTRICTED = ("", "*")

_CLAUSE = re.compile(r"(?P<op>>=|<=|==|!=|>|<)?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?:\.(?P<patch>[0-9]+))?", re.ASCII)
_WHITESPACE = " \t\r\n\f\v"  # what may surround a clause; str.strip() would also remove Unicode spaces
_RANGE_FIX = 'write clauses such as ">=0.9.0,<1.0.0" (operators >=, >, <=, <, ==, != with MAJOR.MINOR[.PATCH]), or "*" for any'


class VersionSyntaxError(ValueError):
    """A version or `kamiwaza_version` string that does not follow the grammar above."""


# --- extension versions (SemVer) ------------------------------------------------------


def parse_version(text: object) -> semver.Version:
    """Parse an extension version; raise VersionSyntaxError with the reason."""
    if not isinstance(text, str):
        raise VersionSyntaxError(f"version must be a string, not {type(text).__name__}")
    if not text.isascii():
        raise VersionSyntaxError(f'"{text}" has non-ASCII characters; use MAJOR.MINOR.PATCH with ASCII digits, e.g. "1.2.0"')
    if text[:1] in ("v", "V"):
        raise VersionSyntaxError(f'"{text}" has a "v" prefix; drop it: "{text[1:]}"')
    try:
        # semver anchors its pattern at the true end of the text, so "1.0.0\n" is refused.
        return semver.Version.parse(text)
    except ValueError:
        raise VersionSyntaxError(
            f'{text!r} is not a SemVer 2.0.0 version; use MAJOR.MINOR.PATCH with an optional -pre.release and +build part, '
            'no leading zeros, e.g. "1.2.0" or "1.2.0-rc.1"'
        ) from None


def is_valid_version(text: object) -> bool:
    try:
        parse_version(text)
    except VersionSyntaxError:
        return False
    return True


def same_release(a: semver.Version, b: semver.Version) -> bool:
    """Equal SemVer precedence: the same release whatever their build metadata."""
    return a.compare(b) == 0


# --- kamiwaza_version (Core's constraint grammar) ------------------------------------


def parse_range(text: object) -> tuple[Clause, ...]:
    """Parse a `kamiwaza_version` value into its clauses; () means unrestricted.

    Raises VersionSyntaxError naming the first clause the grammar refuses. This
    checks the grammar only; `ranges.parse` also refuses a set no release satisfies.
    """
    if text is None:
        return ()
    if not isinstance(text, str):
        raise VersionSyntaxError(f"kamiwaza_version must be a string, not {type(text).__name__}; {_RANGE_FIX}")
    if text.strip(_WHITESPACE) in UNRESTRICTED:
        return ()
    return tuple(parse_clause(raw, text) for raw in text.split(","))


def is_valid_range(text: object) -> bool:
    try:
        parse_range(text)
    except VersionSyntaxError:
        return False
    return True


def parse_clause(raw: str, whole: str) -> Clause:
    """One comma-separated clause of `whole`, surrounding whitespace allowed."""
    clause = raw.strip(_WHITESPACE)
    match = _CLAUSE.fullmatch(clause)
    if match is None:
        raise VersionSyntaxError(f'kamiwaza_version "{whole}": {_clause_reason(clause)}')
    patch = match.group("patch")
    version = (int(match.group("major")), int(match.group("minor")), int(patch) if patch is not None else 0)
    return (match.group("op") or "==", version)


def _clause_reason(clause: str) -> str:
    """Why a clause is refused, with its fix: the most specific reason first."""
    if not clause:
        return 'has an empty clause (a stray or doubled comma); remove it, e.g. ">=0.9.0,<1.0.0"'
    quoted = f'clause "{clause}"'
    operator = next((op for op in ("===", "~=", *OPERATORS) if clause.startswith(op)), "")
    rest = clause[len(operator):]
    if operator == "~=":
        return f'{quoted} uses "~=", which Kamiwaza does not accept; write the bounds, e.g. ">=X.Y.Z,<X.(Y+1).0"'
    if operator == "===":
        return f'{quoted} uses "===", which Kamiwaza does not accept; use "==" (or a bare version)'
    if not operator and clause[:1] in "=!~^":
        return f'{quoted} has an unknown operator; use one of {", ".join(OPERATORS)} or none (equality)'
    if any(character.isspace() for character in clause):
        return f'{quoted} has a space inside it; write it without one, e.g. "{"".join(clause.split())}"'
    if "*" in rest or any(part in ("x", "X") for part in rest.split(".")):
        return f'{quoted} is a wildcard, which Kamiwaza does not accept; write the bounds, e.g. ">=1.2.0,<1.3.0" instead of "==1.2.*"'
    if rest[:1] in ("v", "V"):
        return f'{quoted} has a "v" prefix; drop it: "{operator}{rest[1:]}"'
    if not rest.isascii():
        return f"{quoted} has non-ASCII characters; use ASCII digits 0-9"
    if "-" in rest or "+" in rest or re.search(r"[0-9][A-Za-z]", rest, re.ASCII):
        return f'{quoted} has a pre-release or local segment; Kamiwaza compares MAJOR.MINOR[.PATCH] only, e.g. "{operator}1.2.0"'
    return f"{quoted} is not OPERATOR MAJOR.MINOR[.PATCH]; {_RANGE_FIX}"


# --- kz_ext_version (the kz-ext CLI's own constraint) ---------------------------------


def is_valid_kz_ext_range(text: object) -> bool:
    """Whether `kz_ext_version` is a constraint the kz-ext CLI can read.

    The CLI is a Python package with PEP 440 versions and checks this field with
    `packaging.specifiers`, so that is the grammar here too. It is not about
    extension versions, which are SemVer (above). Missing or null is unrestricted.
    """
    if text is None:
        return True
    if not isinstance(text, str):
        return False
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


def check_kz_ext_range(text: object) -> None:
    """Raise VersionSyntaxError when `kz_ext_version` is not a range the kz-ext CLI reads."""
    if not is_valid_kz_ext_range(text):
        raise VersionSyntaxError(f'kz_ext_version "{text}" is not a version range the kz-ext CLI reads; use clauses such as ">=0.5.0,<1.0.0"')
