"""Concurrency: 1, 50 and 200 generations at once through the app, as gradio_client callers.

The app runs in its own process (:mod:`.serve_app`: the app's own launch settings) in simulator
mode on scaled time, with a fresh ``PIXVERSE_UI_HOME``; its temp files and the callers' stay in
the run's own temp dir, removed afterwards. Every caller is another visitor asking for the same
360p/5 s video, so the simulator renders it once (in an untimed warm-up) and the run measures the
app, not x264 (:mod:`.render` prices that). Batch sizes take turns in each round.

The simulator draws each job's length at random, so the slowest of 200 jobs is longer than one
job alone. Besides the bare wall-time ratio, each batch's wall time is divided by its slowest
simulated job (read from the simulator's job file): the ratio of that to one generation's is the
time the app adds under load, and carries the target. Two more rows say why: the app process's
CPU time per generation, and its CPU time over the wall time (near 1.0 it has used all of the one
core its GIL allows). The full run repeats 200 against 1 at slower speeds, where the same work is
spread over more real seconds.

The callers' client skips TLS set-up (``ssl_verify=False``; all of it is plain http on loopback):
by default gradio_client builds a verifying SSL context for every request, which cost the callers'
process about 100 ms of CPU per generation and left less of the two cores for the app.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    PYTHON,
    Row,
    bench_env,
    free_port,
    median,
    process_cpu,
    ratio,
    say,
    seconds,
    serving,
    temp_root,
)

NAME = "concurrency"
#: Simulated seconds per real second: a 360p/5 s job (89 s at speed 1) takes about 4.5 s.
SPEED = 20
COUNTS = (1, 50, 200)
#: Slower speeds tried with 200 against 1 in the full run.
SWEEP = (10, 5)
TARGET = 1.1
#: Our CPU per generation may be at most this many times a bare Gradio app's (issue 16).
FLOOR_TARGET = 1.3
#: The generate endpoint's inputs, in order (as in tests/test_ui.py), up to the key (none: the
#: simulator); the visitor goes last.
FORM = [
    *("a red fox in the snow", "", "16:9", "360p", 5, "none", None, False, False, "model default"),
    "",
]
#: The key the app spends on a simulator in its own process (``measure(separate_simulator=True)``).
BENCH_KEY = "sk-bench-concurrency-0123456789"
#: However slow the machine, a batch is given up after this long.
BATCH_TIMEOUT = 300.0


@dataclass(frozen=True)
class Batch:
    """One batch of ``n`` generations at once."""

    n: int
    wall: float  #: first submit to last video received
    latencies: tuple[float, ...]  #: each caller's submit to its video
    slowest_job: float  #: the longest simulated job, created to done
    app_cpu: float  #: CPU seconds the app process used meanwhile (nan: unknown on this OS)
    updates: float = 0.0  #: the median number of updates one caller received
    mean_job: float = 0.0  #: the mean simulated job, created to done

    @property
    def overhead(self) -> float:
        """Wall time over the slowest simulated job: 1.0 would be a free app."""
        return self.wall / self.slowest_job

    @property
    def busy(self) -> float:
        """The app's CPU time over the wall time: 1.0 is one core, all its GIL allows."""
        return self.app_cpu / self.wall


def simulated_lengths(home: Path, since: float, until: float) -> list[float]:
    """Created-to-done seconds of the simulator's jobs created in ``[since, until]`` (wall clock),
    read from its job file under ``PIXVERSE_UI_HOME`` (read-only)."""
    path = home / "simulator" / "jobs.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute(
            "SELECT data FROM jobs WHERE created_at BETWEEN ? AND ?", (since, until)
        ).fetchall()
    jobs = [json.loads(data) for (data,) in rows]
    return [job["done_at"] - job["created_at"] for job in jobs]


