"""Rich display for Jupyter: live progress, videos side by side, the history, compare, export,
the inline app.

    from pixverse_ui import notebook
    video = notebook.generate("a red fox in the snow", resolution="360p", duration=5)
    video  # plays in the notebook
    notebook.history(limit=10, starred=True)   # posters, settings, cost, stars and notes
    notebook.compare(a.id, b.id)               # side by side, the differing parameters marked
    notebook.export(video.id)                  # a zip that reproduces it

IPython and gradio are imported only inside the functions that need them, so this module imports
anywhere; outside a notebook the progress falls back to plain printed lines. No key is ever shown.
"""

from __future__ import annotations

import html
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .errors import PixVerseError
from .formatting import MISSING, duration
from .intervals import REDRAW_EVERY
from .lifecycle import Status
from .notebook_files import video_href
from .pricing import SIMULATED
from .redact import redact
from .variations import Refused

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .history import HistoryItem
    from .jobs import Job
    from .outcome import Generation
    from .polling import Update
    from .store import JobRecord, Ledger
    from .storyboard_run import Outcome as StoryboardOutcome

__all__ = [
    "NotebookProgress",
    "compare",
    "export",
    "generate",
    "history",
    "launch_inline",
    "note",
    "progress",
    "show_grid",
    "star",
    "variations",
]

_BAR = "#6366f1"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where displays can be updated in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show(
    html_text: str, plain: str, display_id: str | None = None, *, update: bool = False
) -> None:
    """Display (or, with ``update``, redraw in place) one output with HTML and plain text."""
    from IPython.display import display, update_display

    bundle = {"text/html": redact(html_text), "text/plain": redact(plain)}
    if update and display_id is not None:
        update_display(bundle, raw=True, display_id=display_id)
    else:
        display(bundle, raw=True, display_id=display_id)


def _cost(update: Update | None) -> str:
    """What the API has said a job costs so far, in the words every face uses."""
    return update.cost_words() if update is not None else MISSING


def _phase(update: Update) -> str:
    """One word for where the job is: ``done`` once it is, else what the API says of it."""
    if update.done:
        return update.state.word
    if update.stopped:
        return "stopped"
    return update.word


class NotebookProgress:
    """An ``on_update`` callback that keeps ONE live display per generation, redrawn in place.

    Shows the status, a progress bar, elapsed time, the estimate, credits and the latest message.
    Outside a notebook it prints a line whenever the status or the message changes.
    """

    def __init__(self, title: str = "", *, notebook: bool | None = None) -> None:
        self.title = title
        self.notebook = in_notebook() if notebook is None else notebook
        self.display_id = f"pixverse-progress-{uuid.uuid4().hex}"
        self.last: Update | None = None
        self._shown = False
        self._drawn_at = 0.0
        self._printed: tuple[str, str] | None = None

    def __call__(self, update: Update) -> None:
        previous, self.last = self.last, update
        if not self.notebook:
            key = (_phase(update), update.message)
            if key != self._printed:
                self._printed = key
                print(self.plain(update), flush=True)
            return
        changed = previous is None or _phase(previous) != _phase(update) or update.transient
        now = time.monotonic()
        if changed or update.done or now - self._drawn_at >= REDRAW_EVERY:
            self._draw(self.html(update), self.plain(update))

    def fail(self, exc: BaseException) -> None:
        """Show why the generation ended without a video."""
        words = exc.user_message if isinstance(exc, PixVerseError) else type(exc).__name__
        if not self.notebook:
            print(f"failed: {redact(words)}", flush=True)
            return
        head = f"<b>{html.escape(self.title)}</b> · <b style='color:#b91c1c'>failed</b>"
        self._draw(
            f"<div class='pixverse-progress'>{head}<div>{html.escape(words)}</div></div>",
            f"failed: {words}",
        )

    def _draw(self, html_text: str, plain: str) -> None:
        _show(html_text, plain, self.display_id, update=self._shown)
        self._shown = True
        self._drawn_at = time.monotonic()

    def plain(self, update: Update) -> str:
        """The update as one line of text."""
        eta = f" · about {duration(update.eta)} left" if update.eta and not update.done else ""
        credits = f" · {_cost(update)}" if update.cost is not None else ""
        return (
            f"[{_phase(update)}] {update.progress:4.0%} · {duration(update.elapsed)}{eta}"
            f"{credits} · {update.message}"
        )

    def html(self, update: Update) -> str:
        """The update as a small HTML panel with a progress bar."""
        pct = round(update.progress * 100)
        title = f"<b>{html.escape(self.title)}</b> · " if self.title else ""
        colour = "#15803d" if update.done else ("#b45309" if update.transient else "inherit")
        facts = [
            f"elapsed {duration(update.elapsed)}",
            f"ETA {duration(update.eta)}" if not update.done else "",
            f"cost {_cost(update)}" if update.cost is not None else _cost(update),
            f"{update.polls} polls",
        ]
        return (
            "<div class='pixverse-progress' style='font-family:sans-serif;max-width:640px'>"
            f"<div>{title}<b style='color:{colour}'>{html.escape(_phase(update))}</b></div>"
            f"<div style='background:#e5e7eb;border-radius:4px;height:10px;margin:4px 0'>"
            f"<div style='width:{pct}%;background:{_BAR};height:10px;border-radius:4px'></div>"
            f"</div><div><small>{pct}% · {' · '.join(f for f in facts if f)}</small></div>"
            f"<div>{html.escape(update.message)}</div></div>"
        )


