"""``pixverse-ui`` / ``python -m pixverse_ui``: generate, resume, list, star, note, export, serve,
simulator.

A thin consumer of the library: ``generate`` drives :func:`pixverse_ui.generation.submit` and
``resume`` drives :func:`pixverse_ui.generation.resume`; the progress display only shows their
``Update``s. ``list`` renders the history view model (``history.py``) that the page and the
notebook render too.

Exit status: 0 done, 1 a generation (or the API) failed, 2 bad flags or values (nothing was sent),
130 interrupted (the job goes on and stays in the ledger, resumable).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import params as P
from .budget import UNLIMITED, Budget
from .errors import PixVerseError, ValidationError
from .formatting import duration
from .history import PERIODS
from .lifecycle import LABELS, STATE_WORDS, Status
from .outcome import Generation
from .pricing import UNKNOWN_COST
from .redact import MASK
from .store import NOTE_MAX_CHARS

if TYPE_CHECKING:  # pragma: no cover
    from .access import App
    from .client import Client
    from .history import HistoryItem
    from .polling import Update
    from .store import JobRecord, Ledger

PROG = "pixverse-ui"
SIMULATOR_NOTICE = (
    "No AIMLAPI_KEY: running on the built-in simulator; its prices are simulated and nothing is "
    "charged."
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: ``list``'s width when stdout is not a terminal and ``COLUMNS`` is unset.
LIST_WIDTH = 100


# --- what the commands run on (module-level so tests can swap them) ----------------------------


def make_client() -> Client:
    """The client the commands use: the host key's, else the embedded simulator's."""
    from .defaults import default_client

    return default_client()


def make_ledger() -> Ledger:
    """The ledger the commands use (under ``$PIXVERSE_UI_HOME``)."""
    from .defaults import default_ledger

    return default_ledger()


def make_app(ledger: Ledger, *, budget: Budget | None = None) -> App:
    """The service the commands ask (``access.App.local``): whose history, what a start may
    spend, the quote and its words, as the page asks them on a private address."""
    from .access import App

    return App.local(ledger, budget=budget if budget is not None else UNLIMITED)


def simulator_mode() -> bool:
    from .defaults import simulator_mode as _simulator_mode

    return _simulator_mode()


def _host_key() -> str | None:
    from .defaults import host_key

    return host_key()


def _fancy() -> bool:
    """Whether stderr is a terminal, where a live progress display makes sense."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# --- output helpers ----------------------------------------------------------------------------


def _clean(text: str) -> str:
    """One line, with the host key masked (the library already keeps it out of its messages)."""
    return _mask(" ".join(str(text).split()))


def _mask(text: str) -> str:
    key = _host_key()
    return text.replace(key, MASK) if key and len(key) >= 4 else text


def _err(text: str) -> None:
    print(_clean(text), file=sys.stderr, flush=True)


def _out(text: str) -> None:
    print(_clean(text), file=sys.stdout, flush=True)


def _json_line(obj: Any) -> None:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    print(_mask(text), file=sys.stdout, flush=True)


def _announce_simulator() -> None:
    if simulator_mode():
        _err(SIMULATOR_NOTICE)


def _result(record: JobRecord | None, **fallback: Any) -> dict[str, Any]:
    """The JSON object for one job: id, status (the provider's word as it said it, null before
    it said one), video path, credits, client request id, state (ours), finding (what our own
    check found, apart from the provider's word: ``lifecycle.FINDINGS``)."""
    if record is None:
        out = {
            "id": None,
            "status": None,
            "finding": None,
            "video_path": None,
            "credits_used": None,
            "client_request_id": None,
            "state": None,
        }
    else:
        made = Generation.from_record(record)
        out = {
            "id": made.generation_id,
            "status": made.provider_status,
            "finding": made.finding,
            "video_path": str(made.video_path) if made.video_path else None,
            "credits_used": made.credits_used,
            "client_request_id": made.client_request_id,
            "state": made.status,
        }
    out.update({k: v for k, v in fallback.items() if v is not None or k == "error"})
    return out


