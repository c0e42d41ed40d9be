"""Publishing under crashes and S3 faults: the matrix of issue 13.

One scenario for the whole module: an app and a tool published at 1.0.0 (`before`), then both
bumped to 1.1.0 with new preview images; a clean publish of that gives `after`. Every case
starts a fresh bucket at `before` and publishes through a fault-injecting proxy in front of
moto_server (tests/plugins/fault_proxy.py), stopping or failing at one step:

    kill -9, SIGTERM   a real publisher process (tests/plugins/publisher.py) paused at the step
    S3 error           the next request after the step answers 503 on every attempt
    lost response      the next request after the step is forwarded and its answer dropped

After every case: the registry is byte-identical to `before` or `after`, or a lock is there
whose message (from the next command) says what happened and how out, and the way out
(`publish-registry LOCK_ID=` or `restore-registry BACKUP= LOCK_ID=`) ends at `after` or
`before`; never a traceback; every wait bounded (S3_READ_TIMEOUT, S3_MAX_ATTEMPTS, timeouts).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from release import cli, config, publish, s3
from tests.conftest import HARNESS_VARIABLES, REPO_ROOT
from tests.plugins.fault_proxy import FaultProxy
from tests.plugins.s3_server import MotoServer, S3Bucket, new_bucket
from tests.test_publish import find, green, make_repo, set_manifest

pytestmark = pytest.mark.s3
REGISTRY = "garden/v2/"
LOCK_KEY = "garden/v2/registry.lock"
ATTEMPTS = 2
FAST = {"S3_MAX_ATTEMPTS": str(ATTEMPTS), "S3_READ_TIMEOUT": "2", "S3_CONNECT_TIMEOUT": "2"}

# Every step of a publish where it can stop, in order.
STEPS = [
    "s3:put_object:garden/v2/registry.lock",  # the lock PUT itself
    "locked",
    "backed-up",  # the bucket backup is written, the plan not yet
    "planned",  # the plan is in the lock; nothing written yet
    "upload:images/app-board.svg",
    "upload:images/tool-alpha.svg",
    "upload:tools.json",  # images written
    "upload:apps.json",  # tools.json new, apps.json old: the mixed registry of the issue
    "verify",
    "release",
]


@dataclass
class Scenario:
    root: Path
    before: dict[str, bytes]
    after: dict[str, bytes]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture(scope="module")
def proxy(moto_server: MotoServer):
    server = FaultProxy(moto_server.endpoint)
    yield server
    server.close()


@pytest.fixture(scope="module")
def scenario(moto_server: MotoServer, tmp_path_factory) -> Scenario:
    root = make_repo(tmp_path_factory.mktemp("faults") / "repo", ("app", "app-board"), ("tool", "tool-alpha"))
    for name in ("app-board", "tool-alpha"):
        set_manifest(root, name, version="1.0.0")
    green(root)
    bucket = new_bucket(moto_server)
    settings = lambda: config.resolve({"STAGE": "dev"}, root=root, environ=dict(bucket.env))
    assert publish.publish(settings()) == 0
    before = bucket.objects(REGISTRY)
    for name in ("app-board", "tool-alpha"):
        set_manifest(root, name, version="1.1.0")
        (find(root, name).path / "assets" / f"{name}.svg").write_text(f"<svg><!-- {name} 1.1.0 --></svg>\n", encoding="utf-8")
    green(root)
    assert publish.publish(settings()) == 0
    after = bucket.objects(REGISTRY)
    assert before != after and LOCK_KEY not in after
    return Scenario(root, before, after)


@pytest.fixture
def bucket(moto_server, proxy, scenario, monkeypatch) -> S3Bucket:
    """A fresh bucket at `before`, reached through the proxy, with short timeouts."""
    proxy.clear()
    made = new_bucket(moto_server, endpoint=proxy.endpoint)
    made.seed(scenario.before)
    made.env.update(FAST)
    for key in HARNESS_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    for key, value in made.env.items():
        monkeypatch.setenv(key, value)
    return made


def run(root: Path, *args: str, hook=None, capsys, monkeypatch, **env: str) -> Result:
    """`python -m release ...` in-process, as make runs it; `hook` is the publish hook for this run."""
    for key in ("LOCK_ID", "BACKUP"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(publish, "DEFAULT_HOOK", hook or publish._no_hook)
    capsys.readouterr()
    code = cli.main(["--root", str(root), *args])
    captured = capsys.readouterr()
    result = Result(code, captured.out, captured.err)
    assert "Traceback" not in result.text, result.text
    return result


def start_publisher(root: Path, bucket: S3Bucket, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES and not k.startswith("AWS_")}
    env.update(bucket.env, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, "-m", "tests.plugins.publisher", *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_paused(process: subprocess.Popen, point: str, timeout: float = 60.0) -> str:
    """Read stderr until the publisher says it paused at `point` (bounded)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while f"PAUSED {point}" not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            out, err = process.communicate(timeout=30)
            raise AssertionError(f"the publisher never paused at {point} (exit {process.returncode}):\n{out}\n{seen}{err}")
        ready, _, _ = select.select([process.stderr], [], [], 0.5)
        if ready:
            seen += process.stderr.readline()
    return seen