class Bench:
    """The app serving in a subprocess, and the callers' client."""

    def __init__(self, client: Any, home: Path, app_pid: int) -> None:
        self.client = client
        self.home = home
        self.app_pid = app_pid

    def cpu(self) -> float:
        used = process_cpu(self.app_pid)
        return float("nan") if used is None else used

    def batch(self, n: int, tag: str) -> Batch:
        """``n`` generations at once, each as its own visitor; waits (bounded) for every video."""
        starts, ends = [0.0] * n, [0.0] * n
        since, cpu = time.time(), self.cpu()
        jobs = []
        for i in range(n):

            def done(*_outputs: object, i: int = i) -> None:
                ends[i] = time.perf_counter()

            starts[i] = time.perf_counter()
            jobs.append(
                self.client.submit(
                    *FORM, f"bench-{tag}-{i}", api_name="/generate", result_callbacks=[done]
                )
            )
        wait_all(jobs)
        time.sleep(0.05)  # the result callbacks run just after result() returns
        app_cpu = self.cpu() - cpu
        if not all(ends):
            raise RuntimeError("a generation's end was not recorded")
        lengths = simulated_lengths(self.home, since - 1, time.time())
        if len(lengths) != n:
            raise RuntimeError(f"expected {n} simulated jobs, found {len(lengths)}")
        latencies = tuple(e - s for s, e in zip(starts, ends, strict=True))
        updates = median(len(job.outputs()) for job in jobs)
        return Batch(
            n,
            max(ends) - min(starts),
            latencies,
            max(lengths),
            app_cpu,
            updates,
            sum(lengths) / len(lengths),
        )


def wait_all(jobs: Sequence[Any]) -> None:
    """Every caller's result, each ending in a video (bounded); all cancelled on a failure."""
    deadline = time.monotonic() + BATCH_TIMEOUT
    try:
        for job in jobs:
            markdown, video, _body = job.result(timeout=max(1.0, deadline - time.monotonic()))
            if video is None or "completed" not in (markdown or ""):
                raise RuntimeError(f"a generation ended without a video: {markdown!r}")
    except BaseException:
        for job in jobs:
            job.cancel()
        raise


def callers(url: str, n: int, downloads: Path) -> Any:
    """The callers' gradio_client for ``n`` at once (plain http: no TLS set-up, see above)."""
    from gradio_client import Client as GradioClient

    return GradioClient(
        url,
        verbose=False,
        max_workers=n + 16,
        download_files=str(downloads),
        analytics_enabled=False,
        ssl_verify=False,
    )


class BareBench:
    """A floor app (:mod:`.serve_bare`) serving, and its callers' client."""

    def __init__(self, client: Any, pid: int) -> None:
        self.client = client
        self.pid = pid

    def batch(self, n: int, tag: str) -> float:
        """CPU seconds per generation the floor app spent serving ``n`` at once."""
        before = process_cpu(self.pid) or 0.0
        wait_all([self.client.submit(*FORM, f"{tag}-{i}", api_name="/generate") for i in range(n)])
        return ((process_cpu(self.pid) or 0.0) - before) / n


@contextmanager
def bare_serving(
    tmp: Path, n: int, updates: float, job_seconds: float, exchanges: tuple[str, int] | None
) -> Iterator[BareBench]:
    """A floor app yielding ``updates`` times over ``job_seconds``; with ``exchanges`` (the API's
    address, GETs per generation) it also makes those exchanges, as a bare app would."""

    from pixverse_ui.simulator.video import render_mp4

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    own = Path(tempfile.mkdtemp(prefix="floor-", dir=tmp))
    body = {"prompt": FORM[0], "aspect_ratio": "16:9", "resolution": "360p", "duration": 5}
    video = render_mp4(body, own)
    app_tmp = own / "app-tmp"
    app_tmp.mkdir()
    env = bench_env(GRADIO_TEMP_DIR=str(app_tmp / "gradio"), TMPDIR=str(app_tmp))
    count = max(2, round(updates))
    args = [PYTHON, "-m", "benchmarks.serve_bare", str(port), str(count), f"{job_seconds}"]
    args.append(str(video))
    if exchanges is not None:
        args += [exchanges[0], BENCH_KEY, str(exchanges[1])]
    with serving(args, url, env, stdin_stops=True) as served:
        client = callers(url, n, own / "downloads")
        try:
            bench = BareBench(client, served.pid)
            bench.batch(1, "floor-warmup")
            yield bench
        finally:
            client.close()
            client.executor.shutdown(wait=False, cancel_futures=True)


def gets_per_job(home: Path, since: float, until: float) -> float:
    """The median GETs the app's ledger counted per job created in ``[since, until]``."""
    path = home / "ledger.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute(
            "SELECT polls FROM jobs WHERE created_at BETWEEN ? AND ?", (since, until)
        ).fetchall()
    return median(polls for (polls,) in rows)