def _find(ledger: Ledger, *keys: str | None) -> JobRecord | None:
    for key in keys:
        if key:
            record = ledger.find(key)
            if record is not None:
                return record
    return None


def _resume_hint(gid: str) -> str:
    return (
        f"Stopped watching generation {gid}. The job goes on and stays in the ledger; "
        f"resume it with `{PROG} resume {gid}`."
    )


# --- the progress display ----------------------------------------------------------------------


class Watcher:
    """Shows ``Update``s on stderr: a rich progress bar on a terminal, else one line per change."""

    def __init__(self, *, fancy: bool | None = None) -> None:
        self.fancy = _fancy() if fancy is None else fancy
        self.last: Update | None = None
        self._seen: set[str] = set()
        self._key: tuple[str, str, str] | None = None
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, update: Update) -> None:
        self.last = update
        gid = update.generation_id
        if gid not in self._seen:
            self._seen.add(gid)
            self._say(f"Watching generation {gid}.")
        if self.fancy:
            self._fancy_update(update)
        else:
            self._plain_update(update)

    def _say(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(_clean(text), markup=False, highlight=False)
        else:
            _err(text)

    def _plain_update(self, update: Update) -> None:
        key = (update.generation_id, update.status, update.message)
        if key == self._key:
            return
        self._key = key
        line = f"[{duration(update.elapsed)}] {update.word}: {update.message}"
        if update.eta is not None and not update.done:
            line += f" (ETA {duration(update.eta)})"
        _err(line)

    def _fancy_update(self, update: Update) -> None:
        from rich.markup import escape

        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

            self._progress = Progress(
                SpinnerColumn(finished_text="✓"),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("elapsed {task.fields[elapsed]}"),
                TextColumn("ETA {task.fields[eta]}"),
                console=Console(stderr=True),
            )
            self._progress.start()
        gid = update.generation_id
        fields = {
            "description": escape(
                f"{update.state.word if update.done else update.word}: {update.message}"
            ),
            "completed": update.progress,
            "elapsed": duration(update.elapsed),
            "eta": "done" if update.done else duration(update.eta),
        }
        if gid not in self._tasks:
            self._tasks[gid] = self._progress.add_task(total=1.0, **fields)
        else:
            self._progress.update(self._tasks[gid], **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()


# --- argument parsing ----------------------------------------------------------------------------


#: ``list --state``: the page's words, and the ledger's own where they differ (``--json``'s).
_STATE_HELP = (
    "only jobs in this state: "
    + ", ".join(
        label.word + (f" (or {state.value})" if state.value != label.word else "")
        for state, label in LABELS.items()
    )
    + "; the words the page shows (default: any)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_clean(message)} (see --help)\n")


def _canonical(options: Sequence[str]) -> Callable[[str], str]:
    """An argparse ``type`` that matches an option case-insensitively (argparse checks choices)."""

    def convert(value: str) -> str:
        folded = value.strip().lower().replace("-", "_").replace(" ", "_")
        for option in options:
            if folded == option.lower():
                return option
        return value

    return convert


def _duration(value: str) -> int | str:
    text = value.strip().lower().removesuffix("s").strip()
    return int(text) if text.isdigit() else value


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {value!r}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="PixVerse v5.5 text- and image-to-video over the AI/ML API. Without "
        "AIMLAPI_KEY every command runs on a built-in simulator, offline and free.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = commands.add_parser("generate", help="make one video and wait for it")
    gen.add_argument("prompt", help="what the video shows")
    gen.add_argument(
        "--aspect-ratio",
        choices=P.ASPECT_RATIOS,
        type=_canonical(P.ASPECT_RATIOS),
        default=None,
        help=f"width:height (default: {P.DEFAULT_ASPECT_RATIO})",
    )
    gen.add_argument(
        "--resolution",
        choices=P.RESOLUTIONS,
        type=_canonical(P.RESOLUTIONS),
        default=None,
        help=f"the short side in pixels (default: {P.DEFAULT_RESOLUTION})",
    )
    gen.add_argument(
        "--duration",
        choices=P.DURATIONS,
        type=_duration,
        default=None,
        help=f"seconds (default: {P.DEFAULT_DURATION})",
    )
    styles = (*P.STYLES, "none")
    gen.add_argument(
        "--style",
        choices=styles,
        type=_canonical(styles),
        default=None,
        help="a look for the whole video (default: none)",
    )
    gen.add_argument(
        "--negative-prompt", default=None, help="what the video should not show (default: none)"
    )
    gen.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the same seed and settings make the same video again (default: a random one)",
    )
    gen.add_argument(
        "--audio",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="generate audio (default: left to the API)",
    )
    gen.add_argument(
        "--multi-clip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="generate a multi-clip video (default: left to the API)",
    )
    gen.add_argument(
        "--thinking",
        choices=P.THINKING_TYPES,
        type=_canonical(P.THINKING_TYPES),
        default=None,
        help="the model's prompt reasoning (default: left to the API)",
    )
    gen.add_argument(
        "--image",
        default=None,
        metavar="PATH_OR_URL",
        help="start from this image (PixVerse v5.5 image-to-video): a PNG, JPEG or WebP file, or "
        "an http(s) URL sent as given; the image decides the shape, so no --aspect-ratio "
        "(default: none, a video from words alone)",
    )
    gen.add_argument("--model", default=None, help=f"model id (default: {P.MODEL_ID})")
    _watch_options(gen)
    gen.add_argument(
        "--let-server-decide",
        action="store_true",
        default=None,
        help="do not check resolution/duration combinations here; let the API judge them "
        f"(default: off, or ${P.LET_SERVER_DECIDE_ENV})",
    )
    gen.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    gen.set_defaults(func=cmd_generate)

    res = commands.add_parser("resume", help="watch unfinished jobs to the end and download them")
    res.add_argument("id", nargs="?", default=None, help="one generation id (default: all)")
    _watch_options(res)
    res.add_argument("--json", action="store_true", help="print one JSON object per job")
    res.set_defaults(func=cmd_resume)

    lst = commands.add_parser("list", help="this key's generations, newest first")
    lst.add_argument(
        "--limit", type=_positive_int, default=20, help="at most this many (default: 20)"
    )
    lst.add_argument("--starred", action="store_true", help="starred generations only")
    lst.add_argument(
        "--search",
        default="",
        metavar="TEXT",
        help="in the prompt or the note (default: everything)",
    )
    lst.add_argument(
        "--state",
        choices=STATE_WORDS,
        type=str.lower,
        default=None,
        metavar="STATE",
        help=_STATE_HELP,
    )
    lst.add_argument(
        "--resolution",
        choices=P.RESOLUTIONS,
        type=_canonical(P.RESOLUTIONS),
        default=None,
        help="made at this resolution (default: any)",
    )
    lst.add_argument(
        "--period",
        choices=list(PERIODS),
        default="any time",
        help="made in this period (default: any time)",
    )
    lst.add_argument("--json", action="store_true", help="print one JSON array")
    lst.set_defaults(func=cmd_list)

    for name, starred, text in (("star", True, "star"), ("unstar", False, "remove the star of")):
        sub = commands.add_parser(name, help=f"{text} a generation of this key's history")
        sub.add_argument("id", help="generation id (or client request id)")
        sub.set_defaults(func=cmd_star, starred=starred)

    note = commands.add_parser("note", help="keep a note with a generation (empty removes it)")
    note.add_argument("id", help="generation id (or client request id)")
    note.add_argument("text", help=f"at most {NOTE_MAX_CHARS} characters")
    note.set_defaults(func=cmd_note)

    exp = commands.add_parser(
        "export", help="zip a finished generation: the MP4, its request and scripts to redo it"
    )
    exp.add_argument("id", help="generation id")
    exp.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where the zip is written (default: here)",
    )
    exp.set_defaults(func=cmd_export)

    board = commands.add_parser(
        "storyboard",
        help="make a storyboard's shots and stitch them into one MP4 (or re-roll one shot)",
    )
    board.add_argument("file", nargs="?", type=Path, help="the storyboard's JSON file")
    board.add_argument(
        "--reroll",
        metavar="ID:K",
        help="a new take of shot K (from 1) of storyboard ID, and "
        "new takes of the shots chained after it (default: none)",
    )
    board.add_argument(
        "--prompt", help="with --reroll: the shot's new prompt (default: its prompt as it was)"
    )
    board.add_argument(
        "--resume", metavar="ID", help="finish a storyboard a stopped run left (default: none)"
    )
    board.add_argument("--json", action="store_true", help="print one JSON object last")
    board.set_defaults(func=cmd_storyboard)

    srv = commands.add_parser("serve", help="run the web app (also what `python app.py` runs)")
    srv.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    srv.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
        help="port (default: $GRADIO_SERVER_PORT or 7860)",
    )
    srv.add_argument(
        "--share", action="store_true", help="ask Gradio for a public link (default: none)"
    )
    srv.add_argument(
        "--mcp",
        action="store_true",
        default=None,
        help="also serve the tools over MCP at /gradio_api/mcp/ (needs requirements-mcp.txt; "
        "default: $GRADIO_MCP_SERVER)",
    )
    srv.set_defaults(func=cmd_serve)

    # Dispatched before parsing (its options belong to the simulator); listed here for --help.
    commands.add_parser(
        "simulator",
        help="run the stand-in API on loopback (see `pixverse-ui simulator --help`)",
        add_help=False,
    )
    return parser


