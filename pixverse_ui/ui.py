"""The Gradio app: ``build_demo()`` and ``launch()``; with app.py, the only place gradio is used.

Nothing here polls: handlers follow background jobs (``jobs.Watchers``) whose one poll loop is
``polling.watch``. A visitor's key travels only *into* handlers (and, if they tick *remember*,
into their own browser's localStorage through JS that never reaches the server); no handler
returns it, and it is never put in ``os.environ``, a log, the page or the ledger. An MCP agent
sends its key in the ``X-AIMLAPI-Key`` header, which Gradio hands the handlers as
``x_aimlapi_key``. The public handlers' signatures and docstrings are the API's and the MCP
tools' schemas, so each spells out its parameters with defaults.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gradio as gr

from . import errors, params, variations
from .access import App, Caller, Mode, auth_from_env
from .client import is_loopback
from .defaults import default_ledger, videos_dir
from .jobs import Job
from .polling import Update
from .publish import Publisher
from .redact import install_output_redaction
from .store import DONE, FAILED, RUNNING, JobRecord, Ledger

NO_STYLE = "none"
THINKING_DEFAULT = "model default"
#: Ask "are you sure?" above this many generations in one batch.
CONFIRM_ABOVE = 4
HISTORY_LIMIT = 60
#: The status panel's clock moves this often between polls.
TICK_SECONDS = 1.0
#: Gradio runs at most ``max_threads`` events at once across the whole queue, whatever each
#: event's concurrency limit; generations are async and hold no thread, so allow many.
MAX_EVENTS = 512

EXAMPLES = [
    ["A cheerful white raccoon running through a sequoia forest", "16:9", "540p", 5, NO_STYLE],
    ["A paper boat drifting down a rainy city gutter, macro lens", "9:16", "540p", 5, NO_STYLE],
    ["A lighthouse keeper climbing the stairs at dusk", "4:3", "360p", 5, "clay"],
    ["Neon koi fish swimming through a flooded arcade", "1:1", "720p", 8, "cyberpunk"],
]

KEY_STORAGE = "pixverse-ui-key"
VISITOR_STORAGE = "pixverse-ui-visitor"
_JS_RESTORE = f"""() => {{
  let v = localStorage.getItem('{VISITOR_STORAGE}');
  if (!v) {{ v = crypto.randomUUID(); localStorage.setItem('{VISITOR_STORAGE}', v); }}
  const k = localStorage.getItem('{KEY_STORAGE}') || '';
  return [k, k !== '', v];
}}"""
_JS_REMEMBER = f"""(key, remember) => {{
  if (remember && key) localStorage.setItem('{KEY_STORAGE}', key);
  else localStorage.removeItem('{KEY_STORAGE}');
}}"""

CSS = """
#status-panel {min-height: 8em}
.pxui-banner {padding: .5em 1em; border-radius: 8px; border: 1px solid var(--border-color-primary)}
"""

MCP_ENV = "GRADIO_MCP_SERVER"
MCP_MISSING = (
    "The MCP server needs Gradio's MCP extra, which is not installed: "
    "pip install -r requirements-mcp.txt (or 'gradio[mcp]'). Serving the page without it."
)

AXIS_LABELS = {"seeds": "seed", "styles": "style", "aspect ratios": "aspect_ratio"}


def strict_input(component: Any) -> Any:
    """Hand the handler what the caller sent, unconverted, so that it is validated, not coerced.

    Gradio's Textbox turns any value into its ``str`` (a list prompt would be sent as its repr),
    its Number rounds (seed 1.5 would become 2), and its choice components refuse a stranger
    value by quoting it whole (a key sent in the wrong place would be echoed and logged).
    ``params.validate`` and the handlers refuse all of these with a sentence instead. Set on the
    instance, as in :func:`with_integer_schema`.
    """
    component.preprocess = lambda payload: payload  # type: ignore[method-assign]
    return component


def with_integer_schema(dropdown: gr.Dropdown) -> gr.Dropdown:
    """Declare a dropdown of whole numbers as such in the API schema.

    ``gr.Dropdown`` declares every choice a string, so its schema for 5, 8, 10 matches no value at
    all, and MCP clients, which check arguments against it, could not pass a duration. Set on the
    instance: a subclass would make Gradio write a ``.pyi`` file next to this module.
    """
    dropdown.api_info = lambda: {  # type: ignore[method-assign]
        "type": "integer",
        "enum": [value for _, value in dropdown.choices],
    }
    return dropdown


# --- what the page shows ------------------------------------------------------------------------


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "any moment now"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_markdown(update: Update | None, *, note: str = "") -> str:
    """The live status panel: status, elapsed, estimate, credits, generation id."""
    if update is None:
        return note or "Ready. Type a prompt and press **Generate**."
    credits = f"{update.credits_used:,.0f}" if update.credits_used is not None else "—"
    left = "done" if update.done else _clock(update.eta)
    icon = "✅" if update.done else ("⚠️" if update.transient else "⏳")
    lines = [
        f"{icon} **{update.status}** — {update.message}",
        "",
        "| elapsed | estimate left | credits used | generation id |",
        "|---|---|---|---|",
        f"| {_clock(update.elapsed)} | {left} | {credits} | `{update.generation_id}` |",
    ]
    if note:
        lines += ["", note]
    return "\n".join(lines)


def error_markdown(exc: errors.PixVerseError) -> str:
    return f"❌ {exc.user_message}"


def _fail(exc: errors.PixVerseError) -> gr.Error:
    return gr.Error(exc.user_message, title="Could not generate", print_exception=False)


#: The settings column of a generation known by its id alone (its request was made elsewhere).
ADOPTED_WORDS = "started elsewhere; resumed by its id"


def caption(record: JobRecord) -> str:
    """A history item's one-line description."""
    if record.adopted:
        return f"{record.generation_id} · {ADOPTED_WORDS}"
    p = record.request
    bits = [p["aspect_ratio"], p["resolution"], f"{p['duration']} s"]
    if p.get("style"):
        bits.append(p["style"])
    if p.get("seed") is not None:
        bits.append(f"seed {p['seed']}")
    if record.credits_used is not None:
        bits.append(f"{record.credits_used:,.0f} credits")
    if record.render_seconds is not None:
        bits.append(f"took {record.render_seconds:.0f} s")
    prompt = p["prompt"] if len(p["prompt"]) <= 60 else p["prompt"][:57] + "…"
    return f"{prompt} · " + " · ".join(bits)