_trackers: dict[str, NotebookProgress] = {}


def progress(update: Update) -> None:
    """A ready-made ``on_update``: one live display per generation id."""
    tracker = _trackers.get(update.generation_id)
    if tracker is None:
        if len(_trackers) >= 100:  # jobs that failed without a last word
            _trackers.pop(next(iter(_trackers)))
        tracker = _trackers[update.generation_id] = NotebookProgress(update.generation_id)
    tracker(update)
    if update.done or update.stopped:
        _trackers.pop(update.generation_id, None)


def generate(prompt: Any = None, **params: Any) -> Generation:
    """``pixverse_ui.generate`` with a live progress display; the result renders as a video."""
    from .generation import generate as _generate

    text = str(prompt if prompt is not None else params.get("prompt", ""))
    bar = NotebookProgress(text[:80])
    try:
        return _generate(prompt, on_update=bar, **params)
    except PixVerseError as exc:
        bar.fail(exc)
        raise


def variations(
    prompt: Any,
    axis: str,
    count: int = 3,
    values: Sequence[str] = (),
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    columns: int = 3,
    timeout: float | None = None,
    **params: Any,
) -> list[Generation]:
    """Run variants of one prompt along ``axis`` (seed, style, aspect_ratio) at once.

    Prints the plan's quote first, shows one live table of the jobs, then the videos side by side.
    A variant that fails (or that the API refuses) is returned with its ``error`` (if the ledger
    knows it), not raised. Interrupting the cell stops the watching only: the jobs go on and
    stay in the ledger. The daily budget (``PIXVERSE_UI_DAILY_BUDGET``) applies to the batch as
    a whole: one over it is refused (``BudgetError``) before any is sent.
    """
    from .access import App
    from .defaults import default_client
    from .params import validate
    from .polling import DEFAULT_TIMEOUT
    from .variations import partly_started, plan, start_each

    base = validate(prompt, **params)
    batch_plan = plan(base, axis, count=count, values=tuple(values))
    app = App.local(ledger)  # the page's rules: whose history, what may be spent, the words
    ledger = app.ledger
    who = app.caller_for(client or default_client())
    print(app.quote(who, batch_plan.variants), flush=True)
    app.check_start(who, batch_plan.variants)
    service = app.jobs_for(who.client, app.budget_for(who), timeout=timeout or DEFAULT_TIMEOUT)
    batch = f"nb-{uuid.uuid4().hex[:12]}"
    jobs: list[Started] = start_each(
        lambda v: service.submit(v, batch=batch, owner=who.owner), batch_plan.variants
    )
    if (partly := partly_started(jobs, ledger)) is not None:
        print(partly, flush=True)
    _follow(jobs, axis)
    results = [g for g in (_outcome(job, ledger) for job in jobs) if g is not None]
    show_grid(results, columns=columns)
    return results


