"""release/cli.py: the parser imports only the chosen command's module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from release import cli

HARNESS_ROOT = cli.__file__.rsplit("/release/", 1)[0]


@pytest.mark.parametrize(
    ("argv", "chosen"),
    [
        (["bench", "--sizes", "50"], "bench"),
        (["--root", "bench", "sync-compose", "--check"], "sync-compose"),  # a root folder named like a command
        (["--root=/x", "build-registry"], "build-registry"),
        (["bogus"], None),
        ([], None),
    ],
)
def test_the_chosen_command_is_the_first_command_word_after_the_root(argv, chosen):
    assert cli._chosen_command(argv) == chosen


def test_only_the_chosen_command_gets_its_own_arguments():
    args = cli.build_parser(["bench", "--sizes", "50,200"]).parse_args(["bench", "--sizes", "50,200"])
    assert args.command == "bench" and args.sizes == "50,200"
    with pytest.raises(SystemExit):  # another command's option is not known to this one
        cli.build_parser(["list", "--sizes", "5"]).parse_args(["list", "--sizes", "5"])


def test_a_run_imports_no_other_command_module():
    code = (
        "import sys; from release import cli; cli.build_parser(['list']);"
        "print(sorted(m for m in sys.modules if m.startswith('release.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HARNESS_ROOT).stdout
    assert out.strip() == "['release.commands.list_extensions']"


def test_command_help_still_shows_the_commands_own_options():
    out = subprocess.run([sys.executable, "-m", "release", "bench", "--help"], capture_output=True, text=True, check=True, cwd=HARNESS_ROOT).stdout
    assert "--sizes" in out and "--runs" in out
