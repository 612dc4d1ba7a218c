"""Every use of Gradio's internals, in one place, each with the reason no public API will do.

A Gradio upgrade may rename or change any of these; :func:`check` looks at each one on a built
demo and says in a sentence which one changed (``tests/test_gradio_internals.py`` runs it on the
version the README's front matter pins, so an upgrade that breaks one fails there first, with that
sentence, not as a leak or a 500 somewhere else).

- **Per-session tables** (``Blocks.state_holder``, ``Blocks._queue``): Gradio frees nothing when a
  page closes, and offers no call to drop a session's state (``sessions.py`` does, on unload).
- **A component class's ``preprocess``**: the only place where a component copy that Gradio
  rebuilt for a session (after an event changed its properties) can be made to pass its input
  through unconverted; a subclass would make Gradio write a ``.pyi`` file beside the module
  (``common.strict_input``).
- **``processing_utils.async_ssrf_protected_download``**: Gradio downloads a link named in any
  input (a ``FileData`` dict, even in a text box) into its cache before a handler runs, with no
  hook to refuse it; it is replaced for this app's pages only (``guard.refuse_fetches``), told
  apart by ``gradio.context.LocalContext.blocks``.
- **``launch(_frontend=False)``**: the only switch for Gradio's 3-second reachability check,
  whose first timeout fails the launch of a server that is up on a busy machine
  (``page.launch_options``).

The data of a custom event (``EventData``'s attributes) is read through its public attribute
access, not here.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import gradio as gr

#: ``Blocks.launch`` keywords that skip Gradio's own reachability check of the started server.
SKIP_REACHABILITY_CHECK: dict[str, Any] = {"_frontend": False}

#: The per-session tables of ``Blocks.state_holder`` and ``Blocks._queue`` this app frees.
_HOLDER_TABLES = ("session_data", "time_last_used")
_QUEUE_TABLES = (
    "pending_messages_per_session",
    "pending_event_ids_session",
    "event_ids_to_events",
)


class GradioChanged(RuntimeError):
    """A Gradio internal this app relies on is not as it was: the sentence names it."""


def drop_session(demo: gr.Blocks, session_hash: str) -> None:
    """Drop the component state, message queue and event ids Gradio keeps for one session; the
    queue's tables only once none of the session's events is still live."""
    holder = demo.state_holder
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)
    queue = demo._queue
    # the ids of every event the session ever ran stay in its set (Gradio removes them only
    # when an event is cancelled); the set and the message queue go once none is still live
    ran = queue.pending_event_ids_session.get(session_hash, set())
    if not any(event_id in queue.event_ids_to_events for event_id in list(ran)):
        queue.pending_event_ids_session.pop(session_hash, None)
        queue.pending_messages_per_session.pop(session_hash, None)


def session_tables(demo: gr.Blocks) -> dict[str, int]:
    """How many sessions each of Gradio's per-session tables holds."""
    holder, queue = demo.state_holder, demo._queue
    return {
        "states": len(holder.session_data),
        "last used": len(holder.time_last_used),
        "message queues": len(queue.pending_messages_per_session),
        "event id sets": len(queue.pending_event_ids_session),
    }


def pass_input_through(cls: type, passes: Any) -> None:
    """Have ``cls.preprocess`` hand a component's payload over unchanged when ``passes(component)``
    says so, and leave every other component of the class as Gradio has it (once a class)."""
    original = cls.preprocess  # type: ignore[attr-defined]
    if getattr(cls.__dict__.get("preprocess"), "passes_raw_input", False):
        return  # this class's own (an inherited one wraps another class's copies)

    def preprocess(self: Any, payload: Any) -> Any:
        if passes(self):
            return payload
        return original(self, payload)

    preprocess.passes_raw_input = True  # type: ignore[attr-defined]
    cls.preprocess = preprocess  # type: ignore[attr-defined]


#: The pages whose inputs' links are not downloaded (weakly held: a closed page goes).
_refusing: weakref.WeakSet[gr.Blocks] = weakref.WeakSet()


def refuse_downloads(demo: gr.Blocks, refusal: Callable[[], BaseException]) -> None:
    """Raise ``refusal()`` instead of downloading a link named in an input of ``demo``'s events;
    other Gradio apps in the process download as before."""
    from gradio import processing_utils

    _refusing.add(demo)
    download = processing_utils.async_ssrf_protected_download
    if getattr(download, "refuses_for", None) is _refusing:
        return

    async def refused_for_these_pages(url: str, cache_dir: str) -> Any:
        from gradio.context import LocalContext

        if LocalContext.blocks.get(None) in _refusing:
            raise refusal()
        return await download(url, cache_dir)

    refused_for_these_pages.refuses_for = _refusing  # type: ignore[attr-defined]
    processing_utils.async_ssrf_protected_download = refused_for_these_pages


def _have_tables(owner: object, name: str, tables: tuple[str, ...], what: str) -> None:
    for table in tables:
        if not isinstance(getattr(owner, table, None), dict):
            raise GradioChanged(
                f"Gradio {gr.__version__}: {name}.{table} is no longer a dict, so a closed "
                f"page's {what} cannot be freed (pixverse_ui/ui/sessions.py)."
            )


def check(demo: gr.Blocks) -> None:
    """Raise :class:`GradioChanged` naming the first internal this app relies on that ``demo``
    (built and queued, on this Gradio) no longer has as expected."""
    holder = getattr(demo, "state_holder", None)
    _have_tables(holder, "Blocks.state_holder", _HOLDER_TABLES, "session state")
    if not hasattr(getattr(holder, "lock", None), "__enter__"):
        raise GradioChanged(f"Gradio {gr.__version__}: Blocks.state_holder.lock is gone.")
    _have_tables(getattr(demo, "_queue", None), "Blocks._queue", _QUEUE_TABLES, "message queue")
    if not callable(getattr(gr.Textbox, "preprocess", None)):
        raise GradioChanged(
            f"Gradio {gr.__version__}: components have no preprocess, so input cannot reach "
            "the handlers as sent (pixverse_ui/ui/common.py strict_input)."
        )
    from gradio import context, processing_utils

    if not callable(getattr(processing_utils, "async_ssrf_protected_download", None)) or not (
        hasattr(getattr(context, "LocalContext", None), "blocks")
    ):
        raise GradioChanged(
            f"Gradio {gr.__version__}: processing_utils.async_ssrf_protected_download or "
            "LocalContext.blocks is gone, so a link in an input may be fetched "
            "(pixverse_ui/ui/guard.py refuse_fetches)."
        )
    import inspect

    launch = inspect.signature(gr.Blocks.launch).parameters
    for name in SKIP_REACHABILITY_CHECK:
        if name not in launch:
            raise GradioChanged(
                f"Gradio {gr.__version__}: Blocks.launch has no {name} any more, so its "
                "reachability check cannot be skipped (pixverse_ui/ui/page.py launch_options)."
            )
