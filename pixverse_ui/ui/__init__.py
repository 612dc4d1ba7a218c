"""The Gradio app; with app.py, the only place gradio is used.

The page is in parts, each a small class whose methods are its events' handlers, wired next to
the components they serve: ``generate`` (the form, Generate and Stop, the status panel and the
video), ``history`` (the History tab) and ``variations`` (the Variations tab); ``page`` puts them
together (``build_demo``) and serves them (``launch``, ``launch_options``, ``start``); ``common``
holds what they share, ``signin`` reads who signed in with Hugging Face from a request's
session, and ``guard`` refuses or bounds what a stranger's request could make the server keep.
Handlers are methods rather than module-level functions because the state they work on (the
ledger, the watchers, the visitors' clients) belongs to one page, and a process may serve several
(the tests do).

Nothing here polls: handlers start jobs through ``jobs.Jobs`` (``App.start``) and follow their
handles, whose one watcher per generation runs the poll loop (``polling``). A visitor's key
travels only *into* handlers (and, if they tick *remember*, into their own browser's
localStorage through JS that never reaches the server); no handler returns it, and it is never
put in ``os.environ``, a log, the page or the ledger. An MCP agent sends its key in the
``X-AIMLAPI-Key`` header, which Gradio hands the handlers as ``x_aimlapi_key``. The public
handlers' signatures and docstrings are the API's and the MCP tools' schemas, so each spells out
its parameters with defaults.
"""

from __future__ import annotations

from .common import (
    KEY_STORAGE,
    NO_STYLE,
    NOT_YOURS,
    THINKING_DEFAULT,
    VISITOR_STORAGE,
    form_params,
    status_html,
    strict_input,
    with_integer_schema,
)
from .page import (
    CSS,
    MAX_EVENTS,
    MCP_ENV,
    MCP_MISSING,
    app_of,
    build_demo,
    launch,
    launch_options,
    mcp_available,
    start,
)

__all__ = [
    "CSS",
    "KEY_STORAGE",
    "MAX_EVENTS",
    "MCP_ENV",
    "MCP_MISSING",
    "NOT_YOURS",
    "NO_STYLE",
    "THINKING_DEFAULT",
    "VISITOR_STORAGE",
    "app_of",
    "build_demo",
    "form_params",
    "launch",
    "launch_options",
    "mcp_available",
    "start",
    "status_html",
    "strict_input",
    "with_integer_schema",
]