#: A variant of a batch: its job, or its refusal.
Started = Union["Job", Refused]


def _follow(jobs: list[Started], axis: str) -> None:
    """Redraw one status table until every job has finished."""
    notebook = in_notebook()
    display_id = f"pixverse-batch-{uuid.uuid4().hex}"
    shown = False
    printed: dict[int, str] = {}
    from .intervals import BATCH_REDRAW_MAX
    from .jobs import wait_any_news

    watched = [job for job in jobs if not isinstance(job, Refused)]
    while True:
        marks = [job.mark() for job in watched]  # taken before drawing: news after it wakes us
        finished = all(job.finished for job in jobs)
        if notebook:
            _show(_jobs_html(jobs, axis), _jobs_plain(jobs, axis), display_id, update=shown)
            shown = True
        else:
            for i, line in enumerate(_jobs_plain(jobs, axis).splitlines()):
                if printed.get(i) != line:
                    printed[i] = line
                    print(line, flush=True)
        if finished:
            return
        wait_any_news(watched, marks, BATCH_REDRAW_MAX)


def _job_row(job: Started, axis: str) -> tuple[str, str, str, str, str, str]:
    value = str(getattr(job.params, axis, "")) if job.params else ""
    last = job.last
    if isinstance(job, Refused):
        state, message = Status.REJECTED.word, job.error.user_message
    elif job.error is not None:  # failed, or its watcher gave up (it then goes on)
        state, message = job.status.word, job.error.user_message
    elif last is None:
        state, message = job.status.word, "Submitted; waiting for news."
    else:
        state, message = _phase(last), last.message
    pct = f"{(last.progress if last else 0.0):.0%}"
    elapsed = duration(last.elapsed if last else None)
    cost = _cost(last)
    return value, state, pct, elapsed, cost, message


def _jobs_plain(jobs: list[Started], axis: str) -> str:
    rows = (_job_row(job, axis) for job in jobs)
    return "\n".join(f"{axis} {r[0]}: [{r[1]}] {r[2]} · {r[3]} · {r[5]}" for r in rows)


def _jobs_html(jobs: list[Started], axis: str) -> str:
    head = (axis.replace("_", " "), "status", "progress", "elapsed", "cost", "message")
    rows = (_job_row(job, axis) for job in jobs)
    cells = ((*row[:4], cost_cell(row[4]), *row[5:]) for row in rows)
    return _table(head, cells, raw=(4,))


