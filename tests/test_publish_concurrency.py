"""Eight `python -m release publish-registry` processes started at once against one bucket."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import HARNESS_VARIABLES, REPO_ROOT
from tests.test_publish import green, make_repo, set_manifest

pytestmark = [pytest.mark.s3, pytest.mark.slow]
PUBLISHERS = 8


def start_publishers(tmp_path, bucket, **extra_env):
    """One monorepo per publisher, each with its own extension; all started before any is awaited."""
    env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES and not k.startswith("AWS_")}
    env.update(bucket.env, **extra_env)
    roots = []
    for index in range(PUBLISHERS):
        name = f"tool-p{index}"
        root = make_repo(tmp_path / f"repo-{index}", ("tool", name))
        set_manifest(root, name, version=f"1.0.{index}")
        green(root)
        roots.append((name, root))
    processes = [
        (name, subprocess.Popen([sys.executable, "-m", "release", "--root", str(root), "publish-registry"],
                                cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for name, root in roots
    ]
    results = []
    for name, process in processes:
        out, err = process.communicate(timeout=300)
        results.append((name, process.returncode, out, err))
    return results


def remote_names(bucket) -> set[str]:
    return {entry["name"] for entry in json.loads(bucket.get("garden/v2/tools.json") or b"[]")}


def test_without_lock_timeout_losers_fail_cleanly_and_winners_are_kept(tmp_path, s3_bucket):
    results = start_publishers(tmp_path, s3_bucket)
    winners = {name for name, code, _, _ in results if code == 0}
    for name, code, out, err in results:
        assert code in (0, 1), f"{name}: exit {code}\n{out}\n{err}"
        assert "Traceback" not in err
        if code == 1:
            assert "is held by" in err and "registry.lock" in err, err
    assert winners, "at least one publisher gets the lock"
    assert remote_names(s3_bucket) == winners, "every publish that reported success is present, and only those"
    assert s3_bucket.get("garden/v2/registry.lock") is None


def test_with_lock_timeout_all_publish_one_after_another(tmp_path, s3_bucket):
    results = start_publishers(tmp_path, s3_bucket, LOCK_TIMEOUT="240")
    for name, code, out, err in results:
        assert code == 0, f"{name}: exit {code}\n{out}\n{err}"
    assert remote_names(s3_bucket) == {f"tool-p{index}" for index in range(PUBLISHERS)}, "none lost"
    assert s3_bucket.get("garden/v2/registry.lock") is None


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_waiting_for_the_lock_exits_cleanly(tmp_path, s3_bucket, signal_number):
    from release import config, s3

    root = make_repo(tmp_path / "repo", ("tool", "tool-alpha"))
    green(root)
    holder = s3.connect(config.resolve({}, root=root, environ=dict(s3_bucket.env))).acquire("holder", ttl=600)
    env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES and not k.startswith("AWS_")}
    env.update(s3_bucket.env, LOCK_TIMEOUT="120")
    process = subprocess.Popen(
        [sys.executable, "-m", "release", "--root", str(root), "publish-registry"], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "waiting up to" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1)
            if ready:
                seen += process.stdout.readline()
        assert "waiting up to" in seen, seen
        process.send_signal(signal_number)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert json.loads(s3_bucket.get("garden/v2/registry.lock"))["token"] == holder.token, "the holder's lock is untouched"
    assert s3_bucket.get("garden/v2/tools.json") is None
