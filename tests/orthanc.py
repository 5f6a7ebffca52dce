"""Orthanc (Debian's package, with its DICOMweb plugin) as the PACS, on loopback.

Orthanc 1.10 has no option to choose the address it binds: its HTTP and DICOM ports listen
on every interface. The scratch configuration limits what that exposes: "RemoteAccessAllowed"
false refuses HTTP from any address but loopback, HTTP needs a password, the DICOM side
answers only registered modalities ("DicomAlwaysAllowStore"/"Echo" false, and the modality
the test registers is on 127.0.0.1), and the ports are random and live for one test session.
A run on a shared network can still see the ports open for that time: run it where that is
acceptable (CI's own machine) or in a network namespace of its own.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.dicom_net import free_port

BINARY = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER, PASSWORD = "teaching", "orthanc-test-pass"


@dataclass
class Orthanc:
    process: subprocess.Popen
    http_port: int
    dicom_port: int
    aet: str = "ORTHANC"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def request(self, method: str, path: str, body: bytes | dict | None = None):
        data = json.dumps(body).encode() if isinstance(body, dict | list) else body
        request = urllib.request.Request(self.url + path, data=data, method=method)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = response.read()
        return json.loads(payload) if payload[:1] in (b"{", b"[") else payload

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)


def orthanc_available() -> bool:
    return Path(BINARY).exists() and Path(DICOMWEB_PLUGIN).exists()


def orthanc_start(scratch: Path, *, modalities: dict | None = None) -> Orthanc:
    scratch.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "caseviewer-test",
        "StorageDirectory": str(scratch / "storage"),
        "IndexDirectory": str(scratch / "index"),
        "HttpPort": http_port,
        "DicomServerEnabled": True,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": modalities or {},
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StorageCompression": False,
        "HttpCompressionEnabled": False,
        "ConcurrentJobs": 2,
    }
    path = scratch / "orthanc.json"
    path.write_text(json.dumps(config))
    log = (scratch / "orthanc.log").open("wb")
    process = subprocess.Popen(
        [shutil.which("Orthanc") or BINARY, str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    orthanc = Orthanc(process=process, http_port=http_port, dicom_port=dicom_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            orthanc.request("GET", "/system")
            return orthanc
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                break
            time.sleep(0.1)
    orthanc.stop()
    raise RuntimeError(f"Orthanc did not start; see {scratch / 'orthanc.log'}")
