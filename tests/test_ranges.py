"""release.ranges: the exact kamiwaza_version algebra."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from release import ranges
from release.ranges import Range, Relation, relation
from release.versions import ALLOWED_OPERATORS, VersionSyntaxError

# Specifier versions use components 0..3; the oracle grid 0..4. That grid is exact,
# not a sample: every range is a union of [low, high) intervals whose bounds are a
# clause version v, succ(v) = X.Y.(Z+1), X.(Y+1).0 (from ~=) or 0.0.0, all with
# components <= 4. So is every bound of an intersection or difference, and a
# non-empty [low, high) contains its own `low`: a grid point.
GRID = [tuple(v) for v in itertools.product(range(5), repeat=3)]
VERSION = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).map(lambda v: ".".join(map(str, v)))
CLAUSE = st.tuples(st.sampled_from(ALLOWED_OPERATORS), VERSION).map(lambda c: f"{c[0]}{c[1]}")
SPEC = st.lists(CLAUSE, max_size=3).map(",".join)
CHECK = settings(max_examples=150, deadline=None)


def grid_set(text: str) -> frozenset:
    """The oracle: which grid releases packaging says the specifier matches."""
    spec = SpecifierSet(text)
    return frozenset(v for v in GRID if spec.contains(Version(".".join(map(str, v)))))


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
        ("~=1.2.3", ">=1.2.3,<1.3.0", Relation.EQUAL),
        ("~=1.2.3", ">=1.2.0,<1.3.0", Relation.SUBSET),
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
    assert ranges.parse("~=1.2.3,!=1.2.5") == Range.of([((1, 2, 3), (1, 2, 5)), ((1, 2, 6), (1, 3, 0))])
    assert ranges.parse("!=1.0.0") == Range.of([((0, 0, 0), (1, 0, 0)), ((1, 0, 1), None)])
    assert ranges.parse(">=2.0.0,<1.0.0").is_empty
    assert str(ranges.parse(">=0.9.0,<1.0.0")) == ">=0.9.0,<1.0.0"
    assert str(ranges.parse("")) == "any"
    assert str(ranges.parse("==1.0.0")) == "==1.0.0"
    assert str(ranges.parse(">=2.0.0,<1.0.0")) == "no release"


def test_normal_form_merges_adjacent_and_overlapping_intervals():
    assert Range.of([((1, 0, 0), (2, 0, 0)), ((2, 0, 0), (3, 0, 0))]) == Range.of([((1, 0, 0), (3, 0, 0))])
    assert Range.of([((1, 0, 0), None), ((0, 5, 0), (1, 2, 0))]) == Range.of([((0, 5, 0), None)])
    assert Range.of([((1, 0, 0), (1, 0, 0))]).is_empty


@pytest.mark.parametrize("bad", ["bogus", ">=1.0", "=>1.0.0", ">=1.0.0-rc.1", "===1.0.0", 3, ">=v1.0.0"])
def test_bad_input_is_a_syntax_error(bad):
    with pytest.raises(VersionSyntaxError):
        ranges.parse(bad)


@CHECK
@given(SPEC)
def test_membership_matches_packaging_on_releases(text):
    parsed = ranges.parse(text)
    assert frozenset(v for v in GRID if v in parsed) == grid_set(text)


@CHECK
@given(SPEC, SPEC)
def test_relation_matches_brute_force_oracle(a, b):
    assert relation(a, b) is oracle_relation(grid_set(a), grid_set(b))


@CHECK
@given(SPEC, SPEC)
def test_relation_is_consistent(a, b):
    forward, backward = relation(a, b), relation(b, a)
    mirror = {Relation.SUBSET: Relation.SUPERSET, Relation.SUPERSET: Relation.SUBSET}
    assert backward is mirror.get(forward, forward)
    both_empty = ranges.parse(a).is_empty and ranges.parse(b).is_empty
    assert (forward is Relation.DISJOINT) == ((ranges.parse(a) & ranges.parse(b)).is_empty and not both_empty)
    assert (forward is Relation.EQUAL) == (ranges.parse(a) == ranges.parse(b))


@CHECK
@given(SPEC, SPEC)
def test_set_laws(a, b):
    x, y = ranges.parse(a), ranges.parse(b)
    assert x.complement().complement() == x
    assert (x | y).complement() == x.complement() & y.complement()
    assert (x - y) | (x & y) == x
    assert ((x - y) & y).is_empty


def test_pre_releases_are_outside_the_algebra():
    # packaging excludes pre-releases by default; the algebra only holds X.Y.Z, so both agree
    # on every release and the question "does <2.0.0 hold 2.0.0rc1" never arises.
    assert not SpecifierSet("<2.0.0").contains(Version("2.0.0rc1"))
    assert (1, 9, 9) in ranges.parse("<2.0.0")
