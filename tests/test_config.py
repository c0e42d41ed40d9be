import pytest

from release import config
from release.errors import HarnessError


def test_defaults(tmp_path):
    settings = config.resolve(root=tmp_path, environ={})
    assert (settings.stage, settings.dry_run, settings.extension_type) == ("dev", False, None)


def test_flags_override_environment_which_overrides_dotenv(tmp_path):
    (tmp_path / ".env").write_text("STAGE=prod\nAWS_PROFILE_DEV='dev-profile'\n# comment\nexport FORCE=1\n")
    from_file = config.resolve(root=tmp_path, environ={})
    assert (from_file.stage, from_file.force, from_file.get("AWS_PROFILE_DEV")) == ("prod", True, "dev-profile")
    from_env = config.resolve(root=tmp_path, environ={"STAGE": "stage"})
    assert from_env.stage == "stage"
    from_flag = config.resolve({"STAGE": "dev", "DRY_RUN": True}, root=tmp_path, environ={"STAGE": "stage"})
    assert (from_flag.stage, from_flag.dry_run) == ("dev", True)


def test_unknown_stage_lists_the_valid_ones(tmp_path):
    with pytest.raises(HarnessError) as caught:
        config.resolve(root=tmp_path, environ={"STAGE": "qa"})
    assert "dev, stage, prod" in caught.value.render()


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_flags_must_be_yes_or_no(tmp_path, value):
    with pytest.raises(HarnessError, match="DRY_RUN"):
        config.resolve(root=tmp_path, environ={"DRY_RUN": value})


def test_broken_dotenv_line_names_the_line(tmp_path):
    (tmp_path / ".env").write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(HarnessError) as caught:
        config.resolve(root=tmp_path, environ={})
    assert "line 2" in caught.value.render()


def test_seconds(tmp_path):
    assert config.parse_seconds("LOCK_TIMEOUT", "2.5") == 2.5
    assert config.parse_seconds("LOCK_TIMEOUT", None, default=0) == 0
    with pytest.raises(HarnessError, match="LOCK_TIMEOUT"):
        config.parse_seconds("LOCK_TIMEOUT", "-1")


def test_empty_environment_values_do_not_hide_dotenv(tmp_path):
    (tmp_path / ".env").write_text("STAGE=stage\nLOCK_TIMEOUT=30\n")
    settings = config.resolve(root=tmp_path, environ={"STAGE": "", "LOCK_TIMEOUT": ""})
    assert (settings.stage, settings.get("LOCK_TIMEOUT")) == ("stage", "30")


# ----------------------------------------------------------------------------- root discovery and folder defaults

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.conftest import REPO_ROOT, copy_env  # noqa: E402


def _monorepo(tmp_path: Path, marker: str = "makefile") -> Path:
    root = tmp_path / "mono"
    (root / "extensions/apps/my-app/backend/src").mkdir(parents=True)
    (root / "extensions/tools/tool-x").mkdir(parents=True)
    if marker == "makefile":
        (root / "Makefile").write_text("RELEASE = python3 -m release\nbuild: ; $(RELEASE) build\n")
    elif marker == "file":
        (root / config.ROOT_MARKER).write_text("")
    return root


@pytest.mark.parametrize("marker", ["makefile", "file"])
def test_the_root_is_found_from_any_folder_inside_it(tmp_path, marker):
    root = _monorepo(tmp_path, marker)
    for folder in (root, root / "extensions", root / "extensions/apps/my-app/backend/src"):
        assert config.find_root(folder) == root.resolve()
        assert config.resolve(environ={}, cwd=folder).root == root.resolve()


def test_a_folder_with_extensions_but_no_harness_is_not_a_root(tmp_path):
    root = _monorepo(tmp_path, marker="none")
    (root / "Makefile").write_text("all: ; echo unrelated\n")
    assert config.find_root(root / "extensions/apps/my-app") is None
    assert config.resolve(environ={}, cwd=root / "extensions").root == (root / "extensions").resolve()  # as before: the current folder