def _watch_options(sub: argparse.ArgumentParser) -> None:
    from .polling import DEFAULT_TIMEOUT  # the poll loop (and requests) only when asked

    sub.add_argument(
        "--timeout",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="stop waiting after this long; the job is kept and can be resumed (default: "
        f"{DEFAULT_TIMEOUT / 60:g} minutes)",
    )
    sub.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where videos are saved (default: $PIXVERSE_UI_HOME/videos, ~/.pixverse-ui/videos "
        "when it is unset)",
    )


# --- commands ----------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    options = {
        "aspect_ratio": args.aspect_ratio,
        "resolution": args.resolution,
        "duration": args.duration,
        "style": args.style,
        "negative_prompt": args.negative_prompt,
        "seed": args.seed,
        "generate_audio_switch": args.audio,
        "generate_multi_clip_switch": args.multi_clip,
        "thinking_type": args.thinking,
        "model": args.model,
    }
    if args.image is not None:
        options["image"] = args.image
    try:
        params = P.validate(args.prompt, let_server_decide=args.let_server_decide, **options)
        budget = Budget.from_env()
    except ValidationError as exc:
        return _failed(exc, args.json)

    _announce_simulator()
    from . import generation

    ledger = make_ledger()
    client = make_client()
    app = make_app(ledger, budget=budget)
    who = app.caller_for(client)
    _err(app.quote(who, [params]))
    watcher = Watcher()
    crid = client.new_request_id()  # the ledger row's name, known even if Ctrl-C comes mid-POST
    extra: dict[str, Any] = {}
    if args.timeout is not None:
        extra["timeout"] = args.timeout
    try:
        handle = generation.submit(
            params=params,
            client=client,
            ledger=ledger,
            download_dir=args.output_dir,
            client_request_id=crid,
            budget=app.budget_for(who),
            owner=who.owner,
            **extra,
        )
        for update in handle.updates():
            watcher(update)
    except KeyboardInterrupt:
        watcher.close()
        return _interrupted(ledger.find(crid), args.json)
    except PixVerseError as exc:
        watcher.close()
        record = _find(ledger, exc.generation_id, exc.client_request_id)
        return _failed(exc, args.json, record)
    finally:
        watcher.close()
        client.close()

    record = ledger.get(crid)
    if args.json:
        _json_line(_result(record))
    else:
        _out(f"Video: {record.video_path}")
        _out(f"Cost: {_cost(record)}.")
    return EXIT_OK


