"""Run the simulator on loopback: ``Simulator`` (uvicorn in a daemon thread) and ``embedded()``."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from typing import Any

import uvicorn

from ..clock import REAL_CLOCK, Clock
from .app import SimCore, create_app
from .config import SimConfig, home_dir
from .faults import FaultPlan
from .keys import KeyRing, new_key
from .responses import install_quiet_drop_filter

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class Simulator:
    """The stand-in AI/ML API on ``127.0.0.1``.

    >>> with Simulator(SimConfig(speed=100)) as sim:   # doctest: +SKIP
    ...     requests.post(sim.url + "/v2/video/generations", ...)

    ``clock`` drives job progress and URL expiry: share a ``ManualClock`` with a test and jobs move
    only when the test sleeps on it.

    It accepts only its keys, as the real API does: ``config.api_keys``, else one it makes here
    (``api_key``), plus any added with :meth:`allow_key`; any other bearer token gets 401.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock = REAL_CLOCK,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config or SimConfig()
        self.clock = clock
        #: The key this simulator made for itself; None when ``config.api_keys`` named its keys.
        self.api_key: str | None = None if self.config.api_keys is not None else new_key()
        given = self.config.api_keys
        self._keys = KeyRing(given if given is not None else (self.api_key,))
        self.host = host
        self._port = port
        self._core: SimCore | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind, serve in a daemon thread, and return once it answers (at most 15 s)."""
        with self._lock:
            if self._thread is not None:
                return self
            install_quiet_drop_filter()
            core = SimCore(self.config, self.clock, self._keys)
            # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
            # without it every answer waits ~40 ms for a delayed ACK between headers and body
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.host, self._port))
                sock.listen(128)
            except OSError:
                sock.close()
                core.close()
                raise
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(core),
                    log_level="warning",
                    access_log=False,
                    log_config=None,
                    http="h11",
                    lifespan="off",
                    timeout_graceful_shutdown=1,
                )
            )
            thread = threading.Thread(
                target=server.run,
                kwargs={"sockets": [sock]},
                name=f"pixverse-sim-{sock.getsockname()[1]}",
                daemon=True,
            )
            self._core, self._server, self._socket = core, server, sock
            self._port = sock.getsockname()[1]
            thread.start()
            self._thread = thread
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    self._teardown()
                    raise RuntimeError("the PixVerse simulator did not start")
                time.sleep(0.005)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving and wait (bounded) for the server thread."""
        with self._lock:
            self._teardown(timeout)

    def _teardown(self, timeout: float = STOP_TIMEOUT) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        if self._core is not None:
            self._core.close()
        self._server = self._thread = self._socket = self._core = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests and callers use ------------------------------------------------------------

    def allow_key(self, key: str) -> None:
        """Accept ``key`` from now on (the library registers each key it uses here)."""
        self._keys.allow(key)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the base URL a client uses)."""
        return f"http://{self.host}:{self._port}"

    @property
    def core(self) -> SimCore:
        if self._core is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return self._core

    @property
    def faults(self) -> FaultPlan:
        """The live fault plan: ``sim.faults.add("503", target="get", times=3)``."""
        return self.core.faults

    def stats(self) -> dict[str, Any]:
        """Same as ``GET /_sim/stats``."""
        return self.core.stats()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Simulator({self.url if self.running else ''!s}, {state})"


_embedded: Simulator | None = None
_embedded_lock = threading.Lock()


def embedded() -> Simulator:
    """The process-wide simulator, started on first use from ``SimConfig.from_env()``.

    Its videos and its job file live under ``$PIXVERSE_UI_HOME/simulator``. It accepts only the
    keys the library registers with :meth:`Simulator.allow_key` (``defaults.simulator_client``
    does) and the random one it made, which nobody is told.
    """
    global _embedded
    with _embedded_lock:
        if _embedded is None or not _embedded.running:
            base = home_dir() / "simulator"
            config = SimConfig.from_env()
            config = dataclasses.replace(
                config,
                cache_dir=config.cache_dir or base / "videos",
                state_path=config.state_path or base / "jobs.sqlite3",
            )
            _embedded = Simulator(config).start()
        return _embedded


def stop_embedded() -> None:
    """Stop the process-wide simulator if it runs; the next ``embedded()`` starts a fresh one."""
    global _embedded
    with _embedded_lock:
        if _embedded is not None:
            _embedded.stop()
            _embedded = None
