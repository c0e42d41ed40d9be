"""`make bench`: the synthetic monorepo is a valid one, and the runner reports what it measured.

No test here asserts a time or a memory figure: speed is measured by `make bench`, never asserted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from release import bench, compose, extensions, manifest, merge, rules, sync
from release.errors import HarnessError

# --------------------------------------------------------------------------- the generator (pure)


def test_plans_mix_apps_tools_and_services():
    plans = bench.plans(40)
    assert Counter(p.type for p in plans) == {"app": 20, "tool": 12, "service": 8}
    apps = [p for p in plans if p.type == "app"]
    assert {len(p.built) + len(p.externals) for p in apps} == {2, 3, 4}
    assert any(p.externals for p in apps) and any(p.seed_mount for p in apps)
    assert all(len(p.built) == 1 for p in plans if p.type != "app")


def test_plans_are_deterministic_and_names_unique_and_allowed():
    plans = bench.plans(60)
    assert plans == bench.plans(60)
    assert len({p.name for p in plans}) == 60
    assert all(rules.name_problems(p.type, p.name) == [] for p in plans)


def test_manifests_pass_the_schema(tmp_path):
    for plan in bench.plans(20):
        data = bench.manifest(plan)
        assert manifest.schema_problems(data, tmp_path / "kamiwaza.json") == []
        assert data["template_type"] == plan.type and data["preview_image"] == f"assets/{plan.name}.svg"


def test_compose_files_are_compose_documents_with_every_service():
    for plan in bench.plans(10):
        document = compose.parse_yaml(bench.compose_text(plan))
        services = compose.services(document)
        assert list(services) == [*plan.built, *(e.name for e in plan.externals)]
        assert all("build" in services[name] for name in plan.built)
        assert all(services[e.name]["image"] == e.image for e in plan.externals)


def test_every_built_service_has_a_dockerfile():
    for plan in bench.plans(10):
        files = bench.extension_files(plan)
        assert all(f"{service}/Dockerfile" in files for service in plan.built)
        assert {extensions.MANIFEST, extensions.COMPOSE, f"assets/{plan.name}.svg"} <= set(files)


def test_merge_inputs_plan_without_failures():
    local = bench.local_entries(12)
    remote = bench.remote_entries(12, count=80)
    assert len(local) == 12 and len(remote) == 80
    result = merge.plan(remote, local)
    actions = Counter(d.action for d in result.decisions)
    assert result.ok
    assert actions[merge.Action.REPLACE] == 6 and actions[merge.Action.INSERT] == 6


# --------------------------------------------------------------------------- the monorepo on disk


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "repo"
    found = bench.write_monorepo(root, 10)
    assert len(found) == 10
    return root


def test_written_monorepo_has_app_garden_files_in_sync(synthetic):
    for extension in extensions.discover(synthetic):
        assert extension.appgarden_path.is_file()
        assert sync.check(extension).ok


def test_written_monorepo_passes_the_checks(synthetic, run_checks):
    result = run_checks(synthetic)
    assert result.returncode == 0, result.stdout[-3000:]
    summary = json.loads((synthetic / "build/reports/validate.json").read_text())
    assert len(summary["extensions"]) == 10 and summary["totals"] == {"passed": 10}


def test_written_monorepo_passes_sync_check_and_builds_a_registry(synthetic, run_cli, tmp_path):
    code, out, err = run_cli(synthetic, "sync-compose", "--check")
    assert code == 0, out + err
    code, out, err = run_cli(synthetic, "build-registry")
    assert code == 0, out + err
    assert len(json.loads((synthetic / "build/registry.json").read_text())["extensions"]) == 10


def test_a_bad_generated_extension_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "compose_text", lambda plan: "services: [not, a, mapping]\n")
    with pytest.raises(HarnessError):
        bench.write_monorepo(tmp_path / "repo", 2)


# --------------------------------------------------------------------------- reporting (pure)


def step(key: str = "validate") -> bench.Step:
    return bench.Step(key, f"make {key}", ("true",), bench.TARGET_RATIOS.get(key))


def measured(n: int, seconds: float, key: str = "validate", peak: float = 120.0) -> bench.Measurement:
    return bench.Measurement(n, step(key), (bench.Run(seconds, seconds * 1.5, 100.0, 0), bench.Run(seconds + 2, 1.0, peak, 0), bench.Run(seconds + 1, 1.0, 90.0, 0)))


def test_linear_fit_recovers_fixed_and_per_extension_cost():
    intercept, slope, worst = bench.linear_fit([(50, 1.5), (200, 3.0), (800, 9.0)])
    assert intercept == pytest.approx(1.0) and slope == pytest.approx(0.01) and worst == pytest.approx(0.0, abs=1e-9)
    assert bench.linear_fit([(200, 3.0)]) is None


def test_median_peak_and_target_verdict():
    m = measured(bench.TARGET_N, 1.0)
    assert m.median_s == 2.0 and m.peak_mb == 120.0 and m.median_cpu_s == 1.0
    assert m.ratio is None and m.target_met is None  # no floor measured: no ratio, no verdict
    m = replace(m, floor_s=1.0)
    assert m.ratio == 2.0 and m.target_met is False and m.target_text() == "<= 1.75x"  # judged at N=200 ...
    assert replace(measured(50, 1.0), floor_s=1.0).target_met is None  # ... and only there
    assert replace(measured(bench.TARGET_N, 1.0, "merge"), floor_s=1.0).target_met is None  # merge has no ratio target
    assert bench.Measurement(200, step(), status="skipped", note="why").target_met is None


def test_validate_memory_is_judged_at_n_800():
    light, heavy = measured(bench.MEMORY_TARGET_N, 1.0, peak=140.0), measured(bench.MEMORY_TARGET_N, 1.0, peak=151.0)
    assert (light.target_met, heavy.target_met) == (True, False) and light.target_text() == "< 150 MB"
    assert measured(bench.MEMORY_TARGET_N, 1.0, "sync-compose", peak=999.0).target_met is None


def test_floors_attach_to_measurements_of_the_same_size():
    floor_step = bench.floor_step("python3", Path("/r"))
    floors = [bench.Measurement(n, floor_step, (bench.Run(s, s, 10.0, 0),)) for n, s in ((50, 0.5), (200, 1.0))]
    attached = bench.with_floors([*floors, measured(50, 1.0), measured(200, 1.0), measured(800, 1.0)])
    assert [(m.n, m.step.key, m.ratio) for m in attached] == [
        (50, "parse-floor", 1.0), (200, "parse-floor", 1.0), (50, "validate", 4.0), (200, "validate", 2.0), (800, "validate", None),
    ]


def test_the_parse_floor_reads_every_manifest_and_compose_file(synthetic):
    import subprocess
    import sys

    out = subprocess.run(bench.floor_step(sys.executable, synthetic).argv, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "parsed 10 manifests and 20 compose files"


def test_document_and_tables_have_the_expected_keys():
    floor = bench.Measurement(200, bench.floor_step("python3", Path("/r")), (bench.Run(0.5, 0.5, 10.0, 0),))
    measurements = bench.with_floors([floor, measured(50, 1.0), measured(200, 2.0), measured(800, 6.0), measured(200, 0.5, "merge")])
    data = bench.document(measurements, sizes=[50, 200, 800], runs=3, remote_count=10_000, generate_s={50: 0.1})
    assert set(data) == {"machine", "sizes", "runs", "merge_inputs", "targets", "parse_floor_s", "parse_floor_cpu_s", "generate_s", "results", "growth"}
    assert data["parse_floor_s"] == {"200": 0.5}
    assert data["targets"]["ratio_to_parse_floor"] == {"validate": 1.75, "sync-compose": 1.0, "build-registry": 1.3, "merge": None}
    assert data["targets"]["memory"] == {"step": "validate", "n": 800, "peak_mb": 150.0}
    assert set(data["results"][1]) == {
        "n", "step", "command", "status", "note", "median_s", "ratio_to_floor", "cpu_ratio_to_floor", "runs_s", "median_cpu_s", "peak_mb",
        "target_ratio", "target_peak_mb", "target_met",
    }
    by_key = {(r["n"], r["step"]): r for r in data["results"]}
    assert by_key[(200, "validate")]["ratio_to_floor"] == 6.0 and by_key[(200, "validate")]["target_ratio"] == 1.75
    assert by_key[(800, "validate")]["target_peak_mb"] == 150.0 and by_key[(800, "validate")]["ratio_to_floor"] is None
    assert set(data["growth"]) == {"validate"}  # one size of merge and of the floor: nothing to fit
    assert set(data["growth"]["validate"]) == {"fixed_s", "per_extension_ms", "worst_fit_error"}
    rows = bench.result_rows(measurements)
    assert len(rows) == 5 and all(len(row) == len(bench.RESULT_HEADERS) for row in rows)
    assert [row[0] for row in bench.growth_rows(measurements)] == ["validate"]


def test_steps_cover_the_four_commands_and_skip_a_missing_merge(tmp_path):
    steps = bench.steps("python3", tmp_path, tmp_path / "r.json", tmp_path / "l.json", merge_available=False)
    assert [s.key for s in steps] == ["validate", "sync-compose", "build-registry", "merge"]
    assert steps[0].env == {"KAMIWAZA_ROOT": str(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"} and "-n" not in steps[0].argv
    merge_step = steps[-1]
    assert merge_step.skip and bench.measure(merge_step, 5, 3, tmp_path, {}, tmp_path / "log").status == "skipped"


def test_clean_environment_drops_harness_variables_and_allows_bytecode(tmp_path):
    env = bench.clean_environment({"TYPE": "app", "N": "5", "PYTEST_XDIST_WORKER": "gw0", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/h"}, pycache=tmp_path)
    assert env == {"HOME": "/h", "PYTHONPYCACHEPREFIX": str(tmp_path)}


# --------------------------------------------------------------------------- the runner, end to end (tiny N)


def test_bench_command_prints_a_table_and_writes_bench_json(tmp_path, run_cli):
    code, out, err = run_cli(tmp_path, "bench", "--sizes", "3", "--runs", "1", "--warmup", "0", "--remote-entries", "20")
    assert code == 0, out + err
    header = next(line for line in out.splitlines() if line.startswith("N "))
    assert header.split() == ["N", "step", "median", "s", "x", "floor", "runs", "s", "cpu", "s", "cpu", "x", "floor", "peak", "MB", "target", "result"]
    for key in ("parse-floor", "validate", "sync-compose", "build-registry", "merge"):
        assert any(line.split()[:2] == ["3", key] for line in out.splitlines()), out
    data = json.loads((tmp_path / bench.REPORT_FILE).read_text())
    assert data["sizes"] == [3] and data["runs"] == 1
    assert [(r["n"], r["step"], r["status"]) for r in data["results"]] == [
        (3, "parse-floor", "ok"), (3, "validate", "ok"), (3, "sync-compose", "ok"), (3, "build-registry", "ok"), (3, "merge", "ok"),
    ]
    assert data["parse_floor_s"]["3"] > 0  # the floor is measured in the same run ...
    assert all(r["ratio_to_floor"] > 0 and r["cpu_ratio_to_floor"] > 0 for r in data["results"])  # ... and every step is a ratio to it
    assert all(len(r["runs_s"]) == 1 and r["peak_mb"] > 0 and r["target_met"] is None for r in data["results"])


def test_bench_reads_n_and_rejects_bad_sizes(tmp_path, run_cli, monkeypatch):
    assert bench.DEFAULT_N == 200
    from release.commands import bench as command

    assert command.parse_sizes(None, "50") == [50]
    assert command.parse_sizes("50,200,800", "7") == [50, 200, 800]
    assert command.parse_sizes(None, None) == [200]
    monkeypatch.setenv("N", "zero")
    code, out, err = run_cli(tmp_path, "bench")
    assert code == 2 and 'N="zero"' in err and "Traceback" not in err


def test_make_validate_runs_the_arguments_the_bench_times():
    from release import checks_run

    line = next(line for line in (Path(__file__).resolve().parent.parent / "Makefile").read_text().splitlines() if line.startswith("validate:"))
    assert f"pytest checks/ {' '.join(checks_run.FAST_PYTEST_ARGS)} " in line
    assert all(f"{key}={value}" in line for key, value in checks_run.FAST_PYTEST_ENV.items())
