import pytest

from release import fileio


def test_canonical_json_sorts_keys_indents_and_ends_with_a_newline():
    assert fileio.canonical_json({"b": [1, {"d": 1, "c": "é"}], "a": None}) == '{\n  "a": null,\n  "b": [\n    1,\n    {\n      "c": "é",\n      "d": 1\n    }\n  ]\n}\n'.encode()


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        fileio.canonical_json({"x": float("nan")})


def test_write_atomically_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")
    fileio.write_atomically(target, "new\n")
    fileio.write_atomically(target, b"bytes\n")
    assert target.read_bytes() == b"bytes\n"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        fileio.write_atomically(target, 42)  # not bytes or text
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]