def _cost(record: JobRecord | None) -> str:
    """What a job cost, in the words History shows (``HistoryItem.cost_words``)."""
    from .history import HistoryItem

    return HistoryItem.from_record(record).cost_words() if record is not None else UNKNOWN_COST


def cmd_resume(args: argparse.Namespace) -> int:
    _announce_simulator()
    from . import generation

    ledger = make_ledger()
    if args.id is not None:
        record = ledger.find(args.id)
        if record is not None and record.generation_id is None:
            _err(
                f"Job {args.id} has no generation id (it is {record.state}): its create request "
                "was never confirmed, so there is nothing to watch. Nothing was sent again."
            )
            if args.json:
                _json_line(_result(record, error="no generation id"))
            return EXIT_FAILED
    client = make_client()
    watcher = Watcher()
    try:
        results = generation.resume(
            args.id,
            client=client,
            ledger=ledger,
            download_dir=args.output_dir,
            on_update=watcher,
            **({"timeout": args.timeout} if args.timeout is not None else {}),
        )
    except KeyboardInterrupt:
        watcher.close()
        gid = watcher.last.generation_id if watcher.last else args.id
        return _interrupted(_find(ledger, gid), args.json, gid=gid)
    except PixVerseError as exc:
        watcher.close()
        return _failed(exc, args.json, _find(ledger, exc.generation_id, args.id))
    finally:
        watcher.close()
        client.close()

    if not results:
        _err("Nothing to resume: this key has no unfinished jobs on this endpoint.")
        return EXIT_OK
    status = EXIT_OK
    for result in results:
        record = _find(ledger, result.id, result.client_request_id)
        if result.ok:
            spent = _cost(record)
            line = f"{result.id}: done, {result.video_path} (cost: {spent})"
            error = None
        elif result.state is Status.RUNNING:
            status = EXIT_FAILED
            error = f"still running; try again later with `{PROG} resume {result.id}`"
            said = f" (the API said “{result.provider_status}”)" if result.provider_status else ""
            line = f"{result.id}: {result.status.word}{said}, {error}"
        else:
            status = EXIT_FAILED
            error = result.error or result.state.word
            line = f"{result.id}: {result.state.word} ({error})"
        if args.json:
            _json_line(_result(record, error=error) if error else _result(record))
        elif result.ok:
            _out(line)
        else:
            _err(line)
    return status


