"""`make publish-registry` end to end against moto_server over HTTP.

Every test builds the monorepo it needs (scaffolded extensions, appgarden files
written by sync-compose) in a temporary folder and publishes it to a fresh
bucket. The green-suite gate is satisfied by recording a green result for the
tree (the path the gate accepts), except in the tests of the gate itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from release import config, extensions, publish, s3, scaffold, sync
from release.errors import HarnessError
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.s3
LOCK_KEY = "garden/v2/registry.lock"
REGISTRY = "garden/v2/"  # the registry and its lock; bucket backups sit beside it (garden/v2-backups/)


# --- building monorepos ----------------------------------------------------------------


def make_repo(root: Path, *specs: tuple[str, str]) -> Path:
    """A monorepo with templates and the given (type, name) extensions, synced."""
    (root / "extensions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "templates", root / "templates")
    for extension_type, name in specs:
        scaffold.create(root, extension_type, name)
    resync(root)
    return root


def find(root: Path, name: str) -> extensions.Extension:
    return next(e for e in extensions.discover(root) if e.name == name)


def resync(root: Path) -> None:
    results = sync.sync(extensions.discover(root), check=False)
    assert all(r.ok for r in results), [p.render() for r in results for p in r.problems]


def set_manifest(root: Path, name: str, **fields) -> None:
    """Change kamiwaza.json fields (None deletes one), then sync the appgarden file as a person would."""
    path = find(root, name).manifest_path
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    resync(root)


def green(root: Path) -> None:
    """Record a green checks result for the tree as it is now (what the gate accepts)."""
    publish.record_green(root, publish.tree_hash(root))


def settings_for(root: Path, bucket, stage: str = "dev", **flags) -> config.Settings:
    return config.resolve({"STAGE": stage, **flags}, root=root, environ=dict(bucket.env))


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo", ("tool", "tool-alpha"))


def remote_catalog(bucket, name: str = "tools.json") -> list[dict]:
    body = bucket.get(f"garden/v2/{name}")
    return [] if body is None else json.loads(body)


def published(bucket, name: str = "tools.json") -> list[tuple[str, str, str]]:
    return [(e["name"], e["version"], e.get("kamiwaza_version", "")) for e in remote_catalog(bucket, name)]


def first_publish(bucket_cli, repo, bucket, version="1.0.0", kamiwaza_version=">=0.9.0"):
    set_manifest(repo, "tool-alpha", version=version, kamiwaza_version=kamiwaza_version)
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry")
    assert code == 0, out + err
    return out


# --- the spec's merge table, end to end ------------------------------------------------------

ROWS = [
    # id, published first (version, range) or None, then published (version, range, extra fields), exit, action, remote after
    ("new extension", None, ("1.0.0", ">=0.9.0", {}), 0, "INSERT", [("1.0.0", ">=0.9.0")]),
    ("newer version same range", ("1.0.0", ">=0.9.0"), ("1.0.1", ">=0.9.0", {}), 0, "REPLACE", [("1.0.1", ">=0.9.0")]),
    ("same version", ("1.0.0", ">=0.9.0"), ("1.0.0", ">=0.9.0", {"description": "Changed after publishing."}), 1, "FAIL", [("1.0.0", ">=0.9.0")]),
    ("same version identical", ("1.0.0", ">=0.9.0"), ("1.0.0", ">=0.9.0", {}), 0, "UNCHANGED", [("1.0.0", ">=0.9.0")]),
    ("older version", ("1.2.0", ">=0.9.0"), ("1.1.0", ">=0.9.0", {}), 1, "FAIL", [("1.2.0", ">=0.9.0")]),
    ("disjoint range", ("1.0.0", ">=0.9.0,<1.0.0"), ("2.0.0", ">=1.0.0", {}), 0, "INSERT", [("1.0.0", ">=0.9.0,<1.0.0"), ("2.0.0", ">=1.0.0")]),
    ("superset range", ("1.0.0", ">=0.9.0,<1.0.0"), ("1.1.0", ">=0.9.0", {}), 0, "REPLACE", [("1.1.0", ">=0.9.0")]),
    ("subset range", ("1.0.0", ">=0.9.0"), ("1.1.0", ">=0.9.5", {}), 1, "FAIL", [("1.0.0", ">=0.9.0")]),
    ("partial overlap", ("1.0.0", ">=0.9.0,<1.0.0"), ("1.1.0", ">=0.9.5,<1.5.0", {}), 1, "FAIL", [("1.0.0", ">=0.9.0,<1.0.0")]),
    # SemVer precedence, not PEP 440: each of these was decided the other way before
    ("release after its rc", ("1.0.0-rc.1", ">=0.9.0"), ("1.0.0", ">=0.9.0", {}), 0, "REPLACE", [("1.0.0", ">=0.9.0")]),
    ("numeric pre-release is older", ("1.0.0", ">=0.9.0"), ("1.0.0-1", ">=0.9.0", {}), 1, "FAIL", [("1.0.0", ">=0.9.0")]),
    ("rc.1 is newer than pre.1", ("1.0.0-pre.1", ">=0.9.0"), ("1.0.0-rc.1", ">=0.9.0", {}), 0, "REPLACE", [("1.0.0-rc.1", ">=0.9.0")]),
    ("alpha.1 is newer than alpha", ("1.0.0-alpha", ">=0.9.0"), ("1.0.0-alpha.1", ">=0.9.0", {}), 0, "REPLACE", [("1.0.0-alpha.1", ">=0.9.0")]),
    ("build metadata is the same release", ("1.0.0+b1", ">=0.9.0"), ("1.0.0+b2", ">=0.9.0", {}), 1, "FAIL", [("1.0.0+b1", ">=0.9.0")]),
]


@pytest.mark.parametrize(("first", "then", "code", "action", "after"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_merge_table_end_to_end(bucket_cli, repo, s3_bucket, first, then, code, action, after):
    if first is not None:
        first_publish(bucket_cli, repo, s3_bucket, *first)
    before = s3_bucket.objects()
    version, kamiwaza_version, extra = then
    set_manifest(repo, "tool-alpha", version=version, kamiwaza_version=kamiwaza_version, **extra)
    green(repo)
    result, out, err = bucket_cli(repo, "publish-registry")
    assert result == code, out + err
    assert f"{action:<9} tool-alpha" in out
    assert published(s3_bucket) == [("tool-alpha", v, r) for v, r in after]
    assert s3_bucket.get(LOCK_KEY) is None, "the lock is released on every path"
    if code == 1:
        assert "merge refused" in err and "Traceback" not in err
        assert s3_bucket.objects() == before, "a refused publish writes nothing"
    if action == "UNCHANGED":
        assert s3_bucket.objects() == before and "already up to date" in out


def test_registry_entries_are_tagged_for_the_stage(bucket_cli, repo, s3_bucket):
    set_manifest(repo, "tool-alpha", version="2.3.4")
    green(repo)
    for stage, tag in (("prod", "2.3.4"), ("stage", "2.3.4-stage")):
        bucket_env = {f"KAMIWAZA_REGISTRY_BUCKET_{stage.upper()}": s3_bucket.name}
        code, out, err = bucket_cli(repo, "publish-registry", "--stage", stage, **bucket_env)
        assert code == 0, out + err
        [entry] = remote_catalog(s3_bucket)
        assert entry["docker_images"] == [f"kamiwazaai/tool-alpha-mcp:{tag}"]
        assert f"kamiwazaai/tool-alpha-mcp:{tag}" in entry["compose_yml"]
        s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="garden/v2/tools.json")


def test_publishes_apps_tools_and_preview_images(bucket_cli, s3_bucket, tmp_path):
    root = make_repo(tmp_path / "repo", ("app", "app-board"), ("service", "service-cache"), ("tool", "tool-alpha"))
    green(root)
    code, out, err = bucket_cli(root, "publish-registry")
    assert code == 0, out + err
    objects = s3_bucket.objects("garden/v2/")
    assert set(objects) == {"garden/v2/apps.json", "garden/v2/tools.json", "garden/v2/images/app-board.svg",
                            "garden/v2/images/service-cache.svg", "garden/v2/images/tool-alpha.svg"}
    assert [e["name"] for e in remote_catalog(s3_bucket, "apps.json")] == ["app-board", "service-cache"]
    built = root / "build/kamiwaza-extension-registry/garden/v2"
    for key, body in objects.items():
        assert (built / key.removeprefix("garden/v2/")).read_bytes() == body


# --- modes -----------------------------------------------------------------------------------


def test_dry_run_leaves_the_bucket_byte_identical(bucket_cli, repo, s3_bucket):
    first_publish(bucket_cli, repo, s3_bucket)
    before = s3_bucket.objects()
    set_manifest(repo, "tool-alpha", version="1.1.0")
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry", "--dry-run")
    assert code == 0, out + err
    assert "REPLACE   tool-alpha 1.0.0 -> 1.1.0" in out
    assert "PUT    s3://" in out and "tools.json (changed)" in out
    assert "DRY_RUN: nothing was written to S3" in out
    assert s3_bucket.objects() == before  # no lock, no probe object, no registry change
    backups = repo / "build/registry-backups/dev"
    assert len(list(backups.iterdir())) == 1  # only the first publish's backup


def test_dry_run_reports_a_refusal(bucket_cli, repo, s3_bucket):
    first_publish(bucket_cli, repo, s3_bucket, version="2.0.0")
    before = s3_bucket.objects()
    set_manifest(repo, "tool-alpha", version="1.0.0")
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry", "--dry-run")
    assert code == 1 and "FAIL      tool-alpha 1.0.0" in out and "would be refused" in err
    assert s3_bucket.objects() == before


def test_force_bypasses_version_rules_but_keeps_lock_and_backup(bucket_cli, repo, s3_bucket):
    first_publish(bucket_cli, repo, s3_bucket, version="1.0.0", kamiwaza_version=">=0.9.0")
    old = s3_bucket.get("garden/v2/tools.json")
    set_manifest(repo, "tool-alpha", version="1.1.0", kamiwaza_version=">=0.9.5")
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry", "--force")
    assert code == 0, out + err
    assert "FORCE=1 overrides" in out and "acquire lock" in out
    assert published(s3_bucket) == [("tool-alpha", "1.1.0", ">=0.9.5")]
    backups = sorted((repo / "build/registry-backups/dev").iterdir())
    assert (backups[-1] / "tools.json").read_bytes() == old
    assert s3_bucket.get(LOCK_KEY) is None


def test_direct_mode_syncs_exactly_with_lock_backup_and_verify(bucket_cli, repo, s3_bucket):
    s3_bucket.put("garden/v2/apps.json", b'[{"name": "hand-made", "version": "9.9.9"}]\n')
    s3_bucket.put("garden/v2/images/stray.png", b"png")
    before = s3_bucket.objects()
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry-direct")
    assert code == 0, out + err
    assert "DELETE images/stray.png" in out and "verified by sha256" in out and "released the lock" in out
    built = repo / "build/kamiwaza-extension-registry/garden/v2"
    assert {k.removeprefix("garden/v2/"): v for k, v in s3_bucket.objects("garden/v2/").items()} == s3.read_folder(built)
    [backup] = (repo / "build/registry-backups/dev").iterdir()
    assert {f"garden/v2/{k}": v for k, v in s3.read_folder(backup).items()} == before


def test_missing_settings_exit_2_with_one_error(run_cli, repo):
    green(repo)
    code, out, err = run_cli(repo, "publish-registry", "--stage", "prod")
    assert code == 2
    assert err.count("error:") == 1 and "KAMIWAZA_REGISTRY_BUCKET_PROD" in err and "AWS_PROFILE_PROD" in err
    assert "Traceback" not in err


def test_unreadable_remote_registry_stops_before_writing(bucket_cli, repo, s3_bucket):
    s3_bucket.put("garden/v2/tools.json", b"{broken")
    before = s3_bucket.objects()
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry")
    assert code == 1 and "cannot be read" in err
    assert s3_bucket.objects() == before


# --- the lock --------------------------------------------------------------------------------


def test_held_lock_refuses_a_second_publisher_with_the_holders_details(bucket_cli, repo, s3_bucket):
    remote = s3.connect(settings_for(repo, s3_bucket))
    held = remote.acquire("alice", ttl=600)
    before = s3_bucket.objects()
    green(repo)
    code, out, err = bucket_cli(repo, "publish-registry")
    assert code == 1
    assert "held by alice" in err and held.token in err and held.host in err
    assert f"make remove-publish-lock STAGE=dev LOCK_ID={held.token}" in err
    assert s3_bucket.objects() == before, "the holder's lock and the registry are untouched"


def test_remove_publish_lock(bucket_cli, repo, s3_bucket):
    code, out, _ = bucket_cli(repo, "remove-publish-lock")
    assert code == 0 and "nothing removed" in out
    remote = s3.connect(settings_for(repo, s3_bucket))
    held = remote.acquire("alice", ttl=600)
    code, out, err = bucket_cli(repo, "remove-publish-lock", LOCK_ID="some-other-token")
    assert code == 1 and "not removed" in err and s3_bucket.get(LOCK_KEY) is not None
    code, out, err = bucket_cli(repo, "remove-publish-lock", LOCK_ID=held.token)
    assert code == 0 and "removed the lock" in out and "held by alice" in out
    assert s3_bucket.get(LOCK_KEY) is None


def test_download_registry(bucket_cli, repo, s3_bucket):
    first_publish(bucket_cli, repo, s3_bucket)
    code, out, err = bucket_cli(repo, "download-registry")
    assert code == 0, out + err
    folder = repo / "build/registry-download/dev"
    assert {f"garden/v2/{k}": v for k, v in s3.read_folder(folder).items()} == s3_bucket.objects("garden/v2/")
    assert "tools.json: 1 entry" in out


# --- failures restore the backup and release the lock ----------------------------------------


@pytest.fixture
def two_published(tmp_path, s3_bucket):
    """An app and a tool published at 1.0.0, then both bumped (with a new preview image) locally."""
    root = make_repo(tmp_path / "repo", ("app", "app-board"), ("tool", "tool-alpha"))
    for name in ("app-board", "tool-alpha"):
        set_manifest(root, name, version="1.0.0")
    green(root)
    publish.publish(settings_for(root, s3_bucket))
    for name, folder in (("app-board", "app"), ("tool-alpha", "tool")):
        set_manifest(root, name, version="1.1.0")
        (find(root, name).path / "assets" / f"{name}.svg").write_text(f"<svg><!-- {name} 1.1.0 --></svg>\n", encoding="utf-8")
    green(root)
    return root


def fail_at(point: str, error: BaseException):
    def hook(name: str) -> None:
        if name == point:
            raise error

    return hook


@pytest.mark.parametrize("point", ["upload:apps.json", "verify"])
def test_failure_restores_the_backup_byte_for_byte(two_published, s3_bucket, point, capsys):
    before = s3_bucket.objects(REGISTRY)
    with pytest.raises(RuntimeError, match="injected"):
        publish.publish(settings_for(two_published, s3_bucket), hook=fail_at(point, RuntimeError("injected")))
    out = capsys.readouterr().out
    assert "restored and verified" in out
    assert s3_bucket.objects(REGISTRY) == before
    assert s3_bucket.get(LOCK_KEY) is None


def test_ctrl_c_during_upload_restores_and_releases(two_published, s3_bucket, capsys):
    before = s3_bucket.objects(REGISTRY)
    with pytest.raises(KeyboardInterrupt):
        publish.publish(settings_for(two_published, s3_bucket), hook=fail_at("upload:apps.json", KeyboardInterrupt()))
    assert "released the lock" in capsys.readouterr().out
    assert s3_bucket.objects(REGISTRY) == before


def test_failure_before_any_write_says_nothing_was_written(two_published, s3_bucket, capsys):
    before = s3_bucket.objects(REGISTRY)
    with pytest.raises(RuntimeError):
        publish.publish(settings_for(two_published, s3_bucket), hook=fail_at("locked", RuntimeError("injected")))
    assert "nothing was written to the registry" in capsys.readouterr().out
    assert s3_bucket.objects(REGISTRY) == before


def test_a_foreign_write_is_never_overwritten(two_published, s3_bucket, capsys):
    """Someone who skipped the lock writes tools.json during our upload: our conditional write fails,
    the restore undoes only our own writes, and their object stays."""

    def intruder(name: str) -> None:
        if name == "upload:tools.json":
            s3_bucket.put("garden/v2/tools.json", b"[]\n")

    before = s3_bucket.objects(REGISTRY)
    with pytest.raises(HarnessError) as caught:
        publish.publish(settings_for(two_published, s3_bucket), hook=intruder)
    assert "changed since it was read" in caught.value.render()
    after = s3_bucket.objects(REGISTRY)
    assert after["garden/v2/tools.json"] == b"[]\n"
    assert {k: v for k, v in after.items() if k != "garden/v2/tools.json"} == {k: v for k, v in before.items() if k != "garden/v2/tools.json"}
    assert s3_bucket.get(LOCK_KEY) is None


# --- the green-suite gate ----------------------------------------------------------------------


def test_publish_refuses_a_tree_whose_checks_fail(bucket_cli, repo, s3_bucket):
    (find(repo, "tool-alpha").path / "server" / "Dockerfile").unlink()  # a check fails
    code, out, err = bucket_cli(repo, "publish-registry")
    # The registry build runs the same rule engine as the checks, so it refuses before the gate
    # (issue 12: a registry is never built from an extension `make validate` refuses).
    assert code == 2
    assert "(compose/dockerfiles)" in err and "Dockerfile" in err
    assert s3_bucket.objects() == {}, "no lock, no probe, no registry"


def test_gate_runs_the_checks_and_records_a_pass(bucket_cli, repo, s3_bucket):
    code, out, err = bucket_cli(repo, "publish-registry", "--dry-run")
    assert code == 0, out + err
    assert "pytest checks/ passed for tree" in out
    code, out, err = bucket_cli(repo, "publish-registry", "--dry-run")
    assert "recorded green result for tree" in out


class TestGate:
    def test_broken_manifest_is_not_green(self, sample_repo):
        manifest = next(sample_repo.glob("extensions/*/*/kamiwaza.json"))
        manifest.write_text('{"name": ', encoding="utf-8")
        result = publish.gate(sample_repo)
        assert not result.green and "kamiwaza.json" in result.output
        assert not (sample_repo / publish.GREEN_RECORD).exists()

    def test_a_record_only_counts_for_the_same_tree(self, repo):
        digest = publish.tree_hash(repo)
        publish.record_green(repo, digest)
        assert publish.recorded_green(repo, digest)
        set_manifest(repo, "tool-alpha", description="Another description.")
        assert publish.tree_hash(repo) != digest
        assert not publish.recorded_green(repo, publish.tree_hash(repo))
