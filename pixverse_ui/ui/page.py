"""The whole page (``build_demo``), and serving it (``launch``, ``launch_options``).

Building a page starts nothing: the watchers of jobs a killed process left are started by
``launch`` (and ``notebook.launch_inline``) through :func:`start`, and a visitor's own unfinished
jobs when their page loads or they start another (``App.resume_for``). :func:`app_of` is the
state of the page one ``build_demo`` made.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import weakref
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from ..access import SIGNED_IN_ONLY_ENV, App, Mode, auth_from_env
from ..budget import Budget
from ..client import is_loopback
from ..defaults import default_ledger, videos_dir
from ..images import MAX_BYTES
from ..publish import MAX_AGE, SWEEP_EVERY, Publisher
from ..redact import install_output_redaction
from ..store import Ledger
from .asset_cache import CompressedAssets
from .common import KEY_STORAGE, NO_STYLE, PAGE_JS, VISITOR_STORAGE, Page, strict_input
from .compare import ComparePart
from .generate import GeneratePart
from .gradio_internals import (
    SKIP_REACHABILITY_CHECK,
    app_made_at_launch,
    quiet_idle_queue,
    remember_type_hints,
)
from .guard import RequestGuard, refuse_fetches
from .history import HistoryPart
from .live import LivePart
from .sessions import SESSIONS_KEPT, free_on_close
from .storyboard import StoryboardPart
from .variations import VariationsPart
from .visitor import VisitorPart

#: Gradio runs at most ``max_threads`` events at once across the whole queue, whatever each
#: event's concurrency limit; generations are async and hold no thread, so allow many.
MAX_EVENTS = 512
MCP_ENV = "GRADIO_MCP_SERVER"
MCP_MISSING = (
    "The MCP server needs Gradio's MCP extra, which is not installed: "
    "pip install -r requirements-mcp.txt (or 'gradio[mcp]'). Serving the page without it."
)
SIGN_IN_MISSING = (
    f"{SIGNED_IN_ONLY_ENV} is set but Hugging Face sign-in is not (it needs a Space with "
    "hf_oauth: true in its README): visitors without their own key are refused."
)

EXAMPLES = [
    ["A cheerful white raccoon running through a sequoia forest", "16:9", "540p", 5, NO_STYLE],
    ["A paper boat drifting down a rainy city gutter, macro lens", "9:16", "540p", 5, NO_STYLE],
    ["A lighthouse keeper climbing the stairs at dusk", "4:3", "360p", 5, "clay"],
    ["Neon koi fish swimming through a flooded arcade", "1:1", "720p", 8, "cyberpunk"],
]

#: What the browser kept: its key (if it was to be remembered) and its visitor token, which the
#: server checks next (``visitor.VisitorPart``).
_JS_RESTORE = f"""() => {{
  const v = localStorage.getItem('{VISITOR_STORAGE}') || '';
  const k = localStorage.getItem('{KEY_STORAGE}') || '';
  return [k, k !== '', v];
}}"""

#: Gradio's default theme, with the bold face of its font: the semibold file it ships has a few
#: letters only, so a bold word was drawn in another font but for its capital "A".
THEME = gr.themes.Default(
    font=[
        gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
        "ui-sans-serif",
        "system-ui",
        "sans-serif",
    ]
)

CSS = """
#status-panel {min-height: 5em}
/* until the load has looked for the visitor's running job, there is no form to fill in */
#main-row:has(#status-panel .pxui-loading) #form-column {visibility: hidden}
/* the four settings share one baseline and height, whatever note one of them carries */
#settings-row .block > .container {height: 100%; display: flex; flex-direction: column}
#settings-row .block > .container > .wrap {margin-top: auto}
/* a dropdown's arrow at its box's right edge, and its value never under it ("cyberpunk" and
   "any time" ran into it): cut with "…" if it must be */
