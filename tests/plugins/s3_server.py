"""moto_server fixtures: real S3 over HTTP on 127.0.0.1, one server per pytest process.

`moto_server` (session) starts `python -m moto.server` on a free loopback port as
a subprocess and waits until it answers; under pytest-xdist each worker has its
own. `s3_bucket` gives every test a fresh, empty bucket on it, with the settings
(`env`) a harness command needs to reach it. When moto cannot start, tests skip
locally and fail in CI (KAMIWAZA_REQUIRE_INFRA=1), through `infra.unavailable`.
Tests that use these fixtures are marked `s3` automatically.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.plugins.infra import free_port, stop_process, unavailable

HOW_TO_START = "install moto[server] (pip install 'moto[server]>=5') so `python -m moto.server` runs"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
_FIXTURES = ("moto_server", "s3_bucket")


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen
    log_path: Path

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )


@dataclass
class S3Bucket:
    """A fresh bucket on the test's moto server."""

    name: str
    endpoint: str
    client: Any
    env: dict[str, str] = field(default_factory=dict)

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object (key -> bytes) under `prefix`: compare states byte for byte."""
        found: dict[str, bytes] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = self.client.get_object(Bucket=self.name, Key=item["Key"])["Body"].read()
        return found

    def put(self, key: str, body: bytes) -> str:
        return self.client.put_object(Bucket=self.name, Key=key, Body=body)["ETag"]

    def seed(self, objects: dict[str, bytes]) -> None:
        """Put these objects (key -> bytes) as they are: a known starting state."""
        for key, body in objects.items():
            self.put(key, body)

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None




def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError):
        return False


def start_moto(log_dir: Path, attempts: int = 3, wait: float = 20.0) -> MotoServer | str:
    """Start moto_server; the server, or why it could not start."""
    try:
        import moto.server  # noqa: F401
    except Exception as error:  # ImportError, or a broken moto[server] install
        return f"moto.server cannot be imported ({error})"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS)
    reason = "moto_server did not start"
    for _ in range(attempts):
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"moto-{port}.log"
        with open(log_path, "wb") as stream:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=stream, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _answers(endpoint):
                return MotoServer(endpoint, process, log_path)
            time.sleep(0.1)
        stop_process(process)
        tail = log_path.read_text(errors="replace")[-500:] if log_path.exists() else ""
        reason = f"moto_server on port {port} did not answer within {wait:g}s: {tail.strip()}"
    return reason




@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    log_dir = Path(tempfile.mkdtemp(prefix="moto-logs-"))
    started = start_moto(log_dir)
    if isinstance(started, str):
        unavailable(f"moto_server ({started})", HOW_TO_START)
    assert isinstance(started, MotoServer)
    try:
        yield started
    finally:
        stop_process(started.process)


def new_bucket(server: MotoServer, endpoint: str | None = None) -> S3Bucket:
    """A new empty bucket on `server`; the harness reaches it at `endpoint` (default: the server; a fault proxy in front of it).

    The settings include SKIP_IMAGE_CHECK=1: publish tests about the bucket do not start an
    image registry. Tests of the image check (tests/test_image_check.py) set it to 0.
    """
    name = f"registry-{uuid.uuid4().hex[:20]}"
    client = server.client()
    client.create_bucket(Bucket=name)
    env = {
        **CREDENTIALS,
        "KAMIWAZA_REGISTRY_ENDPOINT": endpoint or server.endpoint,
        "KAMIWAZA_REGISTRY_BUCKET": name,
        "SKIP_IMAGE_CHECK": "1",
    }
    return S3Bucket(name=name, endpoint=endpoint or server.endpoint, client=client, env=env)


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> S3Bucket:
    """A new empty bucket, and the settings that point the harness at it (stage-independent)."""
    return new_bucket(moto_server)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in _FIXTURES) and item.get_closest_marker("s3") is None:
            item.add_marker(pytest.mark.s3)
