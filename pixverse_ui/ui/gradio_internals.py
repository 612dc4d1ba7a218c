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
- **``routes.App.create_app``**: Gradio builds a whole FastAPI app (every route and its pydantic
  models, about 0.17 s of CPU) when a ``Blocks`` is made, when its ``with`` ends and at each
  ``queue()``, and ``launch`` builds the one it serves: four for one page. No switch skips the
  first three; :func:`app_made_at_launch` does, while ``build_demo`` builds (``page.build_demo``).
- **``Queue.sleep_when_free``, ``Queue.progress_update_sleep_when_free``**: an idle queue looks
  for work every 1 ms and for progress every 10 ms on Linux (Gradio's own 50 and 100 ms are for
  Windows only): an idle page used about 5% of a core. No setting reaches them
  (:func:`quiet_idle_queue`).
- **Gradio's compression middleware leaves an encoded response as it is**
  (``gradio.brotli_middleware``): Gradio compresses its frontend files again at every request
  (a quarter of a page load's CPU), with no setting for a copy; ``asset_cache.CompressedAssets``,
  inside it, sends them from a copy compressed once, which reaches the browser intact only
  because Gradio passes on a response that already has a ``Content-Encoding``
  (:func:`passes_encoded_responses`).

- **``gradio.utils.get_type_hints``**: every event a page wires asks it for its handler's type
  hints (whether it takes a ``gr.Request``), and it evaluates them anew each time: 3,500 calls
  and about a third of building a page. A handler's hints do not change, so
  :func:`remember_type_hints` keeps them per function.

The data of a custom event (``EventData``'s attributes) is read through its public attribute
access, not here.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


#: How long an idle queue sleeps before it looks again: an event sent to an empty queue starts
#: at most this much later (Gradio's 1 ms on Linux woke an idle app a thousand times a second).
IDLE_QUEUE_SLEEP = 0.02
#: How often the queue looks for ``gr.Progress`` updates to send (the page reports none).
PROGRESS_SLEEP = 0.1
#: ``Queue`` methods and the attributes each sleeps by, as :func:`quiet_idle_queue` sets them.
_QUEUE_SLEEPS = {
    "start_processing": ("sleep_when_free", IDLE_QUEUE_SLEEP),
    "start_progress_updates": ("progress_update_sleep_when_free", PROGRESS_SLEEP),
}


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


def _per_session(demo: gr.Blocks) -> dict[str, Any]:
    """Gradio's per-session tables, by the names the app reports them under (a page not
    launched yet has no state holder: a fresh one's, empty)."""
    holder, queue = getattr(demo, "state_holder", None), demo._queue
    if holder is None:
        from gradio import state_holder

        holder = state_holder.StateHolder()
    return {
        "states": holder.session_data,
        "last used": holder.time_last_used,
        "message queues": queue.pending_messages_per_session,
        "event id sets": queue.pending_event_ids_session,
    }


def session_tables(demo: gr.Blocks) -> dict[str, int]:
    """How many sessions each of Gradio's per-session tables holds."""
    return {name: len(table) for name, table in _per_session(demo).items()}


def tables_holding(demo: gr.Blocks, session_hash: str) -> list[str]:
    """The names (as ``session_tables`` gives them) of Gradio's per-session tables that still
    hold ``session_hash``."""
    return [name for name, table in _per_session(demo).items() if session_hash in table]


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


def quiet_idle_queue(demo: gr.Blocks) -> None:
    """Have ``demo``'s queue (made by ``queue()``) look for work every ``IDLE_QUEUE_SLEEP`` and
    for progress every ``PROGRESS_SLEEP`` while it has none, instead of Gradio's 1 and 10 ms."""
    for attribute, seconds in _QUEUE_SLEEPS.values():
        setattr(demo._queue, attribute, seconds)


def remember_type_hints() -> None:
    """Have Gradio's ``utils.get_type_hints`` evaluate each function's type hints once: a bound
    method's are its function's, kept as long as the function lives (once a process)."""
    from gradio import utils

    original = utils.get_type_hints
    if getattr(original, "remembers", False):
        return
    kept: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

    def get_type_hints(fn: Any) -> dict[str, Any]:
        plain = getattr(fn, "__func__", fn)
        try:
            return dict(kept[plain])
        except (KeyError, TypeError):  # not seen yet, or nothing a weak reference can name
            hints = original(fn)
        try:
            kept[plain] = dict(hints)
        except TypeError:
            pass
        return hints

    get_type_hints.remembers = True  # type: ignore[attr-defined]
    utils.get_type_hints = get_type_hints


#: True while a page is built in this context: the apps Gradio would build meanwhile are not.
_building: ContextVar[bool] = ContextVar("pixverse_ui_building_a_page", default=False)


@contextmanager
def app_made_at_launch() -> Iterator[None]:
    """Within the block, the FastAPI apps Gradio builds for a ``Blocks`` as it is made, at the end
    of its ``with`` and at ``queue()`` are not built: its ``app`` stays None until ``launch``
    builds the one it serves (with the launch's own settings, as it always did)."""
    from gradio import routes

    create_app = routes.App.__dict__["create_app"].__func__
    if not getattr(create_app, "skipped_while_building", False):

        def create_app_unless_building(blocks: Any, *args: Any, **kwargs: Any) -> Any:
            # the calls made while building pass the blocks and mcp_server=False, nothing else
            if _building.get() and not args and kwargs == {"mcp_server": False}:
                return None
            return create_app(blocks, *args, **kwargs)

        create_app_unless_building.skipped_while_building = True  # type: ignore[attr-defined]
        routes.App.create_app = staticmethod(create_app_unless_building)  # type: ignore[method-assign]
    token = _building.set(True)
    try:
        yield
    finally:
        _building.reset(token)


def passes_encoded_responses() -> bool:
    """Whether Gradio's compression middleware, for a browser that takes Brotli or only gzip,
    sends a response that already has a ``Content-Encoding`` unchanged (run on a tiny app)."""
    import asyncio

    from gradio.brotli_middleware import BrotliMiddleware

    body = b"x" * 4096  # compressible, and above Gradio's 400-byte threshold

    async def encoded(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-encoding", b"br"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def fetch(accepted: bytes) -> bytes:
        sent: list[bytes] = []

        async def send(message: Any) -> None:
            sent.append(message.get("body", b""))

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/assets/index.js",
            "headers": [(b"accept-encoding", accepted)],
        }
        await BrotliMiddleware(encoded, quality=4)(scope, receive, send)
        return b"".join(sent)

    loop = asyncio.new_event_loop()  # its own loop: check() may run where none is
    try:
        return all(
            loop.run_until_complete(fetch(accepted)) == body
            for accepted in (b"gzip, deflate, br, zstd", b"gzip")
        )
    finally:
        loop.close()


def _have_tables(owner: object, name: str, tables: tuple[str, ...], what: str) -> None:
    for table in tables:
        if not isinstance(getattr(owner, table, None), dict):
            raise GradioChanged(
                f"Gradio {gr.__version__}: {name}.{table} is no longer a dict, so a closed "
                f"page's {what} cannot be freed (pixverse_ui/ui/sessions.py)."
            )


def check(demo: gr.Blocks) -> None:
    """Raise :class:`GradioChanged` naming the first internal this app relies on that ``demo``
    (built by ``build_demo``, launched or not, on this Gradio) no longer has as expected."""
    from gradio import state_holder

    # a page gets its holder from the app launch builds; one not launched yet, a fresh one's
    holder = getattr(demo, "state_holder", None) or state_holder.StateHolder()
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
    from gradio import blocks, queueing, routes

    for method, (attribute, _) in _QUEUE_SLEEPS.items():
        if not isinstance(getattr(demo._queue, attribute, None), float) or (
            f"self.{attribute}" not in inspect.getsource(getattr(queueing.Queue, method))
        ):
            raise GradioChanged(
                f"Gradio {gr.__version__}: Queue.{method} no longer sleeps by {attribute}, so "
                "an idle page may wake as often as Gradio likes (pixverse_ui/ui/page.py "
                "build_demo, quiet_idle_queue)."
            )
    made = [
        inspect.getsource(getattr(blocks.Blocks, name)).count(
            "App.create_app(self, mcp_server=False)"
        )
        for name in ("__exit__", "queue")  # __init__ calls queue()
    ]
    create_app = getattr(routes.App, "create_app", None)
    if made != [1, 1] or not callable(create_app):
        raise GradioChanged(
            f"Gradio {gr.__version__}: Blocks no longer builds its FastAPI app by "
            "App.create_app(self, mcp_server=False) in __exit__ and queue(), so a page may be "
            "built with apps it never serves (pixverse_ui/ui/page.py build_demo, "
            "app_made_at_launch)."
        )
    from gradio import utils

    callers = [utils.get_positional_input_parameters, utils.check_function_inputs_match]
    if not callable(getattr(utils, "get_type_hints", None)) or not all(
        "get_type_hints(fn)" in inspect.getsource(caller) for caller in callers
    ):
        raise GradioChanged(
            f"Gradio {gr.__version__}: gradio.utils.get_type_hints is gone or no longer asked "
            "for a handler's type hints, so remembering them saves nothing "
            "(pixverse_ui/ui/page.py build_demo, remember_type_hints)."
        )
    if not passes_encoded_responses():
        raise GradioChanged(
            f"Gradio {gr.__version__}: its compression middleware changes a response that is "
            "already compressed, so Gradio's files served from a compressed copy would reach "
            "the browser garbled (pixverse_ui/ui/asset_cache.py)."
        )
    launch = inspect.signature(gr.Blocks.launch).parameters
    for name in SKIP_REACHABILITY_CHECK:
        if name not in launch:
            raise GradioChanged(
                f"Gradio {gr.__version__}: Blocks.launch has no {name} any more, so its "
                "reachability check cannot be skipped (pixverse_ui/ui/page.py launch_options)."
            )
