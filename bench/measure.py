"""Measurements and the HU readout, printed as figures (not a timed test): make bench-measure.

On scratch data (a temporary SQLite database and media folder, the demo head CT imported):

1. in-process, uncached: a plain render of one CT slice at the viewer's sizes (768, the
   figure page at 1440x900; 1024 and 1536, a full-screen box of 900 to 1800 px), from the
   file and decoded-warm, what its upscale and JPEG encode cost, and the same render with
   each kind of measurement (and all four), in the same run; then the computing and drawing
   alone on a 1536 px canvas;
2. the HU readout two ways, through gunicorn: a request per pointer pause to
   ``/img/<token>/value`` (fresh and 304), against shipping the slice's values once in a
   compact form (int16, deflated, served as a static file by whitenoise: the cheapest way to
   serve it) plus building and decoding it. Printed: the time to the first value on a slice,
   to each later one, and the bytes, for 1, 3 and 10 pauses per slice.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import statistics
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_viewer", ROOT / "bench" / "viewer.py")
bench_viewer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_viewer)

MEASUREMENTS = {
    "point": "point:256,200",
    "line": "line:100,400,420,380",
    "angle": "angle:100,300,256,256,400,300",
    "ellipse": "ellipse:256,200,60,40",
}
MEASUREMENTS["all four"] = ";".join(MEASUREMENTS.values())
REPEAT = 25
FULL_SCREEN_SIZES = (768, 1024, 1536)  # the figure page at 1440x900, then a 900 to 1800 px box


def median_ms(fn, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def renders(data: dict) -> None:
    from PIL import Image

    from cases.imaging import render
    from cases.imaging.measure import measurements_compute, measurements_draw, measurements_parse
    from cases.imaging.params import RenderParams

    image = data["slices"][14]
    counter = [0]

    def uncached(size: int, m: str = "", fmt: str = "jpeg") -> bytes:
        counter[0] += 1  # a window never asked before: the render store cannot help
        params = RenderParams(image.token, window_width=80, window_center=40 + counter[0] * 1e-3,
                              size=size, fmt=fmt, measurements=m)  # fmt: skip
        return render.slice_render(image, params)

    print("\n1. Uncached render of one CT slice at full-screen sizes (median of", REPEAT, "ms)")
    windowed = Image.fromarray(render.window_apply(render.slice_pixels(image).pixels,
                                                   width=80, center=40))  # fmt: skip
    for size in FULL_SCREEN_SIZES:
        out = Image.open(io.BytesIO(uncached(size))).size
        cold = median_ms(lambda s=size: (render.slice_decode.cache_clear(), uncached(s)))
        render.slice_pixels(image)  # decoded once, as when a reader is on the slice
        plain = median_ms(lambda s=size: uncached(s))
        print(f"   size={size} (a 512-pixel slice drawn at {out[0]}x{out[1]})  read+decode+render "
              f"{cold:6.2f}   decoded-warm {plain:6.2f}")  # fmt: skip
        lanczos = median_ms(lambda s=size: windowed.resize((s, s), Image.Resampling.LANCZOS))
        bicubic = median_ms(lambda s=size: windowed.resize((s, s), Image.Resampling.BICUBIC))
        resized = windowed.resize((size, size), Image.Resampling.LANCZOS)
        encode = median_ms(
            lambda r=resized: r.save(
                io.BytesIO(), "JPEG", quality=render.JPEG_QUALITY, subsampling=0
            )  # fmt: skip
        )
        print(f"      of which: upscale (Lanczos) {lanczos:6.2f} (Bicubic would be {bicubic:6.2f}),"
              f" JPEG encode {encode:6.2f}")  # fmt: skip
        for name, m in MEASUREMENTS.items():
            measured = median_ms(lambda s=size, m=m: uncached(s, m))
            print(f"      + {name:8} {measured:6.2f}   ({measured / plain:4.2f}x plain)")
    canvas = Image.fromarray(np.zeros((1536, 1536), np.uint8)).convert("RGB")
    box = (0.0, 0.0, 512.0, 512.0)
    decoded = render.slice_pixels(image)
    print("   computing and drawing alone on a 1536x1536 canvas (full screen):")
    for name, m in MEASUREMENTS.items():
        parsed = measurements_parse(m)
        cost = median_ms(
            lambda p=parsed: measurements_draw(
                canvas, measurements_compute(image, p, decoded=decoded), box=box
            )
        )
        print(f"      {name:8} {cost:6.2f}")
    grey = Image.fromarray(np.zeros((512, 512), np.uint8))
    upscale = median_ms(lambda: grey.resize((1536, 1536), Image.Resampling.BICUBIC))
    print(f"      (for scale: upscaling a 512-pixel slice to 1536 once {upscale:6.2f})")


def compact_values(image) -> bytes:
    """The slice's values as the browser would fetch them once: int16, deflated."""
    from cases.imaging.render import slice_pixels

    values = np.asarray(slice_pixels(image).pixels)
    return zlib.compress(values.astype("<i2").tobytes(), 6)


