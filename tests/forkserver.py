"""``python app.py`` for the suite at the cost of a fork, not of a Python start and Gradio's import.

One server process imports what app.py imports (Gradio, the package), once per run, and forks a
child for each Python process a test starts through it (``ForkServer.popen``). The child is a
real process of its own (its own pid, killed by a signal like any other, its exit status read as
``subprocess.Popen`` reads it), made what ``python SCRIPT ARGS`` (or ``-m``/``-c``) in a fresh
interpreter would be: the test's environment, working directory, arguments and output file, and
the settings Gradio reads once at import set again from that environment (``IMPORT_TIME``).

What a fork cannot make faithfully it refuses, and the caller starts a plain process instead:
slower, never wrong. A child's environment may differ from the server's only in settings that
nothing the server imported read at import (the server records every one it reads) or that
``IMPORT_TIME`` sets again; the interpreter's own ``PYTHON*`` settings must be the server's.

The server has no threads when it forks (a fork copies the locks of other threads, not the
threads), reaps its children, tells each requester its child's exit status, and kills the child
of a requester that goes away. It is a child of the process that started it, which stops and
reaps it at the end: every CPU-second the children spent is counted in that process's resource
usage (``make test`` prints it), as a plain process's would be.

Run as a script it is the server: ``python tests/forkserver.py SOCKET_PATH``.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: What the server imports before it forks: all of app.py's imports, which is most of its start.
PRELOAD = ("gradio", "pixverse_ui.cli", "pixverse_ui.ui", "pixverse_ui.simulator")
#: The server's own settings, not compared with a child's: numpy's BLAS would otherwise start a
#: thread at import, and the server forks only with none.
SERVER_ONLY = {"OPENBLAS_NUM_THREADS": "1"}
#: Set by Gradio itself in a process that has built a page (``Blocks`` turns Hugging Face's
#: telemetry off), so a test process has it or not by what it ran before: telemetry is off in
#: the children either way (the suite runs with analytics off), so it never bars a fork.
SET_BY_GRADIO = frozenset({"HF_HUB_DISABLE_TELEMETRY"})


def _temp_dir(env: Mapping[str, str]) -> str:
    """Gradio's cache folder, as its modules compute it at import (``DEFAULT_TEMP_DIR``)."""
    return env.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")


#: Settings modules read from the environment once, at import: for each environment variable, the
#: module attributes that hold it and how they are computed. A child gets them computed again from
#: its own environment. ``check_import_time`` fails when an upgrade renames or recomputes one.
IMPORT_TIME: dict[str, tuple[tuple[str, str, Callable[[Mapping[str, str]], Any]], ...]] = {
    "GRADIO_TEMP_DIR": (
        ("gradio.route_utils", "DEFAULT_TEMP_DIR", _temp_dir),
        ("gradio.routes", "DEFAULT_TEMP_DIR", _temp_dir),
        ("gradio.mcp", "DEFAULT_TEMP_DIR", _temp_dir),
        ("gradio.screen_recording_utils", "DEFAULT_TEMP_DIR", _temp_dir),
        ("gradio_client.client", "DEFAULT_TEMP_DIR", _temp_dir),
    ),
    **{
        name: (("gradio.oauth", name, lambda env, name=name: env.get(name)),)
        for name in (
            "OAUTH_CLIENT_ID",
            "OAUTH_CLIENT_SECRET",
            "OAUTH_SCOPES",
            "OPENID_PROVIDER_URL",
        )
    },
}


def check_import_time(env: Mapping[str, str] | None = None) -> list[str]:
    """What in ``IMPORT_TIME`` no longer holds for the modules loaded here, as sentences: an
    attribute gone, or a value the formula does not give for ``env`` (the environment the modules
    were imported with). Empty when every one holds."""
    env = os.environ if env is None else env
    problems = []
    for name, places in IMPORT_TIME.items():
        for module_name, attribute, compute in places:
            module = sys.modules.get(module_name)
            if module is None or not hasattr(module, attribute):
                problems.append(f"{module_name}.{attribute} (set from {name}) is gone")
            elif getattr(module, attribute) != compute(env):
                problems.append(
                    f"{module_name}.{attribute} is {getattr(module, attribute)!r}, not what "
                    f"{name} gives it here ({compute(env)!r}): its formula changed"
                )
    return problems


# --- the server -----------------------------------------------------------------------------------


