"""Reformats, printed as figures (not a timed test): make bench-reformat.

On scratch data (a temporary SQLite database and media folder, the demo head CT imported,
28 slices with a gantry tilt and two slice spacings), in process, uncached (a window never
asked before, so the render store cannot help), PNG and JPEG at the viewer's sizes:

1. an axial slice, decoded-warm (as when a reader scrolls a stack already seen);
2. a coronal and a sagittal slice, volume-warm (the volume built once per worker), and the
   ratio to the axial one (target ≤ 3x);
3. building the volume once (every slice decoded and shifted), the cost of the first
   reformat a worker draws, and scrolling a reformatted plane slice by slice.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_viewer", ROOT / "bench" / "viewer.py")
bench_viewer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_viewer)
REPEAT = 25


def median_ms(fn, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run(data: dict) -> None:
    from cases.imaging import reformat, render
    from cases.imaging.params import RenderParams

    first, middle = data["slices"][0], data["slices"][14]
    counter = [0]

    def uncached(plane: str, index: int, size: int | None, fmt: str) -> bytes:
        counter[0] += 1  # a new window each time: the render store cannot help
        token = first.token if plane != "axial" else middle.token
        image = first if plane != "axial" else middle
        params = RenderParams(token, window_width=80, window_center=40 + counter[0] * 1e-3,
                              size=size, fmt=fmt, plane=plane, plane_index=index)  # fmt: skip
        return render.slice_render(image, params)

    render.slice_pixels(middle)
    uncached("coronal", 256, None, "png")  # the volume, built once
    print("1-2. Uncached render, decoded / volume warm (median of", REPEAT, "ms)")
    for fmt in ("png", "jpeg"):
        for size in (None, 1024):
            axial = median_ms(lambda f=fmt, s=size: uncached("axial", 0, s, f))
            line = f"   {fmt:4} size={size or 'stored':6}  axial {axial:6.2f}"
            for plane in ("coronal", "sagittal"):
                ms = median_ms(lambda p=plane, f=fmt, s=size: uncached(p, 256, s, f))
                line += f"   {plane} {ms:6.2f} ({ms / axial:4.2f}x, target ≤ 3x)"
            print(line)

    def cold() -> None:
        reformat._volume_cached.cache_clear()
        render.slice_decode.cache_clear()
        uncached("coronal", 256, None, "jpeg")

    print("3. The first reformat of a worker: files read, decoded and shifted into the volume")
    print(f"   cold coronal (volume built) {median_ms(cold, 5):7.1f} ms")
    uncached("coronal", 0, None, "jpeg")
    start = time.perf_counter()
    for index in range(0, 512, 4):
        uncached("sagittal", index, 1024, "jpeg")
    scroll = (time.perf_counter() - start) * 1000 / 128
    start = time.perf_counter()
    for image in data["slices"]:
        render.slice_render(image, RenderParams(image.token, window_width=80,
                            window_center=41.5, size=1024, fmt="jpeg"))  # fmt: skip
    axial_scroll = (time.perf_counter() - start) * 1000 / len(data["slices"])
    print(f"   scrolling, uncached JPEG 1024: sagittal {scroll:6.2f} ms a slice, "
          f"axial {axial_scroll:6.2f} ms a slice ({scroll / axial_scroll:4.2f}x)")  # fmt: skip


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="caseviewer-bench-"))
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(scratch / "static"),
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "DEBUG": "false",
    }
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        print(f"CaseViewer reformat bench · {os.cpu_count()} cores · head CT, 28 tilted slices")
        run(bench_viewer.setup(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