def test_root_flag_and_variable_still_win(tmp_path):
    root = _monorepo(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    inside = root / "extensions/apps/my-app"
    assert config.resolve(environ={config.ROOT_VARIABLE: str(other)}, cwd=inside).root == other.resolve()
    assert config.resolve(root=other, environ={config.ROOT_VARIABLE: str(root)}, cwd=inside).root == other.resolve()


def test_inside_an_extension_type_and_name_default_to_it(tmp_path):
    root = _monorepo(tmp_path)
    deep = root / "extensions/apps/my-app/backend/src"
    settings = config.resolve(environ={}, cwd=deep, folder_defaults=True)
    assert (settings.extension_type, settings.extension_name, settings.from_folder) == ("app", "my-app", True)
    given = config.resolve({"NAME": "tool-x"}, environ={}, cwd=deep, folder_defaults=True)
    assert (given.extension_type, given.extension_name, given.from_folder) == (None, "tool-x", False)
    other_type = config.resolve(environ={"TYPE": "tool"}, cwd=deep, folder_defaults=True)
    assert (other_type.extension_type, other_type.extension_name) == ("tool", None)
    unscoped = config.resolve(environ={}, cwd=deep)
    assert (unscoped.extension_type, unscoped.extension_name) == (None, None)
    assert config.extension_at(root, root / "extensions/apps") is None and config.extension_at(root, tmp_path) is None


def test_the_makefile_exports_exactly_the_known_variables():
    makefile = (REPO_ROOT / "Makefile").read_text()
    exported = re.search(r"^export ((?:.*\\\n)*.*)$", makefile, re.M).group(1).replace("\\\n", " ").split()
    assert tuple(exported) == config.MAKE_VARIABLES


@pytest.mark.parametrize(
    ("makeflags", "wanted"),
    [(" -- type=app", ["TYPE=app"]), ("s -- name=my\\ app Type=tool", ["NAME=my app", "TYPE=tool"]), ("s -- TYPE=app", []), ("", []), (" -- colour=red", [])],
)
def test_lower_case_make_variables_are_caught(makeflags, wanted):
    problems = config.misspelled_variables(makeflags, {})
    assert [re.search(r"did you mean (\S+=.*?)\?", p.message).group(1) for p in problems] == wanted


def test_a_lower_case_variable_through_make_says_did_you_mean(harness_copy):
    result = subprocess.run(["make", "--no-print-directory", "list", "type=app"], cwd=harness_copy, env=copy_env(harness_copy), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "did you mean TYPE=app?" in result.stderr and "Traceback" not in result.stderr
    fine = subprocess.run(["make", "--no-print-directory", "list", "TYPE=app"], cwd=harness_copy, env=copy_env(harness_copy), capture_output=True, text=True, timeout=120)
    assert fine.returncode == 0 and fine.stdout.split() == ["app/kaizen", "extensions/apps/kaizen"], fine.stderr


def test_commands_from_inside_an_extension_find_the_root_and_default_to_it(harness_copy, tmp_path):
    folder = harness_copy / "extensions/tools/tool-text-utils/server"
    no_engine = copy_env(harness_copy, DOCKER_HOST=f"unix://{tmp_path}/none.sock")

    def release(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "release", *args], cwd=folder, env=no_engine, capture_output=True, text=True, timeout=120)

    listed = release("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["tool/tool-text-utils\textensions/tools/tool-text-utils"]
    assert "TYPE=tool NAME=tool-text-utils: the extension of the current folder" in listed.stderr
    everything = release("build-registry")  # not an extension-scoped command: the whole root
    assert everything.returncode == 0, everything.stderr
    assert (harness_copy / "build/registry.json").is_file()
    dry = release("push", "--stage", "prod", "--dry-run")
    assert dry.returncode == 0 and "would push kamiwazaai/tool-text-utils-mcp:1.2.0" in dry.stdout, dry.stderr
