"""The history as people see it: one view model that the page, the CLI and the notebook render.

    from pixverse_ui.history import HistoryQuery, history
    items = history(ledger, owner, HistoryQuery(text="fox", starred=True), limit=20)
    for item in items:
        print(item.ident, item.state, item.short_prompt(40), item.settings, item.usd)

A ``HistoryItem`` is a frozen value made from one ledger row (``HistoryItem.from_record``): the
row's ``Generation`` (what was asked, what came of it, what the provider said, what it cost) with
what a history shows beside it (the request as recorded, its settings in a line) and what the
person keeps with it (a star, a note). ``history`` reads
one owner's items, newest first, filtered in SQL by ``HistoryQuery``; ``history_page`` one page of
them, with how many there are in all.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from . import params as P
from .budget import day_start
from .errors import ValidationError
from .formatting import duration, one_line
from .images import InputImage
from .lifecycle import FINDINGS, Status
from .outcome import Generation
from .pricing import Cost
from .store import JobRecord, Ledger

#: The settings of a generation known by its id alone (started elsewhere, adopted here).
ADOPTED_SETTINGS = "Started elsewhere and resumed by its id: its request is not known here."


@dataclass(frozen=True)
class HistoryItem:
    """One generation as a history shows it: its ``Generation`` (``outcome.py``, the one value
    of a generation) with what a history shows beside it: the request as it was recorded, its
    settings in one line, and what the person keeps with it (a star, a note). Every other field
    is read from the generation, never kept twice."""

    generation: Generation
    #: The request body as the ledger holds it (empty for an adopted generation).
    params: dict[str, Any]
    #: One line: ``16:9 · 720p · 5 s · anime · seed 3`` (a sentence for an adopted one).
    settings: str
    #: The prompt as the ledger holds it ("" for an adopted generation).
    prompt: str
    starred: bool
    note: str
    adopted: bool
    resolution: str = ""
    aspect_ratio: str = ""
    duration: int = 0
    batch: str | None = None
    #: Where the job was sent (the API's address, or ``simulator``).
    endpoint: str = ""

    # --- read from the generation -------------------------------------------------------------

    @property
    def ident(self) -> str:
        """The generation id, else the client request id (a job that never got an id)."""
        return self.generation.id

    @property
    def generation_id(self) -> str | None:
        """The id the API gave (None for a start it never gave one)."""
        return self.generation.generation_id

    @property
    def client_request_id(self) -> str:
        return self.generation.client_request_id

    @property
    def created_at(self) -> float:
        """When the job was recorded (epoch seconds)."""
        return self.generation.created_at or 0.0

    @property
    def state(self) -> Status:
        """Where the job is in its lifecycle: the generation's ``status``."""
        return self.generation.status

    @property
    def provider_status(self) -> str | None:
        """What the provider last said of the job, as it said it (None before it said one)."""
        return self.generation.provider_status

    @property
    def status(self) -> str | None:
        """:attr:`provider_status`, by its older name."""
        return self.generation.provider_status

    @property
    def finding(self) -> str | None:
        """What our own check found (``lifecycle.FINDINGS``), apart from the provider's word."""
        return self.generation.finding

    @property
    def negative_prompt(self) -> str | None:
        return self.params.get("negative_prompt")

    @property
    def model(self) -> str | None:
        """The model id sent (None for an adopted generation, whose request is unknown)."""
        return self.params.get("model")

    @property
    def credits(self) -> float | None:
        return self.generation.credits_used

    @property
    def cost(self) -> Cost | None:
        """The cost with its source; None while the API has said nothing about it."""
        return self.generation.cost

    @property
    def usd(self) -> float | None:
        """Dollars: the provider's figure when the ledger has one, else converted (``pricing``)."""
        cost = self.cost
        return cost.usd if cost is not None else None

    @property
    def seconds(self) -> float | None:
        """Render time, from the create answer to the end, as we saw it."""
        return self.generation.seconds

    @property
    def video_path(self) -> Path | None:
        return self.generation.video_path

    @property
    def error(self) -> str | None:
        return self.generation.error

    @property
    def image(self) -> InputImage | None:
        """The image an image-to-video job started from (None for text-to-video)."""
        return self.generation.image

    @property
    def image_sha256(self) -> str | None:
        """The SHA-256 of a local image the job started from (None for a URL, never read here,
        and for text-to-video)."""
        return self.image.sha256 if self.image is not None else None

    @property
    def image_source(self) -> str | None:
        """Where the image came from (``images.SOURCES``; None for text-to-video)."""
        return self.image.source if self.image is not None else None

    @property
    def image_url(self) -> str | None:
        """A URL job's URL, as sent (never fetched)."""
        return self.image.url if self.image is not None and self.image.is_url else None

    @property
    def image_path(self) -> Path | None:
        """The ledger's copy of a local image (under the home's ``images`` folder)."""
        path = self.image.path if self.image is not None else None
        return Path(path) if path else None

    @property
    def image_width(self) -> int | None:
        return self.image.width if self.image is not None else None

    @property
    def image_height(self) -> int | None:
        return self.image.height if self.image is not None else None

    # --- what a history shows --------------------------------------------------------------------

    @property
    def has_image_file(self) -> bool:
        """The image the job started from is kept on disk (a local image, not a URL)."""
        return self.image_path is not None and self.image_path.is_file()

    @property
    def has_video(self) -> bool:
        """The video is on disk."""
        return self.video_path is not None and self.video_path.is_file()

    @property
    def finished(self) -> bool:
        """Over: done, failed or refused."""
        return self.state.final

    def short_prompt(self, width: int = 48) -> str:
        """The prompt on one line, cut with ``…`` to ``width`` characters."""
        return one_line(self.prompt, width) or one_line(f"({self.ident})", width)

    def when(self, local: bool = True) -> str:
        """``2026-05-09 14:03``: local time, or UTC (with ``UTC`` after it) when not ``local``."""
        if local:
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created_at))
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.created_at))

    def cost_text(self) -> str:
        """``$0.28 (555,556 credits)``, ``about ...`` for converted figures, ``""`` if unknown;
        the simulator's with ``(simulated: nothing is charged)`` after them."""
        return self.generation.cost_figure()

    def cost_words(self) -> str:
        """What it cost, in the words every face shows (``Generation.cost_words``): the figure,
        else for a start the API refused ``nothing charged``, and for any other ``cost not known
        yet``."""
        return self.generation.cost_words()

    def said_words(self) -> str:
        """What the provider said of the job, told apart from what our check found:
        ``the API said “completed”``, ``our check found: not_found (...)``; "" when neither
        has anything to say."""
        parts = []
        if self.provider_status:
            parts.append(f"the API said “{self.provider_status}”")
        if self.finding:
            meaning = FINDINGS.get(self.finding)
            found = f"{self.finding} ({meaning})" if meaning else self.finding
            parts.append(f"our check found: {found}")
        return "; ".join(parts)

    def facts(self) -> str:
        """``16:9 · 540p · 5 s · $0.63 (1,250,000 credits) · took 1:05``: the settings, the cost
        and the render time, as far as they are known, then what the provider said (and what
        our check found) when the state alone does not say it; what every history shows."""
        took = f"took {duration(self.seconds)}" if self.seconds is not None else ""
        said = "" if self.state is Status.DONE else self.said_words()
        return " · ".join(part for part in (self.settings, self.cost_words(), took, said) if part)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``pixverse-ui list --json`` prints for each job): ``status``
        is the provider's word as it said it (null before it said one), ``state`` ours,
        ``finding`` what our check found (null when nothing)."""
        return {
            "id": self.generation_id,
            "client_request_id": self.client_request_id,
            "state": self.state,
            "status": self.provider_status,
            "finding": self.finding,
            "created_at": datetime.fromtimestamp(self.created_at).astimezone().isoformat(),
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "params": self.params,
            "settings": self.settings,
            "credits_used": self.credits,
            "usd": self.usd,
            "cost_source": self.cost.source if self.cost else None,
            "seconds": self.seconds,
            "video_path": str(self.video_path) if self.video_path else None,
            "starred": self.starred,
            "note": self.note,
            "error": self.error,
            "adopted": self.adopted,
            "batch": self.batch,
            "endpoint": self.endpoint,
            "model": self.model,
            "image_sha256": self.image_sha256,
        }

    @classmethod
    def from_record(cls, record: JobRecord) -> HistoryItem:
        """The item for one ledger row: its generation (``Generation.from_record``) and what a
        history shows beside it."""
        generation = Generation.from_record(record)
        return cls(
            generation=generation,
            params={} if record.adopted else record.request,
            settings=settings_line(record, generation.params),
            prompt=record.prompt,
            starred=record.starred,
            note=record.note or "",
            adopted=record.adopted,
            resolution=record.resolution,
            aspect_ratio=record.aspect_ratio,
            duration=record.duration,
            batch=record.batch,
            endpoint=record.endpoint,
        )


def settings_line(record: JobRecord, params: P.Params | None = None) -> str:
    """The one-line settings of a job (``Params.summary``; ``params``: the row's request, read
    already, else read here), or the adopted sentence, with the seed the provider's link named
    when it is not the one sent."""
    if record.adopted:
        return " · ".join(filter(None, (ADOPTED_SETTINGS, seed_note(None, record.provider_seed))))
    body = record.request
    if params is None:
        with contextlib.suppress(ValidationError, TypeError):
            params = P.requested(record)
    if params is not None:
        line = params.summary()
    else:  # a row this version cannot read as a request
        line = f"{record.aspect_ratio} · {record.resolution} · {record.duration} s"
    return " · ".join(filter(None, (line, seed_note(body.get("seed"), record.provider_seed))))


def seed_note(sent: Any, named: int | None) -> str:
    """What the provider's link says of the seed, when it tells more than the request did:
    ``""`` when it names none or the one sent."""
    if named is None or named == sent:
        return ""
    if sent is None:
        return f"seed {named} (named by the provider)"
    return f"the provider made it with seed {named}, not the {sent} sent"


@dataclass(frozen=True)
class HistoryQuery:
    """Which items to show. Every field left at its default means "any"."""

    #: Looked for in the prompt and the note, ignoring case.
    text: str = ""
    #: A ``lifecycle.Status``, or its word: stored (``rejected``) or shown (``refused``).
    state: Status | str | None = None
    #: True: starred only; False: unstarred only.
    starred: bool | None = None
    resolution: str | None = None
    #: Epoch seconds: created at or after ``since``, before ``until``.
    since: float | None = None
    until: float | None = None

    def checked(self) -> HistoryQuery:
        """This query (its state as a ``Status``), or a ``ValidationError`` naming what is
        wrong with it."""
        if not isinstance(self.text, str):
            raise ValidationError("The search text must be text.", field="text")
        query = self
        if self.state is not None:
            try:
                query = replace(self, state=Status.parse(self.state))
            except ValueError:
                raise ValidationError(
                    f"State must be one of {P.join_or([s.value for s in Status])}; "
                    f"got {P.shown(self.state)}.",
                    field="state",
                ) from None
        if self.resolution is not None and self.resolution not in P.RESOLUTIONS:
            raise ValidationError(
                f"Resolution must be one of {P.join_or(P.RESOLUTIONS)}; "
                f"got {P.shown(self.resolution)}.",
                field="resolution",
            )
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValidationError("The end of the dates comes before their start.", field="until")
        return query


def history(
    ledger: Ledger,
    owner: str,
    query: HistoryQuery = HistoryQuery(),
    *,
    limit: int = 100,
    offset: int = 0,
) -> list[HistoryItem]:
    """``owner``'s items, newest first, as ``query`` filters them (in SQL); ``limit`` at most,
    from the ``offset``-th on."""
    return [
        HistoryItem.from_record(r)
        for r in ledger.search(owner, **_filters(query), limit=limit, offset=offset)
    ]


def _filters(query: HistoryQuery) -> dict[str, Any]:
    """``query``, checked, as the keywords of ``Ledger.search`` and ``Ledger.count``."""
    query = query.checked()
    return {
        "text": query.text.strip() or None,
        "states": (query.state,) if query.state else (),
        "starred": query.starred,
        "resolution": query.resolution,
        "since": query.since,
        "until": query.until,
    }


@dataclass(frozen=True)
class HistoryPage:
    """One page of a history: its items, where they start, and how many the query finds."""

    items: tuple[HistoryItem, ...]
    #: The page's number, from 1 (the newest).
    number: int
    #: How many items a page holds at most.
    size: int
    #: How many items the query finds in all.
    total: int

    @property
    def pages(self) -> int:
        """How many pages the query's items fill (1 when it finds none)."""
        return page_count(self.total, self.size)

    @property
    def first(self) -> int:
        """The position of the page's first item among all found (from 1; 0 when none)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last(self) -> int:
        """The position of the page's last item (0 when none)."""
        return self.first + len(self.items) - 1 if self.items else 0

    def range_text(self) -> str:
        """``61–120 of 10,000``; ``1 of 1``; ``none found`` for an empty page."""
        if not self.items:
            return "none found"
        span = f"{self.first:,}" if self.first == self.last else f"{self.first:,}–{self.last:,}"
        return f"{span} of {self.total:,}"


