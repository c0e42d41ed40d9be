"""`make unpublish NAME= VERSION=` and `make restore-registry BACKUP=` end to end against moto_server."""

from __future__ import annotations

import json

import pytest

from tests.test_publish import LOCK_KEY, REGISTRY, green, make_repo, published, remote_catalog, set_manifest

pytestmark = pytest.mark.s3


@pytest.fixture
def two_versions(bucket_cli, s3_bucket, tmp_path):
    """tool-alpha 1.0.0 (for Kamiwaza <1.0) and 2.0.0 (>=1.0) published side by side, and app-board 1.0.0."""
    root = make_repo(tmp_path / "repo", ("tool", "tool-alpha"), ("app", "app-board"))
    set_manifest(root, "app-board", version="1.0.0")
    for version, kamiwaza in (("1.0.0", ">=0.9.0,<1.0.0"), ("2.0.0", ">=1.0.0")):
        set_manifest(root, "tool-alpha", version=version, kamiwaza_version=kamiwaza)
        green(root)
        code, out, err = bucket_cli(root, "publish-registry")
        assert code == 0, out + err
    return root


def test_unpublish_withdraws_one_release_with_lock_backup_and_verify(bucket_cli, two_versions, s3_bucket):
    code, out, err = bucket_cli(two_versions, "unpublish", NAME="tool-alpha", VERSION="1.0.0")
    assert code == 0, out + err
    assert published(s3_bucket) == [("tool-alpha", "2.0.0", ">=1.0.0")]
    assert "REMOVE    tool-alpha 1.0.0" in out and "verified by sha256" in out and "released the lock" in out
    assert s3_bucket.get("garden/v2/images/tool-alpha.svg") is not None, "2.0.0 still uses the preview image"
    assert [e["name"] for e in remote_catalog(s3_bucket, "apps.json")] == ["app-board"]
    assert s3_bucket.get(LOCK_KEY) is None
    manifests = [k for k in s3_bucket.objects("garden/v2-backups/dev/") if k.endswith(".json") and k.count("/") == 3]
    assert manifests, "the state before is kept in the bucket"


def test_unpublishing_the_last_release_removes_its_preview_image(bucket_cli, two_versions, s3_bucket):
    code, out, err = bucket_cli(two_versions, "unpublish", NAME="app-board", VERSION="1.0.0")
    assert code == 0, out + err
    assert remote_catalog(s3_bucket, "apps.json") == []
    assert s3_bucket.get("garden/v2/images/app-board.svg") is None
    assert "DELETE s3://" in out and "no published entry uses it any more" in out


def test_unpublish_of_a_release_that_is_not_published_is_exit_2_listing_the_versions(bucket_cli, two_versions, s3_bucket):
    before = s3_bucket.objects(REGISTRY)
    code, out, err = bucket_cli(two_versions, "unpublish", NAME="tool-alpha", VERSION="3.0.0")
    assert code == 2 and "tool-alpha 3.0.0 is not published" in err and "1.0.0, 2.0.0" in err and "Traceback" not in err
    code, out, err = bucket_cli(two_versions, "unpublish", NAME="tool-nobody", VERSION="1.0.0")
    assert code == 2 and "not published at all" in err
    assert s3_bucket.objects(REGISTRY) == before and s3_bucket.get(LOCK_KEY) is None


def test_unpublish_needs_name_and_version(bucket_cli, two_versions):
    code, out, err = bucket_cli(two_versions, "unpublish", NAME="tool-alpha")
    assert code == 2 and "VERSION" in err


def test_unpublish_dry_run_changes_nothing(bucket_cli, two_versions, s3_bucket):
    before = s3_bucket.objects()
    code, out, err = bucket_cli(two_versions, "unpublish", "--dry-run", NAME="tool-alpha", VERSION="2.0.0")
    assert code == 0, out + err
    assert "REMOVE    tool-alpha 2.0.0" in out and "DRY_RUN: nothing was written" in out
    assert s3_bucket.objects() == before


def test_restore_registry_puts_a_bucket_backup_back(bucket_cli, two_versions, s3_bucket):
    before = {k: v for k, v in s3_bucket.objects(REGISTRY).items()}
    assert bucket_cli(two_versions, "unpublish", NAME="tool-alpha", VERSION="1.0.0")[0] == 0
    [stamp] = [k.rsplit("/", 1)[1][:-5] for k in s3_bucket.objects("garden/v2-backups/dev/")
               if k.count("/") == 3 and k.endswith(".json") and json.loads(s3_bucket.get(k))["objects"].get("tools.json")
               and len(json.loads(s3_bucket.get(f"garden/v2-backups/dev/{k.rsplit('/', 1)[1][:-5]}/tools.json"))) == 2]
    code, out, err = bucket_cli(two_versions, "restore-registry", BACKUP=stamp)
    assert code == 0, out + err
    assert s3_bucket.objects(REGISTRY) == before
    assert "RESTORE   the registry as backed up at" in out and s3_bucket.get(LOCK_KEY) is None


def test_restore_registry_refuses_an_unknown_or_damaged_backup(bucket_cli, two_versions, s3_bucket):
    code, out, err = bucket_cli(two_versions, "restore-registry", BACKUP="19990101-000000")
    assert code == 2 and "there is no backup 19990101-000000" in err and "pass one of:" in err
    stamp = next(k for k, body in s3_bucket.objects("garden/v2-backups/dev/").items()
                 if k.count("/") == 3 and k.endswith(".json") and "tools.json" in json.loads(body)["objects"]).rsplit("/", 1)[1][:-5]
    s3_bucket.put(f"garden/v2-backups/dev/{stamp}/tools.json", b"[]\n")
    before = s3_bucket.objects(REGISTRY)
    code, out, err = bucket_cli(two_versions, "restore-registry", BACKUP=stamp)
    assert code == 1 and "does not match its manifest" in err
    assert s3_bucket.objects(REGISTRY) == before
    code, out, err = bucket_cli(two_versions, "restore-registry", BACKUP="")
    assert code == 2 and "needs BACKUP" in err
