"""release/pipeline.py and `make ci-pipeline`: the runner with fake steps, then the whole pipeline for real."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from release import pipeline
from release.config import resolve
from release.errors import HarnessError


def _step(name: str, calls: list[str], result: int | Exception = 0) -> pipeline.Step:
    def run() -> int:
        calls.append(name)
        if isinstance(result, Exception):
            raise result
        return result

    return pipeline.Step(name, run)


def test_steps_run_in_order_and_all_pass():
    calls: list[str] = []
    results = pipeline.run_steps([_step(n, calls) for n in pipeline.STEP_NAMES], say=lambda line: None)
    assert calls == list(pipeline.STEP_NAMES)
    assert [r.status for r in results] == [pipeline.OK] * 6
    assert pipeline.exit_code(results) == 0


def test_the_pipeline_stops_at_the_first_failing_step():
    calls: list[str] = []
    steps = [_step("a", calls), _step("b", calls, 1), _step("c", calls)]
    results = pipeline.run_steps(steps, say=lambda line: None)
    assert calls == ["a", "b"]
    assert [(r.name, r.status) for r in results] == [("a", "ok"), ("b", "FAILED"), ("c", "not run")]
    assert pipeline.exit_code(results) == 1
    assert pipeline.rows(results)[2] == ("c", "not run", "-")


def test_a_harness_error_fails_its_step_with_its_exit_code(capsys: pytest.CaptureFixture[str]):
    calls: list[str] = []
    steps = [_step("a", calls, HarnessError("bad input", fix="fix it")), _step("b", calls)]
    results = pipeline.run_steps(steps, say=lambda line: None)
    assert calls == ["a"] and results[0].code == 2 and pipeline.exit_code(results) == 2
    assert "error: bad input. Fix: fix it." in capsys.readouterr().err


def test_the_default_steps_are_the_spec_order(sample_repo: Path):
    steps = pipeline.default_steps(resolve(root=sample_repo, environ={}))
    assert tuple(step.name for step in steps) == pipeline.STEP_NAMES == (
        "build-all", "test-all", "sync-compose", "validate", "build-registry", "package-registry",
    )


def test_a_missing_command_module_fails_its_step(sample_repo: Path):
    step = pipeline.command_step("later", "no_such_module", resolve(root=sample_repo, environ={}))
    with pytest.raises(HarnessError, match="not available"):
        step.run()


# ----------------------------------------------------------------------------- real engine


def _summary(out: str) -> dict[str, str]:
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.split("ci-pipeline summary", 1)[1].splitlines()]
    return {row[0]: row[1] for row in rows if row[0] in pipeline.STEP_NAMES}


def test_ci_pipeline_builds_tests_and_packages_the_samples(built_samples, sample_repo: Path, run_cli, monkeypatch: pytest.MonkeyPatch, build_lock):
    monkeypatch.setenv("TEST_PORTS", "ephemeral")
    (sample_repo / "extensions/tools/tool-text-utils/docker-compose.appgarden.yml").unlink()  # sync-compose writes it back
    with build_lock():
        code, out, err = run_cli(sample_repo, "ci-pipeline")
    assert code == 0, out + err
    assert _summary(out) == dict.fromkeys(pipeline.STEP_NAMES, "ok")
    packages = list((sample_repo / "dist").glob("kamiwaza-registry-*.tar.gz"))
    assert len(packages) == 1 and f"package dist/{packages[0].name}" in out
    with tarfile.open(packages[0]) as archive:
        assert any(name.endswith("registry.json") for name in archive.getnames())
    assert (sample_repo / "extensions/tools/tool-text-utils/docker-compose.appgarden.yml").is_file()
    assert (sample_repo / "build/reports/validate.xml").is_file()
    assert "3 passed" in out and "healthy: backend" in out


def test_ci_pipeline_stops_at_a_failed_build(sample_repo: Path, run_cli, unique_version, docker_client):
    unique_version(sample_repo, "tools/tool-text-utils")
    dockerfile = sample_repo / "extensions/tools/tool-text-utils/server/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("EXPOSE 8000", "RUN exit 9\nEXPOSE 8000"))
    # only the broken extension: the build fails fast and nothing else is retagged
    code, out, err = run_cli(sample_repo, "ci-pipeline", "--type", "tool", "--name", "tool-text-utils")
    assert code == 1
    assert _summary(out) == {"build-all": "FAILED", **dict.fromkeys(pipeline.STEP_NAMES[1:], "not run")}
    assert "stopped at build-all" in out
    assert not (sample_repo / "dist").exists()