def cmd_list(args: argparse.Namespace) -> int:
    from .history import HistoryQuery, history_page, period_start

    ledger = make_ledger()
    if simulator_mode():
        _err(SIMULATOR_NOTICE)
    query = HistoryQuery(
        text=args.search,
        state=args.state,
        starred=True if args.starred else None,
        resolution=args.resolution,
        since=period_start(args.period, ledger.clock.now()),
    )
    app = make_app(ledger, budget=_env_budget())
    owner = app.machine_owner()
    found = history_page(ledger, owner, query, size=args.limit)
    items = found.items
    if args.json:
        _json_line([_list_entry(item) for item in items])
        return EXIT_OK
    if not items:
        filtered = query != HistoryQuery()
        _out("No generations match." if filtered else "No generations yet for this key.")
        return EXIT_OK
    width = shutil.get_terminal_size((LIST_WIDTH, 24)).columns
    print(_mask(render_list(items, width=max(40, width), total=found.total)), flush=True)
    if app.budget.limited:
        _out(app.today_words())
    return EXIT_OK


def render_list(items: Sequence[HistoryItem], *, width: int = 80, total: int | None = None) -> str:
    """The history as text that reads at ``width`` columns: a few short lines per job, under
    how many they are of how many found (``total``: ``3 of 36 generations``)."""
    count = len(items)
    total = count if total is None else max(total, count)
    shown = f"{count:,} of {total:,}" if total > count else f"{count:,}"
    lines = [f"{shown} generation{'s' * (total != 1)}, newest first (★ starred)"]
    for item in items:
        state = item.state.word
        star = "★" if item.starred else " "
        lines += ["", f"{star} {item.ident}  {state}  {item.when()}"]
        lines.append("  " + item.short_prompt(width - 2))
        lines += _wrapped(item.facts(), width)
        if item.video_path is not None:
            lines.append("  " + _short_path(item.video_path, width - 2))
        elif item.error:
            lines += _wrapped(item.error, width, limit=2)
        if item.note:
            lines += _wrapped(f"note: {item.note}", width, limit=2)
    return "\n".join(lines)


