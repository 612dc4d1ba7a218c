"""What every benchmark shares: the result row, the table, medians, ports and subprocess helpers."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The repository root: subprocesses run here so ``import pixverse_ui`` finds the package.
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Row:
    """One line of the final table. ``ratio`` is ours over baseline; ``met`` None: no target."""

    benchmark: str
    measure: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}x"
        met = {True: "yes", False: "NO", None: "—"}[self.met]
        return [self.benchmark, self.measure, self.ours, self.baseline, ratio, self.target, met]


HEADER = ["benchmark", "measure", "ours", "baseline", "ratio", "target", "met?"]


def markdown_table(rows: Iterable[Row]) -> str:
    """The rows as a Markdown table (it reads well in a terminal too)."""
    body = [row.cells() for row in rows]
    widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(r) for r in body)])


TARGETS_HEADER = ["benchmark", "measure", "target", "result"]


def targets_table(rows: Iterable[Row]) -> str:
    """The rows that have a target to meet, as a Markdown table of targets: each says whether
    this run met it, with this run's figures (written from the same rows as the table above
    it, so the two never quote different runs)."""
    lines = ["| " + " | ".join(TARGETS_HEADER) + " |", "|---|---|---|---|"]
    for row in rows:
        if row.met is None:
            continue
        ratio = "" if row.ratio is None else f", {row.ratio:.2f}x"
        verdict = "met" if row.met else "**missed**"
        result = f"{verdict}: {row.ours} against {row.baseline}{ratio}"
        cells = (row.benchmark, row.measure, row.target, result)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between order statistics."""
    data = sorted(values)
    if not data:
        raise ValueError("no values")
    pos = q * (len(data) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline else float("inf")


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` took on the monotonic clock."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set these environment variables for the block, then put back what was there before."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: no key (simulator mode), no analytics, the repo on the
    path, plus ``extra``."""
    env = dict(os.environ)
    env.pop("AIMLAPI_KEY", None)
    env.pop("AIMLAPI_BASE_URL", None)
    env.pop("PIXVERSE_UI_SIM_FAULTS", None)
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> float:
    """Poll ``url`` every 10 ms until it answers 200; the monotonic time it first did.

    Raises if the process exits or the deadline passes first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Close its stdin (a polite stop), then terminate a process this run started (by its handle),
    then kill it if it lingers."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
            proc.wait(grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


@dataclass(frozen=True)
class Served:
    """A server this run started: how long it took to answer, and its process id."""

    ready: float
    pid: int


@contextmanager
def serving(
    args: Sequence[str],
    url: str,
    env: Mapping[str, str],
    *,
    stdin_stops: bool = False,
    timeout: float = 120.0,
) -> Iterator[Served]:
    """Start ``args`` (from the repo root), yield once ``url`` first answered 200 (with the seconds
    that took), and stop the process afterwards whatever happens. With ``stdin_stops`` its stdin is
    a pipe whose closing asks it to stop. Its output goes to a temp file, shown if it never
    answers."""
    stdin = subprocess.PIPE if stdin_stops else subprocess.DEVNULL
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(args), cwd=ROOT, env=dict(env), stdin=stdin, stdout=log, stderr=log
        )
        try:
            try:
                ready = wait_for_http(url, proc, timeout)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{exc}; its output ended with:\n{tail}") from None
            yield Served(ready - start, proc.pid)
        finally:
            stop_process(proc)


@contextmanager
def temp_root(path: Path) -> Iterator[Path]:
    """Make ``path`` this process's temp dir (``tempfile.gettempdir()``) for a while: for libraries
    that leave files in the temp dir (gradio_client leaves an empty directory per download)."""
    path.mkdir(parents=True, exist_ok=True)
    before = tempfile.tempdir
    tempfile.tempdir = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = before


def interleaved(
    runs: Mapping[str, Callable[[], float]], repeats: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Each run ``repeats`` times, taking turns (so a neighbour's load falls on all alike), after
    ``warmup`` untimed rounds. Every run returns its own figure (usually seconds)."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            samples[name].append(fn())
    return samples


def seconds(value: float) -> str:
    """A duration for the table: ms below a second."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def run_python(
    code: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> str:
    """Run ``code`` in a fresh interpreter (from the repo root); its stdout. Raises with its
    stderr if it fails; killed past ``timeout``."""
    done = subprocess.run(
        [PYTHON, "-c", code, *args],
        cwd=ROOT,
        env=dict(env if env is not None else bench_env()),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the subprocess failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a running process has used, from ``/proc`` (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """The 1-minute load average (the machine is shared), or "?" where the OS has none."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "?"


def say(message: str) -> None:
    """Progress on stderr, so stdout keeps only the table."""
    print(message, file=sys.stderr, flush=True)
