"""Peak memory of the worst imports against a plain small one (figures printed, not a test).

Each import runs in its own subprocess through the real management command, on a copy of one
migrated scratch SQLite database and its own media folder; the child reports its peak RSS
(``resource.getrusage``: the whole process, Django included). The imports:

* baseline: one small DICOM slice (``import_dicom``), the floor every import pays;
* DICOM bomb: a deflated DICOM of 16 frames of 4096x4096 (about 0.5 MB, 512 MiB inflated);
* bundle bomb: a bundle of 12 deflated 24 MiB DICOM radiographs (a few MB, 288 MiB unpacked);
* head CT: cases/demo/dicom/ct-head-ge.zip (28 slices).

Exits non-zero if any import peaks at or above the 512 MB ceiling. Run: ``make bench-ingest``.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CEILING_MB = 512
CT_ZIP = ROOT / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseviewer.settings")
    import django

    django.setup()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind: str, source: str) -> None:
    """Run one import in this process; print its outcome and peak RSS as JSON."""
    _setup()
    from django.core.management import CommandError, call_command

    from cases.models import Case

    Case.objects.create(slug="bench", title="Bench", status=Case.Status.DRAFT)
    before = _peak_mb()
    started = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    try:
        if kind == "bundle":
            call_command("import_cases", source, stdout=out, stderr=err)
        else:
            call_command("import_dicom", source, "--case", "bench", stdout=out, stderr=err)
        outcome = out.getvalue().strip().splitlines()[0]
    except CommandError as exc:
        outcome = f"refused: {exc}"
    print(
        json.dumps(
            {
                "before_mb": before,
                "peak_mb": _peak_mb(),
                "seconds": time.perf_counter() - started,
                "outcome": outcome,
            }
        )
    )


def _bundle_bomb(path: Path) -> None:
    """12 radiographs of 4096x3072 16-bit with sparse noise: deflates about 50 to 1."""
    import hashlib

    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian

    rng = np.random.default_rng(0)
    files = {}
    for index in range(12):
        pixels = np.zeros((3072, 4096), dtype="<u2")
        spots = rng.integers(0, pixels.size, pixels.size // 100)
        pixels.flat[spots] = rng.integers(0, 4096, spots.size)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = DigitalXRayImageStorageForPresentation
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.PatientName = f"DOE^JANE^{index}"
        ds.Modality = "DX"
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels.tobytes()
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        data = buffer.getvalue()
        files[f"files/{hashlib.sha256(data).hexdigest()}.dcm"] = data
    slices = [
        {"file": name, "position": position, "kind": "grey16", "width": 4096, "height": 3072}
        for position, name in enumerate(files)
    ]
    manifest = {
        "format": "caseviewer-bundle",
        "version": 1,
        "files": {name: name[6:70] for name in files},
        "cases": [
            {
                "uid": "benchbundle1",
                "slug": "bench-bundle",
                "title": "Bundle bomb",
                "figures": [{"number": 1, "slices": slices}],
            }
        ],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in files.items():
            archive.writestr(name, data)


def inputs_write(scratch: Path) -> None:
    """Write the inputs (in a process of its own: a child would inherit its peak RSS)."""
    sys.path.insert(0, str(ROOT))
    from tests.hostile import deflated_dicom_bomb, phi_dicom_bytes

    (scratch / "small.dcm").write_bytes(phi_dicom_bytes())
    (scratch / "bomb.dcm").write_bytes(deflated_dicom_bomb(frames=16, size=4096))
    _bundle_bomb(scratch / "bundle-bomb.zip")


def _inputs(scratch: Path) -> list[tuple[str, str, Path]]:
    subprocess.run([sys.executable, __file__, "--inputs", str(scratch)], check=True)
    small, bomb, bundle = (scratch / n for n in ("small.dcm", "bomb.dcm", "bundle-bomb.zip"))
    return [
        ("baseline: one small DICOM", "dicom", small),
        ("DICOM bomb (deflated, 16x4096x4096)", "dicom", bomb),
        ("bundle bomb (12 x 24 MiB DICOM)", "bundle", bundle),
        ("head CT zip (28 slices)", "dicom", CT_ZIP),
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
        scratch = Path(name)
        template = scratch / "template.sqlite3"
        env = os.environ | {"DATABASE_URL": f"sqlite:///{template}"}
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            env=env,
            check=True,
        )
        inputs = _inputs(scratch)
        print(f"{'import':38} {'size':>9} {'set-up':>8} {'peak RSS':>9} {'time':>6}  outcome")
        worst = 0.0
        for index, (label, kind, source) in enumerate(inputs):
            database = scratch / f"db{index}.sqlite3"
            shutil.copy(template, database)
            child_env = os.environ | {
                "DATABASE_URL": f"sqlite:///{database}",
                "MEDIA_ROOT": str(scratch / f"media{index}"),
            }
            done = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(source)],
                env=child_env,
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            worst = max(worst, figures["peak_mb"])
            outcome = figures["outcome"].replace(str(scratch) + "/", "")
            print(
                f"{label:38} {source.stat().st_size / 1e6:>7.1f}MB "
                f"{figures['before_mb']:>6.0f}MB {figures['peak_mb']:>7.0f}MB "
                f"{figures['seconds']:>5.1f}s  {outcome[:110]}"
            )
        verdict = "under" if worst < CEILING_MB else "OVER"
        print(f"worst peak {worst:.0f} MB: {verdict} the {CEILING_MB} MB ceiling")
        return 0 if worst < CEILING_MB else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "--inputs":
        inputs_write(Path(sys.argv[2]))
    else:
        sys.exit(main())
