"""Exact set algebra over `kamiwaza_version` ranges.

The universe is the set of Kamiwaza *release* versions `X.Y.Z` (three
non-negative integers, ordered lexicographically): Core compares its own
release against MAJOR.MINOR[.PATCH] clauses, so pre-releases are not part of it.
The grammar itself lives in `versions.py` (`versions.parse_range`); this module
gives each clause its exact set and `parse` is what every command calls.

In this universe every version v = (X, Y, Z) has an immediate successor
(X, Y, Z + 1), so every clause is a union of half-open intervals
`[low, high)` with `high` possibly unbounded:

    >=v   [v, inf)              >v    [succ(v), inf)
    <=v   [0.0.0, succ(v))      <v    [0.0.0, v)
    ==v   [v, succ(v))          !=v   [0.0.0, v) | [succ(v), inf)

A value (comma = AND) is the intersection of its clauses; missing, empty or
`*` means every release. A set no release satisfies (`>=1.0.0,<0.5.0`) is a
grammar error too: `parse` refuses it, so `make validate` does as well as publish.
A `Range` keeps its intervals sorted, non-empty and non-adjacent, so two ranges
are the same set exactly when they are equal, and `relation` needs no sampling:
it is decided from intersections and differences of intervals, for every
version however large.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Union

from release import versions
from release.versions import Clause, Release

Bound = Union[Release, None]  # None: unbounded above
ZERO: Release = (0, 0, 0)


class Relation(str, Enum):
    """How range `a` relates to range `b` (read: a is ... of b)."""

    EQUAL = "EQUAL"
    SUBSET = "SUBSET"  # a is strictly narrower than b
    SUPERSET = "SUPERSET"  # a strictly contains b
    DISJOINT = "DISJOINT"  # no release in common
    OVERLAP = "OVERLAP"  # some in common, each has some the other lacks

    def __str__(self) -> str:
        return self.value


def successor(version: Release) -> Release:
    return (version[0], version[1], version[2] + 1)


def _below(bound: Bound, version: Release) -> bool:
    """version < bound (None = infinity)."""
    return bound is None or version < bound


def _nonempty(low: Release, high: Bound) -> bool:
    return _below(high, low)


def _min_bound(a: Bound, b: Bound) -> Bound:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(frozen=True)
class Range:
    """A set of release versions: sorted, disjoint, non-adjacent `[low, high)` intervals."""

    intervals: tuple[tuple[Release, Bound], ...]

    # construction -------------------------------------------------------
    @staticmethod
    def of(pairs: Iterable[tuple[Release, Bound]]) -> "Range":
        """Normalize any list of intervals (drops empty ones, merges touching ones)."""
        kept = sorted((pair for pair in pairs if _nonempty(*pair)), key=lambda pair: pair[0])
        merged: list[tuple[Release, Bound]] = []
        for low, high in kept:
            if merged:
                last_low, last_high = merged[-1]
                if last_high is None or low <= last_high:  # overlapping or adjacent
                    merged[-1] = (last_low, None if last_high is None or high is None else max(last_high, high))
                    continue
            merged.append((low, high))
        return Range(tuple(merged))

    @staticmethod
    def everything() -> "Range":
        return Range(((ZERO, None),))

    # set operations ------------------------------------------------------
    def __and__(self, other: "Range") -> "Range":
        pieces: list[tuple[Release, Bound]] = []
        for low_a, high_a in self.intervals:
            for low_b, high_b in other.intervals:
                pieces.append((max(low_a, low_b), _min_bound(high_a, high_b)))
        return Range.of(pieces)

    def __or__(self, other: "Range") -> "Range":
        return Range.of([*self.intervals, *other.intervals])

    def complement(self) -> "Range":
        pieces: list[tuple[Release, Bound]] = []
        cursor: Bound = ZERO
        for low, high in self.intervals:
            if cursor is not None and cursor < low:
                pieces.append((cursor, low))
            cursor = high
        if cursor is not None:
            pieces.append((cursor, None))
        return Range.of(pieces)

    def __sub__(self, other: "Range") -> "Range":
        return self & other.complement()

    # queries -------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return not self.intervals

    def __contains__(self, version: Release) -> bool:
        return any(low <= version and _below(high, version) for low, high in self.intervals)

    def __str__(self) -> str:
        """A readable form: `>=1.0.0,<2.0.0`, alternatives joined by ` or `."""
        if self.is_empty:
            return "no release"
        if self == Range.everything():
            return "any"
        parts = []
        for low, high in self.intervals:
            clauses = []
            if high is not None and high == successor(low):
                parts.append(f"=={_text(low)}")
                continue
            if low != ZERO:
                clauses.append(f">={_text(low)}")
            if high is not None:
                clauses.append(f"<{_text(high)}")
            parts.append(",".join(clauses))
        return " or ".join(parts)


def _text(version: Release) -> str:
    return ".".join(str(part) for part in version)


def clause_range(clause: Clause) -> Range:
    """The exact set of releases one `(operator, version)` clause matches."""
    operator, version = clause
    after = successor(version)
    if operator == ">=":
        return Range.of([(version, None)])
    if operator == ">":
        return Range.of([(after, None)])
    if operator == "<=":
        return Range.of([(ZERO, after)])
    if operator == "<":
        return Range.of([(ZERO, version)])
    if operator == "==":
        return Range.of([(version, after)])
    if operator == "!=":
        return Range.of([(ZERO, version), (after, None)])
    raise versions.VersionSyntaxError(f'operator "{operator}" is not one of {", ".join(versions.OPERATORS)}')


def from_clauses(clauses: Iterable[Clause]) -> Range:
    """The intersection of the clauses (AND); no clause at all is every release. May be empty."""
    result = Range.everything()
    for clause in clauses:
        result = result & clause_range(clause)
    return result


def parse(text: object) -> Range:
    """A `kamiwaza_version` value as the set of releases it allows; missing, empty or `*` is everything.

    Raises `versions.VersionSyntaxError` for text the grammar refuses and for a
    set no release satisfies. Every command checks `kamiwaza_version` through here.
    """
    result = from_clauses(versions.parse_range(text))
    if result.is_empty:
        raise versions.VersionSyntaxError(
            f'kamiwaza_version "{text}" matches no Kamiwaza release (its clauses contradict each other); '
            'make the lower bound lower than the upper bound, e.g. ">=0.9.0,<1.0.0"'
        )
    return result


def as_range(value: "Range | str | None") -> Range:
    return value if isinstance(value, Range) else parse(value)


def relation(a: "Range | str | None", b: "Range | str | None") -> Relation:
    """How `a` relates to `b`, exactly.

    EQUAL when the sets are the same (also two empty sets); otherwise DISJOINT
    when they share no release; otherwise SUBSET / SUPERSET when one holds the
    other; otherwise OVERLAP.
    """
    left, right = as_range(a), as_range(b)
    if left == right:
        return Relation.EQUAL
    if (left & right).is_empty:
        return Relation.DISJOINT
    if (left - right).is_empty:
        return Relation.SUBSET
    if (right - left).is_empty:
        return Relation.SUPERSET
    return Relation.OVERLAP


def overlaps(a: "Range | str | None", b: "Range | str | None") -> bool:
    return not (as_range(a) & as_range(b)).is_empty
