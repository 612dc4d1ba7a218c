"""Running a storyboard through the service every face asks (``access.App``): one quote and one
budget check for every shot to make, then the shots through the same ``Jobs`` as any generation.

What to do next is read from the ledger each time (:meth:`Runner._step`), so a run a killed
process left is finished by the same loop (:meth:`Runner.finish`), with no POST sent twice:

- a shot with no take, or a stale one (chained, made from another take than the one chosen
  before it), gets a new take once the shot before it has its video (a chained shot), or at once;
- a take is written (its client request id) before its job is; a take whose job the ledger never
  recorded was never sent, and is sent now under that id; a running job is watched, not sent;
- a take that failed (or whose start was refused, or never confirmed) fails its shot, and the
  shots chained after it are not made: each says why. Others go on.

A caller on a shared key (the page's, ``Runner(app, caller)``) meets its rate (``App.admit``)
at each start: a take the rate holds back is written but not sent, and is sent when a shot of
theirs ends, or, with none of the run's running, once the rate allows (the wait is slept on the
rate's clock, at most ``intervals.RATE_WAIT_MAX``; :meth:`Runner.finish` sends it later), never
twice. The command line and the library
spend their own key (``App.caller_for``): no rate.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors
from .access import App, Caller
from .board import Board, Storyboard, Take, load, with_prompt
from .images import Frame
from .intervals import BATCH_REDRAW_MAX, RATE_WAIT_MAX
from .jobs import Job, Jobs, wait_any_news
from .lifecycle import Status
from .params import pick_seed
from .ratelimit import Ticket
from .store import JobRecord

#: What a shot has come to.
DONE, RUNNING, FAILED, BLOCKED, WAITING = "done", "running", "failed", "not made", "waiting"


@dataclass(frozen=True)
class ShotResult:
    """Shot ``shot`` (from 1): its chosen take, that take's generation, and its state, with the
    sentence why when it is not done."""

    shot: int
    take: int | None
    id: str | None
    seed: int | None
    video_path: str | None
    from_previous: bool
    state: str
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seed": self.seed,
            "video_path": self.video_path,
            "from_previous": self.from_previous,
        }


@dataclass(frozen=True)
class Outcome:
    """A storyboard after a run: every shot, and the stitched MP4 when every shot is done."""

    board: Board
    shots: tuple[ShotResult, ...]
    video_path: Path | None
    quote: str = ""

    @property
    def id(self) -> str:
        return self.board.id

    @property
    def ok(self) -> bool:
        return self.video_path is not None

    def problems(self) -> list[str]:
        """Why each shot that is not done is not, in order."""
        return [s.reason for s in self.shots if s.state != DONE and s.reason]

    def to_json(self) -> dict[str, Any]:
        """The command line's ``--json`` object: ``id``, ``video_path``, ``shots``."""
        return {
            "id": self.board.id,
            "video_path": str(self.video_path) if self.video_path else None,
            "shots": [s.to_json() for s in self.shots],
        }