def readout(env: dict, data: dict, static_root: Path) -> None:
    from cases.imaging.render import slice_decode

    image = data["slices"][14]
    build = median_ms(lambda: compact_values(image), 15)
    slice_decode.cache_clear()
    build_cold = median_ms(lambda: (slice_decode.cache_clear(), compact_values(image)), 15)
    blob = compact_values(image)
    decode = median_ms(lambda: np.frombuffer(zlib.decompress(blob), "<i2"), 50)
    (static_root / "bench").mkdir(parents=True, exist_ok=True)
    (static_root / "bench" / "values.bin").write_bytes(blob)

    server, port = bench_viewer.gunicorn_start(env)
    try:
        token = image.token
        points = [(37 * i % 512, 91 * i % 512) for i in range(1, 201)]
        urls = [f"/img/{token}/value?x={x}&y={y}" for x, y in points]
        bench_viewer._request(port, urls[0])
        fresh, sizes = [], []
        for url in urls:
            start = time.perf_counter()
            status, body = bench_viewer._request(port, url)
            fresh.append(time.perf_counter() - start)
            sizes.append(len(body))
            assert status == 200, status
        transfer = []
        for _ in range(50):
            start = time.perf_counter()
            status, body = bench_viewer._request(port, "/static/bench/values.bin")
            transfer.append(time.perf_counter() - start)
            assert status == 200 and len(body) == len(blob)
    finally:
        bench_viewer.gunicorn_stop(server)

    request_ms = statistics.median(fresh) * 1000
    p90_ms = sorted(fresh)[int(len(fresh) * 0.9)] * 1000
    compact_ms = build + statistics.median(transfer) * 1000 + decode
    answer = statistics.median(sizes)
    print("\n2. HU readout, through gunicorn on loopback")
    print(f"   a request per pause (/img/<token>/value): median {request_ms:5.2f} ms, "
          f"p90 {p90_ms:5.2f} ms, {answer:.0f} bytes of JSON")  # fmt: skip
    print(f"   the slice's values once ({len(blob) / 1024:.0f} KiB int16 deflated): build "
          f"{build:5.2f} ms (from the file {build_cold:5.2f}), fetch as a static file "
          f"{statistics.median(transfer) * 1000:5.2f} ms, inflate {decode:5.2f} ms: first "
          f"value {compact_ms:5.2f} ms, then 0")  # fmt: skip
    for pauses in (1, 3, 10):
        ours = pauses * request_ms
        kib = pauses * answer / 1024
        print(f"   {pauses:2d} pause(s) per slice: requests {ours:6.2f} ms / {kib:5.1f} KiB   vs"
              f"   compact {compact_ms:6.2f} ms / {len(blob) / 1024:5.0f} KiB   "
              f"(compact / requests {compact_ms / ours:4.1f}x time, "
              f"{len(blob) / (pauses * answer):5.0f}x bytes)")  # fmt: skip
    print(f"   first value on a new slice: the request is {compact_ms / request_ms:.1f}x faster")


def main() -> None:
    scratch, static_root, env = bench_viewer.scratch_environment("caseviewer-bench-measure-")
    sys.path.insert(0, str(ROOT))
    try:
        print(f"CaseViewer measurement bench · {os.cpu_count()} cores")
        data = bench_viewer.setup(scratch)
        renders(data)
        readout(env, data, static_root)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
