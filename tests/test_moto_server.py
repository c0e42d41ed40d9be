"""`make moto-server`: the local S3 a person tries publishing against."""

import os
import signal
import socket
import subprocess
import sys
import time

import boto3
import pytest

from release.commands import moto_server
from tests.plugins.infra import free_port

pytestmark = pytest.mark.s3


def test_starts_moto_with_a_bucket_per_stage_and_prints_the_settings():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "release", "moto-server"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("AWS_SECRET_ACCESS_KEY" in line for line in lines):
            lines.append(process.stdout.readline())
        settings = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines if line.startswith("export "))
        assert settings["KAMIWAZA_REGISTRY_ENDPOINT"] == f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=settings["KAMIWAZA_REGISTRY_ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
        )
        buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
        assert buckets == {settings[f"KAMIWAZA_REGISTRY_BUCKET_{s}"] for s in ("DEV", "STAGE", "PROD")}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "release", "moto-server"], env={**os.environ, "PORT": str(port)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "Traceback" not in result.stderr


def test_settings_lines_name_every_stage_bucket():
    lines = moto_server.settings_lines("http://127.0.0.1:5000")
    assert "export KAMIWAZA_REGISTRY_BUCKET_PROD=kamiwaza-registry-prod" in lines
