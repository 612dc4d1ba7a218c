"""Download: ``Client.download`` against ``curl``, both from one local HTTP server, and its memory.

A ``python -m http.server`` on loopback (plain http to loopback is what ``download`` allows
besides https) serves files of random bytes. Each download runs in a fresh interpreter, timed
around the call, and reports its peak RSS; curl reports its own ``time_total``.
They take turns, after an untimed round. Memory is compared between a 10 MB and a 50 MB file,
and against the same interpreter that makes the client but downloads nothing: streaming in 1 MB
chunks should keep it flat in the file's size. 50 MB is well under the default 512 MB cap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .common import (
    PYTHON,
    Row,
    bench_env,
    free_port,
    interleaved,
    median,
    ratio,
    run_python,
    say,
    serving,
)

NAME = "download"
MB = 1024 * 1024
TARGET_THROUGHPUT = 0.9
#: Peak RSS with the 50 MB file over with the 10 MB one; above this it grows with the file.
FLAT = 1.1
#: Downloads ``argv[1]`` to ``argv[2]`` (or only makes the client, with no url) and reports. The
#: peak is Linux's ``VmHWM`` where there is one: ``ru_maxrss`` keeps the parent's peak across
#: fork and exec, and the parent here is this benchmark, far bigger than the probe.
PROBE = """
import json, resource, sys, time
from pixverse_ui.client import Client
url, dest = sys.argv[1], sys.argv[2]
took = 0.0
with Client(api_key="bench-download") as client:
    if url:
        start = time.perf_counter()
        client.download(url, dest)
        took = time.perf_counter() - start
try:
    with open("/proc/self/status") as status:
        rss = next(int(s.split()[1]) * 1024 for s in status if s.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss *= 1 if sys.platform == "darwin" else 1024
print(json.dumps({"seconds": took, "rss": rss}))
"""


#: The start of an MP4 file (its ``ftyp`` box): ``Client.download`` keeps only what is a video.
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def write_random(path: Path, size: int) -> None:
    """``size`` bytes (whole MB) at ``path``, an MP4's first box then random bytes: nothing on
    the way can compress them, and the download's check takes them for a video."""
    with path.open("wb") as out:
        out.write(MP4_HEAD + os.urandom(MB - len(MP4_HEAD)))
        for _ in range(size // MB - 1):
            out.write(os.urandom(MB))


def ours(url: str, dest: Path, size: int, rss: list[float]) -> Callable[[], float]:
    """A run of ``Client.download`` in a fresh interpreter: its seconds; its peak RSS to ``rss``."""

    def run() -> float:
        result = json.loads(run_python(PROBE, url, str(dest)))
        if url and dest.stat().st_size != size:
            raise RuntimeError(f"downloaded {dest.stat().st_size} bytes, expected {size}")
        dest.unlink(missing_ok=True)
        rss.append(result["rss"])
        return float(result["seconds"])

    return run


def curl(curl_path: str, url: str, dest: Path, size: int) -> Callable[[], float]:
    """A run of curl: its own ``time_total``."""

    def run() -> float:
        done = subprocess.run(
            [curl_path, "-sS", "--fail", "-o", str(dest), "-w", "%{time_total}", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        if dest.stat().st_size != size:
            raise RuntimeError(f"curl fetched {dest.stat().st_size} bytes, expected {size}")
        dest.unlink()
        return float(done.stdout.strip())

    return run


def run(quick: bool = False) -> list[Row]:
    curl_path = shutil.which("curl")
    if curl_path is None:
        return [Row(NAME, "curl is not installed", "skipped", "", None, "", None)]
    repeats = 5 if quick else 15
    say(f"  download: 10 and 50 MB from http.server, Client.download vs curl, {repeats} rounds")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="pxui-bench-dl-") as tmp:
        served, out = Path(tmp) / "served", Path(tmp) / "out"
        served.mkdir()
        out.mkdir()
        for size in (10, 50):
            write_random(served / f"{size}.bin", size * MB)
        args = [PYTHON, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(served)]
        rss: dict[str, list[float]] = {"10": [], "50": [], "idle": []}
        with serving([*args, str(port)], base + "/", bench_env()):
            runs = {
                "ours 50": ours(f"{base}/50.bin", out / "a.bin", 50 * MB, rss["50"]),
                "curl 50": curl(curl_path, f"{base}/50.bin", out / "b.bin", 50 * MB),
                "ours 10": ours(f"{base}/10.bin", out / "c.bin", 10 * MB, rss["10"]),
                "idle": ours("", out / "d.bin", 0, rss["idle"]),
            }
            samples = interleaved(runs, repeats)
    ours_rate = 50 / median(samples["ours 50"])
    curl_rate = 50 / median(samples["curl 50"])
    rss50, rss10, idle = (median(rss[k][-repeats:]) / MB for k in ("50", "10", "idle"))
    return [
        Row(
            NAME,
            f"Client.download 50 MB vs curl, throughput (median of {repeats})",
            f"{ours_rate:.0f} MB/s",
            f"{curl_rate:.0f} MB/s",
            ratio(ours_rate, curl_rate),
            f">= {TARGET_THROUGHPUT:g}x",
            ratio(ours_rate, curl_rate) >= TARGET_THROUGHPUT,
        ),
        Row(
            NAME,
            "peak RSS downloading 50 MB vs 10 MB",
            f"{rss50:.1f} MB",
            f"{rss10:.1f} MB",
            ratio(rss50, rss10),
            f"flat (<= {FLAT:g}x)",
            ratio(rss50, rss10) <= FLAT,
        ),
        Row(
            NAME,
            "peak RSS downloading 50 MB vs no download",
            f"{rss50:.1f} MB",
            f"{idle:.1f} MB",
            ratio(rss50, idle),
            "(for reading)",
            None,
        ),
    ]
