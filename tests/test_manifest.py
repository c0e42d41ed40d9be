import json

import pytest
from hypothesis import given, strategies as st

from release import manifest
from release.errors import HarnessError

VALID = {
    "name": "my-app",
    "version": "1.0.0",
    "source_type": "kamiwaza",
    "visibility": "public",
    "description": "An app.",
    "risk_tier": 0,
    "verified": False,
}


def problems_for(data, tmp_path):
    return manifest.schema_problems(data, tmp_path / "kamiwaza.json")


def fields(problems):
    return {p.field for p in problems}


def test_schema_file_is_a_valid_draft_2020_12_schema():
    assert manifest.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    manifest._validator()  # check_schema raises on an invalid schema


def test_minimal_manifest_is_valid(tmp_path):
    assert problems_for(VALID, tmp_path) == []


@pytest.mark.parametrize("missing", sorted(manifest.schema()["required"]))
def test_each_required_field_is_reported_by_json_path(tmp_path, missing):
    data = {k: v for k, v in VALID.items() if k != missing}
    problems = problems_for(data, tmp_path)
    assert fields(problems) == {f"$.{missing}"}
    assert problems[0].message == "required field is missing"
    assert problems[0].fix


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("version", "1.0", 'is not X.Y.Z'),
        ("kamiwaza_version", "=>0.9.0", "not a valid version specifier"),
        ("source_type", "github", "is not one of"),
        ("visibility", "everyone", "is not one of"),
        ("risk_tier", 3, "is not one of"),
        ("verified", "yes", "is not of type 'boolean'"),
        ("tags", ["a", "a"], "non-unique"),
        ("template_type", "plugin", "is not one of"),
    ],
)
def test_wrong_values_name_the_field_and_the_fix(tmp_path, field, value, says):
    problems = problems_for({**VALID, field: value}, tmp_path)
    assert fields(problems) == {f"$.{field}"}
    assert says in problems[0].message
    assert problems[0].fix == manifest.schema()["properties"][field]["x-fix"]


def test_nested_fields_get_nested_paths(tmp_path):
    problems = problems_for({**VALID, "env_defaults": {"PORT": 8000}, "required_env_vars": ["OK", "bad-name"]}, tmp_path)
    assert fields(problems) == {"$.env_defaults.PORT", "$.required_env_vars[1]"}


def test_unknown_keys_are_allowed_but_listed(tmp_path):
    data = {**VALID, "colour": "blue", "zzz": 1}
    assert problems_for(data, tmp_path) == []
    assert manifest.unknown_keys(data) == ["colour", "zzz"]


def test_load_reports_broken_json_with_line_and_column(tmp_path):
    path = tmp_path / "kamiwaza.json"
    path.write_text('{\n  "name": "x",\n  "version": "1.0.0"\n  "oops": 1\n}\n')
    with pytest.raises(HarnessError) as caught:
        manifest.load(path)
    text = caught.value.render()
    assert "kamiwaza.json:4:3: is not valid JSON" in text and "Fix:" in text


def test_load_reports_a_missing_file(tmp_path):
    with pytest.raises(HarnessError, match="file is missing"):
        manifest.load(tmp_path / "kamiwaza.json")


def test_load_returns_a_manifest_with_typed_accessors(tmp_path):
    path = tmp_path / "kamiwaza.json"
    path.write_text(json.dumps({**VALID, "kamiwaza_version": ">=0.9.0", "validation": {"allowed_bind_mounts": ["./data"]}}))
    loaded = manifest.load(path)
    assert (loaded.name, loaded.version, loaded.kamiwaza_version) == ("my-app", "1.0.0", ">=0.9.0")
    assert loaded.allowed_bind_mounts == ("./data",)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=6))
def test_any_json_object_gets_problems_not_exceptions(tmp_path_factory, data):
    problems = manifest.schema_problems(data, tmp_path_factory.getbasetemp() / "kamiwaza.json")
    assert all(p.field and p.field.startswith("$") for p in problems)
