"""The README's promises stay true: the two commands, .ci/run, and the targets table."""

import re

from release import cli
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
CI_RUN = (REPO_ROOT / ".ci" / "run").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def fresh_machine_commands():
    block = README.split("## On a fresh machine", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_two_fresh_machine_commands_the_main_job_and_the_tests():
    main_job, tests = fresh_machine_commands()
    assert main_job == "make bootstrap && make ci-pipeline"
    assert tests.startswith("make bootstrap && ")


def test_ci_runs_the_readme_test_command_exactly_after_the_bootstrap():
    test_command = fresh_machine_commands()[1].removeprefix("make bootstrap && ")
    lines = [line.strip() for line in CI_RUN.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "make bootstrap" in lines and test_command in lines
    assert lines.index("make bootstrap") < lines.index(test_command)
    assert "export KAMIWAZA_REQUIRE_INFRA=1" in lines


def test_every_make_target_is_in_the_makefile_and_the_readme():
    for usage in cli.usage_lines():
        target = usage.split()[1]
        assert re.search(rf"^{re.escape(target)}:", MAKEFILE, re.MULTILINE), target
        assert f"`{usage.split('  - ')[0].replace('|', chr(92) + '|')}`" in README, usage