def cost_cell(words: str) -> str:
    """A cost in a table cell, escaped, on two lines at most: the figure
    (``about $0.28 (555,556 credits)``) unbroken, then the simulator's label unbroken (a
    narrow column broke the words over five lines)."""
    label = f" ({SIMULATED})"
    parts = [words[: -len(label)], label[1:]] if words.endswith(label) else [words]
    return " ".join(f"<span style='white-space:nowrap'>{html.escape(p)}</span>" for p in parts)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, raw: tuple[int, ...] = ()) -> str:
    """An HTML table; every cell escaped except the columns in ``raw`` (already HTML)."""
    cell = "<td style='text-align:left;padding:2px 8px'>{}</td>"
    body = "".join(
        "<tr>"
        + "".join(cell.format(v if i in raw else html.escape(str(v))) for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    th = "<th style='text-align:left;padding:2px 8px'>{}</th>"
    top = "".join(th.format(html.escape(h)) for h in head)
    head_html = f"<thead><tr>{top}</tr></thead>"
    return f"<table class='pixverse-table'>{head_html}<tbody>{body}</tbody></table>"


def _outcome(job: Started, ledger: Ledger) -> Generation | None:
    """The job's Generation from the ledger, whether it made a video or not."""
    from .outcome import Generation

    keys = [job.id]
    if job.error is not None:
        keys += [job.error.generation_id, job.error.client_request_id]
    for key in keys:
        record = ledger.find(key) if key else None
        if record is not None:
            return Generation.from_record(record)
    return None


def storyboard(source: Any, **service: Any) -> StoryboardOutcome:
    """Run a storyboard (a file, JSON text or a dict, see ``pixverse_ui.storyboard``) and show
    its shots as a strip of stills, in order, each with its state, then the stitched video.
    What happens is printed as it comes (the quote first). ``service`` as for
    ``storyboard.run`` (``client``, ``ledger``, ``download_dir``, ``budget``)."""
    from . import storyboard as boards

    outcome = boards.run(source, on_event=lambda text: print(text, flush=True), **service)
    show_storyboard(outcome)
    return outcome


def reroll(board_id: str, k: int, prompt: str | None = None, **service: Any) -> StoryboardOutcome:
    """A new take of shot ``k`` (from 1), and of the shots chained after it, shown as
    :func:`storyboard` shows a run."""
    from . import storyboard as boards

    outcome = boards.reroll(
        board_id, k, prompt, on_event=lambda text: print(text, flush=True), **service
    )
    show_storyboard(outcome)
    return outcome


def show_storyboard(outcome: StoryboardOutcome) -> None:
    """A storyboard's shots as a strip of stills (its state under each, why where it is not
    done), then its stitched video; printed lines outside a notebook."""
    if not in_notebook():
        for shot in outcome.shots:
            said = f" ({shot.reason})" if shot.reason else ""
            print(f"shot {shot.shot}: {shot.state}{said} {shot.video_path or ''}".rstrip())
        print(f"stitched: {outcome.video_path or 'not yet: every shot needs its video'}")
        return
    cells = []
    for shot in outcome.shots:
        picture = _still_img(shot.video_path) or "<div style='height:90px'></div>"
        chained = " ↳ from the last frame before" if shot.from_previous else ""
        words = html.escape(shot.reason or shot.state)
        cells.append(
            f"<figure style='margin:0;width:160px'>{picture}<figcaption><small>"
            f"{shot.shot}. {words}{chained}</small></figcaption></figure>"
        )
    strip = f"<div style='display:flex;gap:8px;overflow-x:auto'>{''.join(cells)}</div>"
    video = ""
    if outcome.video_path is not None:
        src = html.escape(video_href(outcome.video_path), quote=True)
        video = f"<video controls style='max-width:640px;width:100%' src='{src}'></video>"
    _show(f"<div class='pixverse-storyboard'>{strip}{video}</div>", str(outcome.video_path))


def show_grid(generations: Sequence[Generation], *, columns: int = 3) -> None:
    """Display generations side by side (printed paths outside a notebook)."""
    if not in_notebook():
        for g in generations:
            outcome = g.video_path or g.error or g.state.word
            print(f"{g.params.summary()}: {outcome}", flush=True)
        return
    cells = "".join(f"<div>{g._repr_html_()}</div>" for g in generations)
    grid = (
        "<style>.pixverse-grid video{max-width:100%;height:auto}</style>"
        f"<div class='pixverse-grid' style='display:grid;gap:12px;"
        f"grid-template-columns:repeat({max(1, columns)}, minmax(0, 1fr))'>{cells}</div>"
    )
    _show(grid, f"{len(generations)} generations")


def history(
    limit: int = 20,
    *,
    search: str = "",
    starred: bool | None = None,
    state: str | None = None,
    resolution: str | None = None,
    period: str = "any time",
    ledger: Ledger | None = None,
    api_key: str | None = None,
) -> list[HistoryItem]:
    """This key's jobs, newest first, as an HTML table with a poster of each video; returns the
    ``HistoryItem``s. ``search`` (prompt and note), ``starred``, ``state``, ``resolution`` and
    ``period`` ("today", "last 7 days", "last 30 days") filter it."""
    from .defaults import default_ledger, machine_owner
    from .history import HistoryQuery, period_start
    from .history import history as read_history

    ledger = ledger or default_ledger()
    since = period_start(period, ledger.clock.now())
    query = HistoryQuery(
        text=search, state=state, starred=starred, resolution=resolution, since=since
    )
    items = read_history(ledger, machine_owner(ledger, api_key), query, limit=limit)
    if not in_notebook():
        for it in items:
            facts = (*_history_row(it), str(it.video_path or ""))
            print(" · ".join(v for v in facts if v), flush=True)
        return items
    head = ("", "when", "prompt", "settings", "state", "cost", "took", "video")
    if items:
        rows = ((_poster_img(it), *_history_row(it), _video_link(it)) for it in items)
        cells = ((*row[:5], cost_cell(row[5]), *row[6:]) for row in rows)
        _show(_table(head, cells, raw=(0, 5, 7)), f"{len(items)} jobs")
    else:
        _show("<p>No generations yet.</p>", "No generations yet.")
    return items


def _history_row(item: HistoryItem) -> tuple[str, str, str, str, str, str]:
    """when, prompt (starred, with its note), settings, state, cost, render time."""
    star = "★ " if item.starred else ""
    prompt = star + item.short_prompt(80) + (f" — {item.note}" if item.note else "")
    return (
        item.when(), prompt, item.settings, str(item.state.label), item.cost_words(),
        duration(item.seconds),
    )  # fmt: skip


#: How wide posters are shown in a notebook table, in CSS pixels.
POSTER_SHOWN_WIDTH = 120


def _poster_img(item: HistoryItem, width: int = POSTER_SHOWN_WIDTH) -> str:
    """A small ``<img>`` of the video's poster, inline as a data URI ("" without a video)."""
    return _still_img(item.video_path, width, alt=item.short_prompt(60))


def _still_img(video: str | Path | None, width: int = POSTER_SHOWN_WIDTH, alt: str = "") -> str:
    """A small ``<img>`` of a video's poster, inline as a data URI ("" without one)."""
    from base64 import b64encode

    from .posters import poster_or_none

    still = poster_or_none(Path(video)) if video else None
    if still is None:
        return ""
    data = b64encode(still.read_bytes()).decode()
    alt = html.escape(alt, quote=True)
    return f"<img src='data:image/jpeg;base64,{data}' width='{width}' alt='{alt}'>"


def _video_link(item: HistoryItem) -> str:
    """A link to the video that Jupyter serves (``notebook_files.video_href``)."""
    if item.video_path is None or not item.video_path.exists():
        return ""
    href = html.escape(video_href(item.video_path), quote=True)
    return f"<a href='{href}' target='_blank'>{html.escape(item.video_path.name)}</a>"


def compare(
    *ids: str, ledger: Ledger | None = None, api_key: str | None = None, columns: int = 4
) -> list[HistoryItem]:
    """Show two or more generations side by side (their videos play together, muted, looping)
    with their parameters in one table, the rows that differ highlighted; returns the items."""
    from .errors import ValidationError
    from .history import HistoryItem, compare_params

    if len(ids) < 2:
        raise ValidationError("Compare needs at least two generation ids.", field="ids")
    items = [HistoryItem.from_record(_own(ident, ledger, api_key)[1]) for ident in ids]
    rows = compare_params(items)
    if not in_notebook():
        for row in rows:
            mark = "≠" if row.differs else " "
            print(f"{mark} {row.name}: " + " | ".join(map(_shown, row.values)), flush=True)
        return items
    _show(_compare_html(items, rows, columns), f"{len(items)} generations compared")
    return items


def _shown(value: Any) -> str:
    return "–" if value is None else str(value)


def _compare_html(items: list[HistoryItem], rows: list[Any], columns: int) -> str:
    cells = []
    for it in items:
        if it.has_video and it.video_path is not None and it.video_path.exists():
            src = html.escape(video_href(it.video_path), quote=True)
            media = (
                "<video autoplay muted loop playsinline controls style='width:100%' "
                f"src='{src}'></video>"
            )
        else:
            media = f"<p><b>No video</b> ({html.escape(it.error or it.state.word)})</p>"
        label = html.escape(it.ident)
        cost = html.escape(it.cost_text())
        cells.append(f"<div>{media}<div><small>{label}<br>{cost}</small></div></div>")
    grid = (
        "<div class='pixverse-compare' style='display:grid;gap:12px;grid-template-columns:"
        f"repeat({max(1, min(columns, len(items)))}, minmax(0, 1fr))'>{''.join(cells)}</div>"
    )
    head = ("parameter", *(it.ident for it in items))
    body = []
    for row in rows:
        style = " style='background:#fef3c7;font-weight:bold'" if row.differs else ""
        values = "".join(
            f"<td style='padding:2px 8px'>{html.escape(_shown(v))}</td>" for v in row.values
        )
        name = html.escape(row.name) + (" ≠" if row.differs else "")
        body.append(
            f"<tr class='{'differs' if row.differs else 'same'}'{style}>"
            f"<td style='padding:2px 8px'>{name}</td>{values}</tr>"
        )
    th = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in head)
    table = (
        f"<table class='pixverse-table pixverse-compare-params'><thead><tr>{th}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return grid + table


def export(
    generation_id: str,
    dest_dir: str | Path | None = None,
    *,
    ledger: Ledger | None = None,
    api_key: str | None = None,
) -> Path:
    """Zip one finished generation of this key (the MP4, its request, and scripts that redo it)
    into ``dest_dir`` (default: ``exports`` under ``$PIXVERSE_UI_HOME``); returns its path."""
    from .export import export as write_zip
    from .store import default_home

    ledger, record = _own(generation_id, ledger, api_key)
    folder = Path(dest_dir) if dest_dir is not None else default_home() / "exports"
    return write_zip(record, folder)


def star(
    generation_id: str,
    starred: bool = True,
    *,
    ledger: Ledger | None = None,
    api_key: str | None = None,
) -> HistoryItem:
    """Star (``starred=False``: unstar) one of this key's generations; returns its item."""
    from .history import HistoryItem

    ledger, record = _own(generation_id, ledger, api_key)
    return HistoryItem.from_record(ledger.set_starred(generation_id, record.owner, starred))


def note(
    generation_id: str, text: str, *, ledger: Ledger | None = None, api_key: str | None = None
) -> HistoryItem:
    """Keep a note (at most 2000 characters; empty removes it) with one of this key's
    generations; returns its item."""
    from .history import HistoryItem

    ledger, record = _own(generation_id, ledger, api_key)
    return HistoryItem.from_record(ledger.set_note(generation_id, record.owner, text))


def _own(
    generation_id: str, ledger: Ledger | None, api_key: str | None
) -> tuple[Ledger, JobRecord]:
    """The ledger and this key's job by id; a ``ValidationError`` sentence if it is not there
    (someone else's job is not there either)."""
    from .defaults import default_ledger, machine_owner
    from .errors import ValidationError
    from .history import own_record

    ledger = ledger or default_ledger()
    record = own_record(ledger, machine_owner(ledger, api_key), generation_id)
    if record is None:
        raise ValidationError(
            f"There is no generation {generation_id} in this key's history.", field="id"
        )
    return ledger, record


def launch_inline(**kwargs: Any) -> Any:
    """Build the app and serve it on loopback inside the notebook; call ``demo.close()`` after.

    The app's own launch rules apply (``ui.launch_options``): the ledger's folders are never
    served by path, Gradio's run history is off, and what the server prints has keys masked.
    """
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():  # gradio's tqdm asks for ipywidgets, which we do not need
        warnings.filterwarnings("ignore", message="IProgress not found")
        from . import ui
    from .redact import install_output_redaction

    install_output_redaction()
    demo = ui.build_demo()
    ui.start(demo)  # watch again what the host key left unfinished
    options: dict[str, Any] = {
        "inline": True,
        "prevent_thread_lock": True,
        "server_name": "127.0.0.1",
        "quiet": True,
    }
    options.update(kwargs)
    demo.launch(**ui.launch_options(demo, **options))
    return demo