def _wrapped(text: str, width: int, *, limit: int | None = None) -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()),
        width=width,
        initial_indent="  ",
        subsequent_indent="  ",
        max_lines=limit,
        placeholder=" …",
    )


def _short_path(path: Path, width: int) -> str:
    """``path`` with the home folder as ``~``, its middle cut with ``…`` to fit ``width``."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and text.startswith(home + os.sep):
        text = "~" + text[len(home) :]
    if len(text) <= width:
        return text
    name = path.name
    if len(name) + 2 >= width:
        return "…" + name[-(width - 1) :]
    return text[: width - len(name) - 2] + "…" + os.sep + name


def _env_budget() -> Budget | None:
    """The daily budget from the environment; None (not an error) when it is malformed, for
    commands that only show it (``generate`` refuses instead)."""
    try:
        return Budget.from_env()
    except ValidationError:
        return None


def _owned(ledger: Ledger, ident: str) -> JobRecord | None:
    """This key's job by id, or None after saying it is not in the history (foreign or not)."""
    from .history import own_record

    record = own_record(ledger, make_app(ledger).machine_owner(), ident)
    if record is None:
        _err(f"There is no generation {ident} in this key's history (`{PROG} list` shows it).")
    return record


def cmd_star(args: argparse.Namespace) -> int:
    ledger = make_ledger()
    record = _owned(ledger, args.id)
    if record is None:
        return EXIT_FAILED
    record = ledger.set_starred(args.id, record.owner, args.starred)
    ident = record.generation_id or record.client_request_id
    _out(f"{'Starred' if record.starred else 'Unstarred'} {ident}.")
    return EXIT_OK


def cmd_note(args: argparse.Namespace) -> int:
    ledger = make_ledger()
    record = _owned(ledger, args.id)
    if record is None:
        return EXIT_FAILED
    record = ledger.set_note(args.id, record.owner, args.text)
    ident = record.generation_id or record.client_request_id
    _out(f"Noted on {ident}." if record.note else f"Removed the note of {ident}.")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    ledger = make_ledger()
    record = _owned(ledger, args.id)
    if record is None:
        return EXIT_FAILED
    print(export(record, args.output_dir), flush=True)
    return EXIT_OK


def cmd_storyboard(args: argparse.Namespace) -> int:
    from . import storyboard

    given = [x for x in (args.file, args.reroll, args.resume) if x is not None]
    if len(given) != 1:
        _err("Give one of: a storyboard file, --reroll ID:K, or --resume ID.")
        return EXIT_USAGE
    try:
        budget = Budget.from_env()
        if args.reroll is not None:
            board_id, _, shot = args.reroll.rpartition(":")
            if not board_id or not shot.isdigit():
                raise ValidationError(
                    f"--reroll takes ID:K, K the shot's number from 1; got {args.reroll[:60]!r}.",
                    field="reroll",
                )
        elif args.file is not None:
            source = storyboard.load(args.file)
    except ValidationError as exc:
        return _failed(exc, args.json)
    _announce_simulator()
    client = make_client()
    service = {"client": client, "app": make_app(make_ledger(), budget=budget), "on_event": _err}
    try:
        if args.reroll is not None:
            outcome = storyboard.reroll(board_id, int(shot), prompt=args.prompt, **service)
        elif args.resume is not None:
            outcome = storyboard.resume(args.resume, **service)
        else:
            outcome = storyboard.run(source, **service)
    except KeyboardInterrupt:
        _err("Interrupted: the shots started go on; `pixverse-ui storyboard --resume ID` "
             "finishes the storyboard.")  # fmt: skip
        return EXIT_INTERRUPTED
    except PixVerseError as exc:
        return _failed(exc, args.json)
    finally:
        client.close()
    if args.json:
        _json_line(outcome.to_json())
    elif outcome.ok:
        _out(f"Storyboard {outcome.id}: {outcome.video_path}")
    return EXIT_OK if outcome.ok else EXIT_FAILED