.wrap-inner:has(> .secondary-wrap > input[role=combobox]) {padding-right: 0}
.secondary-wrap:has(> input[role=combobox]) > .icon-wrap {right: 4px}
input[role=combobox] {padding-right: 20px; box-sizing: border-box; text-overflow: ellipsis}
/* a checkbox's label on one line ("★ starred only" took three on a phone) */
#history-starred, #star-toggle, #audio, #multi-clip {min-width: max-content !important}
#status-panel .pxui-refused {color: var(--error-text-color, #b91c1c)}
.pxui-status .pxui-facts {display: flex; flex-wrap: wrap; gap: .2em 1.2em; font-size: .9em}
.pxui-status .pxui-facts code {overflow-wrap: anywhere}
.pxui-running {border-left: 3px solid var(--color-accent, #f97316); padding: .2em .8em}
.pxui-running ul {margin: .2em 0; padding-left: 1em}
.pxui-running li {overflow-wrap: anywhere}
.pxui-running .pxui-facts, .pxui-running span {display: inline; margin-right: .6em}
#prompt-count {font-size: .85em; margin-top: -.5em; text-align: right}
#prompt-count .pxui-over {color: var(--error-text-color, #b91c1c)}
/* a tall (9:16) video fits the first screen with what is above it (title, banner, status) */
#video video {max-height: max(240px, calc(100vh - 480px)); object-fit: contain}
.pxui-banner {padding: .5em 1em; border-radius: 8px; border: 1px solid var(--border-color-primary)}
#stop {max-width: 12em}
/* no empty strip's room when nothing runs (on a phone it pushed the status below the fold) */
#running-jobs:not(:has(.pxui-running)) {display: none}
/* the examples wrap instead of scrolling sideways; the prompt takes the room it needs */
#examples table {table-layout: fixed; width: 100%}
#examples td, #examples th {white-space: normal !important; overflow-wrap: normal}
#examples td:first-child {overflow-wrap: break-word}
#examples th:first-child, #examples td:first-child {width: 40%}
#examples th {font-size: .8em; overflow-wrap: normal; word-break: normal}
.pxui-compare-grid {display: grid; gap: 8px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 130px), 1fr))}
.pxui-compare-cell {margin: 0; min-width: 0}
.pxui-compare-media {display: flex; gap: 6px; align-items: flex-start}
.pxui-compare-media video {flex: 1 1 auto; min-width: 0}
.pxui-compare-from {flex: 0 0 auto; max-width: 30%; font-size: .8em; overflow-wrap: anywhere}
.pxui-compare-from img {max-width: 100%; height: auto !important}
.pxui-compare-cell video {width: 100%; max-height: 70vh; object-fit: contain; border-radius: 6px;
  background: #000}
.pxui-compare-table {overflow-x: auto; max-width: 100%}
.pxui-compare-params {width: 100%; margin-top: .5em; font-size: .9em}
.pxui-compare-params thead th {vertical-align: bottom; overflow-wrap: anywhere}
.pxui-compare-params tr.pxui-differs {background: var(--color-accent-soft, #fef3c7);
  font-weight: 600}
.pxui-play-all {margin-bottom: .5em}
@media (max-width: 640px) {
  .pxui-title p {display: none}
  .pxui-banner {font-size: .85em; padding: .3em .6em}
  /* the banner in two lines (it took a third of the first screen); a tap shows all of it */
  .pxui-banner .prose {display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
    overflow: hidden; line-height: 1.35}
  .pxui-banner:hover .prose, .pxui-banner:focus-within .prose {-webkit-line-clamp: unset}
  /* one column whose parts are ordered: the prompt and Generate, then the running jobs, the
     status and the video, then the settings (the columns' children join the row's flow) */
  #main-row {flex-direction: column; flex-wrap: nowrap}
  #form-column, #result-column {display: contents}
  #main-row > * > *, #form-column > *, #result-column > * {order: 10}
  #form-column > :has(#prompt), #form-column > #prompt {order: 1}
  #form-column > #prompt-count {order: 2}
  #form-column > :has(#generate) {order: 3}
  #result-column > #running-jobs {order: 4}
  #result-column > #status-panel {order: 5}
  #result-column > #video {order: 6}
  #video video {max-height: 70vh}
  /* two settings a row, every row as tall as the tallest (a note under one of them) */
  #settings-row > .form {display: grid; grid-template-columns: 1fr 1fr; grid-auto-rows: 1fr}
  /* a phone shows the examples' prompts; a tap loads the settings too */
  #examples th:not(:first-child), #examples td:not(:first-child) {display: none}
  #examples th:first-child, #examples td:first-child {width: auto}
}
"""


#: The app state of each page ``build_demo`` made (see :func:`app_of`).
_apps: weakref.WeakKeyDictionary[gr.Blocks, App] = weakref.WeakKeyDictionary()


def app_of(demo: gr.Blocks) -> App:
    """The state of a page ``build_demo`` made: its mode, ledger, watchers and visitors' clients."""
    try:
        return _apps[demo]
    except KeyError:
        raise ValueError("That page was not made by build_demo.") from None


def start(demo: gr.Blocks) -> int:
    """What serving a page starts: watchers for the jobs the host key (or the simulator) left
    unfinished when a process was killed. Returns how many were resumed."""
    return app_of(demo).resume_host_jobs()


def build_demo(
    *,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    has_auth: bool = False,
    public: bool = False,
) -> gr.Blocks:
    """The whole page, with an app state of its own (:func:`app_of`); it starts nothing.

    ``public``: strangers can reach it (``--share``, a non-loopback address; a Space always is).
    Serve it with :func:`launch_options`, which keeps the ledger's folders off the file route,
    and :func:`start` what it watches in the background.
    """
    app = App(
        Mode.from_env(has_auth=has_auth, public=public),
        ledger or default_ledger(),
        Path(download_dir or videos_dir()),
        budget=Budget.from_env(),
    )
    page = Page(app, Publisher())
    generate = GeneratePart(page)
    history = HistoryPart(page, generate)
    compare = ComparePart(page)
    batch = VariationsPart(page, generate)
    live = LivePart(page, generate, history)
    storyboard = StoryboardPart(page)
    remember_type_hints()  # Gradio evaluated every handler's hints at every event it wired
    with app_made_at_launch():  # Gradio's FastAPI app: built once, by launch
        demo = _page(page, generate, history, compare, batch, live, storyboard)
    quiet_idle_queue(demo)  # an idle page wakes 60 times a second, not 1,100
    refuse_fetches(demo)  # the page takes no files: a link in an input is never fetched
    _apps[demo] = app
    return demo


def _page(
    page: Page,
    generate: GeneratePart,
    history: HistoryPart,
    compare: ComparePart,
    batch: VariationsPart,
    live: LivePart,
    storyboard: StoryboardPart,
) -> gr.Blocks:
    """The page's layout and events, queued (``build_demo`` made its parts)."""
    app = page.app
    # Gradio's own sweep removes what was uploaded (and its other cached files) once a day old
    with gr.Blocks(
        title="pixverse-ui · PixVerse v5.5 video from words or an image",
        delete_cache=(int(SWEEP_EVERY), int(MAX_AGE)),
    ) as demo:
        gr.Markdown(
            "# pixverse-ui\nPrototype video from words or an image, one shot or a storyboard, with "
            "**PixVerse v5.5** via the AI/ML API.",
            elem_classes="pxui-title",
        )
        banner = gr.Markdown(app.mode.banner(), elem_classes="pxui-banner", elem_id="mode-banner")
        if app.mode.sign_in:  # only where Gradio's sign-in is real (see access.OAUTH_ENV)
            gr.LoginButton(size="sm", elem_id="sign-in")
        visitor = strict_input(gr.Textbox(visible=False, elem_id="visitor-id"))
        with gr.Row(elem_id="main-row"):
            with gr.Column(scale=5, min_width=320, elem_id="form-column"):
                generate.form_column(key_open=app.mode.visitors_need_own_key, examples=EXAMPLES)
            with gr.Column(scale=6, min_width=320, elem_id="result-column"):
                generate.result_column()
        with gr.Tabs() as tabs:
            with gr.Tab("History", id="history", elem_id="history-tab"):
                history.layout()
            with gr.Tab("Compare", id="compare"):
                compare.layout()
            with gr.Tab("Variations", id="variations") as variations_tab:
                batch.layout()
            with gr.Tab("Storyboard", id="storyboard") as storyboard_tab:
                storyboard.layout(generate.api_key)
        live.layout()

        run = generate.wire(visitor)
        # registered before the other events that show the history: Gradio names an event
        # after its function unless told, and the first to take a name keeps it
        history.wire(visitor)
        for ended in (run.success, run.failure):
            history.refresh_after(ended, visitor)
        compare.wire(tabs, history.table, generate.api_key, visitor)  # picked in History
        batch.wire(variations_tab, visitor)
        storyboard.wire(storyboard_tab, visitor)
        generate.follow_up(generate.examples.load_input_event.then, visitor)
        restored = demo.load(
            None, outputs=[generate.api_key, generate.remember, visitor], js=_JS_RESTORE
        )
        loaded = VisitorPart(page).wire(restored.then, visitor, banner, generate.key_box)
        history.refresh_after(loaded.then, visitor)
        history.resume_after(loaded.then, visitor)  # the visitor's own, with their key
        history.resume_after(generate.api_key.blur, visitor)
        # the load's first server answer: the running job and its settings (the last word on
        # the form), else the form ready, its aspect ratio and its quote; the form shows then
        live.wire(restored.then, visitor, run)
        batch.quote_after(loaded.then, visitor)
        free_on_close(demo)
    demo.queue(default_concurrency_limit=None)
    return demo


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    mcp: bool | None = None,
    **kwargs: Any,
) -> gr.Blocks:
    """Build and serve the app until interrupted.

    ``share`` asks Gradio for a public link and goes on locally when there is no internet to make
    one. ``mcp`` also serves the generate, list_history, storyboard, variations and
    visitor_token tools over MCP at ``/gradio_api/mcp/`` (``None``: as Gradio's
    ``GRADIO_MCP_SERVER`` says); it needs
    Gradio's extra (``requirements-mcp.txt``), and without it the app says so and serves the page
    alone. Everything the process prints from here on has keys masked.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    install_output_redaction()
    _no_matplotlib_lookups()
    auth = auth_from_env()
    demo = build_demo(has_auth=auth is not None, public=share or not is_loopback(host))
    mode = app_of(demo).mode
    if mode.host_key_needs_sign_in and not mode.sign_in:
        print(SIGN_IN_MISSING, file=sys.stderr)
    if mcp is None:
        mcp = os.environ.get(MCP_ENV, "").strip().lower() == "true"  # Gradio's own reading
    if mcp and not mcp_available():
        print(MCP_MISSING, file=sys.stderr)
        mcp = False
    return_at_once = kwargs.pop("prevent_thread_lock", False)
    demo.launch(
        **launch_options(
            demo,
            server_name=host,
            server_port=port,
            share=share,
            auth=auth,
            mcp_server=mcp,
            prevent_thread_lock=True,
            **{"quiet": True, **kwargs},
        )
    )
    start(demo)
    where = demo.share_url or demo.local_url
    print(f"pixverse-ui is serving at {where}", file=sys.stderr, flush=True)
    for rule in (mode.ceiling_words(), mode.private_words()):
        if rule:
            print(rule, file=sys.stderr, flush=True)
    if share and not demo.share_url:
        print(
            "Could not make a share link (is there internet?); serving locally only.",
            file=sys.stderr,
        )
    elif not share:
        print("For a public link, run it with --share.", file=sys.stderr, flush=True)
    if not return_at_once:
        demo.block_thread()
    return demo


def launch_options(demo: gr.Blocks, **overrides: Any) -> dict[str, Any]:
    """The ``Blocks.launch`` settings this app needs (also for notebooks, tests, benchmarks).

    - The ledger's folders are blocked paths: Gradio never serves them by path, whatever else
      is allowed (pages get their videos through :class:`publish.Publisher`).
    - Gradio's run history is off: it would keep every input, a visitor's key among them, in the
      browser's storage.
    - Errors that are not our sentences reach the caller as Gradio's generic "Error": their text
      may quote the call's inputs. Our own sentences (``gr.Error``) are always shown.
    - What a stranger's request could make the server keep is refused or bounded
      (:mod:`.guard`): an upload is one image of at most 10 MB, checked before Gradio stores
      it (``max_file_size`` says the same to Gradio), the deep-link route is refused and every
      body is capped before Gradio reads it, and (set by ``build_demo``) a link in an input is
      not fetched. (What the app
      itself publishes is bounded by ``publish.Publisher``.)
    - Gradio's frontend files are compressed once per process (:mod:`.asset_cache`), not at
      every request.
    - At most ``sessions.SESSIONS_KEPT`` sessions' state is kept (a page's is freed when it
      closes).
    - Gradio's own look at the started server (one HEAD request with a 3 s timeout, whose first
      timeout fails the launch with "When localhost is not accessible...") is skipped: on a
      busy machine it failed launches of a server that was up. ``launch`` says where it serves
      once the server is listening, and the page's first answer is the real test.

    Call ``demo.queue(default_concurrency_limit=None)`` before launching; ``build_demo`` does.
    """
    app = app_of(demo)
    blocked = [str(path) for path in app.private_paths()]
    blocked += [str(path) for path in overrides.pop("blocked_paths", None) or ()]
    app_kwargs = dict(overrides.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [
        *app_kwargs.get("middleware", ()),
        Middleware(RequestGuard, proxy_hops=app.mode.proxy_hops, visitor_of=app.tokens.visitor_of),
        Middleware(CompressedAssets),  # Gradio's frontend files compressed once, not per request
    ]
    options: dict[str, Any] = {
        "blocked_paths": blocked,
        "max_file_size": MAX_BYTES,
        "app_kwargs": app_kwargs,
        "max_threads": MAX_EVENTS,
        "show_error": False,
        "run_history": False,
        "state_session_capacity": SESSIONS_KEPT,
        "css": CSS,
        "theme": THEME,
        "js": PAGE_JS,
        **SKIP_REACHABILITY_CHECK,  # Gradio's impatient look at the server (see above)
    }
    options.update(overrides)
    return options


def mcp_available() -> bool:
    """Whether Gradio's MCP extra imports here."""
    try:
        import mcp  # noqa: F401  # gradio.mcp imports without it and fails only at launch
    except ImportError:
        return False
    return True


def _no_matplotlib_lookups() -> None:
    """Make ``import matplotlib`` fail at once in the app's process when it is not installed.

    Gradio tries to import it around every event (to switch its backend); a failed import
    searches every path entry each time. Caching the absence (None in ``sys.modules``) is what
    Python does for a module known to be missing. Only done in the app's own process, where
    nothing can install matplotlib later.
    """
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]
