"""release.ranges: the exact kamiwaza_version algebra."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release import ranges, versions
from release.ranges import Range, Relation, relation
from release.versions import OPERATORS, VersionSyntaxError

# Clause versions use components 0..3; the oracle grid 0..4. That grid is exact,
# not a sample: every range is a union of [low, high) intervals whose bounds are a
# clause version v, succ(v) = X.Y.(Z+1) or 0.0.0, all with components <= 4. So is
# every bound of an intersection or difference, and a non-empty [low, high)
# contains its own `low`: a grid point.
GRID = [tuple(v) for v in itertools.product(range(5), repeat=3)]
VERSION = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).map(lambda v: ".".join(map(str, v)))
CLAUSE = st.tuples(st.sampled_from(OPERATORS), VERSION).map(lambda c: f"{c[0]}{c[1]}")
SPEC = st.lists(CLAUSE, max_size=3).map(",".join)
CHECK = settings(max_examples=150, deadline=None)

# The oracle reads each operator as Python's tuple comparison, written independently of the intervals.
HOLDS = {
    ">=": lambda v, c: v >= c,
    ">": lambda v, c: v > c,
    "<=": lambda v, c: v <= c,
    "<": lambda v, c: v < c,
    "==": lambda v, c: v == c,
    "!=": lambda v, c: v != c,
}


def grid_set(text: str) -> frozenset:
    """The oracle: which grid releases satisfy every clause."""
    clauses = [(clause[: -len(version)], tuple(map(int, version.split(".")))) for clause in text.split(",") if clause
               for version in [clause.lstrip("<>=!")]]
    return frozenset(v for v in GRID if all(HOLDS[op](v, c) for op, c in clauses))


def spec_range(text: str) -> Range:
    """The set of a generated value, empty allowed (ranges.parse refuses an empty one)."""
    return ranges.from_clauses(versions.parse_range(text))


def oracle_relation(a: frozenset, b: frozenset) -> Relation:
    if a == b:
        return Relation.EQUAL
    if not a & b:
        return Relation.DISJOINT
    if a < b:
        return Relation.SUBSET
    if a > b:
        return Relation.SUPERSET
    return Relation.OVERLAP


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (">=3.0.0", ">=4.0.0", Relation.SUPERSET),
        (">=4.0.0", ">=3.0.0", Relation.SUBSET),
        (">=5.0.0,<5.1.0", ">=5.1.0", Relation.DISJOINT),
        (">=0.9.0,<1.0.0", ">=0.9.0,<1.0.0", Relation.EQUAL),
        ("", None, Relation.EQUAL),
        ("", ">=0.0.0", Relation.EQUAL),
        (">=1.0.0,<2.0.0", ">=1.5.0,<3.0.0", Relation.OVERLAP),
        ("*", ">=0.0", Relation.EQUAL),
        ("1.2", "==1.2.0", Relation.EQUAL),
        (">=1.2", ">=1.2.0", Relation.EQUAL),
        (">=1.2", ">1.1.999", Relation.SUBSET),
        ("<=1.2.3", "<1.2.4", Relation.EQUAL),
        (">1.2.3", ">=1.2.4", Relation.EQUAL),
        ("==1.2.3", ">=1.2.3,<=1.2.3", Relation.EQUAL),
        ("!=1.2.3", "", Relation.SUBSET),
        ("!=1.2.3", "==1.2.3", Relation.DISJOINT),
        ("!=1.2.3", ">=1.0.0", Relation.OVERLAP),
        # far beyond any sample a test could list
        (">=1000000.0.0", ">=999999.999999.999999", Relation.SUBSET),
        ("!=987654321.0.0", "", Relation.SUBSET),
        ("<123456789.0.0", ">=123456789.0.0", Relation.DISJOINT),
        (">=2.0.0,!=2.5.7,!=2.5.8", ">=2.0.0,!=2.5.7", Relation.SUBSET),
    ],
)
def test_relation_examples(a, b, expected):
    assert relation(a, b) is expected


def test_parse_shapes():
    assert ranges.parse(None) == Range.everything()
    assert ranges.parse("  ") == Range.everything()
    assert ranges.parse("*") == Range.everything()
    assert ranges.parse(">=1.2.3,<1.3,!=1.2.5") == Range.of([((1, 2, 3), (1, 2, 5)), ((1, 2, 6), (1, 3, 0))])
    assert ranges.parse("!=1.0.0") == Range.of([((0, 0, 0), (1, 0, 0)), ((1, 0, 1), None)])
    assert ranges.parse("0.9") == Range.of([((0, 9, 0), (0, 9, 1))])
    assert str(ranges.parse(">=0.9.0,<1.0.0")) == ">=0.9.0,<1.0.0"
    assert str(ranges.parse("")) == "any"
    assert str(ranges.parse("==1.0.0")) == "==1.0.0"
    assert str(spec_range(">=2.0.0,<1.0.0")) == "no release"


@pytest.mark.parametrize("text", [">=1.0.0,<0.5.0", ">=2.0.0,<1.0.0", "==1.0.0,!=1.0", ">1.0.0,<1.0.1", "1.0,2.0"])
def test_a_set_no_release_satisfies_is_a_grammar_error(text):
    assert spec_range(text).is_empty
    with pytest.raises(VersionSyntaxError, match="matches no Kamiwaza release"):
        ranges.parse(text)


def test_the_manifest_schema_refuses_an_unsatisfiable_range(tmp_path):
    from release import manifest

    data = {"name": "x", "version": "1.0.0", "source_type": "kamiwaza", "visibility": "public",
            "description": "d", "risk_tier": 0, "verified": False, "kamiwaza_version": ">=1.0.0,<0.5.0"}
    problems = manifest.schema_problems(data, tmp_path / "kamiwaza.json")
    assert [p.field for p in problems] == ["$.kamiwaza_version"]
    assert "matches no Kamiwaza release" in problems[0].message


def test_normal_form_merges_adjacent_and_overlapping_intervals():
    assert Range.of([((1, 0, 0), (2, 0, 0)), ((2, 0, 0), (3, 0, 0))]) == Range.of([((1, 0, 0), (3, 0, 0))])
    assert Range.of([((1, 0, 0), None), ((0, 5, 0), (1, 2, 0))]) == Range.of([((0, 5, 0), None)])
    assert Range.of([((1, 0, 0), (1, 0, 0))]).is_empty


@pytest.mark.parametrize("bad", ["bogus", ">=1", "=>1.0.0", ">=1.0.0-rc.1", "===1.0.0", 3, ">=v1.0.0", "~=1.2.3", ">= 1.0.0", ">=1.0.0,"])
def test_bad_input_is_a_syntax_error(bad):
    with pytest.raises(VersionSyntaxError):
        ranges.parse(bad)


@CHECK
@given(SPEC)
def test_membership_matches_the_clause_oracle(text):
    parsed = spec_range(text)
    assert frozenset(v for v in GRID if v in parsed) == grid_set(text)


@CHECK
@given(SPEC)
def test_parse_refuses_exactly_the_empty_sets(text):
    if grid_set(text):
        assert ranges.parse(text) == spec_range(text)
    else:
        with pytest.raises(VersionSyntaxError):
            ranges.parse(text)


@CHECK
@given(SPEC, SPEC)
def test_relation_matches_brute_force_oracle(a, b):
    assert relation(spec_range(a), spec_range(b)) is oracle_relation(grid_set(a), grid_set(b))


@CHECK
@given(SPEC, SPEC)
def test_relation_is_consistent(a, b):
    x, y = spec_range(a), spec_range(b)
    forward, backward = relation(x, y), relation(y, x)
    mirror = {Relation.SUBSET: Relation.SUPERSET, Relation.SUPERSET: Relation.SUBSET}
    assert backward is mirror.get(forward, forward)
    both_empty = x.is_empty and y.is_empty
    assert (forward is Relation.DISJOINT) == ((x & y).is_empty and not both_empty)
    assert (forward is Relation.EQUAL) == (x == y)


@CHECK
@given(SPEC, SPEC)
def test_set_laws(a, b):
    x, y = spec_range(a), spec_range(b)
    assert x.complement().complement() == x
    assert (x | y).complement() == x.complement() & y.complement()
    assert (x - y) | (x & y) == x
    assert ((x - y) & y).is_empty
