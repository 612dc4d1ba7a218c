"""Per-session state, freed when the session ends.

For every session that runs an event, Gradio keeps a ``SessionState`` (a copy of every
component's config: about 145 kB for this page), a message queue and the ids of the events it
ran. Nothing frees them when the page closes: they pile up until 10,000 newer sessions push them
out, 1.4 GB later. Here the page's unload event, which Gradio runs when the page's heartbeat
connection ends (the tab closed or reloaded), drops them; ``SESSIONS_KEPT`` bounds the sessions
that never end that way (API and MCP callers open no heartbeat).

Dropping the state of a page that is in fact still open (its heartbeat lost to a network blip)
is harmless: every input a handler reads is taken as sent (``strict_input``), so nothing depends
on the component configs that the session's events updated, and its next event starts afresh.
Gradio's tables are reached through ``gradio_internals`` (no public call frees them);
``tests/test_sessions.py`` checks that they still free the memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import gradio as gr

from ..intervals import FORGET_AGAIN_AFTER
from .gradio_internals import drop_session, session_tables, tables_holding

__all__ = ["SESSIONS_KEPT", "forget", "free_on_close", "session_tables", "tables_holding"]

#: The most sessions whose state Gradio keeps (``state_session_capacity``; least recently used
#: out first): about 145 MB at worst, whatever API callers do.
SESSIONS_KEPT = 1000


def free_on_close(demo: gr.Blocks, *, again_after: float = FORGET_AGAIN_AFTER) -> None:
    """Drop a session's state when its page closes (Gradio's unload event), and once more
    ``again_after`` seconds later: an event of the page still in flight when it closed (its
    timer's tick, the end of its load chain) makes Gradio keep the session again."""
    again = _ForgetAgain(demo, again_after)

    def session_ended(request: gr.Request) -> None:
        forget(demo, request.session_hash)
        again.add(request.session_hash)

    demo.unload(session_ended)


class _ForgetAgain:
    """Closed sessions to forget once more, ``after`` seconds after their close, by one timer
    thread at a time (a thread per closed tab kept about 70 kB resident each while it waited)."""

    def __init__(self, demo: gr.Blocks, after: float) -> None:
        self.demo, self.after = demo, after
        self._due: deque[tuple[float, str]] = deque()  # (when, session), oldest first
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, session_hash: str | None) -> None:
        if not session_hash:
            return
        with self._lock:
            self._due.append((time.monotonic() + self.after, session_hash))
            if self._timer is None:
                self._start(self.after)

    def _start(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._run)
        self._timer.daemon = True
        self._timer.start()

    def _run(self) -> None:
        now = time.monotonic()
        with self._lock:
            ready = []
            while self._due and self._due[0][0] <= now:
                ready.append(self._due.popleft()[1])
            self._timer = None
            if self._due:
                self._start(self._due[0][0] - now)
        for session_hash in ready:
            forget(self.demo, session_hash)


def forget(demo: gr.Blocks, session_hash: str | None) -> None:
    """Drop what Gradio keeps for one session; nothing for a session it does not know."""
    if session_hash:
        drop_session(demo, session_hash)
