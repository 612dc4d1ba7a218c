"""The page's first part: the form, Generate and Stop, the status panel, the video.

The page's Generate runs two events: ``check`` (private, instant) says what is wrong with the
form in the status panel and a toast without touching the last video; only when the form is
good does ``generate`` (the API's and the MCP tool's endpoint) start a job and stream it.
Generate is disabled and Stop enabled while a job is being watched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from .. import errors, images, params
from ..jobs import Job
from ..lifecycle import STOPPED_ICON, Status
from ..polling import Update
from ..publish import Publisher
from .common import (
    KEY_STORAGE,
    NO_STYLE,
    THINKING_DEFAULT,
    Page,
    caller,
    clock_is_live,
    followed_job,
    form_image,
    form_params,
    loading_html,
    refusal,
    refused_html,
    request_json,
    started_at,
    status_html,
    strict_input,
    with_integer_schema,
    with_seed_schema,
)

GO_IDLE, GO_BUSY, GO_LOADING = "Generate", "Generating…", "Loading…"
SENDING = f"{Status.SUBMITTING.icon} Sending the request…"
STOPPED = (
    f"{STOPPED_ICON} Stopped watching. The job goes on in the background, and is paid for; "
    "<b>Watch again</b> follows it here, and when it finishes it appears in <b>History</b>."
)

#: The prompt's counter, counted in the browser as the API counts (characters, not UTF-16 units).
_JS_COUNT = f"""(prompt) => {{
  const n = [...(prompt || '')].length, most = {params.PROMPT_MAX_CHARS};
  const over = n > most ? ` <b class="pxui-over">${{n - most}} too many</b>` : '';
  return `<span class="pxui-count">${{n}} / ${{most}} characters${{over}}</span>`;
}}"""

_JS_REMEMBER = f"""(key, remember) => {{
  if (remember && key) localStorage.setItem('{KEY_STORAGE}', key);
  else localStorage.removeItem('{KEY_STORAGE}');
}}"""


def _news(update: Update) -> tuple[Any, ...]:
    """What a person would notice changing: the page is sent a new panel only for this."""
    return (update.status, update.message, update.transient, update.credits_used, update.done)


class GeneratePart:
    """The form and the result: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page) -> None:
        self.page = page

    # --- layout -------------------------------------------------------------------------------

    def form_column(self, *, key_open: bool, examples: list[list[Any]]) -> None:
        """The prompt and Generate first (they must fit a phone's first screen), then the
        settings, with ``examples`` (prompt, aspect ratio, resolution, duration, style) below."""
        self.prompt = gr.Textbox(
            label="Prompt",
            lines=3,
            placeholder="Describe the scene, the subject and the action…",
            elem_id="prompt",
        )
        self.count = gr.HTML(
            f'<span class="pxui-count">0 / {params.PROMPT_MAX_CHARS} characters</span>',
            elem_id="prompt-count",
        )
        with gr.Row(equal_height=True):
            # disabled until the page's load has looked for a running job (``LivePart``)
            self.go = gr.Button(
                GO_LOADING, variant="primary", interactive=False, elem_id="generate", scale=3
            )
            self.stop = gr.Button(
                "Stop watching",
                variant="secondary",
                size="sm",
                interactive=False,
                elem_id="stop",
                scale=1,
                min_width=100,  # beside Generate on a phone too
            )
            # after Stop: follows the same job again (``LivePart.watch_again``)
            self.again = gr.Button(
                "Watch again",
                size="sm",
                visible=False,
                elem_id="watch-again",
                scale=1,
                min_width=100,
            )
        self.negative = gr.Textbox(
            label="Negative prompt",
            placeholder="What to avoid (optional)",
            elem_id="negative-prompt",
        )
        with gr.Row(elem_id="image-row"):
            # image_mode None: the upload's own file, as given (Gradio's default, "RGB", would
            # send a copy converted, an RGBA PNG's alpha gone and its SHA-256 another)
            self.image_upload = gr.Image(
                type="filepath",
                image_mode=None,
                sources=["upload"],
                label="Start from an image (optional)",
                elem_id="image-upload",
                height=160,
                min_width=140,  # beside the URL on a phone: a shorter page
            )
            self.image_url = gr.Textbox(
                label="…or its public URL",
                placeholder="https://…/picture.png",
                max_lines=1,
                elem_id="image-url",
                min_width=140,
            )
        # what the generate endpoint is sent as its image: the upload (a file Gradio has) or
        # the URL, as text; set from the two fields above (see ``on_image``)
        self.image = with_image_schema(gr.JSON(None, visible=False, elem_id="image"))
        self.shape_note = gr.Markdown(SHAPE_NOTE, visible=False, elem_id="shape-note")
        with gr.Row(elem_id="settings-row"):
            # no value until the page loads (then 16:9): the API's default is None, so an
            # image sent without one is not refused for an aspect ratio nobody chose
            self.aspect = gr.Dropdown(
                list(params.ASPECT_RATIOS),
                value=None,
                label="Aspect ratio",
                elem_id="aspect-ratio",
                min_width=120,
            )
            self.resolution = gr.Dropdown(
                list(params.RESOLUTIONS),
                value=params.DEFAULT_RESOLUTION,
                label="Resolution",
                elem_id="resolution",
                min_width=120,
            )
            self.duration = with_integer_schema(
                gr.Dropdown(
                    list(params.supported_durations(params.DEFAULT_RESOLUTION)),
                    value=params.DEFAULT_DURATION,
                    label="Duration (s)",
                    elem_id="duration",
                    min_width=120,
                )
            )
            self.style = gr.Dropdown(
                [NO_STYLE, *params.STYLES],
                value=NO_STYLE,
                label="Style",
                elem_id="style",
                min_width=120,
            )
        self.cost_note = gr.Markdown(elem_id="cost-note")
        self.examples = gr.Examples(
            examples,
            inputs=[self.prompt, self.aspect, self.resolution, self.duration, self.style],
            cache_examples=False,
            label="Try one of these",
            elem_id="examples",
            examples_per_page=4,
        )
        with gr.Accordion("Advanced", open=False):
            with gr.Row():
                # a Textbox, not a Number: a Number with no value shows 0 once the accordion
                # opens, and then sends it; this one stays blank, and blank means "pick one"
                self.seed = with_seed_schema(
                    strict_input(
                        gr.Textbox(
                            label="Seed (blank: random)",
                            placeholder="random: picked, sent and kept",
                            max_lines=1,
                            elem_id="seed",
                        )
                    )
                )
                self.thinking = gr.Dropdown(
                    [THINKING_DEFAULT, *params.THINKING_TYPES],
                    value=THINKING_DEFAULT,
                    label="Prompt reasoning (thinking)",
                    elem_id="thinking",
                )
            with gr.Row():
                self.audio = gr.Checkbox(label="Generate audio", value=False, elem_id="audio")
                self.multi_clip = gr.Checkbox(
                    label="Multi-clip (camera changes)", value=False, elem_id="multi-clip"
                )
        with gr.Accordion("Your AI/ML API key", open=key_open) as self.key_box:
            self.api_key = gr.Textbox(
                label="API key",
                type="password",
                placeholder="Your AI/ML API key",
                info="Used for your requests only; never stored on the server.",
                elem_id="api-key",
            )
            self.remember = gr.Checkbox(label="Remember in this browser", value=False)
        for component in (*self.form, self.api_key):
            strict_input(component)

    def result_column(self) -> None:
        """The visitor's running jobs, the status of the one followed, its video, its request."""
        self.running = gr.HTML("", elem_id="running-jobs")
        self.status = gr.HTML(loading_html(), elem_id="status-panel")
        self.video = gr.Video(label="Video", elem_id="video", interactive=False)
        with gr.Accordion("Request (JSON)", open=False):
            self.body = gr.Code(language="json", label="Request body", elem_id="request-json")
            self.body_file = gr.File(label="Download the request", visible=False)

    @property
    def form(self) -> list[Any]:
        """The inputs of a generation, in the order of ``generate``'s parameters."""
        return [
            self.prompt,
            self.negative,
            self.aspect,
            self.resolution,
            self.duration,
            self.style,
            self.seed,
            self.audio,
            self.multi_clip,
            self.thinking,
        ]

    # --- events -------------------------------------------------------------------------------

    def wire(self, visitor: gr.Textbox) -> Any:
        """Connect the part's events; returns the generate event (others follow its end)."""
        checked = self.go.click(
            self.check,
            inputs=[*self.form, self.api_key, visitor, self.image],
            outputs=[self.status, self.go, self.stop, self.again],
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",  # Gradio's red "Error" badge would cover the sentence
        )
        run = checked.success(
            self.generate,
            inputs=[*self.form, self.api_key, visitor, self.image],
            outputs=[self.status, self.video, self.body],
            api_name="generate",
            concurrency_limit=None,  # async and thread-free: visitors never queue behind each other
            show_progress="hidden",  # the status panel says how it goes
        )
        # Gradio's frontend skips ``.then`` after an error; a failure also follows Stop
        for ended in (run.success, run.failure):
            ended(
                self.idle_unless_watching,
                inputs=[self.status],
                outputs=[self.go, self.stop],
                api_visibility="private",
                queue=False,
            )
            self.quote_after(ended, visitor)
        for source in (self.aspect, self.duration):
            self.quote_after(source.change, visitor)
        for field in (self.image_upload, self.image_url):
            chosen = field.change(
                self.on_image,
                inputs=[self.image_upload, self.image_url, self.aspect],
                outputs=[self.image, self.aspect, self.shape_note],
                api_visibility="private",
                queue=False,
            )
            self.quote_after(chosen.then, visitor)  # an image is priced at its own shape
        self.stop.click(
            self.stopped,
            inputs=[self.status],
            outputs=[self.status, self.go, self.stop, self.again],
            cancels=[run],
            api_visibility="private",
            queue=False,
        )
        # Not .change: when an example or a history item sets resolution and duration together,
        # .change would read the old duration and write it back. Those loads call follow_up.
        self.follow_up(self.resolution.input, visitor)
        self.prompt.change(None, inputs=[self.prompt], outputs=[self.count], js=_JS_COUNT)
        self.remember.change(None, inputs=[self.api_key, self.remember], js=_JS_REMEMBER)
        self.api_key.change(None, inputs=[self.api_key, self.remember], js=_JS_REMEMBER)
        return run

    def quote_after(self, event: Any, visitor: gr.Textbox) -> None:
        """Say again what the form would cost, and what is left today, after ``event``."""
        event(
            self.price,
            inputs=[self.aspect, self.resolution, self.duration, self.api_key, visitor, self.image],
            outputs=[self.cost_note],
            api_visibility="private",
            queue=False,
        )

    def follow_up(self, loaded: Any, visitor: gr.Textbox) -> None:
        """After ``loaded`` set the resolution (a person's pick, an example, a history item):
        offer the durations it has, then say what the form costs.

        The quote waits for the durations: the page's copy of the duration dropdown is rebuilt
        by Gradio when its choices change, and a quote sent at the same time, with a duration
        the new choices lack (8 s, then 1080p), would meet Gradio's own check of the value: a
        500 and a traceback instead of a price.
        """
        offered = loaded(
            self.on_resolution,
            inputs=[self.resolution, self.duration],
            outputs=[self.duration],
            api_visibility="private",
            queue=False,
        )
        self.quote_after(offered.then, visitor)

    # --- handlers -----------------------------------------------------------------------------

    def check(
        self,
        prompt: Any,
        negative_prompt: Any,
        aspect_ratio: Any,
        resolution: Any,
        duration: Any,
        style: Any,
        seed: Any,
        audio: Any,
        multi_clip: Any,
        thinking: Any,
        api_key: Any,
        visitor: Any,
        image: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Before anything starts: the form's refusal (or the budget's), said in the status panel
        and a toast, leaving the last video as it was; or the buttons set for a run (a job
        stopped before is not offered again: this one is followed)."""
        page = self.page
        try:
            form = form_params(
                prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed,
                audio, multi_clip, thinking, image,
            )  # fmt: skip
            who = caller(page, api_key, None, visitor, request)
            page.app.check_start(who, [form])
        except errors.PixVerseError as exc:
            yield refused_html(exc), gr.update(), gr.update(), gr.update()
            raise refusal(exc) from None
        yield (
            status_html(None, note=SENDING),
            _busy(),
            gr.update(interactive=True),
            gr.update(visible=False),
        )

    async def generate(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        aspect_ratio: str | None = None,
        resolution: str = params.DEFAULT_RESOLUTION,
        duration: Any = params.DEFAULT_DURATION,
        style: str = NO_STYLE,
        seed: Any = None,
        audio: bool = False,
        multi_clip: bool = False,
        thinking: str = THINKING_DEFAULT,
        api_key: str | None = None,
        visitor: str | None = None,
        image: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]  # Gradio fills these two in
        x_aimlapi_key: gr.Header | None = None,
    ) -> AsyncIterator[tuple[str, Any, Any]]:
        """Make a PixVerse v5.5 clip from text, or from an image: stream its status, then
        return the MP4.

        Each call starts one paid generation (on the simulator, a free one). Bad input is
        refused with a sentence before anything is sent.

        Args:
            prompt: What the video shows: scene, subject, action (up to 2048 characters).
            negative_prompt: What to avoid; empty for nothing.
            aspect_ratio: Frame shape: 16:9, 4:3, 1:1, 3:4 or 9:16 (empty: 16:9). None with
                an image: the image decides the shape.
            resolution: 360p, 540p, 720p or 1080p.
            duration: Seconds of video: 5, 8 or 10 (1080p offers 5 and 10 only).
            style: A look such as anime or clay; "none" for plain.
            seed: A whole number to repeat a result; empty for a random one.
            audio: Also generate a sound track.
            multi_clip: Let the camera cut between shots.
            thinking: Prompt reasoning: enabled, disabled, auto, or "model default".
            api_key: Leave empty. Send your AI/ML API key in the X-AIMLAPI-Key header instead,
                so it stays out of the conversation; empty uses the host's key where allowed.
            visitor: Without a key: the token visitor_token gave you, so that list_history
                with it finds your videos (a key owns its own history). A name you make up is
                not one: without a token each call stands alone.
            image: Optional, to animate a picture: a public https URL (sent as given, never
                fetched here), a data:image/png;base64,… URI, or a PNG, JPEG or WebP file
                (gradio_client's handle_file), at most 10 MB and 4096 pixels a side.

        Returns:
            The final status (generation id, credits, time), the video file, and the request.
        """
        page = self.page
        try:
            form = form_params(
                prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed,
                audio, multi_clip, thinking, image,
            )  # fmt: skip
            who = caller(page, api_key, x_aimlapi_key, visitor, request)
        except errors.PixVerseError as exc:
            raise refusal(exc) from None
        yield status_html(None, note=SENDING), gr.skip(), gr.skip()
        try:  # the POST, off the event loop; it returns once the API has given the job an id
            (job,) = await asyncio.to_thread(page.app.start, who, [form])
        except errors.PixVerseError as exc:  # the rate, a budget, the API: the last video stays
            yield refused_html(exc), gr.skip(), gr.skip()
            raise refusal(exc) from None
        try:
            async for shown in self.follow(job):
                yield shown
        except errors.PixVerseError as exc:
            raise refusal(exc) from None

    async def follow(self, job: Job) -> AsyncIterator[tuple[str, Any, Any]]:
        """The status panel, the video and the request of ``job`` as it goes, to its end: what
        ``generate`` streams after the POST, and what a reloaded page streams of a running job.
        What ended it without a video is said in the panel, then raised."""
        body = request_json(job.params.to_record()) if job.params is not None else ""
        ledger = self.page.app.ledger
        record = await asyncio.to_thread(ledger.find, job.id) if job.id else None
        started = started_at(record) if record is not None else None
        shown = None
        try:
            async for update in job.aupdates(news=_news):
                if _news(update) == shown:
                    continue  # nothing a person would see: the page's clock moves on its own
                first, shown = shown is None, _news(update)
                panel = status_html(update, started=started, now=ledger.clock.now())
                if update.done and update.video_path:
                    yield panel, self.page.publisher.file(update.video_path), body
                elif first:  # the job is under way: the last video goes
                    yield panel, None, body
                else:
                    yield panel, gr.skip(), gr.skip()
        except errors.PixVerseError as exc:
            yield refused_html(exc), None, body
            raise

    def price(
        self,
        aspect_ratio: Any,
        resolution: Any,
        duration: Any,
        api_key: Any,
        visitor: Any,
        image: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """What this video would cost, in dollars and credits, and today's spending; from an
        image, at the image's own shape (the aspect ratio is the image's)."""
        page = self.page
        try:
            chosen = form_image(image)
            shape = {"image": chosen} if chosen else {"aspect_ratio": aspect_ratio}
            form = params.validate("x", resolution=resolution, duration=duration, **shape)
        except errors.PixVerseError:
            return ""
        try:
            who = caller(page, api_key, None, visitor, request)
        except errors.PixVerseError:
            who = None  # the cost alone: today's spending is the caller's
        return page.app.quote(who, [form])

    def on_image(self, upload: Any, url: Any, aspect: Any = None) -> tuple[Any, Any, Any]:
        return on_image(upload, url, aspect)

    @property
    def image_fields(self) -> list[Any]:
        """What loading an image sets, in ``loaded_image``'s order (the aspect ratio is the
        form's own: a load sets it with the form, see ``loaded_form``)."""
        return [self.image_upload, self.image_url, self.image, self.shape_note]

    def stopped(self, panel: Any = None) -> tuple[str, Any, Any, Any]:
        """Stop watching: the panel says the job goes on, still naming it, and "Watch again"
        is offered when the panel named one."""
        job = followed_job(panel)
        again = gr.update(visible=job is not None)
        return status_html(None, note=STOPPED, job=job), *self.idle(), again

    def idle(self) -> tuple[Any, Any]:
        """Generate enabled, Stop disabled: nothing is being watched."""
        return gr.update(value=GO_IDLE, interactive=True), gr.update(interactive=False)

    def idle_unless_watching(self, panel: Any) -> tuple[Any, Any]:
        """After a generate event ended: ``idle``, unless the panel already follows a job again
        (its clock is live: "Watch again" or a reload's follow). A run stopped by Stop ends
        when Gradio hears it was cancelled, which on a busy machine came after "Watch again"
        had begun to follow: Stop turned off while the job was being followed."""
        if clock_is_live(panel):
            return gr.skip(), gr.skip()
        return self.idle()

    def on_resolution(self, resolution: Any, duration: Any) -> Any:
        """The durations ``resolution`` offers; a duration it does not offer is changed, and the
        dropdown says so under its label."""
        if resolution not in params.RESOLUTIONS:
            return gr.update()
        allowed = params.supported_durations(resolution)
        current = int(duration) if str(duration).isdigit() else params.DEFAULT_DURATION
        banned = sorted(set(params.DURATIONS) - set(allowed))
        info = f"{resolution} does not offer {', '.join(map(str, banned))} s." if banned else ""
        if current not in allowed:
            info = (
                f"{resolution} does not offer {current}-second videos: changed to {allowed[0]} s."
            )
            current = allowed[0]
        return gr.update(choices=list(allowed), value=current, info=info)


