"""Rich display for Jupyter: live progress, videos side by side, the history, the inline app.

    from pixverse_ui import notebook
    video = notebook.generate("a red fox in the snow", resolution="360p", duration=5)
    video  # plays in the notebook

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
from typing import TYPE_CHECKING, Any

from .errors import PixVerseError
from .redact import redact

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .generation import Generation
    from .jobs import Job
    from .polling import Update
    from .store import JobRecord, Ledger

__all__ = [
    "NotebookProgress",
    "generate",
    "history",
    "launch_inline",
    "progress",
    "show_grid",
    "variations",
]

#: The least time between two redraws of a live display (status changes always redraw).
REDRAW_EVERY = 0.1
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


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _credits(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _phase(update: Update) -> str:
    """One word for where the job is."""
    if update.done:
        return "done"
    if update.stopped:
        return "stopped"
    return update.status


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
        eta = f" · about {_secs(update.eta)} left" if update.eta and not update.done else ""
        credits = f" · {_credits(update.credits_used)} credits" if update.credits_used else ""
        return (
            f"[{_phase(update)}] {update.progress:4.0%} · {_secs(update.elapsed)}{eta}"
            f"{credits} · {update.message}"
        )

    def html(self, update: Update) -> str:
        """The update as a small HTML panel with a progress bar."""
        pct = round(update.progress * 100)
        title = f"<b>{html.escape(self.title)}</b> · " if self.title else ""
        colour = "#15803d" if update.done else ("#b45309" if update.transient else "inherit")
        facts = [
            f"elapsed {_secs(update.elapsed)}",
            f"ETA {_secs(update.eta)}" if not update.done else "",
            f"{_credits(update.credits_used)} credits",
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
    A variant that fails is returned with its ``error`` (if the ledger knows it), not raised.
    Interrupting the cell stops the watching only: the jobs go on and stay in the ledger.
    """
    from .defaults import default_client, default_ledger, videos_dir
    from .jobs import JobRunner
    from .params import validate
    from .polling import DEFAULT_TIMEOUT
    from .variations import plan

    base = validate(prompt, **params)
    ledger = ledger or default_ledger()
    quote = plan(base, axis, count=count, values=tuple(values), ledger=ledger)
    print(quote.summary(), flush=True)
    client = client or default_client()
    runner = JobRunner(ledger, videos_dir(), timeout=timeout or DEFAULT_TIMEOUT)
    batch = f"nb-{uuid.uuid4().hex[:12]}"
    jobs = [runner.start(variant, client, batch=batch) for variant in quote.variants]
    _follow(jobs, axis)
    results = [g for g in (_outcome(job, ledger) for job in jobs) if g is not None]
    show_grid(results, columns=columns)
    return results


def _follow(jobs: list[Job], axis: str) -> None:
    """Redraw one status table until every job has finished."""
    notebook = in_notebook()
    display_id = f"pixverse-batch-{uuid.uuid4().hex}"
    shown = False
    printed: dict[int, str] = {}
    while True:
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
        time.sleep(REDRAW_EVERY if notebook else 0.25)


def _job_row(job: Job, axis: str) -> tuple[str, str, str, str, str, str]:
    value = str(getattr(job.params, axis, "")) if job.params else ""
    last = job.last
    if job.error is not None:
        state, message = "failed", job.error.user_message
    elif last is None:
        state, message = "starting", "Submitting…"
    else:
        state, message = _phase(last), last.message
    pct = f"{(last.progress if last else 0.0):.0%}"
    elapsed = _secs(last.elapsed) if last else "–"
    credits = _credits(last.credits_used) if last else "–"
    return value, state, pct, elapsed, credits, message


def _jobs_plain(jobs: list[Job], axis: str) -> str:
    rows = (_job_row(job, axis) for job in jobs)
    return "\n".join(f"{axis} {r[0]}: [{r[1]}] {r[2]} · {r[3]} · {r[5]}" for r in rows)


def _jobs_html(jobs: list[Job], axis: str) -> str:
    head = (axis.replace("_", " "), "status", "progress", "elapsed", "credits", "message")
    return _table(head, (_job_row(job, axis) for job in jobs))


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, raw: int | None = None) -> str:
    """An HTML table; every cell escaped except column ``raw`` (already HTML)."""
    cell = "<td style='text-align:left;padding:2px 8px'>{}</td>"
    body = "".join(
        "<tr>"
        + "".join(cell.format(v if i == raw else html.escape(str(v))) for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    th = "<th style='text-align:left;padding:2px 8px'>{}</th>"
    top = "".join(th.format(html.escape(h)) for h in head)
    head_html = f"<thead><tr>{top}</tr></thead>"
    return f"<table class='pixverse-table'>{head_html}<tbody>{body}</tbody></table>"


def _outcome(job: Job, ledger: Ledger) -> Generation | None:
    """The job's Generation from the ledger, whether it made a video or not."""
    from .generation import Generation

    keys = [job.generation_id]
    if job.error is not None:
        keys += [job.error.generation_id, job.error.client_request_id]
    for key in keys:
        record = ledger.find(key) if key else None
        if record is not None:
            return Generation.from_record(record)
    return None


def show_grid(generations: Sequence[Generation], *, columns: int = 3) -> None:
    """Display generations side by side (printed paths outside a notebook)."""
    if not in_notebook():
        for g in generations:
            outcome = g.video_path or g.error or g.state
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
    limit: int = 20, *, ledger: Ledger | None = None, api_key: str | None = None
) -> list[JobRecord]:
    """This key's jobs, newest first, as an HTML table; returns the ledger records."""
    from .defaults import SIMULATOR_KEY, default_ledger, host_key

    ledger = ledger or default_ledger()
    key = api_key or host_key() or SIMULATOR_KEY
    records = ledger.history(ledger.owner_of(key), limit=limit)
    rows = [_history_row(r) for r in records]
    if not in_notebook():
        for row in rows:
            print(" · ".join(v for v in row if v), flush=True)
        return records
    head = ("when", "prompt", "settings", "state", "credits", "seconds", "video")
    if rows:
        _show(_table(head, (_linked(row) for row in rows), raw=6), f"{len(rows)} jobs")
    else:
        _show("<p>No generations yet.</p>", "No generations yet.")
    return records


def _history_row(record: JobRecord) -> tuple[str, str, str, str, str, str, str]:
    body = record.request
    settings = [record.aspect_ratio, record.resolution, f"{record.duration} s"]
    settings += [str(body[k]) for k in ("style", "seed") if body.get(k) is not None]
    prompt = record.prompt if len(record.prompt) <= 80 else record.prompt[:79] + "…"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at))
    seconds = record.render_seconds
    state = record.state if record.state == record.status else f"{record.state} ({record.status})"
    return (
        when,
        prompt,
        " · ".join(settings),
        state,
        _credits(record.credits_used),
        "–" if seconds is None else f"{seconds:.1f}",
        record.video_path or "",
    )


def _linked(row: tuple[str, ...]) -> tuple[str, ...]:
    """The row with its video path turned into a link (relative when under the notebook's dir)."""
    if not row[-1]:
        return (*row[:-1], "")
    path = Path(row[-1])
    try:
        href = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        href = path.resolve().as_uri()
    link = f"<a href='{html.escape(href, quote=True)}' target='_blank'>{html.escape(path.name)}</a>"
    return (*row[:-1], link)


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
    options: dict[str, Any] = {
        "inline": True,
        "prevent_thread_lock": True,
        "server_name": "127.0.0.1",
        "quiet": True,
    }
    options.update(kwargs)
    demo.launch(**ui.launch_options(demo, **options))
    return demo
