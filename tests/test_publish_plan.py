"""Publish planning over in-memory snapshots (pure; no S3)."""

from __future__ import annotations

import json
from pathlib import Path

from release import publish, registry, s3


def entry(name, version="1.0.0", template_type="tool", image=None, **extra):
    data = {"name": name, "version": version, "kamiwaza_version": ">=0.9.0", "template_type": template_type, **extra}
    if image:
        data["preview_image"] = f"images/{image}"
    return data


def local(*entries, files=None):
    catalogs = registry.catalogs(entries)
    return publish.Local(Path("/built"), catalogs, {**publish.catalog_bytes(catalogs), **(files or {})})


def snapshot(*entries, files=None):
    objects = {name: s3.RemoteObject(name, body, f'"{name}-etag"') for name, body in publish.catalog_bytes(registry.catalogs(entries)).items()}
    for name, body in (files or {}).items():
        objects[name] = s3.RemoteObject(name, body, f'"{name}-etag"')
    return objects


def plan(built, remote):
    catalogs = {name: json.loads(item.body) for name, item in remote.items() if name in registry.CATALOG_FILES}
    return publish.plan_upsert(built, catalogs, remote, force=False, remote_url=lambda name: f"s3://b/garden/v2/{name}")


def test_writes_are_conditional_on_what_was_read_and_ordered_images_first():
    remote = snapshot(entry("tool-a"))
    built = local(entry("tool-a", "1.1.0", image="a.svg"), entry("app-b", template_type="app"), files={"images/a.svg": b"<svg/>"})
    changes = plan(built, remote)
    assert [(c.name, c.expect, c.why) for c in changes.objects] == [
        ("images/a.svg", s3.ABSENT, "new"),
        ("tools.json", '"tools.json-etag"', "changed"),
        ("apps.json", '"apps.json-etag"', "changed"),
    ]


def test_nothing_to_write_when_everything_is_unchanged():
    published = entry("tool-a", image="a.svg")
    changes = plan(local(published, files={"images/a.svg": b"1"}), snapshot(published, files={"images/a.svg": b"1"}))
    assert changes.objects == () and not changes.refused


def test_a_changed_image_of_an_unchanged_entry_is_not_uploaded():
    published = entry("tool-a", image="a.svg")
    changes = plan(local(published, files={"images/a.svg": b"new"}), snapshot(published, files={"images/a.svg": b"old"}))
    assert changes.objects == () and "bump the version" in changes.notes[0]


def test_an_image_file_another_extension_uses_is_not_overwritten():
    remote = snapshot(entry("tool-a", image="shared.svg"), files={"images/shared.svg": b"a's"})
    changes = plan(local(entry("tool-b", image="shared.svg"), files={"images/shared.svg": b"b's"}), remote)
    assert any("tool-a also uses" in problem for problem in changes.refused)


def test_an_extension_that_moved_to_the_other_catalog_is_refused():
    remote = snapshot(entry("thing", template_type="tool"))
    changes = plan(local(entry("thing", "2.0.0", template_type="app")), remote)
    assert any("other catalog file" in problem for problem in changes.refused)


def test_direct_sync_puts_and_deletes():
    remote = snapshot(entry("old"), files={"images/old.svg": b"x"})
    built = local(entry("new", image="n.svg"), files={"images/n.svg": b"n"})
    changes = publish.plan_direct(built, remote)
    assert [(c.verb, c.name) for c in changes.objects] == [
        ("PUT", "images/n.svg"), ("PUT", "tools.json"), ("DELETE", "images/old.svg"),
    ]
    assert all(c.expect == s3.ABSENT or c.expect.endswith('-etag"') for c in changes.objects)
