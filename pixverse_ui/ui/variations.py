"""The Variations tab: one prompt several times at once, varying seeds, styles or aspect ratios.

The tab quotes the batch (``quote``), in dollars and credits, from the moment the page loads and
after every change of what the price depends on: the tab's controls and the form's aspect ratio
(or its image: a batch over an image starts every variant from it, at its shape), resolution and
duration. More than ``CONFIRM_ABOVE`` generations need a tick; the tick box shows
only then, is disabled while a batch runs, and is cleared when it ends (a tick is consent for one
batch). ``variations`` is an API endpoint and MCP tool: it answers with the batch's stills, a table
of its states and a contact sheet. The page draws the same batch as cards (``grid_html``) that play
in place, each with **Use this one**, which loads its settings and seed into the form.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import errors, formatting, images, params, variations
from ..history import item as own_item
from ..intervals import BATCH_REDRAW_MAX
from ..jobs import Job, any_news
from ..lifecycle import Status
from ..posters import contact_sheet, poster_or_none
from ..publish import Publisher, version
from .common import (
    NO_STYLE,
    THINKING_DEFAULT,
    Page,
    caller,
    error_markdown,
    event_value,
    form_image,
    form_params,
    refusal,
    strict_input,
)
from .generate import GeneratePart, kept_image, loaded_form
from .variant_cards import EMPTY_GRID, GRID_CSS, GRID_JS, Card, grid_html

#: Ask "are you sure?" above this many generations in one batch.
CONFIRM_ABOVE = 4
AXIS_LABELS = {"seeds": "seed", "styles": "style", "aspect ratios": "aspect_ratio"}
RUN_IDLE, RUN_BUSY = "Run variations", "Running variations…"
#: What the quote says of styles or aspect ratios before any is picked: a step, not a refusal.
PICK_SOME = "Pick the {} to run; the batch's cost shows here."
#: What a caller hears of a variant that is not theirs, or not there: the same sentence.
NOT_A_VARIANT = f"{Status.FAILED.icon} That variant is not in your history; run the batch again."


def plan(
    form: params.Params, axis_label: Any, count: Any, styles: Any, ratios: Any
) -> variations.Plan:
    """The batch the tab describes; a sentence for anything it cannot start."""
    axis = AXIS_LABELS.get(axis_label) if isinstance(axis_label, str) else None
    if axis is None:
        raise errors.ValidationError(
            f"Vary {params.join_or(list(AXIS_LABELS))}; got {params.shown(axis_label)}.",
            field="axis",
        )
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    values = {"style": styles, "aspect_ratio": ratios}.get(axis)
    return variations.plan(form, axis, count=count, values=[] if values is None else values)


def varied(variant: params.Params, axis: str) -> str:
    """What varied in ``variant`` along ``axis`` (a tab's label or a parameter's name), with its
    value: ``seed 123``, ``style anime``, ``aspect ratio 9:16``."""
    name = AXIS_LABELS.get(axis, axis if axis in variations.AXES else "seed")
    return f"{name.replace('_', ' ')} {getattr(variant, name)}"


#: A variant of a batch as the tab draws it: its job, or its refusal.
Variant = Job | variations.Refused


def batch_view(
    jobs: list[Variant], publisher: Publisher, axis: str = "seeds"
) -> tuple[tuple[tuple[str, str], ...], str, tuple[Card, ...]]:
    """The videos that are ready (a still of each), a table of every variant's state, and every
    variant as a card (``axis``: what varies, for the cards' captions)."""
    items, cards, why = [], [], []
    rows = ["| # | settings | status | elapsed |", "|---|---|---|---|"]
    for i, job in enumerate(jobs, 1):
        last = job.last
        assert job.params is not None
        seconds = last.elapsed if last else None
        elapsed = formatting.duration(seconds)
        video = poster = None
        if job.error is not None:  # its watcher ended without a video: failed, or gave up
            state = str(job.status.label)  # the state in its words, as every face shows it
            words = f"{job.status.word}: {job.error.message}"
            why.append(f"- #{i}: {job.error.message}")
        elif last is None:
            state, words = str(job.status.label), job.status.word
        elif not last.done:  # running, as the API says
            state, words = f"{last.state.icon} {last.word}", last.word
        else:
            state, words = str(last.state.label), f"done in {elapsed}"
            if last.video_path:
                still = poster_or_none(last.video_path)
                video = publisher.file(last.video_path)
                poster = publisher.file(still) if still else None
                items.append((poster or video, job.params.summary()))
        rows.append(f"| {i} | {job.params.summary()} | {state} | {elapsed} |")
        width, height = job.params.size
        running = job.error is None and (last is None or not last.done)
        cards.append(
            Card(
                ident=job.client_request_id,
                number=i,
                varied=varied(job.params, axis),
                settings=job.params.summary(),
                state=words,
                width=width,
                height=height,
                elapsed=seconds if running else None,
                video=video,
                poster=poster,
            )
        )
    table = "\n".join(rows) + ("\n\n" + "\n".join(why) if why else "")
    return tuple(items), table, tuple(cards)


@dataclass(frozen=True)
class BatchAnswer:
    """What one redraw of a batch shows: its stills, its table and its cards, and whether it is
    over. The page keeps the last one in a ``gr.State`` and draws it (``draw_batch``)."""

    items: tuple[tuple[str, str], ...]
    table: str
    cards: tuple[Card, ...]
    over: bool


def batch_answer(jobs: list[Variant], publisher: Publisher, axis: str = "seeds") -> BatchAnswer:
    """``batch_view`` and whether the batch is over. Whether every job has ended is read first:
    a job that ends while the view is drawn shows in the next one, never missing from the last."""
    over = all(job.finished for job in jobs)
    return BatchAnswer(*batch_view(jobs, publisher, axis), over=over)


def sheet(jobs: list[Variant], axis: str, publisher: Publisher) -> str | None:
    """A contact sheet (PNG) of the batch's videos, each captioned with what varied; made once
    for the same videos and captions."""
    items = [
        (job.last.video_path, varied(job.params, axis))
        for job in jobs
        if job.params is not None
        and job.last is not None
        and job.last.done
        and job.last.video_path is not None
    ]
    if not items:
        return None
    key = ("sheet", *((version(path), caption) for path, caption in items))
    return publisher.derived(key, lambda folder: contact_sheet(items, folder / "contact-sheet.png"))


def shown_if_any(value: Any) -> Any:
    """A component shown when it holds something, hidden when it holds nothing."""
    return gr.update(visible=bool(value))


class VariationsPart:
    """The Variations tab: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page, generate: GeneratePart) -> None:
        self.page = page
        self.generate = generate

    def layout(self) -> None:
        gr.Markdown(
            "Run the prompt above several times, varying one thing; each variant plays here as "
            f"soon as it is ready. Up to {CONFIRM_ABOVE} start at once; more need a tick."
        )
        with gr.Row():  # side by side on a desktop, one above the other on a phone
            self.axis = gr.Radio(
                list(AXIS_LABELS), value="seeds", label="Vary", elem_id="axis", min_width=240
            )
            # only what the chosen axis varies over is shown (``show_axis``)
            self.count = gr.Slider(
                2, variations.MAX_BATCH, value=3, step=1, label="How many seeds", elem_id="count",
                min_width=240,
            )  # fmt: skip
            self.styles = gr.CheckboxGroup(
                list(params.STYLES), label="Styles", visible=False, elem_id="styles", min_width=240
            )
            self.ratios = gr.CheckboxGroup(
                list(params.ASPECT_RATIOS),
                label="Aspect ratios",
                visible=False,
                elem_id="ratios",
                min_width=240,
            )
        self.quote_note = gr.Markdown(elem_id="batch-quote")
        self.confirmed = gr.Checkbox(
            label=f"I understand this starts more than {CONFIRM_ABOVE} paid generations at once",
            visible=False,  # shown by ``quote`` when the batch needs it
            elem_id="batch-confirm",
        )
        self.run_all = gr.Button(RUN_IDLE, variant="primary", elem_id="run-variations")
        self.used = gr.Markdown(elem_id="batch-used")
        self.cards = gr.HTML(
            EMPTY_GRID, css_template=GRID_CSS, js_on_load=GRID_JS, elem_id="batch-view"
        )
        self.sheet = gr.File(label="Contact sheet (PNG)", visible=False, elem_id="contact-sheet")
        # what the API answers (the page shows the same batch as ``cards``)
        self.gallery = gr.Gallery(label="Variations", visible=False, elem_id="batch-gallery")
        self.plan_note = gr.Markdown(visible=False, elem_id="batch-plan")
        for component in (self.axis, self.count, self.styles, self.ratios, self.confirmed):
            strict_input(component)

    @property
    def controls(self) -> list[Any]:
        """What the batch varies and over what, in the order of ``variations``' parameters."""
        return [self.axis, self.count, self.styles, self.ratios]

    def wire(self, tab: gr.Tab, visitor: gr.Textbox) -> None:
        g = self.generate
        self.axis.change(
            self.show_axis,
            inputs=[self.axis],
            outputs=[self.count, self.styles, self.ratios],
            api_visibility="private",
            queue=False,
        )
        # what the price depends on: the tab's controls and the form's shape, not its prompt
        for source in (*self.controls, g.aspect, g.resolution, g.duration, g.image):
            self.quote_after(source.change, visitor)
        self.quote_after(tab.select, visitor)
        started = self.run_all.click(
            self.running,
            outputs=[self.run_all, self.confirmed, self.sheet],
            api_visibility="private",
            queue=False,
        )
        run = started.then(
            self.variations,
            inputs=[*g.form, *self.controls, self.confirmed, g.api_key, visitor, g.image],
            # no gr.State among them: Gradio's MCP tools fail on a State output ("pop index out
            # of range") after the batch has started, and an agent that tried again paid twice
            outputs=[self.gallery, self.plan_note, self.sheet, self.cards],
            api_name="variations",
            concurrency_limit=None,
        )
        for ended in (run.success, run.failure):  # the frontend skips .then after an error
            ended(
                self.ready,
                outputs=[self.run_all, self.confirmed],
                api_visibility="private",
                queue=False,
            )
            ended(  # the contact sheet shows once the batch has one (the API gets the file)
                shown_if_any,
                inputs=[self.sheet],
                outputs=[self.sheet],
                api_visibility="private",
                queue=False,
            )
            self.quote_after(ended, visitor)  # what today has cost, the batch included
        self.cards.click(  # queued: its toast needs the queue's stream
            self.use_variant,
            inputs=[g.api_key, visitor],
            outputs=[*g.form, *g.image_fields, self.used],
            api_visibility="private",
            concurrency_limit=None,
        )

    def quote_after(self, event: Any, visitor: gr.Textbox) -> None:
        """Quote the batch again after ``event`` (also the page's load: ``ui.page``)."""
        g = self.generate
        event(
            self.quote,
            inputs=[
                *(g.aspect, g.resolution, g.duration),
                *self.controls,
                g.api_key,
                visitor,
                g.image,
            ],
            outputs=[self.confirmed, self.quote_note],
            api_visibility="private",
            queue=False,
        )

    # --- handlers -----------------------------------------------------------------------------

    def quote(
        self,
        aspect_ratio: Any,
        resolution: Any,
        duration: Any,
        axis: Any,
        count: Any,
        styles: Any,
        ratios: Any,
        api_key: Any,
        visitor: Any,
        image: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, str]:
        """Before a batch: what it would cost in dollars and credits (the prompt changes no
        price; from an image, at the image's own shape), what the caller has spent today, and
        the tick box when the batch needs it."""
        hidden = gr.update(visible=False, value=False)
        picks = {"styles": styles, "aspect ratios": ratios}
        unpicked = picks.get(axis, [None]) if isinstance(axis, str) else [None]
        if axis == "aspect ratios" and image not in (None, ""):  # before asking to pick some
            no_ratios = errors.ValidationError(variations.NO_RATIOS_WITH_AN_IMAGE, field="axis")
            return hidden, error_markdown(no_ratios)
        if isinstance(unpicked, list) and not unpicked:  # nothing asked yet: no red sentence
            return hidden, PICK_SOME.format(axis)
        try:
            form = params.validate(
                "x", aspect_ratio=aspect_ratio, resolution=resolution, duration=duration
            )
            chosen = form_image(image)
            if chosen:
                form = params.validate("x", resolution=resolution, duration=duration, image=chosen)
            batch = plan(form, axis, count, styles, ratios)
        except errors.PixVerseError as exc:
            return hidden, error_markdown(exc)
        try:
            who = caller(self.page, api_key, None, visitor, request)
        except errors.PixVerseError:
            who = None  # the cost alone: today's spending is the caller's
        text = self.page.app.quote(who, batch.variants)
        if batch.count <= CONFIRM_ABOVE:
            return hidden, text
        rule = f" More than {CONFIRM_ABOVE} generations at once need the tick below."
        return gr.update(visible=True), text + rule

    def show_axis(self, axis: Any) -> tuple[Any, Any, Any]:
        """The control of what ``axis`` varies over (the count of seeds, the styles or the
        aspect ratios), the other two hidden."""
        count, styles, ratios = (gr.update(visible=axis == label) for label in AXIS_LABELS)
        return count, styles, ratios

    def running(self) -> tuple[Any, Any, Any]:
        """While a batch runs: Run disabled, and the tick box too, as it was when Run was
        pressed; the last batch's contact sheet hidden."""
        hidden = gr.update(visible=False, value=None)
        return gr.update(value=RUN_BUSY, interactive=False), gr.update(interactive=False), hidden

    def ready(self) -> tuple[Any, Any]:
        """After a batch (or its refusal): Run enabled, the tick cleared (it was for that one)."""
        return gr.update(value=RUN_IDLE, interactive=True), gr.update(value=False, interactive=True)

    def use_variant(
        self,
        api_key: Any,
        visitor: Any,
        evt: gr.EventData,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """**Use this one**: the variant's settings and seed into the form (only the caller's
        own variants: any other id gets the same sentence as an unknown one)."""
        g = self.generate
        unchanged = (gr.update(),) * (len(g.form) + len(g.image_fields))
        try:
            who = caller(self.page, api_key, None, visitor, request)
        except errors.PixVerseError as exc:
            return (*unchanged, error_markdown(exc))
        ident = event_value(evt, "id")
        ledger = self.page.app.ledger
        found = own_item(ledger, who.owner, ident)
        record = ledger.find(found.client_request_id) if found is not None else None
        if found is None or found.adopted or record is None:
            return (*unchanged, NOT_A_VARIANT)
        image = images.recorded(record)  # a variant of an image starts from it again
        line = (
            f"Loaded **{html.escape(found.settings)}** into the form above; press **Generate** "
            "to make it again, or change the prompt and keep its seed."
        )
        gr.Info(line.replace("**", ""))
        return (
            *loaded_form(found.params, image=True if image is not None else None),
            *kept_image(self.page.publisher, image),
            line,
        )

    async def variations(
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
        axis: str = "seeds",
        count: Any = 3,
        styles: list[str] | None = None,
        ratios: list[str] | None = None,
        confirmed: bool = False,
        api_key: str | None = None,
        visitor: str | None = None,
        image: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> AsyncIterator[tuple[Any, str, Any, str]]:
        """Run one prompt several times at once, varying seeds, styles or aspect ratios.

        Every variant is a paid generation; more than 4 need confirmed=true. With an image,
        every variant starts from it (vary seeds or styles: the image decides the shape).

        Args:
            prompt: What the videos show.
            axis: What varies: "seeds", "styles" or "aspect ratios".
            count: How many seeds, when axis is "seeds".
            styles: The styles to run, when axis is "styles".
            ratios: The aspect ratios to run, when axis is "aspect ratios".
            confirmed: True to start more than 4 generations.
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: As for generate.
            image: As for generate: a public https URL or a data:image/...;base64 URI (or a
                file); every variant starts from it.

        Returns:
            A still of each video that is ready, a table of each variant's state (with its
            settings and seed), once all are done a contact sheet of the batch, and the batch
            as HTML cards.
        """
        page = self.page
        fields = (prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed, audio,
                  multi_clip, thinking, image)  # fmt: skip
        try:
            batch = plan(form_params(*fields), axis, count, styles, ratios)
            who = caller(page, api_key, x_aimlapi_key, visitor, request)
            quoted = page.app.quote(who, batch.variants)
        except errors.PixVerseError as exc:
            raise refusal(exc) from None
        if batch.count > CONFIRM_ABOVE and confirmed is not True:
            raise refusal(
                errors.ValidationError(
                    f"{quoted} Tick “I understand” to start more than {CONFIRM_ABOVE}."
                ),
                title="Please confirm",
            )
        tag = f"batch-{os.urandom(6).hex()}"
        try:
            page.app.check_start(who, batch.variants)
            jobs = await asyncio.to_thread(page.app.start, who, batch.variants, batch=tag)
        except errors.PixVerseError as exc:
            raise refusal(exc) from None
        # refused part-way (a price that moved, another tab's start): what did start is said
        partly = variations.partly_started(jobs, page.app.ledger)
        if partly is not None:
            quoted = f"{quoted}\n\n**{partly}**"
            gr.Warning(partly)
        watched = [job for job in jobs if not isinstance(job, variations.Refused)]
        while True:
            marks = [job.mark() for job in watched]  # before drawing: news after it wakes us
            answer = batch_answer(jobs, page.publisher, axis)
            text = f"{quoted}\n\n{answer.table}"
            cards = grid_html(answer.cards)
            if answer.over:  # the contact sheet once it is over (the cards say how far it is)
                yield list(answer.items), text, sheet(jobs, axis, page.publisher), cards
                return
            yield list(answer.items), text, gr.skip(), cards
            await any_news(watched, marks, BATCH_REDRAW_MAX)