_STATE_WORDS = {
    DONE: "✅ done",
    FAILED: "❌ failed",
    RUNNING: "⏳ running",
    "unconfirmed": "❓ unconfirmed",
    "rejected": "🚫 refused",
    "submitting": "… sending",
}


def history_table(records: list[JobRecord]) -> str:
    """Every job of this visitor, finished or not, as a Markdown table."""
    if not records:
        return "No generations yet."
    rows = ["| when (UTC) | state | prompt | settings | credits |", "|---|---|---|---|---|"]
    for record in records:
        when = datetime.fromtimestamp(record.created_at, tz=timezone.utc).strftime("%m-%d %H:%M")
        p = record.request
        prompt = p.get("prompt", f"`{record.generation_id}`").replace("|", "/")
        prompt = prompt if len(prompt) <= 40 else prompt[:37] + "…"
        settings = ADOPTED_WORDS
        if not record.adopted:
            settings = f"{p['aspect_ratio']} {p['resolution']} {p['duration']} s"
            settings += f" {p.get('style') or ''}"
        credits = f"{record.credits_used:,.0f}" if record.credits_used is not None else "—"
        state = _STATE_WORDS.get(record.state, record.state)
        rows.append(f"| {when} | {state} | {prompt} | {settings.strip()} | {credits} |")
    return "\n".join(rows)


#: What a caller hears about a history item that is not theirs, or not there: the same sentence.
NOT_YOURS = "That generation is not in your history. Press **Refresh history** and pick again."


def _own_record(app: App, caller: Caller, ids: Any, index: Any) -> JobRecord | None:
    """The ledger row at ``ids[index]`` if it is ``caller``'s; else None, whatever the reason."""
    if not isinstance(ids, list) or isinstance(index, bool) or not isinstance(index, int):
        return None
    if not 0 <= index < len(ids) or not isinstance(ids[index], str):
        return None
    record = app.ledger.find(ids[index])
    return record if record is not None and record.owner == caller.owner else None


