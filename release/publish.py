"""`make publish-registry`: the spec's nine steps, and the green-suite gate.

    1 rebuild   the registry for the stage (build/kamiwaza-extension-registry/garden/v2)
    2 validate  every built entry, and the gate: `pytest checks/` green for this tree
    3 lock      probe conditional writes, then create garden/v2/registry.lock (IfNoneMatch='*')
    4 backup    every remote garden/v2 object -> build/registry-backups/{stage}/{timestamp}/
    5 download  the remote apps.json / tools.json (read from that backup, with their ETags)
    6 merge     version-aware (release.merge); any FAIL stops here unless FORCE=1
    7 upload    images, then tools.json, then apps.json; each IfMatch its step-5 ETag
    8 verify    read every written object back and compare sha256
    9 release   the lock (DeleteObject IfMatch its ETag), on every path, Ctrl-C included

A failure after the first write puts back, for every object this run wrote,
the backed-up bytes (or deletes it when it did not exist), each write
conditional on the object still holding what this run wrote, then verifies.
DRY_RUN=1 runs 1, 2, 5 and 6 and writes nothing remote, not even the lock.
FORCE=1 turns merge FAILs into REPLACEs; the gate, lock and backup still apply.
Direct mode (publish-registry-direct) replaces step 6 by a plain sync of the
built garden (deletes included), with lock, backup and verify.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from release import checks_run, fileio, image_check, log, merge, ranges, registry, s3
from release.config import Settings, parse_seconds
from release.errors import EXIT_FAILED, EXIT_OK, HarnessError, Problem

HARNESS_DIR = checks_run.HARNESS_ROOT
GREEN_RECORD = Path("build") / "checks-green.json"
Hook = Callable[[str], None]  # called at named points; tests inject failures with it


def _no_hook(point: str) -> None:
    return None


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    stage: str
    dry_run: bool = False
    force: bool = False
    direct: bool = False
    lock_timeout: float = 0.0
    lock_ttl: float = s3.DEFAULT_LOCK_TTL
    owner: str = "unknown"


def options_from(settings: Settings, *, direct: bool = False) -> Options:
    return Options(
        stage=settings.stage,
        dry_run=settings.dry_run,
        force=settings.force,
        direct=direct,
        lock_timeout=parse_seconds("LOCK_TIMEOUT", settings.get("LOCK_TIMEOUT"), 0.0),
        lock_ttl=s3.lock_ttl(settings),
        owner=s3.current_user(),
    )


# --------------------------------------------------------------------------- the gate


def tree_files(root: Path, harness: Path = HARNESS_DIR) -> list[tuple[str, Path]]:
    """The files whose content decides the checks' verdict: extensions/, release/, checks/ and the pytest config."""
    found: list[tuple[str, Path]] = []
    for label, base in (("extensions", Path(root) / "extensions"), ("release", harness / "release"), ("checks", harness / "checks")):
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                relative = path.relative_to(base)
                if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
                    found.append((f"{label}/{relative.as_posix()}", path))
    for name in ("conftest.py", "pytest.ini"):
        if (harness / name).is_file():
            found.append((f"harness/{name}", harness / name))
    return found


