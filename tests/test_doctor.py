"""release/doctor.py and `make doctor`: each check alone, then the whole screen on a good and a broken setup."""

from __future__ import annotations

import re
import subprocess

import pytest

from release import config, doctor, s3
from release.doctor import Check
from tests.plugins.docker_engine import _start_registry
from tests.plugins.infra import stop_process


def settings(tmp_path, **env) -> config.Settings:
    return config.resolve({}, root=tmp_path, environ=env)


# --------------------------------------------------------------------------- pure


def test_check_lines_and_exit_code():
    good = Check("Docker engine", True, "Docker 27 answers", "never shown")
    bad = Check("bucket dev", False, 'bucket "x" does not exist', "create the bucket")
    optional = Check("settings stage", None, "not configured", "set it", required=False)
    assert good.line() == "ok    Docker engine            Docker 27 answers"
    assert bad.line() == 'FAIL  bucket dev               bucket "x" does not exist -> fix: create the bucket'
    assert optional.line().startswith("skip  settings stage") and optional.line().endswith("-> fix: set it")
    assert doctor.exit_code([good, optional]) == 0
    assert doctor.exit_code([good, bad]) == 1
    assert doctor.exit_code([Check("x", False, "optional part", required=False)]) == 0


def test_base_image_refs_follow_debian_suite(tmp_path):
    assert doctor.base_image_refs(settings(tmp_path)) == ("kamiwaza-base/python:bookworm", "redis:7-bookworm")
    assert doctor.base_image_refs(settings(tmp_path, DEBIAN_SUITE="trixie")) == ("kamiwaza-base/python:trixie", "redis:7-trixie")


@pytest.mark.parametrize(("code", "stdout", "ok"), [(0, "2.40.3\n", True), (0, "v2.1.0\n", True), (0, "1.29.2\n", False), (1, "", False)])
def test_compose_v2_reads_the_version(code, stdout, ok):
    def fake_run(command, **kwargs):
        assert command[1:] == ["compose", "version", "--short"]
        return subprocess.CompletedProcess(command, code, stdout, "docker: 'compose' is not a docker command." if code else "")

    check = doctor.compose_v2(run=fake_run)
    assert check.ok is ok
    assert ok or "make bootstrap" in check.fix


def test_stage_settings_required_for_the_selected_stage_only(tmp_path):
    chosen = settings(tmp_path, STAGE="prod")
    check, target = doctor.stage_settings(chosen, "prod")
    assert check.ok is False and check.required and target is None and "KAMIWAZA_REGISTRY_BUCKET_PROD" in check.detail
    check, _ = doctor.stage_settings(chosen, "dev")
    assert check.ok is None and not check.required and "KAMIWAZA_REGISTRY_BUCKET_DEV" in check.fix
    configured = settings(tmp_path, KAMIWAZA_REGISTRY_BUCKET_DEV="b", AWS_PROFILE_DEV="p")
    check, target = doctor.stage_settings(configured, "dev")
    assert check.ok is True and target == s3.resolve_target(configured, "dev")


# --------------------------------------------------------------------------- the whole screen


def statuses(out: str) -> dict[str, str]:
    return {m.group(2).strip(): m.group(1) for m in re.finditer(r"^(ok|FAIL|skip)\s+(\S+(?: \S+)*?)\s{2,}", out, re.M)}


@pytest.fixture
def doctor_cli(run_cli, s3_bucket, docker_client, monkeypatch, tmp_path):
    for key, value in s3_bucket.env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "root"
    root.mkdir()

    def run(**env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return run_cli(root, "doctor")

    return run


def test_all_ok_on_a_good_setup_and_the_probe_leaves_nothing(doctor_cli, image_registry, logged_in, s3_bucket):
    code, out, err = doctor_cli(IMAGE_REGISTRY=image_registry.host)
    assert code == 0, out + err
    found = statuses(out)
    for name in ("Docker engine", "Compose v2", "base images", "image registry", "registry login",
                 "settings dev", "bucket dev", "conditional writes dev", "bucket prod", "conditional writes prod"):
        assert found.get(name) == "ok", (name, out)
    assert "everything required is ready" in out
    assert s3_bucket.objects() == {}, "the conditional-write probes are deleted"


def test_a_stopped_registry_and_a_missing_bucket_fail_with_their_fixes(doctor_cli, tmp_path, monkeypatch):
    folder = tmp_path / "stopped-registry"
    folder.mkdir()
    stopped = _start_registry(folder)  # a real docker-registry, started then stopped
    if isinstance(stopped, str):
        pytest.fail(stopped)
    stop_process(stopped.process)
    monkeypatch.delenv("KAMIWAZA_REGISTRY_BUCKET")
    code, out, err = doctor_cli(IMAGE_REGISTRY=stopped.host, KAMIWAZA_REGISTRY_BUCKET_DEV="no-such-bucket-doctor")
    assert code == 1, out + err
    found = statuses(out)
    assert found["image registry"] == "FAIL" and found["registry login"] == "skip"
    assert re.search(rf"^FAIL  image registry .*cannot reach the image registry {re.escape(stopped.host)} .*-> fix: start the registry at {re.escape(stopped.host)}", out, re.M)
    assert found["bucket dev"] == "FAIL" and found["conditional writes dev"] == "skip"
    assert re.search(r'^FAIL  bucket dev .*bucket "no-such-bucket-doctor" does not exist.*-> fix: create the bucket or correct KAMIWAZA_REGISTRY_BUCKET_DEV', out, re.M)
    assert found["settings stage"] == "skip" and found["settings prod"] == "skip"
    assert "2 required checks failed: image registry, bucket dev" in out


def test_no_credentials_for_the_registry_is_a_failed_login(doctor_cli, image_registry, docker_config):
    code, out, err = doctor_cli(IMAGE_REGISTRY=image_registry.host)
    assert code == 1, out + err
    assert statuses(out)["image registry"] == "ok"
    assert re.search(rf"^FAIL  registry login .*no credentials for {re.escape(image_registry.host)} -> fix: run `docker login {re.escape(image_registry.host)}`", out, re.M)
