"""`make list-published`: what a stage's remote catalog holds, and who holds its lock.

Pure: `releases(catalogs)`, `rows(releases)`, `as_json(...)`, `lock_line(lock)`.
Edge: `read(remote)` reads apps.json, tools.json and the lock through release/s3.py (reads only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from release import image_check, images, registry, s3
from release.errors import EXIT_FAILED, HarnessError

HEADERS = ("name", "version", "kamiwaza_version", "type", "images", "pinned")
SHORT_DIGEST = len("sha256:") + 12


@dataclass(frozen=True)
class Release:
    catalog: str
    name: str
    version: str
    kamiwaza_version: str
    template_type: str
    images: tuple[str, ...]

    @property
    def project_images(self) -> tuple[str, ...]:
        return tuple(ref for ref in self.images if images.is_project_image(ref))

    @property
    def pinned(self) -> str:
        """yes (every project image has a digest), partly, no, or - (no project images)."""
        refs = self.project_images
        with_digest = sum(1 for ref in refs if image_check.digest_of(ref))
        if not refs:
            return "-"
        return "yes" if with_digest == len(refs) else ("partly" if with_digest else "no")


def releases(catalogs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Release]:
    found = []
    for catalog, entries in catalogs.items():
        for entry in sorted(entries, key=registry.sort_key):
            docker_images = entry.get("docker_images")
            refs = tuple(r for r in docker_images if isinstance(r, str)) if isinstance(docker_images, list) else ()
            found.append(Release(catalog, str(entry.get("name", "?")), str(entry.get("version", "?")), str(entry.get("kamiwaza_version") or ""),
                                 str(entry.get("template_type", "?")), refs))
    return found


def short_ref(ref: str) -> str:
    """`name:tag@sha256:0123456789ab` (12 hex digits are enough to tell digests apart on screen)."""
    digest = image_check.digest_of(ref)
    return f"{image_check.unpinned(ref)}@{digest[:SHORT_DIGEST]}" if digest else ref


def rows(found: Sequence[Release]) -> list[tuple[str, ...]]:
    return [(r.name, r.version, r.kamiwaza_version or "any", r.template_type, " ".join(short_ref(i) for i in r.images) or "-", r.pinned) for r in found]


def lock_line(lock: s3.Lock | None) -> str:
    return "lock: free" if lock is None else f"lock: {lock.describe()}"


def as_json(target: s3.Target, found: Sequence[Release], lock: s3.Lock | None) -> dict[str, Any]:
    return {
        "stage": target.stage,
        "url": target.url(),
        "releases": [
            {"name": r.name, "version": r.version, "kamiwaza_version": r.kamiwaza_version, "template_type": r.template_type,
             "catalog": r.catalog, "images": list(r.images), "pinned": r.pinned}
            for r in found
        ],
        "lock": None if lock is None else {
            "state": "held" if lock.readable else "unreadable", "owner": lock.owner, "host": lock.host, "pid": lock.pid,
            "acquired_at": lock.acquired_at, "expires_at": lock.expires_at, "token": lock.token, "stale": lock.stale_for() is not None,
        },
    }


def read(remote: s3.Remote) -> tuple[dict[str, list[dict[str, Any]]], s3.Lock | None]:
    """The remote catalogs (a missing file is empty) and the lock; an unreadable catalog is exit 1."""
    catalogs: dict[str, list[dict[str, Any]]] = {}
    for name in registry.CATALOG_FILES:
        item = remote.get(name)
        try:
            entries = [] if item is None else json.loads(item.body)
        except ValueError:
            entries = None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise HarnessError("is not a JSON array of entries", file=remote.target.url(name), field="$",
                               fix="inspect it with `make download-registry`; restore a backup from build/registry-backups/", exit_code=EXIT_FAILED)
        catalogs[name] = entries
    return catalogs, remote.read_lock()
