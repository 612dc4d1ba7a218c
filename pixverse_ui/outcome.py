"""A generation as one value: the ``Generation`` that ``generate``, ``resume`` and a handle's
``wait`` return, read from its ledger row, which shows itself in Jupyter as a playable video."""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ValidationError
from .formatting import duration
from .lifecycle import Status
from .notebook_files import video_href
from .params import Params, requested
from .pricing import Cost, cost_figure, cost_of, cost_words, is_simulated
from .store import JobRecord

if TYPE_CHECKING:  # pragma: no cover
    from .images import InputImage


def thumbnail_uri(data: bytes, side: int) -> str:
    """A PNG of ``data`` (an image's bytes) at most ``side`` pixels a side, as a data: URI."""
    import base64
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        picture.thumbnail((side, side))
        out = io.BytesIO()
        picture.convert("RGB").save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Generation:
    """One generation, as replicate's ``Prediction`` is one: what was asked, where it is in its
    lifecycle, what the provider said of it, what it cost, when, and the video it made.

    The one public value of a generation: ``generate``, ``resume`` and a handle's ``wait``
    return it, and the other shapes of a job are views of it (``history.HistoryItem`` holds one
    with what a person keeps beside it; ``store.JobRecord`` is the ledger's row it is read
    from, by :meth:`from_record` alone; ``polling.Update`` is one step of a watch). Frozen.
    """

    #: Always set. The generation id the API gave the job; before it gave one (a start still
    #: being sent, one the API refused, one whose answer was lost) the client request id, the
    #: name the ledger and the AI/ML API's usage log know it by. :attr:`generation_id` is None
    #: in that case: that is how the two are told apart.
    id: str
    client_request_id: str
    #: Where it is in its lifecycle (``lifecycle.Status``: ``running``, ``done``...).
    status: Status
    #: What the provider last said of it, in its own words as it said them (``queued``,
    #: ``completed``, or a word new to us, kept as it came); None until it has said one. Never
    #: a word of ours: what we concluded is :attr:`status`, what our check found :attr:`finding`.
    #: The ledger's ``status`` column is NOT NULL, so "no word yet" is stored there as ``""``;
    #: :meth:`from_record` reads it back as None.
    provider_status: str | None
    #: None for a generation known by its id alone (adopted by ``job(id)`` or ``resume(id)``),
    #: or one whose recorded request this version cannot read.
    params: Params | None
    video_path: Path | None
    video_url: str | None
    credits_used: float | None
    #: Render time: from the API's answer to the create request to the job's end, as we saw it.
    seconds: float | None
    error: str | None = None
    #: The dollars the API said the job cost, when it said them.
    usd_spent: float | None = None
    #: It ran on the built-in simulator: its money is pretend.
    simulated: bool = False
    #: What our own check found when the provider's word could not say it
    #: (``lifecycle.FINDINGS``: ``not_found``...); None when it found nothing to say.
    finding: str | None = None
    #: Epoch seconds: recorded (before the POST), taken by the API, ended (as we saw it).
    created_at: float | None = None
    submitted_at: float | None = None
    finished_at: float | None = None

    @property
    def generation_id(self) -> str | None:
        """The id the API gave, or None while it has given none (:attr:`id` is the client
        request id then)."""
        return None if self.id == self.client_request_id else self.id

    @property
    def state(self) -> Status:
        """:attr:`status`, by the name versions before 0.2 gave it."""
        return self.status

    @property
    def image(self) -> InputImage | None:
        """The image an image-to-video job started from (None for text-to-video, or when the
        request is not known here)."""
        return self.params.image if self.params is not None else None

    @property
    def cost(self) -> Cost | None:
        """What the API said it cost (dollars and credits; None while it has said nothing).
        Pretend money when :attr:`simulated`."""
        return cost_of(self.credits_used, self.usd_spent)

    def cost_words(self) -> str:
        """What it cost, in the words every face uses (``pricing.cost_words``, the one place
        they are worded): ``$0.28 (555,556 credits)``, ``about`` before dollars converted from
        credits, the simulator's label on its pretend money; ``nothing charged`` for a start
        the API refused, ``cost not known yet`` for any other the API has not priced."""
        return cost_words(self.cost, simulated=self.simulated, refused=self.refused)

    def cost_figure(self) -> str:
        """The figure of :meth:`cost_words` alone: ``""`` while the API has said no cost."""
        return cost_figure(self.cost, simulated=self.simulated)

    @property
    def refused(self) -> bool:
        """The API refused the start: nothing was made, nothing charged."""
        return self.status is Status.REJECTED

    @property
    def ok(self) -> bool:
        """The video is on disk."""
        return self.video_path is not None

    @classmethod
    def from_record(cls, record: JobRecord) -> Generation:
        """The generation a ledger row holds: the one place a row becomes one."""
        params = None
        if not record.adopted:
            with contextlib.suppress(ValidationError, TypeError):  # a row an older version wrote
                params = requested(record)
        return cls(
            id=record.generation_id or record.client_request_id,
            client_request_id=record.client_request_id,
            status=record.state,
            provider_status=record.status or None,
            params=params,
            video_path=Path(record.video_path) if record.video_path else None,
            video_url=record.video_url,
            credits_used=record.credits_used,
            seconds=record.render_seconds,
            error=record.error,
            usd_spent=record.usd_spent,
            simulated=is_simulated(record.endpoint),
            finding=record.finding,
            created_at=record.created_at,
            submitted_at=record.submitted_at,
            finished_at=record.finished_at,
        )

    def _repr_html_(self) -> str:
        """Jupyter: a playable video (by reference: ``notebook_files``) with its parameters and
        credits."""
        prompt = html.escape(self.params.prompt if self.params else "(request unknown here)")
        facts = html.escape(self.params.summary() if self.params else "")
        credits = html.escape(self.cost_words())
        took = f"took {duration(self.seconds)}" if self.seconds is not None else ""
        said = html.escape(self.provider_status or "")
        meta = " · ".join(x for x in (facts, credits, took, said) if x)
        if self.video_path and self.video_path.exists():
            src = html.escape(video_href(self.video_path), quote=True)
            w, h = self.params.size if self.params else (640, 360)
            scale = min(1.0, 640 / w)
            media = (
                f'<video controls loop width="{int(w * scale)}" height="{int(h * scale)}" '
                f'src="{src}"></video>'
            )
        else:
            media = f"<p><b>No video yet</b> ({html.escape(self.error or self.status.word)})</p>"
        ident = html.escape(self.id)
        started_from = self._image_html()
        if started_from:  # the image it started from, beside the video
            media = (
                f'<div style="display:flex;gap:12px;align-items:flex-start">'
                f"{started_from}{media}</div>"
            )
        return (
            f'<div class="pixverse-generation">{media}<p>“{prompt}”</p>'
            f"<p><small>{meta} · id {ident}</small></p></div>"
        )

    def _image_html(self, side: int = 160) -> str:
        """The image an image-to-video job started from, small: a URL as given (the notebook's
        browser shows it), a kept image as an inline thumbnail; "" for none."""
        image = self.params.image if self.params is not None else None
        if image is None:
            return ""
        title = html.escape(f"started from {image.origin or 'an image'}", quote=True)
        if image.is_url and image.url:
            src = html.escape(image.url, quote=True)
        else:
            try:
                src = thumbnail_uri(image.content(), side)
            except (ValidationError, OSError, ValueError):  # the kept copy is gone
                return ""
        return f'<img src="{src}" title="{title}" alt="{title}" style="max-width:{side}px">'
