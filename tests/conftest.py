"""Shared fixtures: a manual clock, a simulator on loopback, a client and a ledger on tmp paths.

Nothing here needs a key or the network: the simulator speaks the AI/ML API over real HTTP on
127.0.0.1, and a ManualClock shared by the simulator and the client makes time pass only when the
code under test sleeps, so no test really waits for a job.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from typing import Any

#: A test process makes pages, apps and simulators by the hundred thousand objects: with Python's
#: thresholds (700, 10, 10) it spent about 11% of its CPU collecting (2,522 collections and 20
#: full ones in two test files); at these, 91 and 2 (3.5% of it). Cycles are still collected.
gc.set_threshold(10_000, 10, 10)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.pop("AIMLAPI_KEY", None)  # tests never see a real key
os.environ.pop("AIMLAPI_BASE_URL", None)
#: Gradio's cache for this run, never the machine-wide <tmp>/gradio another app writes to. Some
#: Gradio modules read GRADIO_TEMP_DIR once, at import, so it is set before any imports them;
#: each test then gets a folder of its own (``_isolated_home``).
SESSION_GRADIO_TEMP = tempfile.mkdtemp(prefix="pxui-suite-gradio-")
os.environ["GRADIO_TEMP_DIR"] = SESSION_GRADIO_TEMP

import cpu_meter  # noqa: E402
import pytest  # noqa: E402

#: The browser suites' fixtures (``browser``, ``open_page``) live with their helpers.
pytest_plugins = ["browser_support"]

from pixverse_ui.client import Client  # noqa: E402
from pixverse_ui.clock import REAL_CLOCK, ManualClock  # noqa: E402
from pixverse_ui.simulator.config import VIDEOS_ENV  # noqa: E402
from pixverse_ui.store import Ledger  # noqa: E402

TEST_KEY = "sk-test-e2e-KEY-0123456789abcdef"
#: The keys the suite's clients send to the simulators ``make_sim`` and ``make_live_sim`` start.
#: Those simulators accept these and refuse every other key with 401, as the real API refuses a
#: key it did not issue; a test that needs other keys passes its own ``api_keys``.
SUITE_KEYS = frozenset(
    {
        TEST_KEY,
        "k",  # test_generate_e2e
        "sk-cli-test-KEY-9f8e7d6c5b4a3210",  # test_cli
        "sk-RECOGNISABLE-secret-key-4242424242",  # test_cli
        "sk-faults",  # test_faults
        "sk-fuzz",  # test_fuzz
        "sk-resilience-KEY-31415926535",  # test_resilience (child processes)
        "sk-canary-LIBRARY-7c1d2e3f4a5b6c7d",  # test_security
        "sk-canary-COMMAND-0a9b8c7d6e5f4a3b",  # test_security
        "sk-host-key-000111222333",  # test_ui: a host key pointed at a local simulator
        "sk-integrity-KEY-0123456789abcdef",  # test_integrity
        "sk-pollers-KEY-0123456789abcdef",  # test_pollers
    }
)


def pytest_configure(config):
    """Under xdist the controller starts the suite's fork server (``tests/forkserver.py``) before
    the workers, which find it by its address in the environment they inherit: one Gradio import
    for every app.py of the run. Run in one process, the suite starts it on first use."""
    global _METER
    if hasattr(config, "workerinput"):
        return
    _METER = cpu_meter.start()  # before the fork server and the workers: they start in it
    if config.getoption("numprocesses", None) or 0:
        from support import forks

        forks()


def pytest_unconfigure(config):
    import support

    if support._FORKS is not None:
        support._FORKS.stop()  # the server this process started, and its children's time with it
    shutil.rmtree(SESSION_GRADIO_TEMP, ignore_errors=True)
    if _METER is not None:
        _METER.close()


# --- what the run cost: printed before pytest's own last line (``make test`` shows it) ----------

#: When this process (xdist's controller, or the only one) began the run.
_STARTED = time.monotonic()
#: How the run's Python processes were started (``support.process_counts``), all processes'.
_PROCESSES: dict[str, Any] = {"forked": 0, "fresh": 0, "refused": []}
#: What counts the run's CPU-seconds (xdist's controller's, or the only process's).
_METER: cpu_meter.Meter | None = None


def _count_processes(counts: dict[str, Any]) -> None:
    for name, value in counts.items():
        _PROCESSES[name] += value


@pytest.hookimpl(trylast=True)  # after xdist has stopped and reaped its workers
def pytest_sessionfinish(session):
    import support

    counts = support.process_counts()
    if hasattr(session.config, "workerinput"):
        session.config.workeroutput["processes"] = counts
        return
    _count_processes(counts)
    if support._FORKS is not None:
        support._FORKS.stop()  # reaped now, so that its children's CPU time is counted below


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _count_processes(getattr(node, "workeroutput", {}).get("processes", {}))


def cost_line(wall: float) -> str:
    """The run's wall time and CPU-seconds (``cpu_meter``: every process of the run where a
    cgroup can be made, else those waited for, as ``/usr/bin/time`` counts them), and how its
    Python processes were started."""
    meter = _METER or cpu_meter.Meter(None, "", 0.0)
    return (
        f"{meter.words(wall)}; Python processes: "
        f"{_PROCESSES['forked']} forked ready-made, {_PROCESSES['fresh']} fresh as asked, "
        f"{len(_PROCESSES['refused'])} fresh where a fork could not do"
        + "".join(f"\n  refused: {why}" for why in sorted(set(_PROCESSES["refused"])))
    )


#: What a test weighs when the suite is shared among processes (``make test`` runs one file per
#: process): a browser test takes seconds of Chromium, an app launch about one, most tests less.
_WEIGHT_BROWSER, _WEIGHT_APP, _WEIGHT_OTHER = 10.0, 2.0, 0.1


def _weight(item: pytest.Item) -> float:
    if item.get_closest_marker("browser"):
        return _WEIGHT_BROWSER
    return _WEIGHT_APP if "launch_app" in getattr(item, "fixturenames", ()) else _WEIGHT_OTHER


def pytest_collection_modifyitems(config, items):
    """The heaviest files first: a worker handed a browser file near the end of the run would
    finish minutes after the others (xdist's own order, most tests first, put them last).
    ``make test`` passes ``--no-loadscope-reorder`` so xdist keeps this order."""
    weights: Counter[str] = Counter()
    for item in items:
        weights[item.nodeid.split("::")[0]] += _weight(item)
    items.sort(key=lambda item: -weights[item.nodeid.split("::")[0]])  # stable within a file


def pytest_collection_finish(session):
    """What collection imported (Gradio, playwright, hypothesis…) lives until the end: moved out
    of the garbage collector's sweeps, which otherwise walk it at every full collection."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch, video_cache):
    """Every test gets its own PIXVERSE_UI_HOME and Gradio cache, and no key from the host (the
    apps, simulators and child processes it starts inherit them). The simulators' drawn videos
    are the run's (``video_cache``): a video is named by all it shows, so sharing is safe."""
    home = tmp_path / "home"
    monkeypatch.setenv("PIXVERSE_UI_HOME", str(home))
    monkeypatch.setenv(VIDEOS_ENV, str(video_cache))
    # beside tmp_path, not in it: the ledgers tests make in tmp_path make it a blocked path
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path.parent / f"{tmp_path.name}-gradio-cache"))
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    monkeypatch.delenv("PIXVERSE_UI_SIM_FAULTS", raising=False)
    yield home
    from pixverse_ui.simulator import stop_embedded

    stop_embedded()  # the next test's embedded simulator reads its own home and settings


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory):
    """Rendered MP4s are shared across the run's tests and processes: the same body renders
    once (a simulator writes each file whole, then renames it into place)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # every worker's base temp folder sits in the run's
    folder = base / "sim-videos"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def clock():
    return ManualClock()


@contextmanager
def _simulators(clock, **defaults):
    """A ``make(**config)`` that starts simulators on ``clock``; all stop when the block ends."""
    from pixverse_ui.simulator import SimConfig, Simulator

    started = []

    def make(**config):
        sim = Simulator(SimConfig(**{"api_keys": SUITE_KEYS, **defaults, **config}), clock=clock)
        sim.start()
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in started:
            sim.stop()


@pytest.fixture
def make_sim(clock, video_cache):
    """Start simulators with the test's clock; all are stopped at the end."""
    # real provider timings, on the manual clock
    with _simulators(clock, speed=1.0, seed=7, cache_dir=video_cache) as make:
        yield make


