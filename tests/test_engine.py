"""release/engine.py: one rule engine; validate, build-registry and package-registry agree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from release import engine, extensions, sources
from release.errors import Problem
from release.extensions import Extension

KAIZEN = "extensions/apps/kaizen"


@pytest.fixture(autouse=True)
def _fresh_cache():
    sources.clear_cache()
    yield
    sources.clear_cache()


def results_of(root: Path) -> dict[str, engine.ExtensionResults]:
    return {result.extension.id: result for result in engine.validate(root, env={})}


def status(result: engine.ExtensionResults) -> dict[str, str]:
    return {f"{r.family}/{r.rule_id}": r.status for r in result.results}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_the_sample_monorepo_passes_every_rule(sample_repo):
    results = results_of(sample_repo)
    assert set(results) == {e.id for e in extensions.discover(sample_repo)} and len(results) == 4
    for result in results.values():
        assert result.ok, [r.render() for r in result.failed]
        assert {r.family for r in result.results} >= {"manifest", "compose", "appgarden"}


def test_one_wrong_field_fails_once_and_every_other_rule_points_at_it(sample_repo):
    path = sample_repo / KAIZEN / "kamiwaza.json"
    path.write_text(path.read_text().replace('"version": "1.0.1"', '"version": "1.0"'))
    kaizen = results_of(sample_repo)["app/kaizen"]
    assert [f"{r.family}/{r.rule_id}" for r in kaizen.failed] == ["manifest/schema"]
    problem = kaizen.failed[0].problems[0]
    assert problem.field == "$.version" and problem.line is not None and problem.column is not None
    skipped = [r for r in kaizen.results if r.status == engine.SKIPPED]
    assert len(skipped) == len(kaizen.results) - 1
    assert all(r.skipped_because == "kamiwaza.json failed to load, see test_manifest[app/kaizen]" for r in skipped)


def make_privileged(root: Path, value: str = '"true"') -> None:
    path = root / KAIZEN / "docker-compose.yml"
    path.write_text(path.read_text().replace("    build: ./backend\n", f"    build: ./backend\n    privileged: {value}\n", 1))


def test_host_privileges_are_reported_in_docker_compose_yml_with_a_position(sample_repo, run_cli):
    make_privileged(sample_repo)
    assert run_cli(sample_repo, "sync-compose")[0] == 0  # the App Garden file now carries it too
    kaizen = results_of(sample_repo)["app/kaizen"]
    assert [f"{r.family}/{r.rule_id}" for r in kaizen.failed] == ["compose/host-privileges"]
    problem = kaizen.failed[0].problems[0]
    assert Path(problem.file).name == "docker-compose.yml" and problem.field == "services.backend.privileged"
    assert problem.line == 10 and "make sync-compose" not in (problem.fix or "")
    garden = next(r for r in kaizen.results if r.rule_id == "no-host-privileges")
    assert garden.status == engine.SKIPPED and "see test_compose[app/kaizen]" in garden.skipped_because


@pytest.mark.parametrize("command", ["build-registry", "package-registry"])
def test_the_registry_and_the_tarball_refuse_what_validate_refuses(sample_repo, run_cli, command):
    make_privileged(sample_repo)
    assert run_cli(sample_repo, "sync-compose")[0] == 0
    before = tree(sample_repo)
    code, _, err = run_cli(sample_repo, command)
    assert code == 2
    assert "app/kaizen (compose/host-privileges)" in err and "docker-compose.yml:10:" in err and "Traceback" not in err
    assert tree(sample_repo) == before and not (sample_repo / "build").exists()


def test_package_registry_refuses_a_registry_built_before_the_extension_broke(sample_repo, run_cli):
    assert run_cli(sample_repo, "build-registry")[0] == 0
    make_privileged(sample_repo, "yes")
    os.utime(sample_repo / "build" / "registry.json")  # not stale: the old registry would be packaged
    code, _, err = run_cli(sample_repo, "package-registry")
    assert code == 2 and "compose/host-privileges" in err
    assert not (sample_repo / "dist").exists() or not any((sample_repo / "dist").glob("*.tar.gz"))


def test_a_preview_image_symlinked_to_a_host_file_is_refused_and_never_read(sample_repo, tmp_path, run_cli):
    host_file = tmp_path / "host-secret.svg"
    host_file.write_bytes(b"<svg>HOST SECRET</svg>")
    preview = sample_repo / KAIZEN / "assets" / "kaizen.svg"
    preview.unlink()
    preview.symlink_to(host_file)
    kaizen = results_of(sample_repo)["app/kaizen"]
    assert [f"{r.family}/{r.rule_id}" for r in kaizen.failed] == ["manifest/preview-image"]
    assert "outside the extension folder" in kaizen.failed[0].problems[0].message
    code, _, err = run_cli(sample_repo, "build-registry")
    assert code == 2 and "manifest/preview-image" in err
    assert not (sample_repo / "build").exists()


def test_a_fifo_compose_file_fails_its_family_and_never_blocks(sample_repo, run_cli):
    compose_file = sample_repo / KAIZEN / "docker-compose.yml"
    compose_file.unlink()
    os.mkfifo(compose_file)
    kaizen = results_of(sample_repo)["app/kaizen"]
    assert [f"{r.family}/{r.rule_id}" for r in kaizen.failed] == ["compose/loads"]
    assert "FIFO" in kaizen.failed[0].problems[0].message
    assert all("docker-compose.yml failed to load" in r.skipped_because for r in kaizen.results if r.family == "appgarden" and r.status == engine.SKIPPED)
    code, _, err = run_cli(sample_repo, "sync-compose")
    assert code == 2 and "FIFO" in err


def test_a_rule_is_one_line_and_its_problems_get_positions(sample_repo):
    def no_redis(inputs: engine.Inputs) -> list[Problem]:
        document = inputs.compose_or_skip()
        return [Problem("redis is not welcome", file=inputs.extension.compose_path, field=f"services.{name}", fix="remove it") for name in document["services"] if name == "redis"]

    repo = engine.Repo(sample_repo, {}, rules_=(*engine.RULES, engine.Rule("compose", "no-redis", "no redis service", no_redis)))
    kaizen = next(e for e in repo.extensions if e.id == "app/kaizen")
    result = repo.results(kaizen)
    failed = result.failed
    assert [r.rule_id for r in failed] == ["no-redis"] and failed[0].problems[0].line is not None


def test_a_bug_in_a_rule_is_a_failed_result_not_a_traceback(sample_repo):
    def broken(inputs: engine.Inputs) -> list[Problem]:
        raise KeyError("oops")

    repo = engine.Repo(sample_repo, {}, rules_=(engine.Rule("manifest", "broken", "always crashes", broken),))
    result = repo.run()[0]
    assert result.failed[0].rule_id == "broken" and "a bug: KeyError" in result.failed[0].problems[0].message


def test_every_rule_belongs_to_a_family_and_ids_are_unique_within_it():
    keys = [(rule.family, rule.id) for rule in engine.RULES]
    assert len(keys) == len(set(keys))
    assert {family for family, _ in keys} <= set(engine.FAMILY)


def test_the_refusal_lists_every_failing_rule():
    extension = Extension("app", "x", Path("/nowhere/x"))
    failing = engine.ExtensionResults(extension, (engine.RuleResult("compose", "host-privileges", engine.FAILED, (Problem("privileged", file="c.yml", line=3, column=5),)),))
    passing = engine.ExtensionResults(Extension("app", "y", Path("/nowhere/y")), ())
    error = engine.refusal([failing, passing])
    assert error is not None and "app/x (compose/host-privileges)" in error.render() and "c.yml:3:5:" in error.render()
    assert engine.refusal([passing]) is None
    assert json.dumps([p.message for p in error.problems])
