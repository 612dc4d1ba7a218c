"""The Gradio app: ``build_demo()`` and ``launch()``; with app.py, the only place gradio is used.

Nothing here polls: the Generate handler follows a background job (``jobs.JobRunner``) whose one
poll loop is ``polling.watch``. Keys: a visitor's key lives in their request and, if they ask, in
their own browser's localStorage (set and read by JS alone, never sent back by the server); it is
never put in ``os.environ``, a log, the page, an API output or the ledger.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from . import errors, params
from .client import Client
from .defaults import SIMULATOR_LABEL, default_ledger, host_key, simulator_client, videos_dir
from .jobs import JobRunner
from .polling import Update
from .store import DONE, FAILED, RUNNING, JobRecord, Ledger, default_home

log = logging.getLogger(__name__)

SHARE_HOST_KEY_ENV = "PIXVERSE_UI_SHARE_HOST_KEY"
NO_STYLE = "none"
THINKING_DEFAULT = "model default"
#: Ask "are you sure?" above this many generations in one batch.
CONFIRM_ABOVE = 4
HISTORY_LIMIT = 60

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
#status-panel {min-height: 7em}
#status-panel table {width: 100%}
.pxui-banner {padding: .6em 1em; border-radius: 8px; background: var(--block-background-fill)}
"""


# --- who is asking, with which key ----------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """How this app was started: with a host key or on the simulator, on a Space or not."""

    host_key: str | None
    on_space: bool
    share_host_key: bool
    has_auth: bool

    @property
    def simulator(self) -> bool:
        return self.host_key is None

    @property
    def visitors_need_own_key(self) -> bool:
        return (
            not self.simulator and self.on_space and not self.share_host_key and not self.has_auth
        )

    def banner(self) -> str:
        if self.simulator:
            return (
                "**Simulator mode.** No `AIMLAPI_KEY` is set, so videos come from the built-in "
                "simulator: nothing is sent to PixVerse and nothing costs money. Set "
                "`AIMLAPI_KEY` to make real videos."
            )
        if self.visitors_need_own_key:
            return (
                "**Bring your own key.** This Space does not share its owner's key: enter your "
                "AI/ML API key below. It stays in your session (and, if you tick *remember*, in "
                "this browser only)."
            )
        return (
            "**Live mode.** Generations use the AI/ML API and cost credits. You may enter your own "
            "key below; otherwise the host's key is used."
        )


