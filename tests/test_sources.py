"""release/sources.py: safe reading, strict JSON and YAML, positions; every refusal both ways."""

from __future__ import annotations

import json
import os
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release import sources
from release.errors import HarnessError


@pytest.fixture(autouse=True)
def _fresh_cache():
    sources.clear_cache()
    yield
    sources.clear_cache()


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(HarnessError) as caught:
        call(*args, **kwargs)
    return caught.value.render()


# --- which files are read ---------------------------------------------------------------------------


def test_a_regular_file_inside_the_folder_is_read(tmp_path):
    (tmp_path / "kamiwaza.json").write_text('{"name": "x"}')
    assert sources.read_json(tmp_path / "kamiwaza.json") == {"name": "x"}


def test_a_symlink_inside_the_folder_is_followed(tmp_path):
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "kamiwaza.json").symlink_to("real.json")
    assert sources.read_json(tmp_path / "kamiwaza.json") == {}


def test_a_symlink_out_of_the_folder_is_refused_and_never_read(tmp_path):
    outside = tmp_path / "host-secret.json"
    outside.write_text('{"secret": 1}')
    folder = tmp_path / "extension"
    folder.mkdir()
    (folder / "kamiwaza.json").symlink_to(outside)
    assert "outside the extension folder" in refusal(sources.read_json, folder / "kamiwaza.json")


def test_a_symlink_loop_is_refused(tmp_path):
    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    assert "kamiwaza" not in refusal(sources.read_json, tmp_path / "a.json")


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "kamiwaza.json")  # opening it for reading would block forever
    assert "FIFO" in refusal(sources.read_json, tmp_path / "kamiwaza.json")


def test_a_socket_and_a_directory_are_refused(tmp_path):
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "docker-compose.yml"))
        assert "socket" in refusal(sources.load_yaml, tmp_path / "docker-compose.yml")
    finally:
        server.close()
    (tmp_path / "kamiwaza.json").mkdir()
    assert "directory" in refusal(sources.read_json, tmp_path / "kamiwaza.json")


def test_a_device_is_refused(tmp_path):
    assert "character device" in refusal(sources.read_bytes, "/dev/null", within="/dev")


def test_the_size_limit_is_settable(tmp_path, monkeypatch):
    path = tmp_path / "kamiwaza.json"
    path.write_text(json.dumps({"description": "x" * 2000}))
    assert sources.read_json(path)["description"]
    sources.clear_cache()
    monkeypatch.setenv(sources.FILE_LIMIT_VARIABLE, "1000")
    assert "over the 1000-byte limit" in refusal(sources.read_json, path)
    monkeypatch.setenv(sources.FILE_LIMIT_VARIABLE, "lots")
    assert sources.FILE_LIMIT_VARIABLE in refusal(sources.file_limit)


def test_a_file_is_parsed_once_while_it_is_unchanged(tmp_path):
    path = tmp_path / "kamiwaza.json"
    path.write_text('{"a": 1}')
    first = sources.load_json(path)
    assert sources.load_json(path) is first
    path.write_text('{"a": 22}')
    assert sources.load_json(path).data == {"a": 22}


# --- JSON ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says", "field"),
    [
        ('{"name": "a", "name": "b"}', "duplicate key", "$.name"),
        ('{"x": NaN}', "NaN is not a JSON number", "$.x"),
        ('{"x": [Infinity]}', "Infinity is not a JSON number", "$.x[0]"),
        ('{"x": -Infinity}', "Infinity is not a JSON number", "$.x"),
        ('{"x": 1' + "0" * 5000 + "}", "too many digits", "$.x"),
        ('{"x": 1e999}', "too large", "$.x"),
        ('{"name": "\\ud800"}', "lone UTF-16 surrogate", "$.name"),
        ('{"version": "1.0.0\\n"}', "control character", "$.version"),
        ('{"name": "a\\u0000b"}', "control character", "$.name"),
        ('{"preview_image": "a\\tb.png"}', "control character", "$.preview_image"),
    ],
)
def test_json_refusals_name_the_field_and_position(text, says, field):
    with pytest.raises(HarnessError) as caught:
        sources.parse_json(text, "kamiwaza.json")
    problem = caught.value.problems[0]
    assert says in problem.message and problem.field == field and problem.line == 1 and problem.column


@pytest.mark.parametrize(
    "text",
    ['{"name": "a", "other": "a"}', '{"x": 1.5}', '{"x": 123456789}', '{"name": "\\ud83d\\ude00"}', '{"description": "two\\nlines"}', '{"name": "caf\\u00e9"}'],
)
def test_json_that_is_plain_is_accepted(text):
    assert sources.parse_json(text).data == json.loads(text)


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deep_json_is_refused_before_parsing(depth):
    text = "[" * depth + "]" * depth
    with pytest.raises(HarnessError) as caught:
        sources.parse_json(text, "kamiwaza.json")
    assert "nests deeper than" in caught.value.render()


def test_json_within_the_depth_limit_is_accepted():
    depth = sources.DEFAULT_MAX_DEPTH
    assert sources.parse_json("[" * depth + "]" * depth).data


def test_json_syntax_errors_carry_line_and_column():
    with pytest.raises(HarnessError) as caught:
        sources.parse_json('{\n  "a": 1,,\n}', "kamiwaza.json")
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (2, 10)
    assert problem.render().startswith("kamiwaza.json:2:10: is not valid JSON")