def _preload() -> set[str]:
    """Import ``PRELOAD``; the environment variables read by name while doing it.

    ``get``, ``in`` and ``os.getenv`` all read through ``__getitem__``, and so does a walk over
    every variable (``items()``, ``for key in os.environ``). A caller that read nearly all of them
    walked the environment for a prefix of its own (proxies, ``FSSPEC_``, ``TQDM_``); its reads
    are not reads by name.
    """
    readers: dict[tuple[str, str], set[str]] = {}
    environ_class = type(os.environ)
    real = environ_class.__getitem__

    def recording(self: Any, key: str) -> str:
        frame = sys._getframe(1)
        while frame.f_back and frame.f_code.co_filename.endswith(("_collections_abc>", "os.py")):
            frame = frame.f_back
        readers.setdefault((frame.f_code.co_filename, frame.f_code.co_name), set()).add(key)
        return real(self, key)

    environ_class.__getitem__ = recording  # type: ignore[method-assign]
    try:
        for name in PRELOAD:
            __import__(name)
    finally:
        environ_class.__getitem__ = real  # type: ignore[method-assign]
    walk = 0.9 * len(os.environ)
    return {key for keys in readers.values() if len(keys) < walk for key in keys}


def _threads() -> int:
    """How many threads this process has (native ones too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the requester went away; its child is killed when its end is seen closed


def _read_line(conn: socket.socket, timeout: float = 10.0) -> tuple[dict[str, Any] | None, bytes]:
    """The first line ``conn`` sends, and what came after it; (None, b"") if it closes first."""
    conn.settimeout(timeout)
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    conn.settimeout(None)
    line, _, rest = data.partition(b"\n")
    return json.loads(line), rest


class _Server:
    """The server's state: its listener, its children and their requesters."""

    def __init__(self, address: str) -> None:
        self.read_at_import = _preload()
        # what was imported lives as long as a child: out of its collector's full sweeps (each
        # walked the ~185,000 objects of Gradio's import, 0.15 s), and its pages never written
        gc.collect()
        gc.freeze()
        self.problems = check_import_time()
        self.env = dict(os.environ)
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(address)
        self.listener.listen(64)
        self.children: dict[int, socket.socket] = {}
        self.sig_r, self.sig_w = os.pipe()
        os.set_blocking(self.sig_r, False)
        os.set_blocking(self.sig_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.sig_w)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "listener")
        self.selector.register(self.sig_r, selectors.EVENT_READ, "sigchld")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "stop")

    def refusal(self, request: dict[str, Any]) -> str | None:
        """Why a fork cannot be what ``request`` asks for, or None."""
        if self.problems:
            return "; ".join(self.problems)
        if _threads() != 1:
            return f"the server has {_threads()} threads"
        argv = request["argv"]
        if not argv or argv[0] != sys.executable or len(argv) < 2:
            return f"not this Python with a script, -m or -c: {argv[:2]}"
        env = request["env"]
        differ = {k for k in set(env) | set(self.env) if env.get(k) != self.env.get(k)}
        differ -= set(SERVER_ONLY) | SET_BY_GRADIO
        fixed = {k for k in differ if k.startswith("PYTHON") or k in self.read_at_import}
        fixed -= set(IMPORT_TIME)
        if fixed:
            return f"set at import or at the interpreter's start: {sorted(fixed)}"
        return None

    def run(self) -> dict[str, Any] | None:
        """Serve until told to stop (None), or, in a child, return what it is to become."""
        while True:
            for key, _ in self.selector.select():
                if key.data == "stop":
                    if not os.read(sys.stdin.fileno(), 4096):
                        self.stop()
                        return None
                elif key.data == "sigchld":
                    self.reap()
                elif key.data == "listener":
                    request = self.accept()
                    if request is not None:
                        return request  # in the child
                else:
                    self.command(key.data, key.fileobj)  # type: ignore[arg-type]

    def accept(self) -> dict[str, Any] | None:
        conn, _ = self.listener.accept()
        try:
            request, _ = _read_line(conn)
        except (OSError, ValueError):
            request = None
        if request is None:
            conn.close()
            return None
        why = self.refusal(request)
        if why:
            _send(conn, {"refused": why})
            conn.close()
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.close_in_child(conn)
            return request
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)
        _send(conn, {"pid": pid})
        return None

    def command(self, pid: int, conn: socket.socket) -> None:
        """A requester's line (a signal to send its child), or its end closed (kill the child)."""
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn)
            self.signal(pid, signal.SIGKILL)
            return
        for line in data.splitlines():
            self.signal(pid, int(json.loads(line)["signal"]))

    def signal(self, pid: int, number: int) -> None:
        if pid in self.children:  # not reaped yet, so the pid is still this child's
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        while True:
            try:
                os.read(self.sig_r, 4096)
            except BlockingIOError:
                break
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                if conn in (key.fileobj for key in self.selector.get_map().values()):
                    self.selector.unregister(conn)
                conn.close()

    def stop(self) -> None:
        """Kill and reap every child still running (their requesters are gone too)."""
        for pid in list(self.children):
            self.signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.children and time.monotonic() < deadline:
            pid, _ = os.waitpid(-1, 0)
            self.children.pop(pid, None)

    def close_in_child(self, keep: socket.socket) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        self.listener.close()
        os.close(self.sig_r)
        os.close(self.sig_w)
        for conn in self.children.values():
            conn.close()
        keep.close()


