import json
import re

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


# The SDK's KamiwazaMetadata, field by field: a value it accepts and one it refuses.
ACCEPTED_VALUES = [
    ("name", "tool-x"),
    ("version", "1.0.0-rc.1+build.5"),
    ("source_type", "public"),
    ("source_type", "user_repo"),
    ("visibility", "team"),
    ("visibility", "private"),
    ("risk_tier", 2),
    ("verified", True),
    ("tags", ["a", "a", ""]),
    ("tags", None),
    ("env_defaults", {"KAMIWAZA_URL": "http://localhost", "any-key": ""}),
    ("required_env_vars", ["API_KEY"]),
    ("optional_env_vars", {"LOG_LEVEL": "Log level (debug, info)"}),
    ("optional_env_vars", ["LOG_LEVEL"]),
    ("preview_image", "images/x.png"),
    ("kamiwaza_version", None),
    ("kamiwaza_version", "*"),
    ("kamiwaza_version", "0.9"),
    ("kamiwaza_version", ">=0.9,<1.0.0"),
    ("kz_ext_version", ">=0.5.0,<1.0.0"),
    ("kz_ext_version", "~=0.5"),
    ("category", "tools"),
    ("preferred_model_type", "chat"),
    ("strip_path_prefix", False),
    ("image_basename", ""),
    ("template_version", "2"),
    ("template_shape", "service"),
    ("template_file_hashes", {"app/main.py": "sha256:00"}),
    ("services", {"web": {"healthCheck": {"httpGet": {"port": 8080}}}}),
    ("some_future_key", [1, {"x": None}]),
]


@pytest.mark.parametrize(("field", "value"), ACCEPTED_VALUES, ids=[f"{f}={v!r}" for f, v in ACCEPTED_VALUES])
def test_values_the_sdk_accepts_pass(tmp_path, field, value):
    assert problems_for({**VALID, field: value}, tmp_path) == []


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", "", "should be non-empty|does not match"),
        ("name", 5, "is not of type"),
        ("version", "1.0", "not a SemVer"),
        ("version", "1.0.0\n", "not a SemVer"),
        ("version", "v1.0.0", '"v" prefix'),
        ("version", "1.0.0-alpha.01", "not a SemVer"),
        ("source_type", "github", "is not one of"),
        ("visibility", "everyone", "is not one of"),
        ("description", "", "should be non-empty"),
        ("description", 1, "is not of type"),
        ("risk_tier", 3, "is not one of"),
        ("risk_tier", "0", "is not of type|is not one of"),
        ("verified", "yes", "is not of type 'boolean'"),
        ("tags", "a,b", "is not of type"),
        ("env_defaults", ["A=1"], "is not of type"),
        ("required_env_vars", "API_KEY", "is not of type"),
        ("preview_image", 3, "is not of type"),
        ("kamiwaza_version", "=>0.9.0", "unknown operator"),
        ("kamiwaza_version", "~=0.9.0", '"~="'),
        ("kamiwaza_version", ">= 0.9.0", "space inside"),
        ("kamiwaza_version", ">=0.9.0,", "empty clause"),
        ("kamiwaza_version", ">=1.0.0,<0.5.0", "matches no Kamiwaza release"),
        ("kamiwaza_version", 0.9, "is not of type"),
        ("kz_ext_version", "later", "kz-ext CLI"),
        ("kz_ext_version", 1, "kz-ext CLI|is not of type"),
        ("category", ["tools"], "is not of type"),
        ("preferred_model_type", 1, "is not of type"),
        ("strip_path_prefix", "true", "is not of type"),
        ("template_version", 2, "is not of type"),
        ("template_shape", "plugin", "is not one of"),
        ("template_file_hashes", {"a": 1}, "is not of type"),
        ("template_type", "plugin", "is not one of"),
    ],
)
def test_wrong_values_name_the_field_and_the_fix(tmp_path, field, value, says):
    problems = problems_for({**VALID, field: value}, tmp_path)
    assert {re.match(r"\$\.[a-z_]+", p.field).group() for p in problems} == {f"$.{field}"}  # the field or a path inside it
    assert re.search(says, problems[0].message), problems[0].message
    assert problems[0].fix == manifest.schema()["properties"][field]["x-fix"]


def test_required_fields_are_the_sdks():
    assert set(manifest.schema()["required"]) == {"name", "version", "source_type", "visibility", "description", "risk_tier", "verified"}


def test_a_real_shaped_manifest_passes(tmp_path):
    real = {
        "name": "mcp-weather",
        "version": "1.4.0",
        "source_type": "kamiwaza",
        "visibility": "public",
        "description": "Weather lookups for agents.",
        "risk_tier": 1,
        "verified": False,
        "template_type": "tool",
        "template_shape": "tool",
        "template_version": "1.0.0",
        "kamiwaza_version": ">=0.9",
        "kz_ext_version": ">=0.3.0",
        "image": "kamiwazaai/mcp-weather:1.4.0",
        "env_defaults": {"KAMIWAZA_URL": "https://localhost", "MCP_PORT": "8000"},
        "required_env_vars": ["WEATHER_API_KEY"],
        "optional_env_vars": {"UNITS": "metric or imperial", "CACHE_TTL": "seconds to cache a lookup"},
        "strip_path_prefix": True,
        "preferred_model_type": "chat",
        "tags": ["mcp", "weather"],
        "capabilities": {"tools": ["forecast"]},
    }
    path = tmp_path / "kamiwaza.json"
    path.write_text(json.dumps(real, indent=4))
    assert manifest.load(path).data == real


def test_nested_fields_get_nested_paths(tmp_path):
    problems = problems_for({**VALID, "env_defaults": {"PORT": 8000}, "required_env_vars": ["OK", 5]}, tmp_path)
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
