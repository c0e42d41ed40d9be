"""The version-aware merge planner: pure, no I/O.

Given the published entries (remote) and the entries about to be published
(local), decide for each local entry, following the spec's table:

| Scenario                              | Action    |
|---------------------------------------|-----------|
| new extension name                    | INSERT    |
| newer version, same kamiwaza_version  | REPLACE   |
| newer version, superset range         | REPLACE   |
| same version (content differs)        | FAIL      |  versions are immutable
| older version                         | FAIL      |  no downgrade
| disjoint kamiwaza_version range       | INSERT    |  both coexist
| subset range                          | FAIL      |  would narrow support
| partial overlap                       | FAIL      |  ambiguous

Refinement: a local entry identical in content to a published one is
UNCHANGED (publishing the same registry twice is a no-op). A local entry is
decided against the published entries of its name whose ranges overlap its
own, and against any of its name with the same version (a name and version
is published once). Published entries the local set does not touch are kept
as they are. `force=True` (FORCE=1) turns the version-rule failures into
REPLACE of every entry the local one conflicts with; it never accepts a
local set that contradicts itself. A range no release satisfies is bad input
(`ranges.parse` refuses it), reported before any decision.

Versions compare by SemVer precedence (`versions.parse_version`, the `semver`
library): `1.0.0-1` is older than `1.0.0`, `-rc.1` and `-pre.1` are different
releases, and build metadata (`+build`) does not make a version different, so
`1.0.0+b2` is "the same version" as `1.0.0+b1` (immutable: FAIL unless identical).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Sequence

import semver

from release import image_check, ranges, versions
from release.errors import HarnessError, Problem

Entry = Mapping[str, Any]


class Action(str, Enum):
    INSERT = "INSERT"
    REPLACE = "REPLACE"
    UNCHANGED = "UNCHANGED"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Decision:
    name: str
    version: str
    kamiwaza_version: str
    action: Action
    reason: str
    replaces: tuple[Entry, ...] = field(default=(), compare=False)

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "version": self.version,
            "kamiwaza_version": self.kamiwaza_version,
            "action": self.action.value,
            "reason": self.reason,
        }

    def line(self) -> str:
        """One line for a person: action, name, versions, range, reason."""
        before = ", ".join(sorted({str(r.get("version")) for r in self.replaces}))
        versions_text = f"{before} -> {self.version}" if before else self.version
        return f"{self.action.value:<9} {self.name} {versions_text} (kamiwaza_version {show_range(self.kamiwaza_version)}): {self.reason}"


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    merged: tuple[dict[str, Any], ...]

    @property
    def failed(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action is Action.FAIL)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def changes(self) -> bool:
        return any(d.action in (Action.INSERT, Action.REPLACE) for d in self.decisions)

    def as_json(self) -> dict[str, Any]:
        return {"decisions": [d.as_json() for d in self.decisions], "merged": [dict(e) for e in self.merged]}


# --- input checks --------------------------------------------------------------

def entry_list_problems(entries: Any, source: str) -> list[Problem]:
    """What makes a list unusable for merging: one Problem per bad field."""
    if isinstance(entries, tuple):
        entries = list(entries)
    if not isinstance(entries, list):
        return [Problem("is not a JSON array of entries", file=source, field="$", fix="give a list such as apps.json holds: [{...}, {...}]")]
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        where = f"$[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem("entry is not a JSON object", file=source, field=where, fix="each entry is an object with name, version and kamiwaza_version"))
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem("name is missing or not a string", file=source, field=f"{where}.name", fix="give every entry its extension name"))
        try:
            versions.parse_version(entry.get("version"))
        except versions.VersionSyntaxError as error:
            problems.append(Problem(str(error), file=source, field=f"{where}.version", fix="use a SemVer version such as 1.2.0 or 1.2.0-rc.1, as in kamiwaza.json"))
        try:
            ranges.parse(entry.get("kamiwaza_version"))
        except versions.VersionSyntaxError as error:
            problems.append(Problem(str(error), file=source, field=f"{where}.kamiwaza_version", fix='use clauses such as ">=0.9.0,<1.0.0", or "*" (or leave it out) for any'))
    return problems


def check_entries(entries: Any, source: str) -> list[dict[str, Any]]:
    problems = entry_list_problems(entries, source)
    if problems:
        raise HarnessError(problems=problems)
    return [dict(entry) for entry in entries]


# --- helpers -------------------------------------------------------------------

def show_range(text: str) -> str:
    return text if text.strip() else "any"


def range_text(entry: Entry) -> str:
    value = entry.get("kamiwaza_version")
    return value if isinstance(value, str) else ""


def version_key(entry: Entry) -> semver.Version:
    """SemVer precedence of an entry's version; build metadata is dropped so it never counts."""
    return versions.parse_version(entry["version"]).replace(build=None)


def canonical(entry: Entry) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sort_key(entry: Entry) -> tuple[str, semver.Version, str, str]:
    return (entry["name"], version_key(entry), range_text(entry), canonical(entry))


def _label(entry: Entry) -> str:
    return f"{entry['version']} (kamiwaza_version {show_range(range_text(entry))})"


def _differences(a: Entry, b: Entry) -> str:
    keys = sorted(key for key in set(a) | set(b) if a.get(key) != b.get(key))
    moved = image_check.digest_changes(b.get("docker_images") or (), a.get("docker_images") or ())
    return ", ".join(keys) + (f"; the image digest changed: {'; '.join(moved)}" if moved else "")


# --- the planner ---------------------------------------------------------------

