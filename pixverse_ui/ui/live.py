"""What the page keeps up to date by itself, so that a reload or a job's end loses nothing.

- After a page load, the main panel follows the visitor's newest running job (``reattach``):
  its settings go back into the form, its status streams, and its video plays when it lands.
  Nothing is sent but polls: the job is the one already watched (or resumed from the ledger).
- A strip at the top of the result area lists every running job of the visitor (``tick``, on a
  :class:`gr.Timer`), in any tab, with its status, elapsed time and estimate.
- History is drawn again when what it shows changes (``Ledger.changes``: a new job, a new id,
  an end), whoever made the change: this page, another tab, the CLI. A poll alone redraws
  nothing; a star or a note is redrawn by the page that made it.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Sequence
from typing import Any

import gradio as gr

from .. import errors
from ..formatting import one_line
from ..history import own_record
from ..intervals import PAGE_TICK
from ..jobs import Job
from ..lifecycle import TRANSIENT_ICON
from ..params import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO
from ..store import JobRecord
from .common import (
    NOT_LOOKED,
    Page,
    caller,
    clock_facts,
    followed_job,
    live_clock,
    refused_html,
    started_at,
    status_html,
)
from .generate import GeneratePart, busy, kept_image, loaded_form
from .history import HistoryPart

#: What "Watch again" says when the panel names no job of the caller's.
NOTHING_TO_WATCH = "There is no job of yours to watch again here: it is in History when it ends."


def running_html(jobs: Sequence[tuple[JobRecord, Job]], now: float) -> str:
    """The strip of running jobs: a line each (what, where, elapsed, estimate); "" for none.

    Its clock is the status panel's (``common.live_clock``): from the create answer to ``now``."""
    if not jobs:
        return ""
    lines = []
    for record, job in jobs:
        last = job.last
        what = html.escape(job.params.summary() if job.params is not None else (job.id or ""))
        prompt = html.escape(one_line(job.params.prompt if job.params is not None else "", 48))
        if last is None:
            where, facts = str(job.status.label), ""
        else:
            icon = TRANSIENT_ICON if last.transient else last.state.icon
            where = f"{icon} <b>{html.escape(last.word)}</b>"
            elapsed, left = live_clock(last, started_at(record), now)
            facts = clock_facts(elapsed, left, live=not last.done, job=job.id)
        lines.append(
            f'<li data-id="{html.escape(job.id or "")}">{where} · “{prompt}” · {what} {facts}</li>'
        )
    count = len(jobs)
    head = "1 job running" if count == 1 else f"{count} jobs running"
    return (
        f'<div class="pxui-running"><p><b>{head}</b> (it goes on if you close or reload '
        f"the page)</p><ul>{''.join(lines)}</ul></div>"
    )


def strip_key(jobs: Sequence[tuple[JobRecord, Job]]) -> list[list[str]]:
    """What the strip shows that the page's clock does not move on its own."""
    return [
        [job.id or "", job.last.status if job.last else "", str(bool(job.last and job.last.done))]
        for _, job in jobs
    ]


