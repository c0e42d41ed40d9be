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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from release import checks_run, fileio, image_check, log, merge, registry, registry_lock, s3
from release.config import Settings, parse_seconds
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, HarnessError, Problem

HARNESS_DIR = checks_run.HARNESS_ROOT
GREEN_RECORD = Path("build") / "checks-green.json"
Hook = Callable[[str], None]  # called at named points (steps and every S3 call); tests inject failures with it


def _no_hook(point: str) -> None:
    return None


# The hook used when a caller passes none: a test's publisher process sets it before calling cli.main.
DEFAULT_HOOK: Hook = _no_hook


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
    lock_id: str | None = None  # LOCK_ID: take over exactly this lock (an interrupted publish), never another


def options_from(settings: Settings, *, direct: bool = False) -> Options:
    return Options(
        stage=settings.stage,
        dry_run=settings.dry_run,
        force=settings.force,
        direct=direct,
        lock_timeout=parse_seconds("LOCK_TIMEOUT", settings.get("LOCK_TIMEOUT"), 0.0),
        lock_ttl=s3.lock_ttl(settings),
        owner=s3.current_user(),
        lock_id=settings.get("LOCK_ID"),
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
    """Every built entry: schema and stage tags, its range (merge.entry_list_problems), and its preview image present."""
    problems: list[Problem] = []
    for name, entries in local.catalogs.items():
        path = local.garden / name
        problems += merge.entry_list_problems(list(entries), str(path))
        for index, entry in enumerate(entries):
            problems += registry.entry_problems(entry, stage=stage, file=path, base=f"$[{index}]")
            if merge.entry_list_problems([entry], str(path)):
                continue
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

    summary: tuple[str, ...] = ()  # what a catalog transform did (unpublish, restore), one line each

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


def plan_exact(files: Mapping[str, bytes], snapshot: s3.Snapshot, why: str = "not in the backup") -> Changes:
    """Changes that make the remote garden exactly `files` (puts in upload order, deletes last)."""
    objects = [c for name, body in files.items() if (c := _put(name, body, snapshot)) is not None]
    objects.sort(key=lambda c: _upload_order(c.name))
    deletes = [Change(name, None, item.etag, why) for name, item in sorted(snapshot.items()) if name not in files]
    return Changes((), tuple([*objects, *deletes]))


# --------------------------------------------------------------------------- transactions (steps 3-9)

Catalogs = Mapping[str, Sequence[Mapping[str, Any]]]
Planner = Callable[[s3.Snapshot], Changes]  # the remote registry as read under the lock -> the changes to make
Transform = Callable[[Catalogs], tuple[Catalogs, Sequence[str]]]  # current catalogs -> new catalogs, and what changed


@dataclass(frozen=True)
class Transaction:
    """One locked change of the remote registry: what it is called in the lock, and how it plans."""

    operation: str  # recorded in the lock: "publish-registry", "unpublish NAME VERSION", "restore-registry TS"
    planner: Planner
    title: str = "6/9 merge"


class Signals:
    """SIGINT and SIGTERM while a transaction runs.

    The first one stops the work (KeyboardInterrupt), so a hung request or a wait can be
    cut short; every later one, and any that arrives inside `held()` (restore, lock
    release), only waits until that block is over: cleanup is never cut half-way."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.fired = False
        self.holding = 0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "Signals":
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame: object) -> None:
        if self.holding or self.fired:
            self.pending.append(number)
            return
        self.fired = True
        raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> bool:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        if self.pending and kind is None:
            raise KeyboardInterrupt  # a signal held during cleanup: stop now that it is done
        return False


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (kept for callers outside a transaction)."""
    with Signals() as signals, signals.held():
        yield


def _print_plan(changes: Changes, remote: s3.Remote) -> None:
    for decision in changes.decisions:
        log.info(f"  {decision.line()}")
    for line in changes.summary:
        log.info(f"  {line}")
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
        return log.plural(len(json.loads(item.body)), "entry", "entries")
    except (ValueError, TypeError):
        return "unreadable"


def remote_catalogs(snapshot: s3.Snapshot, remote: s3.Remote) -> dict[str, list[dict[str, Any]]]:
    """The catalogs in a snapshot, parsed by the registry's one reader."""
    with tempfile.TemporaryDirectory(prefix="registry-remote-") as folder:
        s3.write_snapshot({n: o for n, o in snapshot.items() if n in registry.CATALOG_FILES}, Path(folder))
        try:
            return registry.read_garden(Path(folder))
        except HarnessError as error:
            raise HarnessError(
                problems=[Problem(f"the published registry at {remote.target.url()} cannot be read",
                                  fix="inspect it with `make download-registry`; `make restore-registry` a backup, or replace it with `make publish-registry-direct`"),
                          *error.problems],
                exit_code=EXIT_FAILED,
            ) from None


def upsert_planner(local: Local, remote: s3.Remote, options: Options) -> Planner:
    """publish-registry: the version-aware merge of the local registry into the remote one (or the direct sync)."""
    def plan(snapshot: s3.Snapshot) -> Changes:
        if options.direct:
            return plan_direct(local, snapshot)
        return plan_upsert(local, remote_catalogs(snapshot, remote), snapshot, force=options.force, remote_url=remote.target.url)

    return plan


def catalog_planner(remote: s3.Remote, transform: Transform) -> Planner:
    """A planner from `current catalogs -> new catalogs`: the changed catalog files, and the preview
    images no entry uses any more (deleted after the catalogs, so no catalog points at a missing image)."""
    def plan(snapshot: s3.Snapshot) -> Changes:
        current = remote_catalogs(snapshot, remote)
        new, summary = transform(current)
        objects = [c for name, body in catalog_bytes(new).items() if (c := _put(name, body, snapshot)) is not None]
        still_used = set(_image_users([e for entries in new.values() for e in entries]))
        were_used = set(_image_users([e for entries in current.values() for e in entries]))
        deletes = [Change(image, None, snapshot[image].etag, "no published entry uses it any more")
                   for image in sorted(were_used - still_used) if image in snapshot]
        return Changes((), tuple([*sorted(objects, key=lambda c: _upload_order(c.name)), *deletes]), summary=tuple(summary))

    return plan


def simulate(remote: s3.Remote, transaction: Transaction, options: Options) -> Changes:
    """DRY_RUN: read, plan, print. Nothing remote is written, not even the lock."""
    with log.step("3/9 lock: skipped (DRY_RUN)"):
        holder = remote.read_lock()
        if holder is not None:
            log.warn("a real run would wait or stop here:\n" + "\n".join(s3.lock_report(remote, holder)))
    with log.step("4/9 backup: skipped (DRY_RUN)"):
        pass
    with log.step(f"5/9 download {remote.target.url()}"):
        snapshot = remote.snapshot()
        log.info(f"  {len(snapshot)} remote objects")
    with log.step(f"{transaction.title} (DRY_RUN: simulation)"):
        changes = transaction.planner(snapshot)
        _print_plan(changes, remote)
    log.info("DRY_RUN: nothing was written to S3")
    return changes


@dataclass
class _Run:
    """What a running transaction holds, for the cleanup."""

    lock: s3.Lock
    previous: s3.Lock | None = None  # the lock taken over (LOCK_ID)
    backup: s3.Backup | None = None
    attempted: list[Change] = field(default_factory=list)


def transact(remote: s3.Remote, options: Options, transaction: Transaction, *, root: Path, hook: Hook | None = None) -> Changes:
    """Steps 3 to 9 of any change to the remote registry; raise HarnessError on any refusal or failure.

    3 lock (after the probe; LOCK_ID takes over that lock)   4 back up (build/ and the bucket)
    5 read and plan   6 print, refuse on conflicts, record the plan in the lock   7 write   8 verify
    9 release. A failure after the first write restores the backup under the lock; a failed restore
    keeps the lock, whose plan then explains the registry to whoever comes next."""
    hook = hook or DEFAULT_HOOK
    if options.dry_run:
        return simulate(remote, transaction, options)
    remote.on_call = hook
    with Signals() as signals:
        run: _Run | None = None
        try:
            with log.step(f"3/9 acquire lock {remote.target.url(s3.LOCK_NAME)}"):
                removed = remote.clean_probes()
                if removed:
                    log.info(f"  removed {removed} probe objects left by earlier runs under s3://{remote.target.bucket}/{s3.PROBE_PREFIX}/")
                remote.probe_conditional_writes()
                hook("probed")
                if options.lock_id:
                    lock, previous = remote.take_over(options.lock_id, options.owner, ttl=options.lock_ttl, operation=transaction.operation)
                    run = _Run(lock, previous)
                    if previous is not None:
                        log.warn("took over the lock of a stopped run (LOCK_ID):\n" + "\n".join(s3.lock_report(remote, previous)))
                else:
                    waiting = lambda holder: log.info(f"  lock {holder.describe()}; waiting up to {options.lock_timeout:g}s")
                    run = _Run(remote.acquire(options.owner, ttl=options.lock_ttl, timeout=options.lock_timeout, on_wait=waiting,
                                              operation=transaction.operation))
                log.info(f"  token {run.lock.token}, expires {run.lock.expires_at}")
            hook("locked")
            changes = _locked_steps(remote, options, transaction, run, root=root, hook=hook)
        except BaseException as error:
            if run is None:  # no lock taken: nothing to restore or release
                raise
            with signals.held():
                failure = _after_failure(remote, options, run, error, hook=hook)
            if failure is not None:
                raise failure from None
            raise
        with signals.held():
            _release(remote, run.lock, options, published=True)
    return changes


def _locked_steps(remote: s3.Remote, options: Options, transaction: Transaction, run: _Run, *, root: Path, hook: Hook) -> Changes:
    with log.step("4/9 back up the remote registry"):
        run.backup = s3.backup(remote, root, options.stage)
        log.info(f"  {log.plural(len(run.backup.snapshot), 'object')} -> {run.backup.folder}")
    with log.step("5/9 download the remote registry"):
        changes = transaction.planner(run.backup.snapshot)
        log.info("  " + ", ".join(f"{name}: {_count(run.backup.snapshot, name)}" for name in registry.CATALOG_FILES))
    with log.step(transaction.title):
        _print_plan(changes, remote)
        if changes.refused:
            raise HarnessError(
                problems=[Problem(line) for line in changes.refused] + [Problem(
                    f"merge refused: {log.plural(len(changes.refused), 'conflict')}; nothing was uploaded",
                    fix="see `make publish-registry DRY_RUN=1`; bump the version, keep the broader range, or FORCE=1 in an emergency")],
                exit_code=EXIT_FAILED)
        if changes.objects:  # backup and plan are in the bucket before the first write: a stop half-way is explained
            s3.backup_to_bucket(remote, options.stage, run.backup, token=run.lock.token, hook=hook)
            log.info(f"  backup {run.backup.timestamp} -> {run.backup.remote_url}")
            hook("backed-up")
            written = {c.name: c.body for c in changes.objects}
            run.lock = remote.update_lock(run.lock, run.lock.with_plan(run.backup.describe(), s3.plan_items(run.backup.snapshot, written)))
            log.info(f"  plan recorded in the lock ({log.plural(len(written), 'object')})")
    hook("planned")
    with log.step("7/9 upload"):
        hook("upload")
        for change in changes.objects:
            run.attempted.append(change)
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
        log.info(f"  {log.plural(len(changes.objects), 'object')} verified by sha256")
    hook("release")  # the last point a stop still restores: after it, the run is done and only the lock goes
    return changes


def _recovery(remote: s3.Remote, stage: str, lock: s3.Lock, backup: s3.Backup | None) -> str:
    finish = registry_lock.make("publish-registry", STAGE=stage, LOCK_ID=lock.token)
    if backup is None:
        return f"`{finish}`"
    restore = registry_lock.make("restore-registry", STAGE=stage, BACKUP=backup.timestamp, LOCK_ID=lock.token)
    return f"`{restore}` (puts the backup back, verified), or `{finish}` (merges into the current state and finishes)"


def _after_failure(remote: s3.Remote, options: Options, run: _Run, error: BaseException, *, hook: Hook) -> HarnessError | None:
    """Restore what this run wrote, then release the lock (or put back the one taken over).

    Returns the error to raise instead of `error`, or None to let `error` go on."""
    reason = "interrupted (SIGINT/SIGTERM)" if isinstance(error, KeyboardInterrupt) else registry_lock.printable(
        error.problems[0].message if isinstance(error, HarnessError) else error, 500)
    replacement: HarnessError | None = None
    if isinstance(error, s3.ConditionFailed):
        replacement = HarnessError(f"{error}: the remote registry changed since it was read (a writer that did not take the lock?)",
                                   fix="publish again: it will merge with the current remote state", exit_code=EXIT_FAILED)
    if not run.attempted:
        log.info("nothing was written to the registry; it is as it was")
    else:
        assert run.backup is not None
        with log.step(f"restore the backup {run.backup.timestamp} ({run.backup.folder})"):
            try:
                leftovers = s3.restore(remote, run.backup.snapshot, {c.name: c.body for c in run.attempted}, hook=hook)
            except BaseException as failure:  # the lock stays: nobody may publish over a mixed registry
                why = failure.problems[0].message if isinstance(failure, HarnessError) else f"{type(failure).__name__}: {failure}"
                return HarnessError(
                    f"the run stopped ({reason}) after writing to the registry, and RESTORE FAILED ({registry_lock.printable(why, 500)}). "
                    f"The registry may be mixed, so the lock {remote.target.url(s3.LOCK_NAME)} is kept (token {run.lock.token}); "
                    f"the registry before this run is the backup {run.backup.timestamp} ({run.backup.remote_url}, {run.backup.folder})",
                    fix=f"once S3 answers again, from any machine: {_recovery(remote, options.stage, run.lock, run.backup)}",
                    exit_code=EXIT_FAILED)
            if leftovers:
                log.warn("not restored, because someone else changed them meanwhile: " + "; ".join(leftovers))
            else:
                log.info(f"  restored and verified {log.plural(len(run.attempted), 'object')} from {run.backup.timestamp}: the registry is as it was before this run")
    if run.previous is not None and run.previous.plan is not None:
        statuses = registry_lock.status(run.previous.plan, remote.hashes([i.name for i in run.previous.plan]))
        if registry_lock.is_mixed(statuses):  # still the interrupted run's state: its lock explains it
            try:
                remote.put_back(run.lock, run.previous)
                log.warn(f"put back the lock of the stopped run (token {registry_lock.printable(run.previous.token)}): the registry is still as that run left it")
            except (HarnessError, s3.ConditionFailed) as failure:
                log.warn(f"could not put back the stopped run's lock ({failure}); this run's lock {run.lock.token} stays")
            return replacement
    try:
        _release(remote, run.lock, options, published=False)
    except HarnessError as failure:
        log.warn(failure.problems[0].message + ". " + (failure.problems[0].fix or ""))
    return replacement


def _release(remote: s3.Remote, lock: s3.Lock, options: Options, *, published: bool) -> None:
    with log.step("9/9 release lock"):
        try:
            log.info(f"  {remote.release(lock)}")
        except HarnessError as error:
            done = "the registry was written and verified, but " if published else ""
            raise HarnessError(
                f"{done}releasing the lock {remote.target.url(s3.LOCK_NAME)} failed: {error.problems[0].message}",
                fix=f"remove it: `{registry_lock.make('remove-publish-lock', STAGE=options.stage, LOCK_ID=lock.token)}`",
                exit_code=EXIT_FAILED) from None


def upsert(remote: s3.Remote, local: Local, options: Options, *, root: Path, hook: Hook | None = None) -> Changes:
    """publish-registry's steps 3 to 9 (or the DRY_RUN simulation) for a loaded, validated local registry."""
    title = "6/9 plan direct sync (no version checks)" if options.direct else ("6/9 merge (FORCE=1)" if options.force else "6/9 merge")
    transaction = Transaction("publish-registry-direct" if options.direct else "publish-registry", upsert_planner(local, remote, options), title)
    changes = transact(remote, options, transaction, root=root, hook=hook)
    if options.dry_run and changes.refused:
        raise HarnessError(f"DRY_RUN: publishing would be refused ({log.plural(len(changes.refused), 'conflict')} above)",
                           fix="bump the versions or correct the ranges (or FORCE=1 in an emergency)", exit_code=EXIT_FAILED)
    return changes


# --------------------------------------------------------------------------- the commands


def publish(settings: Settings, *, direct: bool = False, remote: s3.Remote | None = None, hook: Hook | None = None,
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
    # the local registry is loaded and validated, nothing remote is locked yet; real and DRY_RUN paths both pass here
    local = image_check.prepare(local, settings, options)  # images exist (and are pinned) before any remote step
    changes = upsert(remote, local, options, root=settings.root, hook=hook)
    if not options.dry_run:
        written = len(changes.objects)
        log.info(f"published to {remote.target.url()}: {written} objects written" if written else f"{remote.target.url()} was already up to date")
    return EXIT_OK


def unpublish(settings: Settings, name: str | None, version: str | None, *, remote: s3.Remote | None = None, hook: Hook | None = None) -> int:
    """`make unpublish NAME= VERSION=`: withdraw one release through the same lock, backup, verify and restore as a publish."""
    missing = [v for v, value in (("NAME", name), ("VERSION", version)) if not value]
    if missing:
        raise HarnessError(f"unpublish needs {' and '.join(missing)}", field=", ".join(missing),
                           fix="run `make unpublish NAME=<extension> VERSION=<x.y.z> [STAGE=..]` (`make list-published` shows what is published)")
    assert name and version
    options = options_from(settings)
    remote = remote or s3.connect(settings)
    log.info(f"unpublish {name} {version} STAGE={options.stage}{' DRY_RUN=1' if options.dry_run else ''} -> {remote.target.describe()}")
    transaction = Transaction(f"unpublish {name} {version}", catalog_planner(remote, without_release(name, version, remote)), "6/9 withdraw")
    changes = transact(remote, options, transaction, root=settings.root, hook=hook)
    if not options.dry_run:
        log.info(f"withdrew {name} {version} from {remote.target.url()}: {log.plural(len(changes.objects), 'object')} written")
    return EXIT_OK


def without_release(name: str, version: str, remote: s3.Remote) -> Transform:
    """The transform for unpublish: every entry of `name` at `version` removed; exit 2 when there is none."""
    def transform(catalogs: Catalogs) -> tuple[Catalogs, list[str]]:
        removed: list[str] = []
        kept: dict[str, list[Mapping[str, Any]]] = {}
        for file, entries in catalogs.items():
            kept[file] = []
            for entry in entries:
                if entry.get("name") == name and str(entry.get("version")) == version:
                    removed.append(f"REMOVE    {name} {version} (kamiwaza_version {entry.get('kamiwaza_version', '*')}) from {file}")
                else:
                    kept[file].append(entry)
        if not removed:
            versions = sorted({str(e.get("version")) for entries in catalogs.values() for e in entries if e.get("name") == name})
            published = f"the published versions of {name} are {', '.join(versions)}" if versions else f"{name} is not published at all in stage {remote.target.stage}"
            raise HarnessError(f"{name} {version} is not published at {remote.target.url()}; {published}", field="VERSION",
                               fix="pass a published VERSION (and the right STAGE); `make download-registry` shows the catalogs",
                               exit_code=EXIT_BAD_INPUT)
        return kept, removed

    return transform


def restore_registry(settings: Settings, stamp: str | None, *, remote: s3.Remote | None = None, hook: Hook | None = None) -> int:
    """`make restore-registry STAGE= BACKUP=<timestamp> [LOCK_ID=]`: the registry becomes that bucket backup, under the lock, verified."""
    options = options_from(settings)
    remote = remote or s3.connect(settings)
    if not stamp:
        available = s3.list_backups(remote, options.stage)
        raise HarnessError("restore-registry needs BACKUP=<timestamp>", field="BACKUP",
                           fix=("the backups of this stage in the bucket: " + ", ".join(available[-10:])) if available else "this stage has no bucket backups yet")
    log.info(f"restore-registry STAGE={options.stage} BACKUP={registry_lock.printable(stamp)} -> {remote.target.describe()}")
    with log.step(f"read and check the backup {registry_lock.printable(stamp)}"):
        files = s3.read_backup(remote, options.stage, stamp)
        log.info(f"  {log.plural(len(files), 'object')}, each matching the manifest's sha256")

    def plan(snapshot: s3.Snapshot) -> Changes:
        changes = plan_exact(files, snapshot)
        return Changes((), changes.objects, summary=(f"RESTORE   the registry as backed up at {stamp}",))

    changes = transact(remote, options, Transaction(f"restore-registry {stamp}", plan, "6/9 plan the restore"), root=settings.root, hook=hook)
    if not options.dry_run:
        log.info(f"restored {remote.target.url()} to the backup {stamp}: {log.plural(len(changes.objects), 'object')} written and verified")
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
        counts = ", ".join(f"{name}: {log.plural(len(entries), 'entry', 'entries')}" for name, entries in catalogs.items())
        log.info(f"saved {log.plural(len(snapshot), 'object')} to {folder} ({counts})")
    holder = remote.read_lock()
    if holder is not None:
        log.warn("\n".join(s3.lock_report(remote, holder)))
    return folder


def remove_lock(settings: Settings, *, lock_id: str | None, remote: s3.Remote | None = None) -> int:
    remote = remote or s3.connect(settings)
    removed = remote.remove_lock(lock_id)
    if removed is None:
        log.info(f"no lock at {remote.target.url(s3.LOCK_NAME)}; nothing removed")
    else:
        lines = s3.lock_report(remote, removed, held=False)
        log.info(f"removed the lock {remote.target.url(s3.LOCK_NAME)}: it was {removed.describe()}")
        for line in lines[1:]:
            log.info(line)
    return EXIT_OK


__all__ = [
    "Options", "options_from", "gate", "tree_hash", "record_green", "run_checks", "Local", "load_local", "local_problems",
    "plan_upsert", "plan_direct", "plan_exact", "Transaction", "transact", "catalog_planner", "upsert_planner", "upsert",
    "publish", "unpublish", "restore_registry", "download", "remove_lock",
]