def _download_name(record: JobRecord) -> str:
    """``request-<id>.json``, with only safe characters."""
    ident = record.generation_id or record.client_request_id
    return "request-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in ident) + ".json"


def form_params(
    prompt: str,
    negative_prompt: str,
    aspect_ratio: str,
    resolution: str,
    duration: Any,
    style: str,
    seed: Any,
    audio: bool,
    multi_clip: bool,
    thinking: str,
) -> params.Params:
    """The page's fields, validated (``ValidationError`` with a sentence otherwise)."""
    return params.validate(
        prompt,
        negative_prompt=negative_prompt or None,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        duration=duration,
        style=None if style in (None, NO_STYLE) else style,
        seed=None if seed is None or seed == "" else seed,
        generate_audio_switch=None if audio in (None, False) else audio,
        generate_multi_clip_switch=None if multi_clip in (None, False) else multi_clip,
        thinking_type=None if thinking in (None, "", THINKING_DEFAULT) else thinking,
    )


def _plan(
    app: App, form: params.Params, axis_label: Any, count: Any, styles: Any, ratios: Any
) -> variations.Plan:
    """The batch the Variations tab describes; a sentence for anything it cannot start."""
    axis = AXIS_LABELS.get(axis_label) if isinstance(axis_label, str) else None
    if axis is None:
        raise errors.ValidationError(
            f"Vary {params.join_or(list(AXIS_LABELS))}; got {params.shown(axis_label)}.",
            field="axis",
        )
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    values = {"style": styles, "aspect_ratio": ratios}.get(axis)
    return variations.plan(
        form, axis, count=count, values=[] if values is None else values, ledger=app.ledger
    )


def _batch_view(jobs: list[Job], publisher: Publisher) -> tuple[list[tuple[str, str]], str]:
    items, rows = [], ["| # | settings | status | elapsed |", "|---|---|---|---|"]
    for i, job in enumerate(jobs, 1):
        last = job.last
        assert job.params is not None
        if job.error is not None:
            state = f"❌ {job.error.message}"
        elif last is None:
            state = "sending…"
        else:
            state = "✅ ready" if last.done else f"⏳ {last.status}"
        elapsed = _clock(last.elapsed) if last else "—"
        rows.append(f"| {i} | {job.params.summary()} | {state} | {elapsed} |")
        if last is not None and last.done and last.video_path:
            items.append((publisher.file(last.video_path), job.params.summary()))
    return items, "\n".join(rows)


# --- handlers ---------------------------------------------------------------------------------


def _caller(app: App, key: Any, header: Any, visitor: Any, request: gr.Request | None) -> Caller:
    """Who is calling (see ``App.caller``): their key from the form or the MCP header, their
    browser's id (else their session's), their login name."""
    session = getattr(request, "session_hash", None)
    username = getattr(request, "username", None)
    return app.caller(key or header, visitor or session, username)