@pytest.fixture
def make_live_sim(video_cache):
    """Start simulators on the real clock, for apps and child processes; all stop at the end."""
    # a 360p job takes about five seconds
    with _simulators(REAL_CLOCK, speed=20, seed=5, cache_dir=video_cache) as make:
        yield make


@pytest.fixture
def sim(make_sim):
    return make_sim()


@pytest.fixture
def client(sim, clock):
    with Client(api_key=TEST_KEY, base_url=sim.url, clock=clock, timeout=(2.0, 10.0)) as c:
        yield c


@pytest.fixture
def ledger(tmp_path, clock):
    return Ledger(tmp_path / "ledger.sqlite3", clock=clock)


@pytest.fixture
def launch_app(tmp_path, monkeypatch):
    """Launch build_demo() on a free port in simulator mode, as ``ui.launch`` configures it.

    ``start(speed="40", mcp=False, auth=None, **env)`` returns ``(demo, gradio_client, ledger)``;
    ``mcp`` also serves the MCP tools, ``auth`` (a list of user/password pairs) puts the app behind
    Gradio's login (the client logs in with the first). All demos are closed at the end.
    """
    from support import free_port, gradio_caller

    from pixverse_ui.ui import build_demo, launch_options

    demos = []

    def start(speed="40", *, mcp=False, auth=None, **env):
        monkeypatch.setenv("PIXVERSE_UI_SIM_SPEED", speed)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        ledger = Ledger(tmp_path / "app-ledger.sqlite3")
        demo = build_demo(ledger=ledger, download_dir=tmp_path / "videos", has_auth=bool(auth))
        demo.launch(  # the app's own launch settings: its thread and concurrency limits
            **launch_options(
                demo,
                prevent_thread_lock=True,
                server_name="127.0.0.1",
                server_port=free_port(),
                quiet=True,
                mcp_server=mcp,
                auth=auth,
            )
        )
        demos.append(demo)
        # gradio_client's default pool of 40 workers would queue a larger crowd on our side
        # its downloads go under tmp_path, not a fresh folder in /tmp per file
        caller = gradio_caller(
            demo.local_url,
            max_workers=256,
            download_files=str(tmp_path / "gradio-client"),
            auth=auth[0] if auth else None,
        )
        return demo, caller, ledger

    yield start
    for demo in demos:
        demo.close()