def test_json_positions_of_fields():
    source = sources.parse_json('{\n  "a": [1,\n    {"b": 2}],\n  "c": "x"\n}')
    assert source.position("$.a") == (2, 3)
    assert source.position("$.a[1].b") == (3, 6)
    assert source.position("$.c") == (4, 3)
    assert source.position("$.missing") == (1, 1)


# --- YAML ------------------------------------------------------------------------------------------

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(7)
)


@pytest.mark.parametrize(
    ("text", "says", "line"),
    [
        ("services:\n  a: {image: x}\n  a: {image: y}\n", "duplicate key 'a'", 3),
        ("a: 1\nb:\n\tc: 2\n", "not valid YAML", 3),
        (ALIAS_BOMB, "expands to more than", None),
        ("a: &a x\nb: [" + ", ".join(["*a"] * (sources.MAX_ALIASES + 1)) + "]\n", "more than 200 aliases", 2),
        ("a: [" * 200 + "]" * 200, "nests deeper than", 1),
        ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 100)), "nests deeper than", None),
        ("a: &x [*x]\n", "has no complete anchor", 1),
        ("a: *nowhere\n", "has no complete anchor", 1),
        ("a: 1\n---\nb: 2\n", "more than one YAML document", 2),
        ("a: !!binary aGk=\n", "tag tag:yaml.org,2002:binary is not supported", 1),
        ("a: !custom x\n", "tag !custom is not supported", 1),
        ('a: "\\ud800"\n', "not valid YAML", 1),
        ("a: 1" + "0" * 5000 + "\n", "too many digits", 1),
        ("? [a, b]\n: 1\n", "mapping key is a mapping or a list", 1),
        ("a: {<<: [1]}\n", "merge key << needs a mapping", 1),
    ],
)
def test_yaml_refusals_carry_a_position(text, says, line):
    with pytest.raises(HarnessError) as caught:
        sources.parse_yaml(text, "docker-compose.yml")
    problem = caught.value.problems[0]
    assert says in problem.message, problem.render()
    assert problem.line is not None and (line is None or problem.line == line)
    assert problem.render().startswith(f"docker-compose.yml:{problem.line}:{problem.column}: ")


def test_yaml_reads_scalars_as_compose_does():
    text = "p: 2222:22\nq: 0o17\nr: yes\ns: 1e3\nt: !!str 12\nu: ~\nv: on\nw: 010\nx: true\ny: .inf\nz: 2024-01-01\n"
    data = sources.parse_yaml(text).data
    assert data == {"p": "2222:22", "q": 15, "r": "yes", "s": 1000.0, "t": "12", "u": None, "v": "on", "w": 8, "x": True, "y": float("inf"), "z": "2024-01-01"}


def test_yaml_anchors_and_merge_keys_expand():
    data = sources.parse_yaml("base: &b {image: x, restart: always}\nweb:\n  <<: *b\n  image: y\nlist: &l [1, 2]\nagain: *l\n").data
    assert data["web"] == {"image": "y", "restart": "always"} and data["again"] == [1, 2]


def test_yaml_positions_of_fields():
    source = sources.parse_yaml("services:\n  web:\n    image: x\n    ports:\n      - 80:80\n      - 81\n")
    assert source.position("services.web") == (2, 3)
    assert source.position("services.web.image") == (3, 5)
    assert source.position("services.web.ports[1]") == (6, 9)
    assert source.position("services.web.ports[7]") == (4, 5)  # nearest located ancestor


def test_an_empty_yaml_file_is_none():
    assert sources.parse_yaml("").data is None


# Every character but lone surrogates, NEL and the Unicode line separators included (the dumper
# double-quotes those, since a YAML 1.1 reader folds them raw into spaces).
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | _TEXT, lambda c: st.lists(c, max_size=3) | st.dictionaries(_TEXT, c, max_size=3), max_leaves=12))
def test_yaml_dumped_by_the_harness_reads_back_the_same(value):
    from release import compose

    text = compose.dump_yaml({"v": value})
    assert sources.parse_yaml(text).data == {"v": value}


@pytest.mark.parametrize("text", ["a\x85b", "a\u2028b", "x\u2029", "line\nbreak\u2028"])
def test_yaml_line_break_characters_survive_a_round_trip(text):
    from release import compose

    assert sources.parse_yaml(compose.dump_yaml({"v": text})).data == {"v": text}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"preview_image": "a\x85b.png"}', "$.preview_image"),  # a C1 control arrives raw, not escaped
        ('{"name": "x\\u0007"}', "$.name"),
        ('{"a\x9f": 1}', "$"),
        ('{"x": {"k\\n": 1}}', "$.x"),
        ('{"d": ["\\ud800"]}', "$.d[0]"),
    ],
)
def test_control_characters_and_lone_surrogates_are_refused_raw_or_escaped(text, field):
    with pytest.raises(HarnessError) as caught:
        sources.parse_json(text)
    assert caught.value.problems[0].field == field


def test_escaped_line_breaks_in_ordinary_values_are_fine():
    assert sources.parse_json('{"compose_yml": "services:\\n  a: {}\\n", "name": "ok"}').data["name"] == "ok"