def finish(process: subprocess.Popen, seen: str) -> Result:
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = Result(process.returncode, out, seen + err)
    assert "Traceback" not in result.text, result.text
    return result


def lock_of(bucket: S3Bucket) -> dict | None:
    body = bucket.get(LOCK_KEY)
    return None if body is None else json.loads(body)


def registry(bucket: S3Bucket) -> dict[str, bytes]:
    return {k: v for k, v in bucket.objects(REGISTRY).items() if k != LOCK_KEY}


def recover(scenario: Scenario, bucket: S3Bucket, route: str, *, check_download: bool = False, **kw) -> None:
    """A lock was left: the next publish explains it, and the chosen way out completes."""
    lock = lock_of(bucket)
    assert lock is not None
    refused = run(scenario.root, "publish-registry", **kw)
    assert refused.code == 1 and "registry.lock" in refused.err and f"LOCK_ID={lock['token']}" in refused.err, refused.text
    if lock.get("plan"):
        assert re.search(r"(new|old|unknown)\s+(tools|apps)\.json", refused.err), refused.err
        assert f"make restore-registry STAGE=dev BACKUP={lock['backup']['timestamp']} LOCK_ID={lock['token']}" in refused.err
    if check_download:
        explained = run(scenario.root, "download-registry", **kw)
        assert f"LOCK_ID={lock['token']}" in explained.err and "two ways out" in explained.err
    if route == "restore" and lock.get("backup"):
        done = run(scenario.root, "restore-registry", BACKUP=lock["backup"]["timestamp"], LOCK_ID=lock["token"], **kw)
        assert done.code == 0, done.text
        assert registry(bucket) == scenario.before
    else:
        done = run(scenario.root, "publish-registry", LOCK_ID=lock["token"], **kw)
        assert done.code == 0, done.text
        assert registry(bucket) == scenario.after
    assert lock_of(bucket) is None


# --- kill -9 and SIGTERM: a real publisher process stopped at each step ---------------------------


@pytest.mark.parametrize("index", range(len(STEPS)), ids=STEPS)
def test_kill_9_at_each_step_is_explained_and_recoverable(scenario, bucket, index, capsys, monkeypatch):
    point = STEPS[index]
    process = start_publisher(scenario.root, bucket, "--pause", point, "--", "--root", str(scenario.root), "publish-registry")
    wait_paused(process, point)
    process.kill()
    process.wait(timeout=30)
    state = registry(bucket)
    if lock_of(bucket) is None:
        assert state == scenario.before
        assert run(scenario.root, "publish-registry", capsys=capsys, monkeypatch=monkeypatch).code == 0
        assert registry(bucket) == scenario.after
        return
    recover(scenario, bucket, "restore" if index % 2 else "publish", capsys=capsys, monkeypatch=monkeypatch)


# SIGTERM at every step; SIGINT takes the same path, shown at the mixed-registry step.
SIGNAL_CASES = [(point, signal.SIGTERM) for point in STEPS] + [("upload:apps.json", signal.SIGINT)]