def tree_hash(root: Path, harness: Path = HARNESS_DIR) -> str:
    digest = hashlib.sha256()
    for label, path in tree_files(root, harness):
        digest.update(label.encode() + b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class GateResult:
    green: bool
    how: str
    output: str = ""


def recorded_green(root: Path, digest: str) -> bool:
    try:
        record = json.loads((Path(root) / GREEN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("tree_hash") == digest and record.get("result") == "passed"


def record_green(root: Path, digest: str) -> None:
    path = Path(root) / GREEN_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"tree_hash": digest, "result": "passed", "passed_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "python -m pytest checks/ -q -p no:cacheprovider"}
    fileio.write_atomically(path, fileio.canonical_json(data))


def run_checks(root: Path, harness: Path = HARNESS_DIR) -> GateResult:
    """`python -m pytest checks/ -q -p no:cacheprovider` with KAMIWAZA_ROOT=root, over every extension."""
    command, env = checks_run.invocation(root, os.environ, every_extension=True)
    done = subprocess.run(command, cwd=harness, env=env, capture_output=True, text=True)
    output = (done.stdout + done.stderr).strip()
    return GateResult(done.returncode == 0, f"pytest checks/ exited {done.returncode}", output)


def gate(root: Path, harness: Path = HARNESS_DIR) -> GateResult:
    """Green when a result is recorded for this exact tree, else run the checks (and record a pass)."""
    digest = tree_hash(root, harness)
    if recorded_green(root, digest):
        return GateResult(True, f"recorded green result for tree {digest[:12]} ({GREEN_RECORD})")
    result = run_checks(root, harness)
    if result.green and tree_hash(root, harness) == digest:  # the tree did not change while the checks ran
        record_green(root, digest)
        return GateResult(True, f"pytest checks/ passed for tree {digest[:12]}", result.output)
    return result


def gate_error(result: GateResult) -> HarnessError:
    tail = "\n".join(result.output.splitlines()[-25:])
    return HarnessError(
        f"the checks fail for the tree being published ({result.how}); publishing is refused\n{tail}",
        fix="run `make validate`, fix what it reports, then publish again",
        exit_code=EXIT_FAILED,
    )


# --------------------------------------------------------------------------- local registry (steps 1-2)


@dataclass(frozen=True)
class Local:
    """The built garden: catalogs (parsed) and files (name -> bytes, catalogs and images)."""

    garden: Path
    catalogs: Mapping[str, Sequence[Mapping[str, Any]]]
    files: Mapping[str, bytes]


def load_local(garden: Path) -> Local:
    catalogs = registry.read_garden(garden)
    files = s3.read_folder(garden)
    return Local(garden, catalogs, files)


def local_problems(local: Local, stage: str) -> list[Problem]:
    """Every built entry: schema and stage tags, a non-empty range, and its preview image present."""
    problems: list[Problem] = []
    for name, entries in local.catalogs.items():
        path = local.garden / name
        problems += merge.entry_list_problems(list(entries), str(path))
        for index, entry in enumerate(entries):
            problems += registry.entry_problems(entry, stage=stage, file=path, base=f"$[{index}]")
            if merge.entry_list_problems([entry], str(path)):
                continue
            if ranges.parse(entry.get("kamiwaza_version")).is_empty:
                problems.append(Problem(f'kamiwaza_version "{entry["kamiwaza_version"]}" matches no Kamiwaza release', file=path,
                                        field=f"$[{index}].kamiwaza_version", fix="fix the range in kamiwaza.json"))
            preview = entry.get("preview_image")
            if isinstance(preview, str) and "://" not in preview and preview not in local.files:
                problems.append(Problem(f"preview image {preview} is not in the built garden", file=path,
                                        field=f"$[{index}].preview_image", fix="run `make build-registry` again"))
    problems += registry.duplicate_problems([e for entries in local.catalogs.values() for e in entries], file=local.garden)
    return problems


# --------------------------------------------------------------------------- planning (pure over snapshots)


@dataclass(frozen=True)
class Change:
    name: str  # relative to garden/v2
    body: bytes | None  # None: delete
    expect: str  # the ETag the object must still have, or s3.ABSENT
    why: str

    @property
    def verb(self) -> str:
        return "DELETE" if self.body is None else "PUT"


@dataclass(frozen=True)
class Changes:
    decisions: tuple[merge.Decision, ...]
    objects: tuple[Change, ...]
    problems: tuple[str, ...] = ()  # refusals beyond merge decisions (image conflicts)
    notes: tuple[str, ...] = ()

    @property
    def refused(self) -> list[str]:
        return [d.line() for d in self.decisions if d.action is merge.Action.FAIL] + list(self.problems)


def catalog_bytes(catalogs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, bytes]:
    """The canonical bytes of each catalog file, written by the registry's one writer."""
    with tempfile.TemporaryDirectory(prefix="garden-") as folder:
        registry.write_garden(Path(folder), {name: list(catalogs.get(name, ())) for name in registry.CATALOG_FILES}, validate=False)
        return {name: (Path(folder) / name).read_bytes() for name in registry.CATALOG_FILES}


def _upload_order(name: str) -> tuple[int, str]:
    # images first, then tools.json, then apps.json: a catalog never points at a missing image
    return ({"tools.json": 1, "apps.json": 2}.get(name, 0), name)


def _put(name: str, body: bytes, snapshot: s3.Snapshot) -> Change | None:
    current = snapshot.get(name)
    if current is not None and current.body == body:
        return None
    return Change(name, body, current.etag if current else s3.ABSENT, "changed" if current else "new")


def plan_upsert(local: Local, remote_catalogs: Mapping[str, Sequence[Mapping[str, Any]]], snapshot: s3.Snapshot,
                *, force: bool, remote_url: Callable[[str], str]) -> Changes:
    decisions: list[merge.Decision] = []
    merged: dict[str, list[dict[str, Any]]] = {}
    for name in registry.CATALOG_FILES:
        plan = merge.plan(remote_catalogs.get(name, []), local.catalogs.get(name, []), force=force,
                          remote_source=remote_url(name), local_source=str(local.garden / name))
        decisions += plan.decisions
        merged[name] = list(plan.merged)

    objects: list[Change] = []
    problems: list[str] = []
    notes: list[str] = []
    for name in registry.CATALOG_FILES:
        elsewhere = {e.get("name") for other in registry.CATALOG_FILES if other != name for e in remote_catalogs.get(other, [])}
        for entry in local.catalogs.get(name, []):
            if entry["name"] in elsewhere:
                problems.append(f"{entry['name']} is published in the other catalog file than {name} (its template_type changed); "
                                "remove the published entry by hand, or publish it under a new name")
    problems = list(dict.fromkeys(problems))
    published = [d for d in decisions if d.action in (merge.Action.INSERT, merge.Action.REPLACE)]
    unchanged = [d for d in decisions if d.action is merge.Action.UNCHANGED]
    kept_users = _image_users([e for entries in merged.values() for e in entries])
    for decision, upload in [*((d, True) for d in published), *((d, False) for d in unchanged)]:
        entry = next(e for entries in local.catalogs.values() for e in entries
                     if e["name"] == decision.name and e["version"] == decision.version and merge.range_text(e) == decision.kamiwaza_version)
        image = entry.get("preview_image")
        if not isinstance(image, str) or "://" in image or image not in local.files:
            continue
        change = _put(image, local.files[image], snapshot)
        if change is None:
            continue
        others = sorted(kept_users.get(image, set()) - {decision.name})
        if others and change.expect != s3.ABSENT and not force:
            problems.append(f"{image} differs from the published file that {', '.join(others)} also uses; rename the preview image")
            continue
        if upload or change.expect == s3.ABSENT:
            objects.append(change)
        else:
            notes.append(f"{image} differs from the published file, but {decision.name} {decision.version} is unchanged: not uploaded (bump the version to publish it)")
    for name, body in catalog_bytes(merged).items():
        change = _put(name, body, snapshot)
        if change is not None:
            objects.append(change)
    unique = {c.name: c for c in objects}
    return Changes(tuple(decisions), tuple(sorted(unique.values(), key=lambda c: _upload_order(c.name))), tuple(problems), tuple(notes))


def _image_users(entries: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    users: dict[str, set[str]] = {}
    for entry in entries:
        image = entry.get("preview_image")
        if isinstance(image, str) and "://" not in image:
            users.setdefault(image, set()).add(str(entry.get("name")))
    return users


def plan_direct(local: Local, snapshot: s3.Snapshot) -> Changes:
    """The legacy sync: the remote garden becomes exactly the built one (deletes last)."""
    objects = [c for name, body in local.files.items() if (c := _put(name, body, snapshot)) is not None]
    objects.sort(key=lambda c: _upload_order(c.name))
    deletes = [Change(name, None, item.etag, "not in the built registry") for name, item in sorted(snapshot.items()) if name not in local.files]
    return Changes((), tuple([*objects, *deletes]))


# --------------------------------------------------------------------------- steps 3-9


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, so cleanup is not cut half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def _print_plan(changes: Changes, remote: s3.Remote) -> None:
    for decision in changes.decisions:
        log.info(f"  {decision.line()}")
    for problem in changes.problems:
        log.info(f"  FAIL      {problem}")
    for note in changes.notes:
        log.warn(note)
    if changes.objects:
        for change in changes.objects:
            log.info(f"  {change.verb:<6} {remote.target.url(change.name)} ({change.why})")
    else:
        log.info("  no remote object changes")


def _count(snapshot: s3.Snapshot, name: str) -> str:
    item = snapshot.get(name)
    if item is None:
        return "absent"
    try:
        return f"{len(json.loads(item.body))} entries"
    except (ValueError, TypeError):
        return "unreadable"


def _read_remote_catalogs(snapshot: s3.Snapshot, folder: Path, remote: s3.Remote) -> dict[str, list[dict[str, Any]]]:
    s3.write_snapshot({n: o for n, o in snapshot.items() if n in registry.CATALOG_FILES}, folder)
    try:
        return registry.read_garden(folder)
    except HarnessError as error:
        raise HarnessError(
            problems=[Problem(f"the published registry at {remote.target.url()} cannot be read", fix="inspect it with `make download-registry`; restore a backup, or replace it with `make publish-registry-direct`"), *error.problems],
            exit_code=EXIT_FAILED,
        ) from None


def _plan(local: Local, snapshot: s3.Snapshot, folder: Path, remote: s3.Remote, options: Options) -> Changes:
    if options.direct:
        return plan_direct(local, snapshot)
    remote_catalogs = _read_remote_catalogs(snapshot, folder, remote)
    return plan_upsert(local, remote_catalogs, snapshot, force=options.force, remote_url=remote.target.url)


def dry_run(remote: s3.Remote, local: Local, options: Options) -> Changes:
    """Steps 5 and 6 only: read, plan, print. Nothing remote is written, not even the lock."""
    with log.step("3/9 lock: skipped (DRY_RUN)"):
        holder = remote.read_lock()
        if holder is not None:
            log.warn(f"the lock is currently {holder.describe()}: a real publish would wait or stop")
    with log.step("4/9 backup: skipped (DRY_RUN)"):
        pass
    with log.step(f"5/9 download {remote.target.url()}"):
        snapshot = remote.snapshot()
        log.info(f"  {len(snapshot)} remote objects")
    with tempfile.TemporaryDirectory(prefix="registry-dry-run-") as folder:
        with log.step("6/9 merge (DRY_RUN: simulation)" if not options.direct else "6/9 plan direct sync (DRY_RUN)"):
            changes = _plan(local, snapshot, Path(folder), remote, options)
            _print_plan(changes, remote)
    log.info("DRY_RUN: nothing was written to S3")
    return changes


def upsert(remote: s3.Remote, local: Local, options: Options, *, root: Path, hook: Hook = _no_hook) -> Changes:
    """Steps 3 to 9 against `remote`; raise HarnessError on any refusal or failure."""
    if options.dry_run:
        changes = dry_run(remote, local, options)
        if changes.refused:
            raise HarnessError(f"DRY_RUN: publishing would be refused ({len(changes.refused)} conflicts above)",
                               fix="bump the versions or correct the ranges (or FORCE=1 in an emergency)", exit_code=EXIT_FAILED)
        return changes

    with log.step(f"3/9 acquire lock {remote.target.url(s3.LOCK_NAME)}"):
        remote.probe_conditional_writes()
        waiting = lambda holder: log.info(f"  lock {holder.describe()}; waiting up to {options.lock_timeout:g}s")
        lock = remote.acquire(options.owner, ttl=options.lock_ttl, timeout=options.lock_timeout, on_wait=waiting)
        log.info(f"  token {lock.token}, expires {lock.expires_at}")
    attempted: list[Change] = []
    snapshot: dict[str, s3.RemoteObject] = {}
    backup_dir: Path | None = None
    try:
        hook("locked")
        with log.step("4/9 back up the remote registry"):
            snapshot, backup_dir = s3.backup(remote, root, options.stage)
            log.info(f"  {len(snapshot)} objects -> {backup_dir}")
        with log.step("5/9 download the remote registry"):
            with tempfile.TemporaryDirectory(prefix="registry-remote-") as folder:
                changes = _plan(local, snapshot, Path(folder), remote, options)
            log.info("  " + ", ".join(f"{name}: {_count(snapshot, name)}" for name in registry.CATALOG_FILES))
        title = "6/9 plan direct sync (no version checks)" if options.direct else ("6/9 merge (FORCE=1)" if options.force else "6/9 merge")
        with log.step(title):
            _print_plan(changes, remote)
            if changes.refused:
                raise HarnessError(
                    problems=[Problem(line) for line in changes.refused] + [Problem(
                        f"merge refused: {len(changes.refused)} conflicts; nothing was uploaded",
                        fix="see `make publish-registry DRY_RUN=1`; bump the version, keep the broader range, or FORCE=1 in an emergency")],
                    exit_code=EXIT_FAILED)
        with log.step("7/9 upload"):
            hook("upload")
            for change in changes.objects:
                attempted.append(change)
                hook(f"upload:{change.name}")
                if change.body is None:
                    remote.delete(change.name, expect=change.expect)
                else:
                    remote.put(change.name, change.body, expect=change.expect)
                log.info(f"  {change.verb} {change.name}")
            if not changes.objects:
                log.info("  the remote registry is already up to date; nothing to upload")
        with log.step("8/9 verify"):
            hook("verify")
            s3.verify(remote, {c.name: c.body for c in changes.objects})
            log.info(f"  {len(changes.objects)} objects verified by sha256")
        return changes
    except s3.ConditionFailed as error:
        wrapped = HarnessError(f"{error}: the remote registry changed since it was read (a writer that did not take the lock?)",
                               fix="publish again: it will merge with the current remote state", exit_code=EXIT_FAILED)
        with deferred_interrupts():
            _restore_after_failure(remote, snapshot, attempted, backup_dir)
        raise wrapped from None
    except BaseException:
        with deferred_interrupts():
            _restore_after_failure(remote, snapshot, attempted, backup_dir)
        raise
    finally:
        with deferred_interrupts(), log.step("9/9 release lock"):
            try:
                log.info(f"  {remote.release(lock)}")
            except HarnessError as error:
                log.warn(f"could not release the lock ({error.problems[0].message}); remove it with "
                         f"`make remove-publish-lock STAGE={options.stage} LOCK_ID={lock.token}`")


def _restore_after_failure(remote: s3.Remote, snapshot: s3.Snapshot, attempted: Sequence[Change], backup_dir: Path | None) -> None:
    if not attempted:
        log.info("nothing was written to S3; the remote registry is as it was")
        return
    with log.step(f"restore the backup {backup_dir}"):
        try:
            leftovers = s3.restore(remote, snapshot, {c.name: c.body for c in attempted})
        except BaseException as error:
            log.warn(f"RESTORE FAILED ({error}); the remote registry may be inconsistent. Restore it by hand: "
                     f"aws s3 sync {backup_dir}/ {remote.target.url()} --delete")
            raise
        if leftovers:
            log.warn("not restored, because someone else changed them meanwhile: " + "; ".join(leftovers))
        else:
            log.info(f"  restored and verified {len(attempted)} objects from {backup_dir}: the remote registry is as it was")


# --------------------------------------------------------------------------- the command


def publish(settings: Settings, *, direct: bool = False, remote: s3.Remote | None = None, hook: Hook = _no_hook,
            harness: Path = HARNESS_DIR) -> int:
    """All nine steps for `settings.root` and `settings.stage`; returns the exit code."""
    options = options_from(settings, direct=direct)
    remote = remote or s3.connect(settings)  # settings errors before any work
    mode = "publish-registry-direct" if direct else "publish-registry"
    flags = " ".join(f for f, on in (("DRY_RUN=1", options.dry_run), ("FORCE=1", options.force)) if on)
    log.info(f"{mode} STAGE={options.stage} {flags}".rstrip() + f" -> {remote.target.describe()}")
    with log.step(f"1/9 rebuild the registry for stage {options.stage}"):
        build = registry.build_registry(settings.root, options.stage, env=settings.env)
        local = load_local(build.garden)
        log.info(f"  {sum(len(v) for v in local.catalogs.values())} entries in {build.garden}")
    with log.step("2/9 validate (entries, and the green-suite gate)"):
        problems = local_problems(local, options.stage)
        if problems:
            raise HarnessError(problems=problems, exit_code=EXIT_FAILED)
        result = gate(settings.root, harness)
        if not result.green:
            raise gate_error(result)
        log.info(f"  {result.how}")
    local = image_check.prepare(local, settings, options)  # images exist (and are pinned) before any remote step
    changes = upsert(remote, local, options, root=settings.root, hook=hook)
    if not options.dry_run:
        written = len(changes.objects)
        log.info(f"published to {remote.target.url()}: {written} objects written" if written else f"{remote.target.url()} was already up to date")
    return EXIT_OK


def download(settings: Settings, *, remote: s3.Remote | None = None) -> Path:
    """`make download-registry`: the remote garden -> build/registry-download/{stage}/ (replaced as a whole)."""
    remote = remote or s3.connect(settings)
    folder = Path(settings.root) / "build" / "registry-download" / settings.stage
    with log.step(f"download {remote.target.url()}"):
        snapshot = remote.snapshot()
        s3.replace_folder(snapshot, folder)
    if not snapshot:
        log.info(f"{remote.target.url()} holds no registry yet; {folder} is empty")
    else:
        catalogs = registry.read_garden(folder)
        counts = ", ".join(f"{name}: {len(entries)} entries" for name, entries in catalogs.items())
        log.info(f"saved {len(snapshot)} objects to {folder} ({counts})")
    holder = remote.read_lock()
    if holder is not None:
        log.warn(f"the registry lock is {holder.describe()}")
    return folder


def remove_lock(settings: Settings, *, lock_id: str | None, remote: s3.Remote | None = None) -> int:
    remote = remote or s3.connect(settings)
    removed = remote.remove_lock(lock_id)
    if removed is None:
        log.info(f"no lock at {remote.target.url(s3.LOCK_NAME)}; nothing removed")
    else:
        log.info(f"removed the lock {remote.target.url(s3.LOCK_NAME)}: it was {removed.describe()}")
    return EXIT_OK


__all__ = [
    "Options", "options_from", "gate", "tree_hash", "record_green", "run_checks", "Local", "load_local", "local_problems",
    "plan_upsert", "plan_direct", "upsert", "publish", "download", "remove_lock",
]