class LivePart:
    """The page's own updates: ``layout`` adds the timer, ``wire`` connects them."""

    def __init__(self, page: Page, generate: GeneratePart, history: HistoryPart) -> None:
        self.page = page
        self.generate = generate
        self.history = history

    def layout(self) -> None:
        self.timer = gr.Timer(PAGE_TICK)
        # What the strip and History were last drawn from, per page (never read by a caller).
        self.strip_seen = gr.State(None)
        self.history_seen = gr.Textbox(visible=False, elem_id="history-seen")

    def wire(self, restored: Any, visitor: gr.Textbox, run: Any) -> None:
        """``restored``: the page load's restore of what the browser kept (its ``then``), so
        that the load's first server answer already knows the visitor's running job; ``run``:
        the page's generate event."""
        g = self.generate
        seen = [g.running, self.strip_seen]
        followed = restored(
            self.reattach,
            inputs=[g.api_key, visitor, g.aspect, g.resolution, g.duration],
            outputs=[
                *(g.status, g.video, g.body, g.go, g.stop),
                *g.form,
                *g.image_fields,
                *seen,
                g.cost_note,
            ],
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",
        )
        # a load that failed must not leave the form hidden behind "Looking for…" for good
        followed.failure(
            self.unhide,
            inputs=[g.status],
            outputs=[g.status, g.go, g.stop],
            api_visibility="private",
            queue=False,
        )
        again = g.again.click(
            self.watch_again,
            inputs=[g.status, g.api_key, visitor],
            outputs=[g.status, g.video, g.body, g.go, g.stop, g.again],
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",
        )
        # Stop stops following it, as it stops a generation's stream; the job goes on
        g.stop.click(None, cancels=[followed, again], queue=False)
        # on the timer, and at once when a followed job ends (the strip must not outlive it)
        for event in (self.timer.tick, followed.then, again.then, run.success, run.failure):
            event(
                self.tick,
                inputs=[g.api_key, visitor, self.strip_seen, self.history_seen],
                outputs=[*seen, self.history_seen],
                api_visibility="private",
                queue=False,
                show_progress="hidden",
            )
        self.history.refresh_after(self.history_seen.change, visitor, quietly=True)

    # --- handlers -----------------------------------------------------------------------------

    async def reattach(
        self,
        api_key: Any,
        visitor: Any,
        aspect: Any = None,
        resolution: Any = None,
        duration: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> AsyncIterator[tuple[Any, ...]]:
        """The page load's first answer: follow the caller's newest running job in the main
        panel, to its video, its settings back in the form (the quote and the strip with them);
        with none running, the panel ready, Generate enabled, the aspect ratio's default (the
        page is drawn with none: an image sent without one is not refused for it) and the form's
        quote. Until it answers the page shows no form (``page.CSS``): nobody starts a second
        job by mistake, nor chooses an image this would overwrite."""
        g = self.generate
        try:
            who = caller(self.page, api_key, None, visitor, request)
            jobs = await asyncio.to_thread(self.page.app.running, who)
        except errors.PixVerseError:
            who, jobs = None, []  # not a caller yet (no key where one is needed): none runs
        params = jobs[0].params if jobs else None
        if params is None:  # the form as the page has it, with its aspect ratio
            ratio = aspect if aspect in ASPECT_RATIOS else DEFAULT_ASPECT_RATIO
            form: list[Any] = [gr.skip()] * len(g.form)
            form[g.form.index(g.aspect)] = ratio
            shape, picture = (ratio, resolution, duration), None
            fields = (*form, *(gr.skip(),) * len(g.image_fields))
        else:  # the running job's settings, its image among them: the last word on the form
            body = params.to_record()
            image = kept_image(self.page.publisher, params.image)
            fields = (*loaded_form(body, image=params.image is not None), *image)
            shape = (body.get("aspect_ratio"), body["resolution"], body["duration"])
            picture = image[g.image_fields.index(g.image)]  # priced at the image's own shape
        quote = await asyncio.to_thread(g.price, *shape, api_key, visitor, picture, request)
        if not jobs:
            yield (status_html(None), gr.skip(), gr.skip(), *g.idle(), *fields, "", [], quote)
            return
        first: tuple[Any, ...] = (*busy(), *fields, *self._strip(who), quote)
        rest = (gr.skip(),) * len(first)
        try:
            async for shown in g.follow(jobs[0]):
                yield (*shown, *first)
                first = rest
        except errors.PixVerseError:
            pass  # the panel says what ended it
        yield (gr.skip(),) * 3 + g.idle() + rest[2:]

    def unhide(self, panel: Any) -> tuple[Any, Any, Any]:
        """After a load that failed: a panel still looking for the visitor's running job says
        it could not, and the form shows, ready; any other panel (Stop's, a job's) stays."""
        if not (isinstance(panel, str) and "pxui-loading" in panel):
            return gr.skip(), gr.skip(), gr.skip()
        return status_html(None, note=NOT_LOOKED), *self.generate.idle()

    async def watch_again(
        self,
        panel: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> AsyncIterator[tuple[Any, ...]]:
        """After Stop: follow the job the panel names again, the same one (the watcher that
        never stopped: nothing is sent but polls), to its video. Only the caller's own."""
        g = self.generate
        app = self.page.app
        try:
            who = caller(self.page, api_key, None, visitor, request)
            record = own_record(app.ledger, who.owner, followed_job(panel))
            if record is None or record.generation_id is None:
                raise errors.ValidationError(NOTHING_TO_WATCH)
            job = app.jobs_for(who.client).get(record.generation_id)
        except errors.PixVerseError as exc:
            yield refused_html(exc), gr.skip(), gr.skip(), *g.idle(), gr.update(visible=False)
            return
        first: tuple[Any, ...] = (*busy(), gr.update(visible=False))
        try:
            async for shown in g.follow(job):
                yield (*shown, *first)
                first = (gr.skip(),) * 3
        except errors.PixVerseError:
            pass  # the panel says what ended it
        yield (gr.skip(),) * 3 + g.idle() + (gr.skip(),)

    def _strip(self, who: Any) -> tuple[Any, Any]:
        """The strip of running jobs and its key, drawn now (as ``tick`` draws them)."""
        jobs = self._running(who)
        return running_html(jobs, self.page.app.ledger.clock.now()), strip_key(jobs)

    def _running(self, who: Any) -> list[tuple[JobRecord, Job]]:
        client_jobs = self.page.app.jobs_for(who.client)
        return [
            (record, job)
            for record in client_jobs.unfinished(who.owner)
            if record.generation_id is not None
            and (job := client_jobs.watched(record.generation_id)) is not None
        ]

    def tick(
        self,
        api_key: Any,
        visitor: Any,
        seen: Any,
        history_seen: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, Any, Any]:
        """Every ``PAGE_TICK`` s: the strip of running jobs, drawn again only when a job's
        status changed; and History's mark, which redraws History when it changes."""
        try:
            who = caller(self.page, api_key, None, visitor, request)
        except errors.PixVerseError:
            return gr.skip(), gr.skip(), gr.skip()
        app = self.page.app
        jobs = self._running(who)
        key = strip_key(jobs)
        strip = gr.skip() if key == seen else running_html(jobs, app.ledger.clock.now())
        mark = repr(app.ledger.changes(who.owner))
        return (
            strip,
            (gr.skip() if key == seen else key),
            (gr.skip() if mark == history_seen else mark),
        )