@contextmanager
def app_serving(
    tmp: Path, speed: float, n: int, *, separate_simulator: bool = False
) -> Iterator[tuple[Bench, str | None]]:
    """Serve the app at ``speed`` in a fresh home under ``tmp``; yields its bench and, with
    ``separate_simulator``, the address of the stand-in API, which then runs in a process of
    its own and which the app talks to as to the real one (a key, ``AIMLAPI_BASE_URL``), so the
    app's CPU is the app's alone."""

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with ExitStack() as stack:
        own = Path(tempfile.mkdtemp(prefix="app-", dir=tmp))
        home, app_tmp = own / "home", own / "app-tmp"
        app_tmp.mkdir()
        env = bench_env(
            PIXVERSE_UI_HOME=str(home),
            PIXVERSE_UI_SIM_SPEED=f"{speed:g}",
            GRADIO_TEMP_DIR=str(app_tmp / "gradio"),
            TMPDIR=str(app_tmp),
        )
        api = None
        if separate_simulator:
            sim_port = free_port()
            sim_args = [
                PYTHON, "-m", "pixverse_ui.simulator", "--port", str(sim_port),
                "--speed", f"{speed:g}", "--api-key", BENCH_KEY,
                "--state", str(home / "simulator" / "jobs.sqlite3"),
                "--cache-dir", str(home / "simulator" / "videos"),
            ]  # fmt: skip
            stack.enter_context(serving(sim_args, f"http://127.0.0.1:{sim_port}/_sim/stats", env))
            api = f"http://127.0.0.1:{sim_port}"
            env.update(AIMLAPI_KEY=BENCH_KEY, AIMLAPI_BASE_URL=api)
        args = [PYTHON, "-m", "benchmarks.serve_app", str(port)]
        served = stack.enter_context(serving(args, url, env, stdin_stops=True))
        stack.enter_context(temp_root(Path(tmp) / "callers-tmp"))
        client = callers(url, n, own / "downloads")
        try:
            yield Bench(client, home, served.pid), api
        finally:
            client.close()
            client.executor.shutdown(wait=False, cancel_futures=True)


def measure(
    speed: float, counts: Sequence[int], rounds: int, *, separate_simulator: bool = False
) -> dict[int, list[Batch]]:
    """Serve the app at ``speed`` in a fresh home and measure ``rounds`` of ``counts`` on it."""
    with (
        tempfile.TemporaryDirectory(prefix="pxui-bench-conc-") as tmp,
        app_serving(Path(tmp), speed, max(counts), separate_simulator=separate_simulator) as (
            bench,
            _api,
        ),
    ):
        return rounds_of(bench, speed, counts, rounds)


def rounds_of(
    bench: Bench, speed: float, counts: Sequence[int], rounds: int
) -> dict[int, list[Batch]]:
    """One untimed generation, then ``rounds`` of a batch of each of ``counts``."""
    bench.batch(1, "warmup")
    batches: dict[int, list[Batch]] = {n: [] for n in counts}
    for r in range(rounds):
        for n in counts:
            batch = bench.batch(n, f"{speed:g}-{r}-{n}")
            say(
                f"  concurrency: speed {speed:g}, {n:>3} at once: {batch.wall:.2f} s wall,"
                f" slowest job {batch.slowest_job:.2f} s, app CPU {batch.app_cpu:.1f} s"
            )
            batches[n].append(batch)
            time.sleep(0.5)  # let the last batch's followers wind down
    return batches


