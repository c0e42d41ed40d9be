"""The SemVer bump of `make bump` (pure): the next version, and the manifest text with only it changed.

Choices, following SemVer precedence and the `semver` library's `next_version`:

- PART (major, minor, patch; default patch) raises that part and resets the lower
  ones. From a pre-release, a PART whose bump would land on the release it
  precedes finalizes it instead: `1.0.1-rc.1` + patch is `1.0.1`, `2.0.0-rc.1` +
  major is `2.0.0`, `1.1.0-rc.1` + minor is `1.1.0` (the pre-release was already
  heading there). Build metadata is dropped: a bump is a new release.
- PRE (a SemVer pre-release such as `rc.1`, `beta.2`, `1`) makes the result that
  pre-release of the version PART gives: `1.0.0` + patch + PRE=rc.1 is
  `1.0.1-rc.1`; `1.0.1-rc.1` + patch + PRE=rc.2 is `1.0.1-rc.2` (the next
  candidate of the same release).
- The result must be newer than the current version by SemVer precedence
  (`1.0.1-rc.2` + PRE=rc.1 is refused): a bump never goes back.
"""

from __future__ import annotations

import json
from json.decoder import scanstring

import semver

from release import versions

PARTS = ("major", "minor", "patch")
DEFAULT_PART = "patch"


class BumpError(ValueError):
    """PART, PRE or the current version cannot give a next version; the message says how to fix it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field  # PART, PRE or a JSON path in kamiwaza.json


def parse_part(value: str | None) -> str:
    part = (value or DEFAULT_PART).strip().lower()
    if part not in PARTS:
        raise BumpError(f'PART="{value}" is not one of {", ".join(PARTS)}; use PART=patch (the default), PART=minor or PART=major', "PART")
    return part


def parse_pre(value: str | None) -> str | None:
    """A SemVer pre-release (dot-separated identifiers), or None for a release."""
    if value is None or not value.strip():
        return None
    pre = value.strip()
    if pre.startswith("-") or "+" in pre or not versions.is_valid_version(f"0.0.0-{pre}"):
        raise BumpError(
            f'PRE="{value}" is not a SemVer pre-release; use dot-separated identifiers of A-Z, a-z, 0-9 and "-", '
            "numbers without leading zeros, e.g. PRE=rc.1, PRE=beta.2",
            "PRE",
        )
    return pre


def next_version(current: str, part: str = DEFAULT_PART, pre: str | None = None) -> str:
    """The version after `current` for PART and PRE (see the module doc); BumpError when none."""
    try:
        version = versions.parse_version(current)
    except versions.VersionSyntaxError as error:
        raise BumpError(f"the current version cannot be bumped: {error}", "$.version") from None
    part = parse_part(part)
    pre = parse_pre(pre)
    bumped: semver.Version = version.next_version(part).replace(build=None)
    if pre is not None:
        bumped = bumped.replace(prerelease=pre)
    if bumped.compare(version) <= 0:
        raise BumpError(
            f"{current} with PART={part} PRE={pre} gives {bumped}, which is not newer than {current}; "
            "use a later pre-release (e.g. a higher rc number) or leave PRE out to release it",
            "PRE" if pre is not None else "PART",
        )
    return str(bumped)


def replace_version(text: str, new: str) -> str:
    """`text` (a kamiwaza.json) with only its top-level "version" value replaced; every other byte kept."""
    spans = _top_level_string_values(text, "version")
    if not spans:
        raise BumpError('kamiwaza.json has no top-level "version" string; add "version": "0.1.0"', "$.version")
    for start, end in reversed(spans):
        text = text[:start] + json.dumps(new) + text[end:]
    return text


def _top_level_string_values(text: str, key: str) -> list[tuple[int, int]]:
    """Spans (quotes included) of the string values of `key` in the top-level object.

    A small scanner instead of a parser round trip, so the rest of the text is not reformatted.
    The text is expected to be valid JSON (the manifest was loaded before).
    """
    spans: list[tuple[int, int]] = []
    depth = 0
    index = 0
    expecting_key = False
    while index < len(text):
        character = text[index]
        if character == '"':
            value, after = scanstring(text, index + 1)
            if depth == 1 and expecting_key and value == key:
                colon = _skip_space(text, after)
                start = _skip_space(text, colon + 1) if colon < len(text) and text[colon] == ":" else -1
                if start >= 0 and start < len(text) and text[start] == '"':
                    _, end = scanstring(text, start + 1)
                    spans.append((start, end))
                    index = end
                    expecting_key = False
                    continue
            expecting_key = False
            index = after
            continue
        if character in "{[":
            depth += 1
            expecting_key = character == "{" and depth == 1
        elif character in "}]":
            depth -= 1
        elif character == "," and depth == 1:
            expecting_key = True
        index += 1
    return spans


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index
