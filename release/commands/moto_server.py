"""`make moto-server`: a local S3 (moto) to try publishing without an AWS account.

Starts moto on 127.0.0.1 (PORT, default 5000), creates one bucket per stage and
prints the settings that point the publish commands at it; runs until Ctrl-C.
"""

from __future__ import annotations

import socket
import time

from release.config import Settings
from release.errors import HarnessError
from release.images import STAGES
from release.log import info

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def bucket_for(stage: str) -> str:
    return f"kamiwaza-registry-{stage}"


def settings_lines(endpoint: str) -> list[str]:
    lines = [f"export KAMIWAZA_REGISTRY_ENDPOINT={endpoint}"]
    lines += [f"export KAMIWAZA_REGISTRY_BUCKET_{stage.upper()}={bucket_for(stage)}" for stage in STAGES]
    lines += [f"export {key}={value}" for key, value in CREDENTIALS.items()]
    return lines


def run(settings: Settings, args) -> int:
    import boto3
    from moto.server import ThreadedMotoServer

    port = int(settings.get("PORT", "5000") or 5000)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise HarnessError(f"port {port} on 127.0.0.1 is taken", field="PORT", fix=f"stop what listens there (lsof -ti:{port}) or run `make moto-server PORT=5001`")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **{k.lower(): v for k, v in CREDENTIALS.items()})
        for stage in STAGES:
            client.create_bucket(Bucket=bucket_for(stage))
        info(f"moto S3 on {endpoint} with buckets {', '.join(bucket_for(s) for s in STAGES)}.")
        info("In another shell (with no AWS_PROFILE_* in .env), run:\n")
        info("\n".join(settings_lines(endpoint)))
        info("\nthen e.g. `make publish-registry DRY_RUN=1`, `make publish-registry`, `make download-registry`, `make remove-publish-lock`. Ctrl-C stops the server (its data is in memory).")
        while True:
            time.sleep(3600)
    finally:
        server.stop()