@pytest.mark.parametrize(("point", "number"), SIGNAL_CASES, ids=[f"{p}-{signal.Signals(n).name}" for p, n in SIGNAL_CASES])
def test_a_signal_at_each_step_restores_and_releases(scenario, bucket, point, number, capsys, monkeypatch):
    process = start_publisher(scenario.root, bucket, "--pause", point, "--", "--root", str(scenario.root), "publish-registry")
    seen = wait_paused(process, point)
    process.send_signal(number)
    result = finish(process, seen)
    assert result.code == 130 and "interrupted" in result.err, result.text
    assert registry(bucket) == scenario.before
    assert lock_of(bucket) is None


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_during_the_restore_waits_for_it(scenario, bucket, number):
    """Fail at verify (all four objects written), then signal while the restore runs: it still finishes."""
    process = start_publisher(scenario.root, bucket, "--fail", "verify", "--pause", "restore:tools.json", "--pause-seconds", "2",
                              "--", "--root", str(scenario.root), "publish-registry")
    seen = wait_paused(process, "restore:tools.json")
    process.send_signal(number)
    result = finish(process, seen)
    assert result.code in (1, 130), result.text
    assert "restored and verified 4 objects" in result.out and "released the lock" in result.out
    assert registry(bucket) == scenario.before and lock_of(bucket) is None


# --- S3 faults at each step, through the proxy ----------------------------------------------------


def arm_at(point: str, proxy: FaultProxy, action: str, times: int):
    armed = []

    def hook(name: str) -> None:
        if name == point and not armed:
            armed.append(name)
            proxy.add(action, times=times)

    return hook


