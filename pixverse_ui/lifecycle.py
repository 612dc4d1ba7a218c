"""One lifecycle of a generation: its states, the moves between them, and the words for them.

A job is ``submitting`` from the moment its ledger row is written (before the POST), ``running``
once the API has given it an id, and ends ``done`` (the video is on disk) or ``failed`` (the
provider failed it). The POST may end it too: ``rejected`` (the API refused it, or a budget did:
nothing was created) or ``unconfirmed`` (sent, its answer lost: a paid job may exist).

    submitting ──▶ running ──▶ done
        │             └──────▶ failed
        ├──▶ rejected
        └──▶ unconfirmed

The ledger refuses any other move (``store.Ledger.write``), reading the state it moves from in the
same transaction. The poll loop, the handle (``jobs.Job``) and every renderer (the page, the CLI,
the notebook, MCP) take a state's words from :data:`LABELS`.

What the API says of a job (``queued``, ``generating``, ``completed``, ``error``...) is another
vocabulary, the API's own (``params.py``): a job's *provider status*, kept beside its state as
the API said it (an unknown word as it came; none until it says one), described here in a
sentence (:func:`describe`), never mistaken for it, and never filled with a word of ours. What
our own checks found when the API's word could not say it (:data:`FINDINGS`) is kept apart too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .params import SUCCESS_STATUSES


class Status(StrEnum):
    """Where a job is in its lifecycle. The values are the words the ledger stores."""

    SUBMITTING = "submitting"
    UNCONFIRMED = "unconfirmed"
    REJECTED = "rejected"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def final(self) -> bool:
        """Over: no move leads anywhere from here."""
        return not MOVES[self]

    @property
    def label(self) -> Label:
        """Its words and icon, as every front end shows them."""
        return LABELS[self]

    @property
    def word(self) -> str:
        """``refused``, ``done``...: the state in one word, as people read it."""
        return LABELS[self].word

    @property
    def icon(self) -> str:
        return LABELS[self].icon

    @classmethod
    def parse(cls, text: object) -> Status:
        """A state from its stored word or its label's word (``rejected`` or ``refused``),
        ignoring case; ``ValueError`` for anything else."""
        if isinstance(text, str):
            folded = text.strip().lower()
            for status in cls:
                if folded in (status.value, LABELS[status].word):
                    return status
        raise ValueError(f"not a state: {text!r}")


#: The moves the ledger allows (besides staying where a job is).
MOVES: Mapping[Status, frozenset[Status]] = {
    Status.SUBMITTING: frozenset({Status.RUNNING, Status.REJECTED, Status.UNCONFIRMED}),
    Status.RUNNING: frozenset({Status.DONE, Status.FAILED}),
    Status.UNCONFIRMED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
}


class IllegalMove(ValueError):
    """A write that would move a job where its lifecycle does not lead (``done`` to
    ``running``); the ledger refuses it and writes nothing."""

    def __init__(self, job: str, old: Status, new: Status) -> None:
        allowed = ", ".join(sorted(s.value for s in MOVES[old])) or "nowhere: it is over"
        super().__init__(
            f"Job {job} is {old.value} and cannot become {new.value} (it may go to {allowed})."
        )
        self.job, self.old, self.new = job, old, new


def check_move(job: str, old: str, new: str) -> Status:
    """The state ``new`` if a job in ``old`` may move there; ``IllegalMove`` if not."""
    before, after = Status(old), Status(new)
    if after is not before and after not in MOVES[before]:
        raise IllegalMove(job, before, after)
    return after


@dataclass(frozen=True)
class Label:
    """A state as people see it: one word and an icon (``✓ done``)."""

    word: str
    icon: str

    def __str__(self) -> str:
        return f"{self.icon} {self.word}"


#: The icons are plain characters that common text fonts draw (DejaVu Sans, which Debian's
#: Chromium falls back to, has them all): emoji need an emoji font and showed as boxes without one.
LABELS: Mapping[Status, Label] = {
    Status.SUBMITTING: Label("sending", "…"),
    Status.UNCONFIRMED: Label("unconfirmed", "?"),
    Status.REJECTED: Label("refused", "⊘"),
    Status.RUNNING: Label("running", "◔"),
    Status.DONE: Label("done", "✓"),
    Status.FAILED: Label("failed", "✗"),
}
#: Every word a state may be named by: the stored ones, then the labels' own.
STATE_WORDS = tuple(dict.fromkeys([*(s.value for s in Status), *(s.word for s in Status)]))
#: What our own checks may find of a job, kept apart from the provider's word (the ledger's
#: ``finding``; ``pixverse-ui list --json``'s ``finding``): the words, and what each means.
FINDINGS: Mapping[str, str] = {
    "not_found": "the API answered that it does not know this generation id",
    "invalid": "the input was refused before anything was sent",
}
#: Shown beside an update that reports a passing fault (the job itself goes on).
TRANSIENT_ICON = "⚠"
#: Shown when a follower stopped watching (the job goes on).
STOPPED_ICON = "■"

# --- the follower's sentences --------------------------------------------------------------------

READY = "Your video is ready."
STOPPED = "Stopped watching. The job goes on; resume it any time."

#: What the poll loop says of each provider status a running job may report.
PROVIDER_WORDS: Mapping[str, str] = {
    "queued": "Waiting in the provider's queue",
    "waiting": "Waiting in the provider's queue",
    "generating": "Generating the video",
    "active": "Generating the video",
}


def describe(provider_status: str | None) -> str:
    """A sentence for what the API said of a job (its word as it came: case is ignored; an
    unknown word is quoted as it came; none at all is said so)."""
    if not provider_status:
        return "The API has named no status for the job yet; still watching."
    kind = provider_status.lower()
    if kind in PROVIDER_WORDS:
        return PROVIDER_WORDS[kind] + "."
    if kind in SUCCESS_STATUSES:
        return "Finished."
    return f"The API reports the status “{provider_status}”, which is new to us; still watching."
