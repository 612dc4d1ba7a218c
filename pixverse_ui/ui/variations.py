"""The Variations tab: one prompt several times at once, varying seeds, styles or aspect ratios.

Before anything starts the tab quotes the batch (``quote``); more than ``CONFIRM_ABOVE``
generations need a tick. ``variations`` is an API endpoint and MCP tool.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from .. import errors, formatting, params, variations
from ..intervals import BATCH_REDRAW_MAX
from ..jobs import Job, any_news
from ..posters import contact_sheet, poster_or_none
from ..publish import Publisher, version
from .common import (
    NO_STYLE,
    THINKING_DEFAULT,
    Page,
    caller,
    error_markdown,
    form_params,
    refusal,
    strict_input,
)
from .generate import GeneratePart

#: Ask "are you sure?" above this many generations in one batch.
CONFIRM_ABOVE = 4
AXIS_LABELS = {"seeds": "seed", "styles": "style", "aspect ratios": "aspect_ratio"}


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


def batch_view(jobs: list[Job], publisher: Publisher) -> tuple[list[tuple[str, str]], str]:
    """The videos that are ready (a still of each), and a table of every variant's state."""
    items, rows = [], ["| # | settings | status | elapsed |", "|---|---|---|---|"]
    for i, job in enumerate(jobs, 1):
        last = job.last
        assert job.params is not None
        if job.error is not None:  # its watcher ended without a video: failed, or gave up
            state = f"{job.status.icon} {job.error.message}"
        elif last is None:
            state = str(job.status.label)
        else:  # done, or running as the API says
            state = str(last.state.label) if last.done else f"{last.state.icon} {last.status}"
        elapsed = formatting.duration(last.elapsed if last else None)
        rows.append(f"| {i} | {job.params.summary()} | {state} | {elapsed} |")
        if last is not None and last.done and last.video_path:
            still = poster_or_none(last.video_path) or last.video_path
            items.append((publisher.file(still), job.params.summary()))
    return items, "\n".join(rows)


def batch_answer(jobs: list[Job], publisher: Publisher) -> tuple[list[tuple[str, str]], str, bool]:
    """``batch_view`` and whether the batch is over. Whether every job has ended is read first:
    a job that ends while the view is drawn shows in the next one, never missing from the last."""
    over = all(job.finished for job in jobs)
    items, table = batch_view(jobs, publisher)
    return items, table, over


def sheet(jobs: list[Job], axis: str, publisher: Publisher) -> str | None:
    """A contact sheet (PNG) of the batch's videos, each captioned with what varied; made once
    for the same videos and captions."""
    name = AXIS_LABELS.get(axis, "seed")
    items = [
        (job.last.video_path, f"{name.replace('_', ' ')} {getattr(job.params, name)}")
        for job in jobs
        if job.last is not None and job.last.done and job.last.video_path is not None
    ]
    if not items:
        return None
    key = ("sheet", *((version(path), caption) for path, caption in items))
    return publisher.derived(key, lambda folder: contact_sheet(items, folder / "contact-sheet.png"))


class VariationsPart:
    """The Variations tab: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page, generate: GeneratePart) -> None:
        self.page = page
        self.generate = generate

    def layout(self) -> None:
        gr.Markdown(
            "Run the prompt above several times, varying one thing; results appear side by "
            "side as they finish."
        )
        with gr.Row():
            self.axis = gr.Radio(list(AXIS_LABELS), value="seeds", label="Vary", elem_id="axis")
            self.count = gr.Slider(2, variations.MAX_BATCH, value=3, step=1, label="How many seeds")
        with gr.Row():
            self.styles = gr.CheckboxGroup(list(params.STYLES), label="Styles")
            self.ratios = gr.CheckboxGroup(list(params.ASPECT_RATIOS), label="Aspect ratios")
        self.plan_note = gr.Markdown("", elem_id="batch-plan")
        self.confirmed = gr.Checkbox(label="I understand this starts several paid generations")
        self.run_all = gr.Button("Run variations", variant="primary", elem_id="run-variations")
        self.gallery = gr.Gallery(
            label="Variations", columns=4, height="auto", elem_id="batch-gallery"
        )
        self.sheet = gr.File(label="Contact sheet (PNG)", elem_id="contact-sheet")
        for component in (self.axis, self.count, self.styles, self.ratios, self.confirmed):
            strict_input(component)

    def wire(self, visitor: gr.Textbox) -> None:
        g = self.generate
        inputs = [*g.form, self.axis, self.count, self.styles, self.ratios]
        for trigger in (
            self.axis.change,
            self.count.change,
            self.styles.change,
            self.ratios.change,
        ):
            trigger(
                self.quote,
                inputs=[*inputs, g.api_key, visitor],
                outputs=[self.plan_note],
                api_visibility="private",
                queue=False,
            )
        self.run_all.click(
            self.variations,
            inputs=[*inputs, self.confirmed, g.api_key, visitor],
            outputs=[self.gallery, self.plan_note, self.sheet],
            api_name="variations",
            concurrency_limit=None,
        )

    # --- handlers -----------------------------------------------------------------------------

    def quote(
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
        axis: Any,
        count: Any,
        styles: Any,
        ratios: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """Before a batch: what it would cost, and what the caller has spent today."""
        fields = (prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed, audio,
                  multi_clip, thinking)  # fmt: skip
        try:
            batch = plan(form_params(*fields), axis, count, styles, ratios)
        except errors.PixVerseError as exc:
            return error_markdown(exc)
        try:
            who = caller(self.page, api_key, None, visitor, request)
        except errors.PixVerseError:
            who = None  # the cost alone: today's spending is the caller's
        text = self.page.app.quote(who, batch.variants)
        if batch.count > CONFIRM_ABOVE:
            text += f" Tick **I understand** to start more than {CONFIRM_ABOVE} at once."
        return text

    async def variations(
        self,
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
    ) -> AsyncIterator[tuple[Any, str, Any]]:
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
            The videos side by side, a table of each variant's state, and, once all are done,
            a contact sheet of the batch.
        """
        page = self.page
        fields = (prompt, negative_prompt, aspect_ratio, resolution, duration, style, seed, audio,
                  multi_clip, thinking)  # fmt: skip
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
        while True:
            marks = [job.mark() for job in jobs]  # before drawing: news after it wakes us
            items, table, over = batch_answer(jobs, page.publisher)
            text = f"{quoted}\n\n{table}"
            if over:
                yield items, text, sheet(jobs, axis, page.publisher)
                return
            yield items, text, gr.skip()
            await any_news(jobs, marks, BATCH_REDRAW_MAX)