def _become(request: dict[str, Any]) -> None:
    """In a fresh child: be the process ``request`` asks for, as far as it can tell."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for places in IMPORT_TIME.values():
        for module_name, attribute, compute in places:
            setattr(sys.modules[module_name], attribute, compute(os.environ))
    import runpy

    args = request["argv"][1:]
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]  # runpy puts the module's path in argv[0]
        sys.path[0] = os.getcwd()
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
        import types

        sys.argv = ["-c", *args[2:]]
        sys.path[0] = ""
        module = types.ModuleType("__main__")
        sys.modules["__main__"] = module
        exec(compile(args[1], "<string>", "exec"), module.__dict__)  # noqa: S102
    else:
        sys.argv = list(args)
        sys.path[0] = str(Path(args[0]).resolve().parent)
        runpy.run_path(args[0], run_name="__main__")


def main(address: str) -> None:
    request = _Server(address).run()
    if request is not None:
        _become(request)  # and leave as the script would: sys.exit, atexit, thread joins


# --- the client -----------------------------------------------------------------------------------


class Forked:
    """A child of the fork server, handled as ``subprocess.Popen`` handles a process."""

    def __init__(self, conn: socket.socket, pid: int, args: list[str], buffer: bytes) -> None:
        self._conn = conn
        self._buffer = buffer
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def _read_exit(self, timeout: float | None) -> None:
        if self.returncode is not None:
            return
        self._conn.settimeout(timeout)
        try:
            while b"\n" not in self._buffer:
                chunk = self._conn.recv(4096)
                if not chunk:
                    raise RuntimeError(f"the fork server went away before child {self.pid} ended")
                self._buffer += chunk
        except (TimeoutError, BlockingIOError):
            return
        self.returncode = int(json.loads(self._buffer.split(b"\n")[0])["exit"])
        self._conn.close()

    def poll(self) -> int | None:
        self._read_exit(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read_exit(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return self.returncode

    def send_signal(self, number: int) -> None:
        """Sent by the server, which knows whether the pid is still this child's."""
        if self.poll() is None:
            try:
                self._conn.sendall(json.dumps({"signal": int(number)}).encode() + b"\n")
            except OSError:
                pass  # it has just ended: the server closed our end after saying so

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


#: The environment variable that hands the server's address to the test processes xdist starts.
ADDRESS_ENV = "PXUI_TEST_FORKSERVER"


class ForkServer:
    """The client's side: starting and stopping the server, and asking it for a process."""

    def __init__(self) -> None:
        self.address = os.environ.get(ADDRESS_ENV)
        self.process: subprocess.Popen | None = None
        self.refusals: list[str] = []
        #: How many processes this process had forked.
        self.forked = 0

    @property
    def owned(self) -> bool:
        return self.process is not None

    def start(self, env: Mapping[str, str]) -> None:
        """Start a server with ``env`` (what its children's environments are compared with) and
        hand its address to the processes started from here on."""
        folder = tempfile.mkdtemp(prefix="pxui-forks-")
        self.address = os.path.join(folder, "socket")
        log = open(os.path.join(folder, "server.log"), "wb")  # noqa: SIM115 - the server's own
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.address],
            env={**env, **SERVER_ONLY},
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        os.environ[ADDRESS_ENV] = self.address

    def stop(self) -> None:
        """Stop the server this process started and reap it (its children's time with it)."""
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        os.environ.pop(ADDRESS_ENV, None)

    def popen(
        self, argv: list[str], *, cwd: str | Path, env: Mapping[str, str], output: str | Path
    ) -> Forked | None:
        """``argv`` (this Python and a script, ``-m`` or ``-c``) forked, its output appended to
        ``output``; None when there is no server or it refused (the reason in ``refusals``)."""
        if not self.address:
            return None
        request = {"argv": argv, "cwd": str(cwd), "env": dict(env), "output": str(output)}
        conn = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 120  # the server imports Gradio before it listens
        while True:
            try:
                conn.connect(self.address)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        "the fork server exited; see server.log beside its socket"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("the fork server did not listen within 120 s") from None
                time.sleep(0.05)
        conn.sendall(json.dumps(request).encode() + b"\n")
        answer, rest = _read_line(conn, timeout=120)
        if answer is None or "refused" in answer:
            conn.close()
            self.refusals.append(answer["refused"] if answer else "no answer")
            return None
        self.forked += 1
        return Forked(conn, int(answer["pid"]), list(argv), rest)


if __name__ == "__main__":
    main(sys.argv[1])