def page_count(total: int, size: int) -> int:
    """How many pages of ``size`` items ``total`` items fill (1 when there are none)."""
    return max(1, -(-total // size))


def history_page(
    ledger: Ledger, owner: str, query: HistoryQuery = HistoryQuery(), *, page: int = 1, size: int
) -> HistoryPage:
    """Page ``page`` (from 1, the newest) of ``owner``'s items as ``query`` finds them, ``size``
    a page; a page past the last is the last. Two indexed reads (``store.HISTORY_INDEX``): the
    count, then the page, as quick with 10,000 jobs as with 10."""
    filters = _filters(query)
    total = ledger.count(owner, **filters)
    number = min(max(1, page), page_count(total, size))
    records = ledger.search(owner, **filters, limit=size, offset=(number - 1) * size)
    return HistoryPage(tuple(HistoryItem.from_record(r) for r in records), number, size, total)


def own_record(ledger: Ledger, owner: str, ident: object) -> JobRecord | None:
    """``owner``'s job by generation id or client request id; None for anything else (not an
    id, unknown, or someone else's: the same answer for each, so a caller learns nothing of
    other people's jobs)."""
    if not isinstance(ident, str) or not ident:
        return None
    return ledger.find(ident, owner=owner)


def item(ledger: Ledger, owner: str, ident: object) -> HistoryItem | None:
    """One of ``owner``'s items (see :func:`own_record`); None when it is not theirs."""
    record = own_record(ledger, owner, ident)
    return HistoryItem.from_record(record) if record is not None else None


#: The periods a history is narrowed to, by how many days before today each reaches back.
PERIODS: dict[str, int | None] = {
    "any time": None,
    "today": 0,
    "last 7 days": 7,
    "last 30 days": 30,
}


def period_start(period: object, now: float) -> float | None:
    """Epoch seconds at which ``period`` (one of ``PERIODS``) begins: the local midnight that
    many days before ``now``'s day; None for any time. A ``ValidationError`` for any other."""
    if not isinstance(period, str) or period not in PERIODS:
        raise ValidationError(f"When must be {P.join_or(list(PERIODS))}.", field="period")
    days = PERIODS[period]
    return None if days is None else day_start(now - days * 86400)


#: The order parameters are compared in (then any others, by name).
COMPARED = (
    "prompt",
    "negative_prompt",
    "aspect_ratio",
    "resolution",
    "duration",
    "style",
    "seed",
    "generate_audio_switch",
    "generate_multi_clip_switch",
    "thinking_type",
    "model",
)


@dataclass(frozen=True)
class ParamRow:
    """One parameter across the items being compared."""

    name: str
    #: Each item's value, in the items' order (None where an item did not set it).
    values: tuple[Any, ...]

    @property
    def differs(self) -> bool:
        return len({repr(v) for v in self.values}) > 1


def compare_params(items: list[HistoryItem]) -> list[ParamRow]:
    """The request parameters of ``items`` side by side, one row per parameter any of them set;
    ``differs`` marks the rows to highlight."""
    names = [n for n in COMPARED if any(n in i.params for i in items)]
    names += sorted({n for i in items for n in i.params} - set(names))
    return [ParamRow(n, tuple(i.params.get(n) for i in items)) for n in names]