SHAPE_NOTE = "The image decides the shape: no aspect ratio is sent with it."


def with_image_schema(box: gr.JSON) -> gr.JSON:
    """Declare the image input text (a URL or a data: URI) or a file in the API schema; MCP
    clients see text. Set on the instance, as ``common.with_integer_schema`` does."""
    box.api_info = lambda: {  # type: ignore[method-assign]
        "anyOf": [
            {"type": "string", "description": "a public https URL, or a data:image/...;base64 URI"},
            {"type": "null"},
        ],
        "default": None,
    }
    return box


def chosen_image(upload: Any, url: Any) -> Any:
    """The image the form sends: the upload (a file Gradio has) first, else the URL's text."""
    if upload:
        return {"path": upload, "meta": {"_type": "gradio.FileData"}}
    return (url or "").strip() if isinstance(url, str) and url.strip() else None


def on_image(upload: Any, url: Any, aspect: Any = None) -> tuple[Any, Any, Any]:
    """The image the form sends (the upload first, else the URL), and the aspect ratio and the
    shape's note as an image leaves them: with no image, the aspect ratio a load set stays (a
    text job picked in History), and one an image had emptied becomes the default."""
    chosen = chosen_image(upload, url)
    if chosen is None:
        ratio = aspect if aspect in params.ASPECT_RATIOS else params.DEFAULT_ASPECT_RATIO
        return None, gr.update(value=ratio, interactive=True), gr.update(visible=False)
    return chosen, gr.update(value=None, interactive=False), gr.update(visible=True)