# --- the figures the fault, fuzz and security suite reports (issue: no paid generation lost) ---

FIGURE_NAMES = (
    "faults injected",
    "generations started",
    "generations lost",
    "duplicate POSTs",
    "inputs fuzzed",
    "tracebacks shown",
    "key sightings",
    "bytes verified",
    "sessions left of 1,000 closed",
    "kB grown over 1,000 sessions",
)
#: Figures that are the worst case seen rather than a count (the most, over every test).
PEAK_NAMES = (
    "watchers per job (most)",
    "downloads per job (most)",
    "deadline overrun in s (most, at most 1)",
)
_FIGURES: Counter[str] = Counter()
_PEAKS: dict[str, float] = {}


@pytest.fixture
def figures() -> Counter[str]:
    """Add to the run's resilience figures; they are printed as a table at the end of the run."""
    return _FIGURES


@pytest.fixture
def peak():
    """``peak(name, value)``: keep the largest value seen for a worst-case figure."""

    def keep(name: str, value: float) -> None:
        assert name in PEAK_NAMES, name
        _PEAKS[name] = max(value, _PEAKS.get(name, value))

    return keep


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _figures_table(terminalreporter)
    if not hasattr(config, "workerinput"):
        terminalreporter.write_line(f"This run took {cost_line(time.monotonic() - _STARTED)}")


def _figures_table(terminalreporter) -> None:
    if not _FIGURES and not _PEAKS:
        return
    terminalreporter.section("resilience figures")
    others = sorted(set(_FIGURES) - set(FIGURE_NAMES))  # a suite's own figures, after these
    width = max(len(name) for name in FIGURE_NAMES + PEAK_NAMES + tuple(others))
    terminalreporter.write_line(f"| {'figure'.ljust(width)} | value |")
    terminalreporter.write_line(f"|{'-' * (width + 2)}|-------|")
    for name in (*FIGURE_NAMES, *others):
        terminalreporter.write_line(f"| {name.ljust(width)} | {_FIGURES[name]:>5} |")
    for name in PEAK_NAMES:
        value = _PEAKS.get(name)
        shown = "—" if value is None else f"{value:g}" if value >= 10 else f"{value:.2f}"
        terminalreporter.write_line(f"| {name.ljust(width)} | {shown:>5} |")