def make_handlers(app: App, publisher: Publisher) -> dict[str, Any]:
    """The event handlers, closed over the shared app state."""

    async def generate(
        prompt: str,
        negative_prompt: str | None = None,
        aspect_ratio: str = params.DEFAULT_ASPECT_RATIO,
        resolution: str = params.DEFAULT_RESOLUTION,
        duration: Any = params.DEFAULT_DURATION,
        style: str = NO_STYLE,
        seed: Any = None,
        audio: bool = False,
        multi_clip: bool = False,
        thinking: str = THINKING_DEFAULT,
        api_key: str | None = None,
        visitor: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]  # Gradio fills these two in
        x_aimlapi_key: gr.Header | None = None,
    ) -> AsyncIterator[tuple[str, str | None, str]]:
        """Make a PixVerse v5.5 text-to-video clip: stream its status, then return the MP4.

        Each call starts one paid generation (on the simulator, a free one). Bad input is
        refused with a sentence before anything is sent.

        Args:
            prompt: What the video shows: scene, subject, action (up to 2048 characters).
            negative_prompt: What to avoid; empty for nothing.
            aspect_ratio: Frame shape: 16:9, 4:3, 1:1, 3:4 or 9:16.
            resolution: 360p, 540p, 720p or 1080p.
            duration: Seconds of video: 5, 8 or 10 (1080p offers 5 and 10 only).
            style: A look such as anime or clay; "none" for plain.
            seed: A whole number to repeat a result; empty for a random one.
            audio: Also generate a sound track.
            multi_clip: Let the camera cut between shots.
            thinking: Prompt reasoning: enabled, disabled, auto, or "model default".
            api_key: Leave empty. Send your AI/ML API key in the X-AIMLAPI-Key header instead,
                so it stays out of the conversation; empty uses the host's key where allowed.
            visitor: Without a key, on the simulator: a stable name of yours, so that
                list_history with the same name finds your videos (a key owns its own history).

        Returns:
            The final status (generation id, credits, time), the video file, and the request.
        """
        try:
            form = form_params(
                prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed,
                audio, multi_clip, thinking,
            )  # fmt: skip
            caller = _caller(app, api_key, x_aimlapi_key, visitor, request)
        except errors.PixVerseError as exc:
            raise _fail(exc) from None
        body = json.dumps(form.to_body(), indent=2, ensure_ascii=False)
        job = app.runner.start(form, caller.client, owner=caller.owner)
        yield status_markdown(None, note="⏳ Sending the request…"), None, body
        try:
            async for update in job.aupdates(tick=TICK_SECONDS):
                done = update.done and update.video_path
                video = publisher.file(update.video_path) if done else None
                yield status_markdown(update), video, body
        except errors.PixVerseError as exc:
            yield error_markdown(exc), None, body
            raise _fail(exc) from None

    def stopped() -> str:
        return (
            "⏹️ Stopped watching. The job goes on in the background; when it finishes it appears "
            "in **History**."
        )

    def on_resolution(resolution: Any, duration: Any) -> Any:
        if resolution not in params.RESOLUTIONS:
            return gr.update()
        allowed = params.supported_durations(resolution)
        current = int(duration) if str(duration).isdigit() else params.DEFAULT_DURATION
        banned = sorted(set(params.DURATIONS) - set(allowed))
        info = f"{resolution} does not offer {', '.join(map(str, banned))} s." if banned else ""
        return gr.update(
            choices=list(allowed), value=current if current in allowed else allowed[0], info=info
        )

    def list_history(
        api_key: str | None = None,
        visitor: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> tuple[Any, list[str], str]:
        """Your past generations, newest first, with their state, settings and credits.

        Also resumes watching any of your generations left unfinished.

        Args:
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: The name you gave generate, when you gave no key (on the simulator).

        Returns:
            Your finished videos, their ids, and a table of every job.
        """
        try:
            caller = _caller(app, api_key, x_aimlapi_key, visitor, request)
        except errors.PixVerseError as exc:
            return [], [], error_markdown(exc)
        app.resume_for(caller)
        records = app.ledger.history(caller.owner, limit=HISTORY_LIMIT)
        items, ids = [], []
        for record in records:
            if record.state == DONE and record.video_path and Path(record.video_path).exists():
                items.append((publisher.file(record.video_path), caption(record)))
                ids.append(record.client_request_id)
        return items, ids, history_table(records)

    def pick(
        ids: Any,
        api_key: Any,
        visitor: Any,
        evt: gr.SelectData,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """Load a history item's parameters back into the form; only the caller's own items."""
        unchanged = (gr.update(),) * 12
        try:
            caller = _caller(app, api_key, None, visitor, request)
        except errors.PixVerseError as exc:
            return (*unchanged, error_markdown(exc))
        record = _own_record(app, caller, ids, getattr(evt, "index", None))
        if record is None:
            return (*unchanged, NOT_YOURS)
        body = record.request
        return (
            body["prompt"],
            body.get("negative_prompt", ""),
            body["aspect_ratio"],
            body["resolution"],
            gr.update(
                choices=list(params.supported_durations(body["resolution"])),
                value=body["duration"],
            ),
            body.get("style") or NO_STYLE,
            body.get("seed"),
            bool(body.get("generate_audio_switch")),
            bool(body.get("generate_multi_clip_switch")),
            body.get("thinking_type") or THINKING_DEFAULT,
            json.dumps(body, indent=2, ensure_ascii=False),
            gr.update(value=publisher.json(_download_name(record), body), visible=True),
            f"Loaded the parameters of `{record.generation_id}` ({caption(record)}). "
            "Press **Generate** to run it again.",
        )

    def quote(*args: Any) -> str:
        """Before a batch: how many generations, and what similar ones cost."""
        *fields, axis, count, styles, ratios = args
        try:
            plan = _plan(app, form_params(*fields), axis, count, styles, ratios)
        except errors.PixVerseError as exc:
            return error_markdown(exc)
        text = plan.summary()
        if plan.count > CONFIRM_ABOVE:
            text += f" Tick **I understand** to start more than {CONFIRM_ABOVE} at once."
        return text

    async def variations(
        prompt: str,
        negative_prompt: str | None = None,
        aspect_ratio: str = params.DEFAULT_ASPECT_RATIO,
        resolution: str = params.DEFAULT_RESOLUTION,
        duration: Any = params.DEFAULT_DURATION,
        style: str = NO_STYLE,
        seed: Any = None,
        audio: bool = False,
        multi_clip: bool = False,
        thinking: str = THINKING_DEFAULT,
        axis: str = "seeds",
        count: Any = 3,
        styles: list[str] | None = None,
        ratios: list[str] | None = None,
        confirmed: bool = False,
        api_key: str | None = None,
        visitor: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> AsyncIterator[tuple[Any, str]]:
        """Run one prompt several times at once, varying seeds, styles or aspect ratios.

        Every variant is a paid generation; more than 4 need confirmed=true.

        Args:
            prompt: What the videos show.
            axis: What varies: "seeds", "styles" or "aspect ratios".
            count: How many seeds, when axis is "seeds".
            styles: The styles to run, when axis is "styles".
            ratios: The aspect ratios to run, when axis is "aspect ratios".
            confirmed: True to start more than 4 generations.
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: As for generate.

        Returns:
            The videos side by side, and a table of each variant's state.
        """
        fields = (prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed, audio,
                  multi_clip, thinking)  # fmt: skip
        try:
            plan = _plan(app, form_params(*fields), axis, count, styles, ratios)
            caller = _caller(app, api_key, x_aimlapi_key, visitor, request)
        except errors.PixVerseError as exc:
            raise _fail(exc) from None
        if plan.count > CONFIRM_ABOVE and confirmed is not True:
            raise gr.Error(
                f"{plan.summary()} Tick “I understand” to start more than {CONFIRM_ABOVE}.",
                title="Please confirm",
                print_exception=False,
            )
        batch = f"batch-{os.urandom(6).hex()}"
        jobs = [
            app.runner.start(v, caller.client, batch=batch, owner=caller.owner)
            for v in plan.variants
        ]
        while True:
            items, table = _batch_view(jobs, publisher)
            yield items, f"{plan.summary()}\n\n{table}"
            if all(job.finished for job in jobs):
                return
            await asyncio.sleep(TICK_SECONDS / 2)

    return {
        "generate": generate,
        "stopped": stopped,
        "on_resolution": on_resolution,
        "list_history": list_history,
        "pick": pick,
        "quote": quote,
        "variations": variations,
    }


# --- layout -----------------------------------------------------------------------------------


def build_demo(
    *,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    has_auth: bool = False,
    public: bool = False,
) -> gr.Blocks:
    """The whole page. Each call has its own runner; jobs left unfinished are resumed.

    ``public``: strangers can reach it (``--share``, a non-loopback address; a Space always is).
    Serve it with :func:`launch_options`, which keeps the ledger's folders off the file route.
    """
    app = App(
        Mode.from_env(has_auth=has_auth, public=public),
        ledger or default_ledger(),
        Path(download_dir or videos_dir()),
    )
    app.resume_host_jobs()
    h = make_handlers(app, Publisher())

    with gr.Blocks(title="pixverse-ui · PixVerse v5.5 text-to-video") as demo:
        demo.pixverse_app = app  # type: ignore[attr-defined]
        gr.Markdown(
            "# pixverse-ui\nPrototype text-to-video with **PixVerse v5.5** via the AI/ML API."
        )
        gr.Markdown(app.mode.banner(), elem_classes="pxui-banner", elem_id="mode-banner")
        visitor = gr.Textbox(visible=False, elem_id="visitor-id")
        with gr.Row():
            with gr.Column(scale=5):
                prompt = gr.Textbox(
                    label="Prompt",
                    lines=3,
                    placeholder="Describe the scene, the subject and the action…",
                    info=f"Up to {params.PROMPT_MAX_CHARS} characters.",
                    elem_id="prompt",
                )
                negative = gr.Textbox(
                    label="Negative prompt",
                    placeholder="What to avoid (optional)",
                    elem_id="negative-prompt",
                )
                with gr.Row():
                    aspect = gr.Dropdown(
                        list(params.ASPECT_RATIOS),
                        value=params.DEFAULT_ASPECT_RATIO,
                        label="Aspect ratio",
                        elem_id="aspect-ratio",
                    )
                    resolution = gr.Dropdown(
                        list(params.RESOLUTIONS),
                        value=params.DEFAULT_RESOLUTION,
                        label="Resolution",
                        elem_id="resolution",
                    )
                    duration = with_integer_schema(
                        gr.Dropdown(
                            list(params.supported_durations(params.DEFAULT_RESOLUTION)),
                            value=params.DEFAULT_DURATION,
                            label="Duration (s)",
                            elem_id="duration",
                        )
                    )
                    style = gr.Dropdown(
                        [NO_STYLE, *params.STYLES], value=NO_STYLE, label="Style", elem_id="style"
                    )
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        seed = gr.Number(
                            label="Seed (blank: random)",
                            precision=0,
                            value=None,
                            minimum=params.SEED_MIN,
                            maximum=params.SEED_MAX,
                            elem_id="seed",
                        )
                        thinking = gr.Dropdown(
                            [THINKING_DEFAULT, *params.THINKING_TYPES],
                            value=THINKING_DEFAULT,
                            label="Prompt reasoning (thinking)",
                            elem_id="thinking",
                        )
                    with gr.Row():
                        audio = gr.Checkbox(label="Generate audio", value=False)
                        multi_clip = gr.Checkbox(label="Multi-clip (camera changes)", value=False)
                with gr.Accordion("Your AI/ML API key", open=app.mode.visitors_need_own_key):
                    api_key = gr.Textbox(
                        label="API key",
                        type="password",
                        placeholder="Your AI/ML API key",
                        info="Used for your requests only; never stored on the server.",
                        elem_id="api-key",
                    )
                    remember = gr.Checkbox(label="Remember in this browser", value=False)
                with gr.Row():
                    go = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop watching", variant="stop", elem_id="stop")
            with gr.Column(scale=6):
                status = gr.Markdown(status_markdown(None), elem_id="status-panel")
                video = gr.Video(label="Video", elem_id="video", interactive=False)
                with gr.Accordion("Request (JSON)", open=False):
                    body = gr.Code(language="json", label="Request body", elem_id="request-json")
                    body_file = gr.File(label="Download the request", visible=False)

        form = [prompt, negative, aspect, resolution, duration, style, seed, audio, multi_clip]
        form.append(thinking)
        for component in (*form, api_key, visitor):
            strict_input(component)
        examples = gr.Examples(
            EXAMPLES,
            inputs=[prompt, aspect, resolution, duration, style],
            cache_examples=False,
            label="Try one of these",
        )

        with gr.Tab("History"):
            refresh = gr.Button("Refresh history", elem_id="refresh-history")
            picked_note = gr.Markdown("")
            gallery = gr.Gallery(
                label="Your videos, newest first (click one to load its settings)",
                columns=4,
                height="auto",
                elem_id="history-gallery",
                allow_preview=False,
            )
            table = gr.Markdown("No generations yet.", elem_id="history-table")
            # The ids of the gallery's videos. Not gr.State: Gradio's MCP tools fail on State
            # outputs ("pop index out of range"), and API callers may use the ids.
            ids = gr.JSON([], visible=False)

        with gr.Tab("Variations"):
            gr.Markdown(
                "Run the prompt above several times, varying one thing; results appear side by "
                "side as they finish."
            )
            with gr.Row():
                axis = gr.Radio(list(AXIS_LABELS), value="seeds", label="Vary", elem_id="axis")
                count = gr.Slider(2, variations.MAX_BATCH, value=3, step=1, label="How many seeds")
            with gr.Row():
                styles = gr.CheckboxGroup(list(params.STYLES), label="Styles")
                ratios = gr.CheckboxGroup(list(params.ASPECT_RATIOS), label="Aspect ratios")
            plan_note = gr.Markdown("", elem_id="batch-plan")
            confirmed = gr.Checkbox(label="I understand this starts several paid generations")
            for component in (axis, count, styles, ratios, confirmed):
                strict_input(component)
            run_all = gr.Button("Run variations", variant="primary", elem_id="run-variations")
            batch_gallery = gr.Gallery(label="Variations", columns=4, height="auto")

        run = go.click(
            h["generate"],
            inputs=[*form, api_key, visitor],
            outputs=[status, video, body],
            api_name="generate",
            concurrency_limit=None,  # async and thread-free: visitors never queue behind each other
        )
        # Registered before the other events that show the history: Gradio names an event after
        # its function unless told, and the first to take a name keeps it.
        refresh.click(
            h["list_history"],
            inputs=[api_key, visitor],
            outputs=[gallery, ids, table],
            api_name="list_history",
            concurrency_limit=None,
        )
        # Gradio's frontend skips ``.then`` after an error; failure also follows Stop.
        for ended in (run.success, run.failure):
            ended(
                h["list_history"],
                inputs=[api_key, visitor],
                outputs=[gallery, ids, table],
                api_visibility="private",
            )
        stop.click(
            h["stopped"], outputs=[status], cancels=[run], api_visibility="private", queue=False
        )
        # Not .change: when an example or a history item sets resolution and duration together,
        # .change would read the old duration and write it back. Those loads follow up below.
        resolution.input(
            h["on_resolution"],
            inputs=[resolution, duration],
            outputs=[duration],
            api_visibility="private",
            queue=False,
        )
        picked = gallery.select(
            h["pick"],
            inputs=[ids, api_key, visitor],
            outputs=[*form, body, body_file, picked_note],
            api_visibility="private",
        )
        for loaded in (picked, examples.load_input_event):
            loaded.then(
                h["on_resolution"],
                inputs=[resolution, duration],
                outputs=[duration],
                api_visibility="private",
                queue=False,
            )
        batch_inputs = [*form, axis, count, styles, ratios]
        for trigger in (axis.change, count.change, styles.change, ratios.change):
            trigger(
                h["quote"],
                inputs=batch_inputs,
                outputs=[plan_note],
                api_visibility="private",
                queue=False,
            )
        run_all.click(
            h["variations"],
            inputs=[*batch_inputs, confirmed, api_key, visitor],
            outputs=[batch_gallery, plan_note],
            api_name="variations",
            concurrency_limit=None,
        )
        remember.change(None, inputs=[api_key, remember], js=_JS_REMEMBER)
        api_key.change(None, inputs=[api_key, remember], js=_JS_REMEMBER)
        demo.load(None, outputs=[api_key, remember, visitor], js=_JS_RESTORE).then(
            h["list_history"],
            inputs=[api_key, visitor],
            outputs=[gallery, ids, table],
            api_visibility="private",
        )
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
    one. ``mcp`` also serves the generate, list_history and variations tools over MCP at
    ``/gradio_api/mcp/`` (``None``: as Gradio's ``GRADIO_MCP_SERVER`` says); it needs Gradio's
    extra (``requirements-mcp.txt``), and without it the app says so and serves the page alone.
    Everything the process prints from here on has keys masked.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    install_output_redaction()
    auth = auth_from_env()
    demo = build_demo(has_auth=auth is not None, public=share or not is_loopback(host))
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
            **kwargs,
        )
    )
    if share and not demo.share_url:
        print(
            "Could not make a share link (is there internet?); serving locally only.",
            file=sys.stderr,
        )
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

    Call ``demo.queue(default_concurrency_limit=None)`` before launching; ``build_demo`` does.
    """
    app: App = demo.pixverse_app  # type: ignore[attr-defined]
    blocked = [str(path) for path in app.private_paths()]
    blocked += [str(path) for path in overrides.pop("blocked_paths", None) or ()]
    options: dict[str, Any] = {
        "blocked_paths": blocked,
        "max_threads": MAX_EVENTS,
        "show_error": False,
        "run_history": False,
        "css": CSS,
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