def loaded_image(upload: str | None, url: str | None) -> tuple[Any, ...]:
    """The image fields (``GeneratePart.image_fields``) holding ``upload`` (a published file)
    or ``url``, or emptied for neither."""
    chosen = chosen_image(upload, url)
    return upload, url or "", chosen, gr.update(visible=chosen is not None)


def kept_image(publisher: Publisher, image: images.InputImage | None) -> tuple[Any, ...]:
    """The image fields (``GeneratePart.image_fields``) holding a job's image: the ledger's copy
    published for this session, or the URL as sent; emptied for a text job (or a copy gone)."""
    if image is None:
        return loaded_image(None, None)
    if image.is_url:
        return loaded_image(None, image.url)
    if image.path is not None and Path(image.path).is_file():
        return loaded_image(publisher.file(image.path), None)
    return loaded_image(None, None)


def busy() -> tuple[Any, Any]:
    """Generate disabled and saying so, Stop enabled: a job is being watched."""
    return _busy(), gr.update(interactive=True)


def _busy() -> Any:
    return gr.update(value=GO_BUSY, interactive=False)


def loaded_form(body: dict[str, Any], *, image: bool | None = None) -> tuple[Any, ...]:
    """A request body's values for the form's fields (in ``GeneratePart.form``'s order). An
    image-to-video body names no aspect ratio: with ``image`` True (its image loaded too) the
    aspect ratio is left out and disabled, as an image leaves it; False, a text body's ratio
    enabled again; None (no image loaded), the body's ratio or the default, as a value."""
    ratio = body.get("aspect_ratio") or params.DEFAULT_ASPECT_RATIO
    if image is True:
        aspect: Any = gr.update(value=None, interactive=False)
    elif image is False:
        aspect = gr.update(value=ratio, interactive=True)
    else:
        aspect = ratio
    return (
        body["prompt"],
        body.get("negative_prompt", ""),
        aspect,
        body["resolution"],
        gr.update(
            choices=list(params.supported_durations(body["resolution"])), value=body["duration"]
        ),
        body.get("style") or NO_STYLE,
        body.get("seed"),
        bool(body.get("generate_audio_switch")),
        bool(body.get("generate_multi_clip_switch")),
        body.get("thinking_type") or THINKING_DEFAULT,
    )
