"""release/published.py and `make list-published`: the remote catalog as a table or JSON, and the lock."""

from __future__ import annotations

import json

import pytest

from release import config, published, s3
from tests.test_publish import green, make_repo, set_manifest

DIGEST = "sha256:" + "c" * 64


def entry(name: str, version: str, images: list[str], **extra) -> dict:
    return {"name": name, "version": version, "template_type": "app", "docker_images": images, **extra}


# --------------------------------------------------------------------------- pure


@pytest.mark.parametrize(("images", "pinned"), [
    ([f"kamiwazaai/a-web:1.0.0@{DIGEST}", "redis:7"], "yes"),
    (["kamiwazaai/a-web:1.0.0", "redis:7"], "no"),
    ([f"kamiwazaai/a-web:1.0.0@{DIGEST}", "kamiwazaai/a-api:1.0.0"], "partly"),
    (["redis:7"], "-"),
])
def test_pinned_counts_project_images_only(images, pinned):
    [release] = published.releases({"apps.json": [entry("a", "1.0.0", images)]})
    assert release.pinned == pinned


def test_rows_are_sorted_by_name_and_version_with_short_digests():
    catalogs = {"apps.json": [entry("b", "1.0.0", ["kamiwazaai/b-web:1.0.0"]), entry("a", "1.10.0", ["x:1"]), entry("a", "1.9.0", [f"kamiwazaai/a-web:1.9.0@{DIGEST}"], kamiwaza_version=">=0.9.0")],
                "tools.json": [entry("t", "2.0.0", ["kamiwazaai/t-mcp:2.0.0"], template_type="tool")]}
    assert published.rows(published.releases(catalogs)) == [
        ("a", "1.9.0", ">=0.9.0", "app", f"kamiwazaai/a-web:1.9.0@sha256:{'c' * 12}", "yes"),
        ("a", "1.10.0", "any", "app", "x:1", "-"),
        ("b", "1.0.0", "any", "app", "kamiwazaai/b-web:1.0.0", "no"),
        ("t", "2.0.0", "any", "tool", "kamiwazaai/t-mcp:2.0.0", "no"),
    ]


def test_lock_line_and_json():
    target = s3.Target(stage="prod", bucket="b")
    lock = s3.Lock("ana", "host1", 42, "2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "tok")
    assert published.lock_line(None) == "lock: free"
    assert published.lock_line(lock).startswith("lock: held by ana on host1 (pid 42) since 2026-01-01T00:00:00Z")
    document = published.as_json(target, [], lock)
    assert document["lock"] == {"state": "held", "owner": "ana", "host": "host1", "pid": 42, "acquired_at": "2026-01-01T00:00:00Z",
                                "expires_at": "2999-01-01T00:00:00Z", "token": "tok", "stale": False}
    assert published.as_json(target, [], None)["lock"] is None


# --------------------------------------------------------------------------- end to end against moto


def test_list_published_end_to_end(bucket_cli, tmp_path, s3_bucket):
    root = make_repo(tmp_path / "repo", ("tool", "tool-alpha"), ("app", "app-board"))
    set_manifest(root, "tool-alpha", version="1.2.0", kamiwaza_version=">=0.9.0")
    green(root)
    code, out, err = bucket_cli(root, "list-published")
    assert code == 0 and ": 0 releases" in out and "lock: free" in out, out + err
    assert bucket_cli(root, "publish-registry")[0] == 0

    code, out, err = bucket_cli(root, "list-published")
    assert code == 0, out + err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("name "))
    assert lines[header].split() == ["name", "version", "kamiwaza_version", "type", "images", "pinned"]
    assert [line.split() for line in lines[header + 2 : header + 4]] == [
        ["app-board", "0.1.0", ">=0.9.0", "app", "kamiwazaai/app-board-backend:0.1.0-dev", "kamiwazaai/app-board-frontend:0.1.0-dev", "no"],
        ["tool-alpha", "1.2.0", ">=0.9.0", "tool", "kamiwazaai/tool-alpha-mcp:1.2.0-dev", "no"],
    ], out
    assert lines[-1] == "lock: free"

    holder = s3.connect(config.resolve({}, root=root, environ=dict(s3_bucket.env))).acquire("release-bot", ttl=600)
    code, out, err = bucket_cli(root, "list-published", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert [(r["name"], r["version"], r["catalog"], r["pinned"]) for r in document["releases"]] == [
        ("app-board", "0.1.0", "apps.json", "no"), ("tool-alpha", "1.2.0", "tools.json", "no")]
    assert document["lock"]["owner"] == "release-bot" and document["lock"]["token"] == holder.token
    code, out, _ = bucket_cli(root, "list-published")
    assert "lock: held by release-bot" in out and holder.token in out


def test_a_pinned_catalog_shows_pinned_and_an_unreadable_one_is_exit_1(bucket_cli, tmp_path, s3_bucket):
    root = tmp_path / "empty"
    root.mkdir()
    s3_bucket.put("garden/v2/apps.json", json.dumps([entry("shop", "1.0.0", [f"kamiwazaai/shop-web:1.0.0@{DIGEST}", "postgres:16"])]).encode())
    code, out, err = bucket_cli(root, "list-published", "--stage", "prod", "--json")
    assert code == 0, err
    [release] = json.loads(out)["releases"]
    assert release["pinned"] == "yes" and release["images"] == [f"kamiwazaai/shop-web:1.0.0@{DIGEST}", "postgres:16"]
    s3_bucket.put("garden/v2/tools.json", b"{not json")
    code, out, err = bucket_cli(root, "list-published")
    assert code == 1 and "tools.json" in err and "is not a JSON array" in err and "Traceback" not in err