def cmd_serve(args: argparse.Namespace) -> int:
    _announce_simulator()
    try:
        from .ui import launch
    except ImportError as exc:
        _err(f"The web app is not available here ({exc}).")
        return EXIT_FAILED
    launch(host=args.host, port=args.port, share=args.share, mcp=args.mcp)
    return EXIT_OK


def cmd_simulator(argv: Sequence[str]) -> int:
    from .simulator.__main__ import main as simulator_main

    return int(simulator_main(list(argv), prog=f"{PROG} simulator") or 0)


# --- outcomes ----------------------------------------------------------------------------------


def _failed(exc: PixVerseError, as_json: bool, record: JobRecord | None = None) -> int:
    _err(exc.user_message)
    if as_json:
        fallback = {"id": exc.generation_id, "client_request_id": exc.client_request_id}
        if record is None and isinstance(exc, ValidationError):
            fallback["finding"] = "invalid"  # nothing was sent: the provider said nothing
        _json_line(_result(record, **fallback, error=_clean(exc.user_message)))
    return EXIT_USAGE if isinstance(exc, ValidationError) else EXIT_FAILED


def _interrupted(record: JobRecord | None, as_json: bool, *, gid: str | None = None) -> int:
    gid = (record.generation_id if record else None) or gid
    if gid:
        _err(_resume_hint(gid))
    elif record is not None:
        _err(
            f"Interrupted while the job was being submitted (client request id "
            f"{record.client_request_id}). If the request reached the API a job may exist; "
            f"`{PROG} list` shows it. It was not sent again."
        )
    else:
        _err("Interrupted before anything was sent.")
    if as_json:
        _json_line(_result(record, id=gid, error="interrupted"))
    return EXIT_INTERRUPTED


def _list_entry(item: HistoryItem) -> dict[str, Any]:
    """One job of ``list --json``: the view model's fields (``summary`` is ``settings``)."""
    return {**item.to_json(), "summary": item.settings}


# --- entry point -------------------------------------------------------------------------------


def _quiet_library_logs() -> None:
    """The CLI reports every outcome itself; keep the library's warnings off stderr."""
    logger = logging.getLogger("pixverse_ui")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["simulator"]:
        try:
            return cmd_simulator(args_in[1:])
        except SystemExit as exc:
            return _exit_code(exc)
    parser = build_parser()
    try:
        args = parser.parse_args(_ids_as_operands(args_in))
    except SystemExit as exc:
        return _exit_code(exc)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _quiet_library_logs()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        _err("Interrupted.")
        return EXIT_INTERRUPTED
    except PixVerseError as exc:
        return _failed(exc, bool(getattr(args, "json", False)))
    except OSError as exc:
        _err(f"{PROG}: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


#: Commands whose first operand is a generation id, and whether options may follow it.
_ID_COMMANDS = {"star": False, "unstar": False, "note": False, "export": True, "resume": True}


def _ids_as_operands(argv: list[str]) -> list[str]:
    """Let an id that starts with ``-`` (ids are drawn from ``A-Za-z0-9_-``) be an id, not an
    option: ``pixverse-ui star -GGXtXPYxx`` becomes ``star -- -GGXtXPYxx``. The hints the CLI
    prints (``pixverse-ui resume ID``) then work for every id."""
    if len(argv) < 2 or argv[0] not in _ID_COMMANDS:
        return argv
    first = argv[1]
    if not first.startswith("-") or first.startswith("--") or first in ("-", "-h"):
        return argv
    if _ID_COMMANDS[argv[0]]:  # options may follow the id: put it last, after "--"
        return [argv[0], *argv[2:], "--", first]
    return [argv[0], "--", *argv[1:]]


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return EXIT_FAILED
