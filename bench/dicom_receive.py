"""DICOM receive throughput: our receiver against Orthanc, same client, same run (not a test).

A 500-instance CT series is synthesised from the demo head CT (its 28 slices cycled, each with
new UIDs and its own position). One pynetdicom client sends it in one association to
``manage.py dicom_listen`` (a subprocess on a scratch SQLite database and media folder, with
de-identification on, as always) and to Orthanc (Debian's package, scratch configuration on
loopback), alternating, twice each; each run is a new study, so nothing is a duplicate. Prints
instances per second and our share of Orthanc's (the target: at least 0.5).
Run: ``make bench-dicom-receive``.
"""

from __future__ import annotations

import copy
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = 500
RUNS = 2


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseviewer.settings")
    import django

    django.setup()


def series_synthesise(count: int) -> list:
    """``count`` CT instances of one new study, stacked 1 mm apart."""
    from pydicom.uid import generate_uid

    from tests.dicom_net import head_ct_with_phi

    base = head_ct_with_phi()
    study, series = generate_uid(), generate_uid()
    out = []
    for index in range(count):
        ds = copy.deepcopy(base[index % len(base)])
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = index + 1
        x, y, _z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, float(index)]
        out.append(ds)
    return out


def send_timed(port: int, called: str, datasets: list) -> float:
    """Instances per second, one association, every status checked."""
    from pynetdicom import AE

    ae = AE(ae_title="BENCHSCU")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    start = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, f"association to {called} refused"
    for ds in datasets:
        status = assoc.send_c_store(ds)
        assert status.Status == 0, f"{called} answered {status.Status:#06x}"
    assoc.release()
    return len(datasets) / (time.perf_counter() - start)


def receiver_start(scratch: Path) -> tuple[subprocess.Popen, int]:
    from tests.dicom_net import free_port

    scratch.mkdir(parents=True)
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "LOG_LEVEL": "ERROR",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    port = free_port()
    process = subprocess.Popen(
        [*manage, "dicom_listen", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    process.stdout.readline()  # "listening on ..."
    return process, port


def main() -> None:
    _setup()
    from tests.orthanc import orthanc_available, orthanc_start

    if not orthanc_available():
        sys.exit("Orthanc is not installed: make orthanc")
    with tempfile.TemporaryDirectory(prefix="bench-dicom-") as folder:
        scratch = Path(folder)
        receiver, port = receiver_start(scratch / "ours")
        orthanc = orthanc_start(
            scratch / "orthanc", modalities={"bench": ["BENCHSCU", "127.0.0.1", 104]}
        )
        ours, theirs = [], []
        try:
            for _ in range(RUNS):
                ours.append(send_timed(port, "CASEVIEWER", series_synthesise(INSTANCES)))
                theirs.append(
                    send_timed(orthanc.dicom_port, "ORTHANC", series_synthesise(INSTANCES))
                )
        finally:
            os.killpg(receiver.pid, signal.SIGTERM)
            receiver.wait(30)
            orthanc.stop()
    mine, orthancs = statistics.median(ours), statistics.median(theirs)
    print(f"{INSTANCES}-instance CT series (512x512, 16-bit), one association, {RUNS} runs each")
    print(f"  CaseViewer receiver (de-identified, stored, indexed): {mine:7.1f} instances/s")
    print(f"  Orthanc 1.10 (stored as sent):                        {orthancs:7.1f} instances/s")
    print(f"  ratio ours/Orthanc: {mine / orthancs:.2f} (target >= 0.50)")
    print(f"  runs: ours {[round(v, 1) for v in ours]}, Orthanc {[round(v, 1) for v in theirs]}")


if __name__ == "__main__":
    main()
