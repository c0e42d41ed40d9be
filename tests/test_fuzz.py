"""Hostile input through validate (the engine), sync-compose and build-registry, in process.

Hypothesis generates broken manifests and compose documents: wrong types, deep
nesting, huge numbers, odd unicode, alias bombs, duplicate keys, special files
and symlinks. For every input: no traceback (only HarnessError / problems), no
hang (each input gets 5 s, a hang detector, not a speed test), a refusal names
the file, and a refused build writes nothing. Over 500 inputs per run.

Compose's model is checked in process (release.compose_spec), so these inputs go
through it too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release import cli, engine, manifest, sources, versions

FIXTURE = Path(__file__).parent / "fixtures" / "monorepo" / "extensions" / "apps" / "kaizen"
KAIZEN = Path("extensions/apps/kaizen")
FILES = ("kamiwaza.json", "docker-compose.yml", "docker-compose.appgarden.yml", "assets/kaizen.svg")
PER_INPUT_SECONDS = 5.0
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large], database=None)


class Hang(BaseException):
    """One input took too long (BaseException: no `except Exception` in the harness may swallow it)."""


@contextlib.contextmanager
def time_bound(seconds: float = PER_INPUT_SECONDS):
    def on_alarm(signum, frame):
        raise Hang(f"one input took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory):
    """A one-extension monorepo, with no make variable inherited for the module."""
    root = tmp_path_factory.mktemp("fuzz") / "repo"
    shutil.copytree(FIXTURE, root / KAIZEN, ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("TYPE", "NAME", "SINCE", "STAGE", "CHECK", "DRY_RUN"):
            patch.delenv(variable, raising=False)
        yield root


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def restore(root: Path) -> None:
    folder = root / KAIZEN
    for name in FILES:
        _remove(folder / name)
        shutil.copyfile(FIXTURE / name, folder / name)
    _remove(root / "build")
    sources.clear_cache()


def snapshot(root: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = "special" if not path.is_dir() else "dir"
    return found


def run_cli(root: Path, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["--root", str(root), *args])
    return code, err.getvalue()


def check_all_entry_points(root: Path, *, must_refuse: bool) -> None:
    """validate, sync-compose, build-registry on the current tree: the properties every input keeps."""
    before = snapshot(root)
    with time_bound():
        sources.clear_cache()
        (result,) = engine.validate(root, env={})
        build_code, build_err = run_cli(root, "build-registry")  # before sync-compose, which may repair drift
        built = (root / "build").exists()
        sources.clear_cache()
        sync_code, sync_err = run_cli(root, "sync-compose")
    bugs = [p.message for r in result.failed for p in r.problems if "a bug:" in p.message]
    assert not bugs, bugs
    assert "Traceback" not in sync_err + build_err
    for rule in result.failed:
        for problem in rule.problems:
            assert problem.file is not None, rule.render()
            assert problem.field or problem.line or "folder" in problem.message or problem.message, rule.render()
    if must_refuse:
        assert not result.ok, "validate accepted a broken input"
    if result.ok:
        assert build_code == 0, build_err
        return
    assert build_code == 2, build_err
    assert any(name in build_err for name in ("kamiwaza.json", "docker-compose.yml", "docker-compose.appgarden.yml")), build_err
    assert not built, "a refused build wrote something"
    assert sync_code in (0, 2), sync_err
    if sync_code == 2:
        assert "error: " in sync_err and str(KAIZEN) in sync_err
        appgarden = str(KAIZEN / "docker-compose.appgarden.yml")
        assert snapshot(root).get(appgarden) == before.get(appgarden), "a refused sync wrote the App Garden file"


# --- manifests -------------------------------------------------------------------------------------

BASE_MANIFEST = json.loads((FIXTURE / "kamiwaza.json").read_text())

odd_text = st.text(st.characters(blacklist_categories=()), min_size=0, max_size=12)  # surrogates and controls included
huge_int = st.integers(min_value=10**40, max_value=10**400) | st.integers(max_value=-(10**40), min_value=-(10**400))
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    huge_int,
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


NULLABLE = {name for name, spec in manifest.schema()["properties"].items() if "null" in (spec.get("type") or ())}


@st.composite
def broken_manifests(draw) -> str:
    data = dict(BASE_MANIFEST)
    kind = draw(st.sampled_from(["wrong-type", "odd-name", "odd-version", "deep", "duplicate", "huge-number", "raw-cut", "not-object"]))
    if kind == "wrong-type":
        field = draw(st.sampled_from(["name", "version", "kamiwaza_version", "preview_image", "template_type", "env_defaults", "validation"]))
        # null is a valid value of the SDK's optional fields (Core reads it as unset), so not a wrong type there
        data[field] = draw(wrong_values.filter(lambda v: not (isinstance(v, dict) and field == "env_defaults") and not (v is None and field in NULLABLE)))
        if field in ("env_defaults", "validation") and isinstance(data[field], dict):
            data[field] = [data[field]]
        return json.dumps(data)  # NaN/Infinity come out as bare literals, which JSON does not have
    if kind == "odd-name":
        data["name"] = draw(odd_text.filter(lambda s: s != "kaizen"))
        return json.dumps(data, ensure_ascii=draw(st.booleans())) if _encodable(data) else json.dumps(data)
    if kind == "odd-version":
        data["version"] = draw(odd_text.filter(lambda s: not _valid_version(s)))
        return json.dumps(data)
    if kind == "deep":
        depth = draw(st.integers(min_value=65, max_value=20_000))
        return json.dumps(data)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    if kind == "duplicate":
        field = draw(st.sampled_from(sorted(data)))
        return json.dumps(data)[:-1] + f", {json.dumps(field)}: {json.dumps(data[field])}}}"
    if kind == "huge-number":
        digits = draw(st.integers(min_value=41, max_value=20_000))
        return json.dumps(data)[:-1] + ', "size": 1' + "0" * digits + "}"
    if kind == "raw-cut":
        text = json.dumps(data)
        return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    return json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=5), st.integers(), st.none())))


def _encodable(data) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _valid_version(text: str) -> bool:
    try:
        return versions.is_valid_version(text)
    except Exception:  # noqa: BLE001 - a generator filter, not the code under test
        return False


@settings(FUZZ, max_examples=220)
@given(text=broken_manifests())
def test_broken_manifests_are_refused_cleanly(fuzz_root, text):
    restore(fuzz_root)
    (fuzz_root / KAIZEN / "kamiwaza.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    check_all_entry_points(fuzz_root, must_refuse=True)


# --- compose documents -----------------------------------------------------------------------------

BASE_COMPOSE = (FIXTURE / "docker-compose.yml").read_text()


def alias_bomb(levels: int, width: int) -> str:
    lines = ["services:", "  backend:", "    build: ./backend", "    environment:", "      A: x", "x-bomb:", "  l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


yaml_scalars = st.one_of(st.none(), st.booleans(), huge_int.map(str), st.text(st.characters(blacklist_categories=("Cs",)), max_size=6).map(json.dumps))


@st.composite
def broken_compose(draw) -> tuple[str, bool]:
    """(text, must_refuse): the second is False where only Compose itself would refuse (it is off here)."""
    kind = draw(st.sampled_from(["wrong-type", "deep-flow", "deep-block", "alias-bomb", "duplicate", "tab", "huge-number", "surrogate", "top-level", "raw-cut", "multi-doc"]))
    if kind == "wrong-type":
        key = draw(st.sampled_from(["ports", "volumes", "build", "image", "deploy", "extra_hosts", "environment", "networks"]))
        value = draw(yaml_scalars | st.lists(yaml_scalars, max_size=2).map(lambda xs: "[" + ", ".join(str(x) for x in xs) + "]"))
        text = BASE_COMPOSE.replace("    build: ./backend\n", f"    build: ./backend\n    {key}: {value}\n", 1) if key not in ("build", "ports", "volumes") else BASE_COMPOSE.replace("    build: ./backend\n", f"    build: {value}\n", 1) if key == "build" else BASE_COMPOSE.replace("    ports:\n      - \"127.0.0.1:${BACKEND_PORT:-18100}:8000\"\n", f"    {key}: {value}\n", 1)
        return text, False
    if kind == "deep-flow":
        depth = draw(st.integers(min_value=65, max_value=20_000))
        return BASE_COMPOSE + "x-deep: " + "[" * depth + "]" * depth + "\n", True
    if kind == "deep-block":
        depth = draw(st.integers(min_value=64, max_value=400))
        return BASE_COMPOSE + "x-deep:\n" + "".join("  " * (level + 1) + f"k{level}:\n" for level in range(depth)), True
    if kind == "alias-bomb":
        return alias_bomb(draw(st.integers(min_value=6, max_value=12)), draw(st.integers(min_value=8, max_value=12))), True
    if kind == "duplicate":
        key = draw(st.sampled_from(["services", "x-healthcheck", "volumes"]))
        return BASE_COMPOSE + f"{key}:\n  again: 1\n", True
    if kind == "tab":
        return BASE_COMPOSE.replace("    build: ./backend\n", "\tbuild: ./backend\n", 1), True
    if kind == "huge-number":
        return BASE_COMPOSE + "x-size: 1" + "0" * draw(st.integers(min_value=41, max_value=20_000)) + "\n", True
    if kind == "surrogate":
        return BASE_COMPOSE + 'x-odd: "\\ud' + draw(st.sampled_from(["800", "bff", "c00", "fff"])) + '"\n', True
    if kind == "top-level":
        key = draw(st.sampled_from(["volumes", "networks", "services", "secrets"]))
        value = draw(st.sampled_from(["[a, b]", "5", '"text"', "[]"]))
        text = BASE_COMPOSE.replace("\nvolumes:\n  redis-data:\n", "\n") + f"{key}: {value}\n" if key != "services" else f"services: {value}\n"
        return text, key == "services"
    if kind == "multi-doc":
        return BASE_COMPOSE + "---\nservices: {}\n", True
    cut = draw(st.integers(min_value=0, max_value=len(BASE_COMPOSE) - 1))
    return BASE_COMPOSE[:cut] + draw(st.sampled_from(["[", "{", ": :", '"', "\t", "&a", "*b"])), True


@settings(FUZZ, max_examples=240)
@given(case=broken_compose())
def test_broken_compose_files_are_refused_cleanly(fuzz_root, case):
    text, must_refuse = case
    restore(fuzz_root)
    (fuzz_root / KAIZEN / "docker-compose.yml").write_text(text, encoding="utf-8", errors="surrogatepass")
    check_all_entry_points(fuzz_root, must_refuse=must_refuse)


# --- special files and symlinks -------------------------------------------------------------------


def make_special(path: Path, kind: str, outside: Path) -> socket.socket | None:
    _remove(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink-out":
        path.symlink_to(outside)
    elif kind == "symlink-loop":
        path.symlink_to(path.name + ".loop")
        (path.parent / (path.name + ".loop")).symlink_to(path.name)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dangling":
        path.symlink_to(path.name + ".nowhere")
    elif kind == "device":
        path.symlink_to("/dev/zero")  # outside the extension, and endless if it were read
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        return server
    return None


@settings(FUZZ, max_examples=60)
@given(file=st.sampled_from(FILES), kind=st.sampled_from(["fifo", "symlink-out", "symlink-loop", "directory", "dangling", "device", "socket"]))
def test_special_files_are_refused_and_never_opened(fuzz_root, tmp_path_factory, file, kind):
    restore(fuzz_root)
    outside = fuzz_root.parent / ("host-file" + Path(file).suffix)
    shutil.copyfile(FIXTURE / file, outside)  # a valid file: only where it lives is wrong
    folder = fuzz_root / KAIZEN
    server = make_special(folder / file, kind, outside)
    try:
        check_all_entry_points(fuzz_root, must_refuse=True)
    finally:
        if server is not None:
            server.close()
        _remove(folder / (file + ".loop"))
    assert not (fuzz_root / "build").exists()


def test_a_ten_megabyte_compose_file_is_refused_before_parsing(fuzz_root):
    restore(fuzz_root)
    (fuzz_root / KAIZEN / "docker-compose.yml").write_text(BASE_COMPOSE + "x-pad: " + json.dumps("x" * (10 << 20)) + "\n")
    check_all_entry_points(fuzz_root, must_refuse=True)