def plan(
    remote: Sequence[Entry],
    local: Sequence[Entry],
    *,
    force: bool = False,
    remote_source: str = "remote",
    local_source: str = "local",
) -> Plan:
    """Decide every local entry against the remote ones; see the module doc."""
    remote_entries = check_entries(remote, remote_source)
    local_entries = check_entries(local, local_source)

    # Identical local entries count once; then a canonical order, so the input order never matters.
    unique = {canonical(entry): entry for entry in local_entries}
    ordered = sorted(unique.values(), key=sort_key)
    conflicts = _local_conflicts(ordered)

    remote_by_name: dict[str, list[tuple[int, Entry]]] = defaultdict(list)
    for position, remote_entry in enumerate(remote_entries):
        remote_by_name[remote_entry["name"]].append((position, remote_entry))

    replaced: set[int] = set()
    added: list[dict[str, Any]] = []
    decisions: list[Decision] = []
    for index, entry in enumerate(ordered):
        decision, targets = _decide(entry, remote_by_name.get(entry["name"], []), conflicts.get(index), force)
        decisions.append(decision)
        if decision.action in (Action.INSERT, Action.REPLACE):
            replaced.update(targets)
            added.append(entry)

    kept = [r for i, r in enumerate(remote_entries) if i not in replaced]
    merged = tuple(sorted([*kept, *added], key=sort_key))
    return Plan(decisions=tuple(decisions), merged=merged)


def _local_conflicts(ordered: Sequence[Entry]) -> dict[int, str]:
    """Local entries that contradict each other: same name with the same version or overlapping ranges."""
    reasons: dict[int, list[str]] = {}
    by_name: dict[str, list[int]] = defaultdict(list)
    for position, entry in enumerate(ordered):
        by_name[entry["name"]].append(position)
    # Only entries of one name can contradict each other; pairs in the old i < j order.
    pairs = sorted((i, j) for positions in by_name.values() for k, i in enumerate(positions) for j in positions[k + 1 :])
    for i, j in pairs:
        a, b = ordered[i], ordered[j]
        if version_key(a) == version_key(b):
            why = f"the local set lists {a['name']} {a['version']} twice with different content"
        elif ranges.overlaps(range_text(a), range_text(b)):
            why = f"the local set holds {a['name']} {_label(a)} and {_label(b)}, whose ranges overlap"
        else:
            continue
        reasons.setdefault(i, []).append(why)
        reasons.setdefault(j, []).append(why)
    return {index: "; ".join(dict.fromkeys(whys)) for index, whys in reasons.items()}


def _decide(
    entry: Entry,
    same_name: Sequence[tuple[int, Entry]],
    conflict: str | None,
    force: bool,
) -> tuple[Decision, set[int]]:
    name, version, text = entry["name"], entry["version"], range_text(entry)

    def decision(action: Action, reason: str, targets: Sequence[tuple[int, Entry]] = ()) -> tuple[Decision, set[int]]:
        return Decision(name, version, text, action, reason, tuple(r for _, r in targets)), {i for i, _ in targets}

    if conflict:
        return decision(Action.FAIL, f"{conflict}; give each version of one extension its own, non-overlapping kamiwaza_version")
    mine = ranges.parse(text)  # check_entries refused a range no release satisfies
    if any(r == entry for _, r in same_name):
        return decision(Action.UNCHANGED, f"{version} is already published with identical content")
    if not same_name:
        return decision(Action.INSERT, f"first publish of {name}")

    key = version_key(entry)
    same_version = [(i, r) for i, r in same_name if version_key(r) == key]
    overlapping = [(i, r) for i, r in same_name if version_key(r) != key and ranges.overlaps(mine, range_text(r))]

    problems: list[str] = []
    for _, r in same_version:
        problems.append(
            f"{r['version']} is already published with different content (differs in {_differences(entry, r)}); "
            "versions are immutable: bump the version in kamiwaza.json"
        )
    upgrades: list[str] = []
    for _, r in overlapping:
        theirs = range_text(r)
        if key < version_key(r):
            problems.append(f"{version} is older than the published {_label(r)}: cannot downgrade; bump the version above {r['version']}")
            continue
        relation = ranges.relation(mine, theirs)
        if relation is ranges.Relation.EQUAL:
            upgrades.append(f"upgrade {r['version']} -> {version} with the same kamiwaza_version")
        elif relation is ranges.Relation.SUPERSET:
            upgrades.append(f"upgrade {r['version']} -> {version}; kamiwaza_version {show_range(text)} expands support beyond {show_range(theirs)}")
        elif relation is ranges.Relation.SUBSET:
            lost = ranges.parse(theirs) - mine
            problems.append(
                f"kamiwaza_version {show_range(text)} is narrower than the published {_label(r)}: it would drop support for {lost}; "
                "keep the broader range (or FORCE=1 in an emergency)"
            )
        else:  # OVERLAP (DISJOINT entries are not in `overlapping`)
            common = mine & ranges.parse(theirs)
            problems.append(
                f"kamiwaza_version {show_range(text)} partially overlaps the published {_label(r)} (both cover {common}): ambiguous; "
                "make the range disjoint from it or a superset of it"
            )

    targets = [*same_version, *overlapping]
    if problems:
        if not force:
            return decision(Action.FAIL, "; ".join(problems))
        return decision(Action.REPLACE, "FORCE=1 overrides: " + "; ".join(problems), targets)
    if not targets:
        published = ", ".join(_label(r) for _, r in same_name)
        return decision(Action.INSERT, f"kamiwaza_version {show_range(text)} is disjoint from the published {published}; both coexist")
    return decision(Action.REPLACE, "; ".join(upgrades), targets)
