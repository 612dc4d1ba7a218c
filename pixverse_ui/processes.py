"""Which process wrote a row, and whether that process is gone.

A job's ledger row is written before its POST, by the process that sends it (its *sender*). When
that process dies mid-POST (killed, a crash, a restart of the Space), the row would stay
``submitting`` for ever, counted as a start in flight. A sender is named by this machine, its
process id and, where the system says it (Linux's ``/proc``), the process's start time, so that a
process id used again by a newer process is not taken for the one that wrote the row.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/PID/stat``), or ``""``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) is in parentheses and may hold spaces: count after its end
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


@functools.cache
def _host() -> str:
    return socket.gethostname()


def this_process() -> str:
    """``host:pid:start``: this process, as a ledger row's sender."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_time(pid)}"


def is_gone(sender: str | None) -> bool | None:
    """Whether the process ``sender`` names has ended: True or False where this machine can
    tell, None where it cannot (another machine, no sender recorded, a system without signals)."""
    if not sender or os.name != "posix":
        return None
    host, _, rest = sender.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != _host() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return started != _start_time(pid) and bool(started)
    try:
        os.kill(pid, 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, run by someone else
    return bool(started) and _start_time(pid) not in ("", started)