@pytest.mark.parametrize("point", STEPS)
def test_an_s3_error_at_each_step(scenario, bucket, proxy, point, capsys, monkeypatch):
    result = run(scenario.root, "publish-registry", hook=arm_at(point, proxy, "503", ATTEMPTS), capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 1, result.text
    assert "failed the request" in result.err and f"{ATTEMPTS} attempts" in result.err and "SlowDown" in result.err
    if point == "release":  # all written and verified; only the lock DELETE failed: it says so and exits 1
        assert "the registry was written and verified, but releasing the lock" in result.err
        assert "make remove-publish-lock STAGE=dev LOCK_ID=" in result.err
        assert registry(bucket) == scenario.after
        recover(scenario, bucket, "publish", capsys=capsys, monkeypatch=monkeypatch)
        return
    assert registry(bucket) == scenario.before
    assert lock_of(bucket) is None


@pytest.mark.parametrize("point", STEPS)
def test_a_lost_response_at_each_step_is_no_failure(scenario, bucket, proxy, point, capsys, monkeypatch):
    result = run(scenario.root, "publish-registry", hook=arm_at(point, proxy, "lost", 1), capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 0, result.text
    assert registry(bucket) == scenario.after
    assert lock_of(bucket) is None
    assert any(action == "lost" for _, _, action in proxy.seen)


# --- single faults: exact messages ------------------------------------------------------------------


def test_a_lost_lock_response_holds_our_own_lock(scenario, bucket, proxy, capsys, monkeypatch):
    proxy.add("lost", method="PUT", key="registry.lock")
    result = run(scenario.root, "publish-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 0 and "held by" not in result.text, result.text
    assert registry(bucket) == scenario.after


def test_a_hung_store_fails_within_the_bounded_wait(scenario, bucket, proxy, capsys, monkeypatch):
    proxy.add("delay:4", method="GET", times=ATTEMPTS)  # longer than S3_READ_TIMEOUT=2, on every attempt
    result = run(scenario.root, "download-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 1 and "did not answer within 2s" in result.err and f"{ATTEMPTS} attempts" in result.err


def test_a_corrupted_body_is_read_again_then_named(scenario, bucket, proxy, capsys, monkeypatch):
    proxy.add("corrupt", method="GET", key="tools.json", times=1)
    result = run(scenario.root, "download-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 0, result.text  # one bad read is read again
    proxy.add("corrupt", method="GET", key="tools.json", times=10)
    result = run(scenario.root, "download-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 1 and "do not match their" in result.err and "corrupted" in result.err, result.text


def test_access_denied_is_named(scenario, bucket, proxy, capsys, monkeypatch):
    proxy.add("403", times=10)
    result = run(scenario.root, "download-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 2 and "access denied to s3://" in result.err


def test_a_store_without_conditional_writes_is_named(scenario, bucket, proxy, capsys, monkeypatch):
    proxy.add("501", method="PUT", times=10, when=lambda request: "If-None-Match" in request.headers)
    result = run(scenario.root, "publish-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 1 and "rejected a conditional write" in result.err
    assert registry(bucket) == scenario.before and lock_of(bucket) is None


def test_a_failed_restore_keeps_the_lock_and_names_the_way_out(scenario, bucket, proxy, capsys, monkeypatch):
    def hook(name: str) -> None:
        if name == "verify":
            proxy.add("503", times=1000)  # S3 goes down after the uploads: verify and the restore fail

    result = run(scenario.root, "publish-registry", hook=hook, capsys=capsys, monkeypatch=monkeypatch)
    proxy.clear()
    assert result.code == 1 and "RESTORE FAILED" in result.err, result.text
    lock = lock_of(bucket)
    assert lock is not None and lock["plan"] and "the lock" in result.err and "is kept" in result.err
    stamp = lock["backup"]["timestamp"]
    assert f"make restore-registry STAGE=dev BACKUP={stamp} LOCK_ID={lock['token']}" in result.err
    assert registry(bucket) == scenario.after  # everything was written before S3 went down
    recover(scenario, bucket, "restore", check_download=True, capsys=capsys, monkeypatch=monkeypatch)


def test_kill_during_the_probe_leaves_an_object_the_next_publish_removes(scenario, bucket, capsys, monkeypatch):
    point = "s3:delete_object:garden/.conditional-write-probe"
    process = start_publisher(scenario.root, bucket, "--pause", point, "--", "--root", str(scenario.root), "publish-registry")
    wait_paused(process, point)
    process.kill()
    process.wait(timeout=30)
    assert bucket.objects(s3.PROBE_PREFIX + "/"), "the killed probe left its object"
    monkeypatch.setattr(s3, "PROBE_MAX_AGE", 0.0)  # as if it were old
    result = run(scenario.root, "publish-registry", capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 0 and "probe objects left by earlier runs" in result.out
    assert bucket.objects(s3.PROBE_PREFIX + "/") == {}


def test_a_takeover_that_fails_puts_the_stopped_runs_lock_back(scenario, bucket, capsys, monkeypatch):
    process = start_publisher(scenario.root, bucket, "--pause", "upload:apps.json", "--", "--root", str(scenario.root), "publish-registry")
    wait_paused(process, "upload:apps.json")
    process.kill()
    process.wait(timeout=30)
    stopped = bucket.get(LOCK_KEY)
    token = json.loads(stopped)["token"]

    def fail(name: str) -> None:
        if name == "verify":
            raise publish.HarnessError("injected", exit_code=1)

    result = run(scenario.root, "publish-registry", hook=fail, LOCK_ID=token, capsys=capsys, monkeypatch=monkeypatch)
    assert result.code == 1 and "put back the lock of the stopped run" in result.err, result.text
    assert bucket.get(LOCK_KEY) == stopped, "the stopped run's lock, byte for byte, explains the registry again"
    recover(scenario, bucket, "restore", capsys=capsys, monkeypatch=monkeypatch)


def test_every_command_that_meets_the_lock_explains_the_mixed_registry(scenario, bucket, capsys, monkeypatch):
    process = start_publisher(scenario.root, bucket, "--pause", "upload:apps.json", "--", "--root", str(scenario.root), "publish-registry")
    wait_paused(process, "upload:apps.json")
    process.kill()
    process.wait(timeout=30)
    lock = lock_of(bucket)
    stamp = lock["backup"]["timestamp"]
    assert lock["operation"] == "publish-registry" and {item["name"] for item in lock["plan"]} == {
        "images/app-board.svg", "images/tool-alpha.svg", "tools.json", "apps.json"}
    assert bucket.get(f"garden/v2-backups/dev/{stamp}.json") is not None, "the backup is in the bucket, not only on the dead machine"
    dry = run(scenario.root, "publish-registry", "--dry-run", capsys=capsys, monkeypatch=monkeypatch)
    assert re.search(r"new\s+tools\.json", dry.err) and re.search(r"old\s+apps\.json", dry.err) and "3 new, 1 old, 0 unknown" in dry.err
    assert f"LOCK_ID={lock['token']}" in dry.err and registry(bucket) != scenario.before
    removed = run(scenario.root, "remove-publish-lock", capsys=capsys, monkeypatch=monkeypatch)
    assert removed.code == 0 and "the registry may be mixed" in removed.out
    assert f"make restore-registry STAGE=dev BACKUP={stamp}`" in removed.out, "no LOCK_ID once the lock is gone"
    done = run(scenario.root, "restore-registry", BACKUP=stamp, capsys=capsys, monkeypatch=monkeypatch)
    assert done.code == 0, done.text
    assert registry(bucket) == scenario.before and lock_of(bucket) is None