def rows_for(
    label: str, batches: Sequence[Batch], ones: Sequence[Batch], *, brief: bool = False
) -> list[Row]:
    """Wall time, wall per slowest job (the target) and the app's CPU, against one at once.
    ``brief``: only the target and the app's share of a core."""

    def med(batches: Sequence[Batch], value: Callable[[Batch], float]) -> float:
        return median(value(b) for b in batches)

    wall, base_wall = med(batches, lambda b: b.wall), med(ones, lambda b: b.wall)
    over, base_over = med(batches, lambda b: b.overhead), med(ones, lambda b: b.overhead)
    per_job = med(batches, lambda b: b.app_cpu / b.n)
    base_per_job = med(ones, lambda b: b.app_cpu)
    busy = med(batches, lambda b: b.busy)
    reps = f"median of {len(batches)}"
    target = Row(
        NAME,
        f"{label}: wall / slowest simulated job, vs 1 ({reps})",
        f"{over:.3f}",
        f"{base_over:.3f}",
        ratio(over, base_over),
        f"<= {TARGET:g}x",
        ratio(over, base_over) <= TARGET,
    )
    share = Row(
        NAME,
        f"{label}: app process CPU / wall",
        f"{busy:.2f}",
        "1.00 (one core)",
        busy,
        "(why; 1.0 = saturated)",
        None,
    )
    if brief:
        return [target, share]
    return [
        Row(
            NAME,
            f"{label}: wall time vs 1 ({reps})",
            seconds(wall),
            seconds(base_wall),
            ratio(wall, base_wall),
            "(incl. slowest draw)",
            None,
        ),
        target,
        Row(
            NAME,
            f"{label}: app CPU per generation vs 1",
            seconds(per_job),
            seconds(base_per_job),
            ratio(per_job, base_per_job),
            "(why)",
            None,
        ),
        share,
    ]


def floor_rows(rounds: int) -> list[Row]:
    """Our CPU per generation (the simulator in its own process) over the two floors': a bare
    Gradio app yielding as many updates (the issue's target), and one that also makes the same
    exchanges with the API. The three take turns in each round: the machine is shared, and
    floors measured minutes apart would carry its drift into the ratios."""
    n = COUNTS[-1]
    with tempfile.TemporaryDirectory(prefix="pxui-bench-floor-") as tmp, ExitStack() as stack:
        bench, api = stack.enter_context(app_serving(Path(tmp), SPEED, n, separate_simulator=True))
        assert api is not None
        bench.batch(1, "warmup")
        since = time.time()
        first = bench.batch(n, "learn")  # untimed: the ledger learns the endpoint's times
        gets = gets_per_job(bench.home, since - 1, time.time())
        say(
            f"  concurrency: the floors, {n} at once, {first.updates:g} updates and {gets:g} GETs"
            f" over {first.mean_job:.1f} s"
        )
        bare = stack.enter_context(bare_serving(Path(tmp), n, first.updates, first.mean_job, None))
        exchanging = stack.enter_context(
            bare_serving(Path(tmp), n, first.updates, first.mean_job, (api, round(gets)))
        )
        ours, floor, floor_x = [], [], []
        for r in range(rounds):
            ours.append(bench.batch(n, f"floor-{r}").app_cpu / n)
            time.sleep(0.5)
            floor.append(bare.batch(n, f"bare-{r}"))
            time.sleep(0.5)
            floor_x.append(exchanging.batch(n, f"exchanges-{r}"))
            time.sleep(0.5)
            say(
                f"  concurrency: round {r}, CPU a generation: ours {ours[-1] * 1e3:.0f} ms,"
                f" bare {floor[-1] * 1e3:.0f} ms, bare with exchanges {floor_x[-1] * 1e3:.0f} ms"
            )
    label = f"{n} at once (speed {SPEED}, the simulator in its own process): app CPU per generation"
    reps = f"(median of {rounds}, in turns)"
    return [
        Row(
            NAME,
            f"{label} vs a bare Gradio app yielding as many updates ({first.updates:g}) {reps}",
            seconds(median(ours)),
            seconds(median(floor)),
            ratio(median(ours), median(floor)),
            f"<= {FLOOR_TARGET:g}x",
            ratio(median(ours), median(floor)) <= FLOOR_TARGET,
        ),
        Row(
            NAME,
            f"{label} vs a bare Gradio app also making the same exchanges with the API (a POST,"
            f" {gets:g} GETs, the download) through requests {reps}",
            seconds(median(ours)),
            seconds(median(floor_x)),
            ratio(median(ours), median(floor_x)),
            "(what is ours beyond the exchanges)",
            None,
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    rounds = 2 if quick else 3
    say(f"  concurrency: {COUNTS} at once, speed {SPEED}, {rounds} rounds")
    batches = measure(SPEED, COUNTS, rounds)
    rows = []
    for n in COUNTS[1:]:
        rows += rows_for(f"{n} at once (speed {SPEED})", batches[n], batches[1])
    rows += floor_rows(rounds)
    if not quick:
        for speed in SWEEP:
            slow = measure(speed, (1, 200), 2)
            rows += rows_for(f"200 at once (speed {speed})", slow[200], slow[1], brief=True)
    return rows