def current_mode(*, has_auth: bool = False) -> Mode:
    """Read the mode from the environment."""
    share = os.environ.get(SHARE_HOST_KEY_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return Mode(
        host_key=host_key(),
        on_space=bool(os.environ.get("SPACE_ID")),
        share_host_key=share,
        has_auth=has_auth,
    )


class App:
    """The app's state shared by every visitor: the mode, the ledger, the background runner."""

    def __init__(self, mode: Mode, ledger: Ledger, download_dir: Path) -> None:
        self.mode = mode
        self.ledger = ledger
        self.runner = JobRunner(ledger, download_dir)
        self._clients: dict[str, Client] = {}

    def client_for(self, visitor_key: str | None, visitor_id: str | None) -> Client:
        """The client for this visitor. Raises a sentence when they may not generate."""
        key = (visitor_key or "").strip()
        if self.mode.simulator:
            # Every browser gets its own simulator key, so histories stay apart.
            return self._client(key or f"sim-visitor-{visitor_id or 'anonymous'}", simulator=True)
        if key:
            return self._client(key, simulator=False)
        if self.mode.visitors_need_own_key:
            raise errors.AuthenticationError(
                "This Space needs your own AI/ML API key",
                hint="Enter it under “Your AI/ML API key”; it is kept in your session only.",
            )
        assert self.mode.host_key is not None
        return self._client(self.mode.host_key, simulator=False)

    def _client(self, key: str, *, simulator: bool) -> Client:
        slot = ("sim:" if simulator else "live:") + self.ledger.owner_of(key)
        client = self._clients.get(slot)
        if client is None:
            client = simulator_client(key) if simulator else Client(api_key=key)
            self._clients[slot] = client
        return client

    def resume_host_jobs(self) -> int:
        """After a restart: resume what the host's key (or the simulator) left unfinished."""
        count = 0
        if self.mode.simulator:
            for job in self.ledger.unfinished(endpoint=SIMULATOR_LABEL):
                if job.generation_id:
                    self.runner.resume(job.generation_id, simulator_client())
                    count += 1
        elif self.mode.host_key:
            client = self._client(self.mode.host_key, simulator=False)
            owner = self.ledger.owner_of(self.mode.host_key)
            for job in self.ledger.unfinished(owner, client.label):
                if job.generation_id:
                    self.runner.resume(job.generation_id, client)
                    count += 1
        return count


# --- the status panel -------------------------------------------------------------------------


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "any moment now"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_markdown(update: Update | None, *, note: str = "") -> str:
    """The live status panel: status, elapsed, ETA, credits, generation id."""
    if update is None:
        return note or "Ready. Type a prompt and press **Generate**."
    credits = f"{update.credits_used:,.0f}" if update.credits_used is not None else "—"
    eta = "done" if update.done else _clock(update.eta)
    icon = "✅" if update.done else ("⚠️" if update.transient else "⏳")
    lines = [
        f"{icon} **{update.status}** — {update.message}",
        "",
        "| elapsed | estimate left | credits | generation id |",
        "|---|---|---|---|",
        f"| {_clock(update.elapsed)} | {eta} | {credits} | `{update.generation_id}` |",
    ]
    if note:
        lines += ["", note]
    return "\n".join(lines)


def error_markdown(exc: errors.PixVerseError) -> str:
    return f"❌ {exc.user_message}"


def request_json(record: JobRecord) -> str:
    return json.dumps(record.request, indent=2, ensure_ascii=False)


# --- handlers ---------------------------------------------------------------------------------


def _params_from_form(
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
    return params.validate(
        prompt,
        negative_prompt=negative_prompt or None,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        duration=duration,
        style=None if style in (None, NO_STYLE) else style,
        seed=None if seed in (None, "") else seed,
        generate_audio_switch=bool(audio) or None,
        generate_multi_clip_switch=bool(multi_clip) or None,
        thinking_type=None if thinking in (None, "", THINKING_DEFAULT) else thinking,
    )


def _fail(exc: errors.PixVerseError) -> gr.Error:
    return gr.Error(exc.user_message, title="Could not generate", print_exception=False)


def make_handlers(app: App) -> dict[str, Any]:
    """The event handlers, closed over the shared app state."""

    async def generate(
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
        api_key: str,
        visitor: str,
        request: gr.Request,
    ) -> AsyncIterator[tuple[str, str | None, str]]:
        """Stream a generation: status updates as they come, then the video."""
        try:
            form = _params_from_form(
                prompt,
                negative_prompt,
                aspect_ratio,
                resolution,
                duration,
                style,
                seed,
                audio,
                multi_clip,
                thinking,
            )
            client = app.client_for(api_key, visitor or request.session_hash)
        except errors.PixVerseError as exc:
            raise _fail(exc) from None
        job = app.runner.start(form, client)
        body = json.dumps(form.to_body(), indent=2, ensure_ascii=False)
        yield status_markdown(None, note="⏳ Sending the request…"), None, body
        try:
            async for update in job.afollow():
                video = str(update.video_path) if update.done and update.video_path else None
                yield status_markdown(update), video, body
        except errors.PixVerseError as exc:
            yield error_markdown(exc), None, body
            raise _fail(exc) from None

    def stopped() -> str:
        return (
            "⏹️ Stopped watching. The job goes on in the background; when it finishes it appears "
            "in **History** (press *Refresh*)."
        )

    def on_resolution(resolution: str, duration: Any) -> Any:
        allowed = params.supported_durations(resolution)
        current = int(duration) if str(duration).isdigit() else params.DEFAULT_DURATION
        value = current if current in allowed else allowed[0]
        info = ""
        banned = sorted(set(params.DURATIONS) - set(allowed))
        if banned:
            info = f"{resolution} does not offer {', '.join(map(str, banned))} s."
        return gr.update(choices=list(allowed), value=value, info=info or None)

    def history(api_key: str, visitor: str, request: gr.Request) -> tuple[Any, list[str], str]:
        try:
            client = app.client_for(api_key, visitor or request.session_hash)
        except errors.PixVerseError as exc:
            return [], [], error_markdown(exc)
        owner = app.ledger.owner_of(client.owner_key)
        for job in app.ledger.unfinished(owner, client.label):
            if job.generation_id and app.runner.get(job.generation_id) is None:
                app.runner.resume(job.generation_id, client)
        records = app.ledger.history(owner, limit=HISTORY_LIMIT)
        items, ids = [], []
        for record in records:
            if record.state == DONE and record.video_path and Path(record.video_path).exists():
                items.append((record.video_path, _caption(record)))
                ids.append(record.client_request_id)
        lines = _history_table(records)
        return items, ids, lines

    def pick(ids: list[str], evt: gr.SelectData) -> tuple[Any, ...]:
        record = app.ledger.find(ids[evt.index]) if ids and evt.index < len(ids) else None
        if record is None:
            return (gr.update(),) * 13
        body = record.request
        path = _request_file(record)
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
            request_json(record),
            gr.update(value=str(path), visible=True),
            f"Loaded the parameters of `{record.generation_id}` ({_caption(record)}). "
            "Press **Generate** to run it again.",
        )

    return {
        "generate": generate,
        "stopped": stopped,
        "on_resolution": on_resolution,
        "history": history,
        "pick": pick,
    }


def _caption(record: JobRecord) -> str:
    p = record.request
    bits = [p["aspect_ratio"], p["resolution"], f"{p['duration']} s"]
    if p.get("style"):
        bits.append(p["style"])
    if record.credits_used is not None:
        bits.append(f"{record.credits_used:,.0f} credits")
    if record.render_seconds is not None:
        bits.append(f"{record.render_seconds:.0f} s")
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


def _history_table(records: list[JobRecord]) -> str:
    if not records:
        return "No generations yet."
    rows = ["| when | state | prompt | settings | credits |", "|---|---|---|---|---|"]
    from datetime import datetime, timezone

    for record in records:
        when = datetime.fromtimestamp(record.created_at, tz=timezone.utc).strftime("%m-%d %H:%M")
        p = record.request
        prompt = p["prompt"].replace("|", "/")
        prompt = prompt if len(prompt) <= 40 else prompt[:37] + "…"
        settings = f"{p['aspect_ratio']} {p['resolution']} {p['duration']}s {p.get('style') or ''}"
        credits = f"{record.credits_used:,.0f}" if record.credits_used is not None else "—"
        state = _STATE_WORDS.get(record.state, record.state)
        rows.append(f"| {when} | {state} | {prompt} | {settings.strip()} | {credits} |")
    return "\n".join(rows)


def _request_file(record: JobRecord) -> Path:
    folder = default_home() / "requests"
    folder.mkdir(parents=True, exist_ok=True)
    name = (record.generation_id or record.client_request_id).replace("/", "_")
    path = folder / f"{name}.json"
    path.write_text(request_json(record) + "\n", encoding="utf-8")
    return path


# --- layout -----------------------------------------------------------------------------------


def build_demo(
    *, ledger: Ledger | None = None, download_dir: str | Path | None = None, has_auth: bool = False
) -> gr.Blocks:
    """The whole page. Safe to call many times (each has its own runner)."""
    app = App(
        current_mode(has_auth=has_auth),
        ledger or default_ledger(),
        Path(download_dir or videos_dir()),
    )
    app.resume_host_jobs()
    h = make_handlers(app)

    with gr.Blocks(title="pixverse-ui · PixVerse v5.5 text-to-video") as demo:
        demo.pixverse_app = app  # type: ignore[attr-defined]
        gr.Markdown(
            "# pixverse-ui\nPrototype text-to-video with **PixVerse v5.5** through the AI/ML API."
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
                    lines=1,
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
                    duration = gr.Dropdown(
                        list(params.supported_durations(params.DEFAULT_RESOLUTION)),
                        value=params.DEFAULT_DURATION,
                        label="Duration (s)",
                        elem_id="duration",
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
                        placeholder="sk-…",
                        info="Used for your generations only; never stored on the server.",
                        elem_id="api-key",
                    )
                    remember = gr.Checkbox(label="Remember in this browser", value=False)
                with gr.Row():
                    go = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop watching", variant="stop", elem_id="stop")
            with gr.Column(scale=6):
                status = gr.Markdown(status_markdown(None), elem_id="status-panel")
                video = gr.Video(label="Video", elem_id="video", interactive=False, autoplay=True)
                with gr.Accordion("Request sent (JSON)", open=False):
                    body = gr.Code(language="json", label="Request body", elem_id="request-json")
                    body_file = gr.File(label="Download request", visible=False)

        form = [
            prompt,
            negative,
            aspect,
            resolution,
            duration,
            style,
            seed,
            audio,
            multi_clip,
            thinking,
        ]
        gr.Examples(
            EXAMPLES,
            inputs=[prompt, aspect, resolution, duration, style],
            cache_examples=False,
            label="Try one of these",
        )

        with gr.Tab("History"):
            refresh = gr.Button("Refresh history", elem_id="refresh-history")
            picked_note = gr.Markdown("")
            gallery = gr.Gallery(
                label="Your videos (newest first)",
                columns=4,
                height="auto",
                elem_id="history-gallery",
                allow_preview=False,
            )
            table = gr.Markdown("No generations yet.", elem_id="history-table")
            ids = gr.State([])

        run = go.click(
            h["generate"],
            inputs=[*form, api_key, visitor],
            outputs=[status, video, body],
            api_name="generate",
            concurrency_limit=None,  # async and thread-free: visitors never queue behind each other
        )
        run.then(
            h["history"],
            inputs=[api_key, visitor],
            outputs=[gallery, ids, table],
            api_visibility="private",
        )
        stop.click(
            h["stopped"], outputs=[status], cancels=[run], api_visibility="private", queue=False
        )
        resolution.change(
            h["on_resolution"],
            inputs=[resolution, duration],
            outputs=[duration],
            api_visibility="private",
            queue=False,
        )
        refresh.click(
            h["history"],
            inputs=[api_key, visitor],
            outputs=[gallery, ids, table],
            api_name="history",
            concurrency_limit=None,
        )
        gallery.select(
            h["pick"],
            inputs=[ids],
            outputs=[*form, body, body_file, picked_note],
            api_visibility="private",
        )
        remember.change(None, inputs=[api_key, remember], js=_JS_REMEMBER)
        api_key.change(None, inputs=[api_key, remember], js=_JS_REMEMBER)
        demo.load(None, outputs=[api_key, remember, visitor], js=_JS_RESTORE).then(
            h["history"],
            inputs=[api_key, visitor],
            outputs=[gallery, ids, table],
            api_visibility="private",
        )
    return demo


def launch(
    *, host: str = "127.0.0.1", port: int = 7860, share: bool = False, **kwargs: Any
) -> None:
    """Build and serve the app. ``share`` asks Gradio for a public link, and goes on locally if
    there is no internet to make one."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_demo()
    demo.queue(default_concurrency_limit=None)
    home = default_home()
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        allowed_paths=[str(home)],
        max_threads=64,
        show_error=True,
        css=CSS,
        footer_links=["gradio"],
        prevent_thread_lock=True,
        **kwargs,
    )
    if share and not demo.share_url:
        print("Could not make a share link (is there internet?); serving locally only.")
    demo.block_thread()