@dataclass
class Runner:
    """Storyboards of one caller on one app (its ledger, videos folder and budgets)."""

    app: App
    caller: Caller
    on_event: Callable[[str], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    #: The longest one wait for news lasts before the ledger is read again.
    step: float = BATCH_REDRAW_MAX
    #: The storyboard being run (or last run): what a page draws while it runs.
    board_id: str | None = None
    #: Why a take waits unsent: the shared key's rate held it back.
    held: str | None = field(default=None, init=False)
    #: When the rate said a start would fit, in seconds from its refusal (None: not known).
    held_for: float | None = field(default=None, init=False)

    @classmethod
    def local(  # noqa: PLR0913 (the service's parts, each optional)
        cls,
        *,
        client: Any = None,
        ledger: Any = None,
        download_dir: Any = None,
        budget: Any = None,
        on_event: Callable[[str], None] | None = None,
        app: App | None = None,
    ) -> Runner:
        """The runner of this machine's person (``App.local``), on ``client`` (else the
        default: the host key's, or the simulator's)."""
        from .defaults import default_client

        app = app or App.local(ledger, download_dir, budget=budget)
        return cls(app, app.caller_for(client or default_client()), on_event)

    # --- the actions ------------------------------------------------------------------------------

    def run(self, source: Any) -> Outcome:
        """Check and price every shot, refuse them all if they do not fit a budget (nothing is
        recorded or sent), then make them and stitch."""
        storyboard = load(source)
        priced = [storyboard.priced(k) for k in range(1, len(storyboard.shots) + 1)]
        quote = self.app.quote(self.caller, priced)
        self._say(quote)
        self.app.check_start(self.caller, priced)
        board_id = "sb-" + secrets.token_hex(8)
        self.app.ledger.add_storyboard(board_id, self.caller.owner, storyboard.to_json())
        self.board_id = board_id
        self._say(f"Storyboard {board_id}: {len(storyboard.shots)} shots.")
        return self._drive(board_id, quote)

    def reroll(self, board_id: str, k: int, *, prompt: str | None = None) -> Outcome:
        """A new take of shot ``k`` (a new seed, or ``prompt``), then new takes of the shots
        chained after it (stale now), from its last frame; one quote and check for them all."""
        board = self.board(board_id)
        self.board_id = board.id
        storyboard = board.storyboard
        k = self._shot_number(board, k)
        if prompt is not None:
            storyboard = with_prompt(storyboard, k, prompt)
        remade = (k, *storyboard.chained_after(k))
        used = {t.seed for t in board.takes_of(k)}
        seed = next(s for s in iter(lambda: pick_seed(self.rng), None) if s not in used)
        priced = [storyboard.priced(j) for j in remade]
        quote = self.app.quote(self.caller, priced)
        self._say(quote)
        self.app.check_start(self.caller, priced)
        before = board.chosen(k - 1) if storyboard.shots[k - 1].from_previous else None
        if storyboard.shots[k - 1].from_previous and (before is None or not self._done(before)):
            raise errors.ValidationError(
                f"Shot {k} starts from shot {k - 1}'s last frame, and shot {k - 1} has no "
                "video yet.",
                field="shot",
            )
        self._new_take(
            board_id, storyboard, k, prompt=storyboard.shots[k - 1].prompt, seed=seed, before=before
        )
        return self._drive(board_id, quote)

    def finish(self, board_id: str) -> Outcome:
        """Make what a storyboard still needs (see the module's text), then stitch."""
        self.board_id = self.board(board_id).id
        return self._drive(board_id, "")

    def choose(self, board_id: str, k: int, take: int) -> Board:
        """Have shot ``k`` use its take ``take``: nothing is sent (the shots chained after it
        are stale if it was made from another frame than theirs)."""
        board = self.board(board_id)
        k = self._shot_number(board, k)
        if not self.app.ledger.choose_take(board_id, k, take):
            raise errors.ValidationError(
                f"Shot {k} has no take {take}: it has {len(board.takes_of(k))}.", field="take"
            )
        return self.board(board_id)

    def stitch(self, board_id: str) -> Path:
        """Join the chosen takes, in order, into ``<id>.mp4`` in the videos folder."""
        from .stitch import stitch

        board = self.board(board_id)
        results = self._results(board, {})
        missing = [r for r in results if r.state != DONE or board.stale(r.shot)]
        if missing:
            r = missing[0]
            why = r.reason or (
                "it is stale: re-make it from the new take before it"
                if board.stale(r.shot)
                else f"it is {r.state}"
            )
            raise errors.PixVerseError(f"Shot {r.shot} has no video to stitch yet: {why}")
        dest = stitch(
            [r.video_path for r in results if r.video_path],
            self.app.download_dir / f"{board_id}.mp4",
        )
        self.app.ledger.set_storyboard(board_id, stitched_path=str(dest))
        return dest

    def export(self, board_id: str, folder: Path) -> Path:
        """The storyboard's zip (``storyboard_export.py``)."""
        from .storyboard_export import export_board

        board = self.board(board_id)
        if not board.stitched_path or not Path(board.stitched_path).is_file():
            self.stitch(board_id)
            board = self.board(board_id)
        records = [self._record(board.chosen(k)) for k in range(1, len(board.storyboard.shots) + 1)]
        return export_board(board, [r for r in records if r is not None], folder)

    # --- reading ----------------------------------------------------------------------------------

    def board(self, board_id: str) -> Board:
        """The caller's storyboard ``board_id``; a sentence for an unknown one (or another's)."""
        row = self.app.ledger.storyboard_row(str(board_id), owner=self.caller.owner)
        if row is None:
            raise errors.ValidationError(
                f"There is no storyboard {str(board_id)[:40]!r} in this key's history.",
                field="storyboard",
            )
        takes = tuple(
            Take(
                t["shot"],
                t["take"],
                t["client_request_id"],
                t["prompt"],
                t["seed"],
                t["from_request_id"],
                bool(t["chosen"]),
            )
            for t in row["takes"]
        )
        return Board(row["id"], row["owner"], load(row["board"]), takes, row["stitched_path"])

    def results(self, board_id: str) -> tuple[ShotResult, ...]:
        """Every shot's state as the ledger says now (what a page draws while a run goes on)."""
        return self._results(self.board(board_id), {})

    def _record(self, take: Take | None) -> JobRecord | None:
        return None if take is None else self.app.ledger.find(take.client_request_id)

    def _done(self, take: Take) -> bool:
        record = self._record(take)
        return record is not None and record.state is Status.DONE and bool(record.video_path)

    @staticmethod
    def _shot_number(board: Board, k: Any) -> int:
        count = len(board.storyboard.shots)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= count:
            raise errors.ValidationError(
                f"Shot must be a number from 1 to {count}; got {k!r:.20}.", field="shot"
            )
        return k

    # --- the loop ---------------------------------------------------------------------------------

    def _jobs(self) -> Jobs:
        return self.app.jobs_for(self.caller.client, self.app.budget_for(self.caller))

    def _drive(self, board_id: str, quote: str) -> Outcome:
        """Start what can start, wait for news, again, until nothing runs and nothing can start;
        then stitch if every shot is done."""
        watched: dict[str, Job] = {}
        waited = 0.0
        while True:
            marks = {crid: job.mark() for crid, job in watched.items()}
            board = self.board(board_id)
            started = self._step(board, watched)
            # a job counts until its watcher has ended, as the rate counts it (not only until
            # the ledger says done): a take the rate held back is sent once it has
            running = [job for job in watched.values() if not job.finished]
            if started:
                continue
            if running:
                wait_any_news(
                    running,
                    [marks.get(j.client_request_id, (0, False)) for j in running],
                    self.step,
                )
                continue
            if self.held is None or waited >= RATE_WAIT_MAX:
                break
            # a take waits for the shared key's rate, and nothing of this run will wake us
            pause = max(self.step, self.held_for or 0.0)
            self.app.limiter.clock.sleep(pause)
            waited += pause
        # read after every watcher has ended (a watcher writes its row before it ends): a
        # reading taken while a take was ending would leave the run unstitched, saying nothing
        results = self._results(self.board(board_id), watched)
        video = None
        if all(r.state == DONE for r in results):
            video = self.stitch(board_id)
            self._say(f"Stitched: {video}")
        for reason in (r.reason for r in results if r.state != DONE and r.reason):
            self._say(reason)
        return Outcome(self.board(board_id), results, video, quote)

    def _step(self, board: Board, watched: dict[str, Job]) -> bool:
        """Start each shot that needs a new take and can have one, send a take never sent, and
        watch each running one; whether anything was started. Once the shared key's rate holds
        a take back, nothing more is started this time; running takes are still watched."""
        started = holding = False
        storyboard = board.storyboard
        for k in range(1, len(storyboard.shots) + 1):
            take = board.chosen(k)
            chained = storyboard.shots[k - 1].from_previous
            before = board.chosen(k - 1) if chained else None
            if take is None or board.stale(k):
                if holding or (chained and (before is None or not self._done(before))):
                    continue  # waits for the shot before it (or is not made: see _results)
                if self._new_take(
                    board.id,
                    storyboard,
                    k,
                    prompt=storyboard.shots[k - 1].prompt,
                    seed=storyboard.shots[k - 1].seed,
                    before=before,
                ):
                    return True  # read the ledger again
                holding = True
                continue
            record = self._record(take)
            if record is None and holding:
                continue
            if record is None:  # written, never recorded by its job: never sent
                source = next(
                    (
                        t
                        for t in board.takes_of(k - 1)
                        if t.client_request_id == take.from_request_id
                    ),
                    None,
                )
                if self._send(board.id, storyboard, take, source):
                    started = True
                else:
                    holding = True  # held back by the rate: wait for a shot to end
            elif record.state is Status.RUNNING and take.client_request_id not in watched:
                assert record.generation_id is not None
                watched[take.client_request_id] = self._jobs().watch(
                    record.generation_id, again=False
                )
        return started

    def _new_take(  # noqa: PLR0913
        self,
        board_id: str,
        storyboard: Storyboard,
        k: int,
        *,
        prompt: str,
        seed: int | None,
        before: Take | None,
    ) -> bool:
        """Write a new take of shot ``k`` (chosen at once), then send it; whether it was sent
        (or refused), not held back by the rate."""
        crid = self.caller.client.new_request_id()
        seed = pick_seed(self.rng) if seed is None else seed
        number = self.app.ledger.add_take(
            board_id,
            k,
            client_request_id=crid,
            prompt=prompt,
            seed=seed,
            from_request_id=before.client_request_id if before else None,
        )
        take = Take(k, number, crid, prompt, seed, before.client_request_id if before else None)
        return self._send(board_id, storyboard, take, before)

    def _send(self, board_id: str, storyboard: Storyboard, take: Take, before: Take | None) -> bool:
        """Record and POST ``take``'s job under its client request id. A refusal is kept in the
        ledger as the job's (its shot fails with it); a bad request is recorded as refused too.
        False when the shared key's rate holds it back: nothing recorded or sent."""
        k = take.shot
        frame = None
        if storyboard.shots[k - 1].from_previous:
            record = self._record(before)
            assert record is not None and record.video_path
            frame = Frame(record.video_path, "last")
        try:
            params = storyboard.params(k, prompt=take.prompt, seed=take.seed, image=frame)
            with self._admitted() as ticket:
                job = self._jobs().submit(
                    params, owner=self.caller.owner, client_request_id=take.client_request_id
                )
                if ticket is not None:
                    ticket.hold(job)
        except errors.TooManyStartsError as exc:
            if self.held is None:
                self._say(f"Shot {k} waits: {exc.user_message}")
            self.held = f"Shot {k} waits to start: {exc.user_message}"
            self.held_for = exc.retry_after
            return False
        except errors.PixVerseError as exc:
            self._refused(take, exc)
            self._say(f"Shot {k} could not start: {exc.user_message}")
            return True
        self.held = self.held_for = None
        where = f" from shot {k - 1}'s last frame" if frame is not None else ""
        self._say(f"Shot {k}, take {take.number}: started{where} (generation {job.id}).")
        return True

    def _admitted(self) -> AbstractContextManager[Ticket | None]:
        """A start's slot under the shared key's rate (none to take on one's own key)."""
        return self.app.admit(self.caller, 1) if self.caller.shared else nullcontext()

    def _refused(self, take: Take, exc: errors.PixVerseError) -> None:
        """Keep a take refused before its job was recorded (a bad image, a budget) as a refused
        row of its own, so that the shot says why and the take is not sent again."""
        ledger = self.app.ledger
        if ledger.find(take.client_request_id) is not None:
            return
        body = {"prompt": take.prompt, "resolution": "", "duration": 0}
        ledger.record(
            client_request_id=take.client_request_id,
            owner=self.caller.owner,
            payer=self.caller.payer,
            endpoint=self.caller.client.label,
            body=body,
        )
        ledger.update(
            take.client_request_id,
            state=Status.REJECTED,
            error=exc.user_message,
        )

    def _results(self, board: Board, watched: dict[str, Job]) -> tuple[ShotResult, ...]:
        """Every shot's state as the ledger (and a watcher that gave up) says."""
        out: list[ShotResult] = []
        storyboard = board.storyboard
        for k, shot in enumerate(storyboard.shots, 1):
            take = board.chosen(k)
            job = watched.get(take.client_request_id) if take is not None else None
            # whether its watcher ended, read before the ledger: a watcher writes its end
            # there first, so a row still running after it ended was left running
            ended = job is not None and job.finished
            record = self._record(take)
            state, reason = WAITING, None
            if take is not None and record is None and self.held:
                reason = self.held
            if record is not None:
                state, reason = _state_of(k, record, job if ended else None)
            if (
                shot.from_previous
                and out
                and out[-1].state in (FAILED, BLOCKED)
                and (take is None or board.stale(k))
            ):
                state = BLOCKED
                reason = (
                    f"Shot {k} was not made: it starts from shot {k - 1}'s last frame, and "
                    f"shot {k - 1} {'failed' if out[-1].state == FAILED else 'was not made'}"
                    "."
                )
            out.append(
                ShotResult(
                    k,
                    take.number if take else None,
                    record.generation_id if record else None,
                    take.seed if take else None,
                    record.video_path if record else None,
                    shot.from_previous,
                    state,
                    reason,
                )
            )
        return tuple(out)

    def _say(self, text: str) -> None:
        if self.on_event is not None and text:
            self.on_event(text)


def _state_of(k: int, record: JobRecord, ended: Job | None) -> tuple[str, str | None]:
    """What a take's ledger row (and its watcher, ``ended`` before the row was read) says of
    its shot."""
    if record.state is Status.DONE:
        return DONE, None
    if record.state is Status.RUNNING:
        if ended is not None:
            why = ended.error.user_message if ended.error else "the watching stopped"
            return FAILED, (
                f"Shot {k} is still running at the provider ({why}); "
                "finish the storyboard later to fetch it."
            )
        return RUNNING, None
    if record.state is Status.SUBMITTING:
        return RUNNING, None
    words = record.error or record.state.word
    return FAILED, f"Shot {k} failed: {words}"
