"""What a generation came to, as the ledger holds it: the ``Generation`` that ``generate``,
``resume`` and a handle's ``wait`` return, which shows itself in Jupyter as a playable video."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from .errors import ValidationError
from .formatting import duration
from .lifecycle import Status
from .notebook_files import video_href
from .params import Params, requested
from .pricing import cost_of, format_cost, is_simulated
from .store import JobRecord


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
    """The outcome of a generation, as the ledger holds it."""

    id: str | None
    client_request_id: str
    state: Status
    #: What the API last said of the job (its provider status).
    status: str
    #: None for a generation known by its id alone (adopted by ``job(id)`` or ``resume(id)``).
    params: Params | None
    video_path: Path | None
    video_url: str | None
    credits_used: float | None
    seconds: float | None
    error: str | None = None
    #: The dollars the API said the job cost, when it said them.
    usd_spent: float | None = None
    #: It ran on the built-in simulator: its money is pretend.
    simulated: bool = False

    def cost_words(self) -> str:
        """What it cost, in the words every face uses (``""`` while the API has said nothing):
        ``$0.28 (555,556 credits)``, ``about`` before dollars converted from credits, the
        simulator's label on its pretend money."""
        cost = cost_of(self.credits_used, self.usd_spent)
        return "" if cost is None else format_cost(cost, simulated=self.simulated)

    @property
    def ok(self) -> bool:
        """The video is on disk."""
        return self.video_path is not None

    @classmethod
    def from_record(cls, record: JobRecord) -> Generation:
        """Build one from a ledger row."""
        params = None if record.adopted else requested(record)
        return cls(
            id=record.generation_id,
            client_request_id=record.client_request_id,
            state=record.state,
            status=record.status,
            params=params,
            video_path=Path(record.video_path) if record.video_path else None,
            video_url=record.video_url,
            credits_used=record.credits_used,
            seconds=record.render_seconds,
            error=record.error,
            usd_spent=record.usd_spent,
            simulated=is_simulated(record.endpoint),
        )

    def _repr_html_(self) -> str:
        """Jupyter: a playable video (by reference: ``notebook_files``) with its parameters and
        credits."""
        prompt = html.escape(self.params.prompt if self.params else "(request unknown here)")
        facts = html.escape(self.params.summary() if self.params else "")
        credits = html.escape(self.cost_words())
        took = f"took {duration(self.seconds)}" if self.seconds is not None else ""
        meta = " · ".join(x for x in (facts, credits, took, html.escape(self.status)) if x)
        if self.video_path and self.video_path.exists():
            src = html.escape(video_href(self.video_path), quote=True)
            w, h = self.params.size if self.params else (640, 360)
            scale = min(1.0, 640 / w)
            media = (
                f'<video controls loop width="{int(w * scale)}" height="{int(h * scale)}" '
                f'src="{src}"></video>'
            )
        else:
            media = f"<p><b>No video yet</b> ({html.escape(self.error or self.state.word)})</p>"
        ident = html.escape(self.id or self.client_request_id)
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
