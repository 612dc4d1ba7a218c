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
from ..intervals import PAGE_TICK
from ..jobs import Job
from ..lifecycle import TRANSIENT_ICON
from ..store import JobRecord
from .common import Page, caller, clock_facts
from .generate import GeneratePart, busy, loaded_form
from .history import HistoryPart


def running_html(jobs: Sequence[tuple[JobRecord, Job]], now: float) -> str:
    """The strip of running jobs: a line each (what, where, elapsed, estimate); "" for none.

    Elapsed is counted from the create answer to ``now``; the estimate is what the job's last
    update expected in all, less that."""
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
            elapsed = max(last.elapsed, now - (record.submitted_at or record.created_at))
            left = None if last.eta is None else max(0.0, last.elapsed + last.eta - elapsed)
            facts = clock_facts(elapsed, left, live=not last.done)
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

    def wire(self, loaded: Any, visitor: gr.Textbox, run: Any) -> None:
        """``loaded``: the page's load (its ``then``); ``run``: the page's generate event."""
        g = self.generate
        followed = loaded(
            self.reattach,
            inputs=[g.api_key, visitor],
            outputs=[g.status, g.video, g.body, g.go, g.stop, *g.form],
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",
        )
        # Stop stops following it, as it stops a generation's stream; the job goes on
        g.stop.click(None, cancels=[followed], queue=False)
        # on the timer, and at once when a followed job ends (the strip must not outlive it)
        for event in (self.timer.tick, followed.then, run.success, run.failure):
            event(
                self.tick,
                inputs=[g.api_key, visitor, self.strip_seen, self.history_seen],
                outputs=[g.running, self.strip_seen, self.history_seen],
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
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> AsyncIterator[tuple[Any, ...]]:
        """After a page load: follow the caller's newest running job in the main panel, to its
        video; its settings go back into the form. Nothing at all when none is running."""
        g = self.generate
        skip_form = (gr.skip(),) * len(g.form)
        try:
            who = caller(self.page, api_key, None, visitor, request)
            jobs = await asyncio.to_thread(self.page.app.running, who)
        except errors.PixVerseError:
            jobs = []  # not a caller yet (no key where one is needed): nothing of theirs runs
        if not jobs:
            yield (gr.skip(),) * (5 + len(g.form))
            return
        job = jobs[0]
        form = loaded_form(job.params.to_record()) if job.params is not None else skip_form
        first = (*busy(), *form)
        try:
            async for shown in g.follow(job):
                yield (*shown, *first)
                first = (gr.skip(),) * (2 + len(g.form))
        except errors.PixVerseError:
            pass  # the panel says what ended it
        yield (gr.skip(),) * 3 + g.idle() + skip_form

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
        client_jobs = app.jobs_for(who.client)
        jobs = [
            (record, job)
            for record in client_jobs.unfinished(who.owner)
            if record.generation_id is not None
            and (job := client_jobs.watched(record.generation_id)) is not None
        ]
        key = strip_key(jobs)
        strip = gr.skip() if key == seen else running_html(jobs, app.ledger.clock.now())
        mark = repr(app.ledger.changes(who.owner))
        return (
            strip,
            (gr.skip() if key == seen else key),
            (gr.skip() if mark == history_seen else mark),
        )
