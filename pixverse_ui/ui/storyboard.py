"""The Storyboard tab: shots in order, made into videos and stitched into one (``storyboard.py``).

The tab edits up to ``SLOTS`` shots (prompt, duration, and whether it starts from the last frame
of the shot before), with the board's shared settings; it quotes the board before anything
starts, runs it, draws each shot as a card (its chosen take's still, state and cost), re-rolls
one shot, chooses a take, plays the stitched video and exports the zip. ``storyboard`` is an API
endpoint and MCP tool that takes the command line's JSON file. The page composes that JSON from
its fields (``compose``) and calls the same handler, so both answer alike.

A page, API or MCP caller runs as themselves (``Runner(app, caller)``: their key's or the shared
key's rules), and an ``image`` must be an http(s) URL: the server reads no file a caller names.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import gradio as gr

from .. import errors, params
from ..board import MAX_SHOTS, Storyboard, parse
from ..history import HistoryItem
from ..intervals import BATCH_REDRAW_MAX
from ..posters import poster_or_none
from ..storyboard_run import DONE, Outcome, Runner, ShotResult
from .common import NO_STYLE, Page, caller, error_markdown, refusal, strict_input

#: Shots the page edits (a file or an API call may have up to ``board.MAX_SHOTS``).
SLOTS = 6
#: The longest board text an API call may send.
MAX_BOARD_CHARS = 100_000
TITLE = "Could not run the storyboard"
RUN_IDLE, RUN_BUSY = "Run storyboard", "Running…"
EMPTY_STRIP = '<p class="pxui-sb-empty">Each shot shows here with its still once it is made.</p>'
STRIP_CSS = """
.pxui-sb-strip {display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 180px), 1fr))}
.pxui-sb-card {margin: 0; min-width: 0; border: 1px solid var(--border-color-primary, #ccc);
  border-radius: 8px; padding: 6px; overflow-wrap: anywhere; font-size: .9em}
.pxui-sb-card img {display: block; width: 100%; height: auto; border-radius: 6px}
.pxui-sb-card .pxui-sb-state {font-weight: 600}
"""


def board_data(source: Any) -> dict[str, Any]:
    """The board an API call sent (a JSON text or an object), checked as a whole; an image must
    be an http(s) URL. Never a file's path: a text is always read as JSON."""
    data = source
    if isinstance(source, str):
        if len(source) > MAX_BOARD_CHARS:
            raise errors.ValidationError(
                f"The storyboard is longer than {MAX_BOARD_CHARS} characters.", field="storyboard"
            )
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:
            raise errors.ValidationError(
                f"The storyboard is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                field="storyboard",
            ) from None
    if not isinstance(data, dict):
        raise errors.ValidationError(
            "A storyboard is a JSON object with its shots.", field="storyboard"
        )
    shots = data.get("shots")
    for k, shot in enumerate(shots if isinstance(shots, list) else [], 1):
        image = shot.get("image") if isinstance(shot, dict) else None
        if isinstance(image, str) and not image.strip().lower().startswith(("http://", "https://")):
            raise errors.ValidationError(
                f"Shot {k}, image: give an http(s) URL; the app reads no file a request names.",
                field=f"shots[{k}].image",
            )
    return data


def checked(source: Any) -> Storyboard:
    """``board_data`` parsed: a ``ValidationError`` naming the shot and field otherwise."""
    return parse(board_data(source))


def compose(title: Any, resolution: Any, aspect: Any, style: Any, count: Any, *rows: Any) -> str:
    """The board the tab's fields describe, as the JSON the ``storyboard`` tool takes (``rows``:
    every slot's prompt, then every duration, then every chain switch)."""
    n = shown_count(count)
    prompts, durations, chains = rows[:SLOTS], rows[SLOTS : 2 * SLOTS], rows[2 * SLOTS :]
    shots = [
        {"prompt": prompts[i], "duration": durations[i], "from_previous": chains[i] is True}
        for i in range(n)
    ]
    board = {
        "title": title if isinstance(title, str) else "",
        "resolution": resolution,
        "aspect_ratio": aspect,
        "style": None if style in (None, NO_STYLE) else style,
        "shots": shots,
    }
    return json.dumps(board, ensure_ascii=False)


def shown_count(count: Any) -> int:
    """How many slots are shown: a whole number from 1 to ``SLOTS``; a sentence otherwise."""
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= SLOTS:
        raise errors.ValidationError(
            f"The tab shows 1 to {SLOTS} shots; got {params.shown(count)}.", field="shots"
        )
    return count


def board_id_of(summary: Any) -> str:
    """The storyboard the tab last ran (its summary's ``id``); a sentence without one."""
    ident = summary.get("id") if isinstance(summary, dict) else None
    if not isinstance(ident, str) or not ident:
        raise errors.ValidationError("Run the storyboard first.", field="storyboard")
    return ident


def shot_number(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHOTS:
        raise errors.ValidationError(
            f"Shot must be a number from 1 to {MAX_SHOTS}; got {params.shown(value)}.",
            field="shot",
        )
    return value


def summary_of(outcome: Outcome, runner: Runner) -> dict[str, Any]:
    """``Outcome.to_json()`` with each shot's state and why it is not done (no server paths)."""
    out = outcome.to_json()
    out.pop("video_path", None)
    out["title"] = outcome.board.storyboard.title
    out["shots"] = [
        {
            "shot": r.shot,
            "take": r.take,
            "takes": len(outcome.board.takes_of(r.shot)),
            "id": r.id,
            "seed": r.seed,
            "from_previous": r.from_previous,
            "state": "stale" if r.state == DONE and outcome.board.stale(r.shot) else r.state,
            "cost": cost_words(runner, outcome, r),
            **({"why": r.reason} if r.reason else {}),
        }
        for r in outcome.shots
    ]
    return out


def cost_words(runner: Runner, outcome: Outcome, result: ShotResult) -> str:
    take = outcome.board.chosen(result.shot)
    record = runner.app.ledger.find(take.client_request_id) if take else None
    return HistoryItem.from_record(record).cost_words() if record else "nothing yet"


class StoryboardPart:
    """The Storyboard tab: ``layout`` builds it, ``wire`` its events; the methods are their
    handlers."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def layout(self, api_key: gr.Textbox) -> None:
        self.api_key = api_key
        gr.Markdown(
            "Shots in order, each a generation, stitched into one video. A shot can start from "
            "the last frame of the shot before it. The quote below is for every shot."
        )
        with gr.Row():
            self.title = gr.Textbox(label="Title", elem_id="sb-title", min_width=200)
            self.resolution = gr.Dropdown(
                list(params.RESOLUTIONS), value=params.DEFAULT_RESOLUTION, label="Resolution",
                elem_id="sb-resolution", min_width=120,
            )  # fmt: skip
            self.aspect = gr.Dropdown(
                list(params.ASPECT_RATIOS), value=params.DEFAULT_ASPECT_RATIO,
                label="Aspect ratio", elem_id="sb-aspect", min_width=120,
            )  # fmt: skip
            self.style = gr.Dropdown(
                [NO_STYLE, *params.STYLES], value=NO_STYLE, label="Style", elem_id="sb-style",
                min_width=120,
            )  # fmt: skip
        self.count = gr.Number(value=2, visible=False, elem_id="sb-count")
        self.slots, self.prompts, self.durations, self.chains = [], [], [], []
        with gr.Row(elem_id="sb-shots"):
            for k in range(1, SLOTS + 1):
                with gr.Column(
                    visible=k <= 2,
                    min_width=220,
                    elem_classes="pxui-sb-slot",
                    elem_id=f"sb-slot-{k}",
                ) as slot:
                    self.slots.append(slot)
                    self.prompts.append(
                        gr.Textbox(label=f"Shot {k}", lines=2, elem_id=f"sb-prompt-{k}")
                    )
                    self.durations.append(
                        gr.Dropdown(
                            list(params.DURATIONS),
                            value=params.DEFAULT_DURATION,
                            label="Seconds",
                            elem_id=f"sb-duration-{k}",
                        )  # fmt: skip
                    )
                    self.chains.append(
                        gr.Checkbox(
                            label="Start from the last frame of the shot before",
                            visible=k > 1,
                            elem_id=f"sb-chain-{k}",
                        )  # fmt: skip
                    )
        # plain characters (no fullwidth plus): Debian's Chromium has no font for some symbols
        self.add = gr.Button("+ Add a shot", elem_id="sb-add")
        with gr.Row():
            self.shot = gr.Number(
                value=1, precision=0, label="Shot to move or remove", elem_id="sb-shot",
                min_width=120,
            )  # fmt: skip
            self.up = gr.Button("↑ Move earlier", elem_id="sb-up", min_width=120)
            self.down = gr.Button("↓ Move later", elem_id="sb-down", min_width=120)
            self.remove = gr.Button("✕ Remove", elem_id="sb-remove", min_width=120)
        self.quote_note = gr.Markdown(elem_id="sb-quote")
        self.board_text = gr.Textbox(visible=False, elem_id="sb-board")
        self.run = gr.Button(RUN_IDLE, variant="primary", elem_id="sb-run")
        self.strip = gr.HTML(EMPTY_STRIP, css_template=STRIP_CSS, elem_id="sb-strip")
        # what acts on one made shot sits under the cards it acts on (on a phone too)
        with gr.Row():
            self.made_shot = gr.Number(
                value=1, precision=0, label="Shot", elem_id="sb-made-shot", min_width=80
            )
            self.reroll = gr.Button("Re-roll this shot", elem_id="sb-reroll", min_width=120)
            self.take = gr.Number(
                value=1, precision=0, label="Take", elem_id="sb-take", min_width=80
            )
            self.choose = gr.Button("Use this take", elem_id="sb-choose", min_width=120)
        self.progress = gr.Markdown(elem_id="sb-progress")
        self.video = gr.Video(label="Stitched video", elem_id="sb-video", interactive=False)
        self.export_button = gr.Button("Export (zip)", elem_id="sb-export")
        self.zip = gr.File(label="Storyboard zip", visible=False, elem_id="sb-zip")
        with gr.Accordion("Details (JSON)", open=False, elem_id="sb-details"):
            self.summary = gr.JSON(label="Storyboard", elem_id="sb-summary")
        for component in (
            self.title, self.resolution, self.aspect, self.style, self.count, self.shot,
            self.made_shot, self.take, self.board_text, *self.prompts, *self.durations,
            *self.chains,
        ):  # fmt: skip
            strict_input(component)

    @property
    def fields(self) -> list[Any]:
        """What ``compose`` takes, in its order."""
        return [
            self.title, self.resolution, self.aspect, self.style, self.count,
            *self.prompts, *self.durations, *self.chains,
        ]  # fmt: skip

    def wire(self, tab: gr.Tab, visitor: gr.Textbox) -> None:
        shown = [self.count, *self.slots]
        rows = [*self.prompts, *self.durations, *self.chains]
        self.add.click(
            self.add_shot, inputs=[self.count], outputs=shown, api_visibility="private",
            queue=False,
        )  # fmt: skip
        for button, action in ((self.up, "up"), (self.down, "down"), (self.remove, "remove")):
            button.click(
                edit_shots(action),
                inputs=[self.shot, self.count, *rows],
                outputs=[*shown, *rows, self.quote_note],
                api_visibility="private",
                queue=False,
            )
        for source in (self.resolution, self.aspect, self.style, self.count, *self.durations,
                       *self.chains):  # fmt: skip
            self.quote_after(source.change, visitor)
        self.quote_after(tab.select, visitor)
        outputs = [self.video, self.progress, self.summary, self.strip]
        buttons = [self.run, self.reroll]
        # Run and Re-roll are off while either goes: a second press would pay for it all again
        composed = self.run.click(
            self.running_buttons, outputs=buttons, api_visibility="private", queue=False
        ).then(
            compose, inputs=self.fields, outputs=[self.board_text], api_visibility="private",
            queue=False,
        )  # fmt: skip
        made = composed.success(
            self.storyboard,
            inputs=[self.board_text, self.api_key, visitor],
            # no gr.State among them: Gradio's MCP tools fail on a State output
            outputs=outputs,
            api_name="storyboard",
            concurrency_limit=None,
            show_progress="hidden",
        )
        rerolled = self.reroll.click(
            self.running_buttons, outputs=buttons, api_visibility="private", queue=False
        ).then(
            self.reroll_shot,
            inputs=[self.summary, self.made_shot, self.api_key, visitor],
            outputs=outputs,
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",
        )
        # Gradio's frontend skips ``.then`` after an error: both ends give the buttons back
        for done in (composed.failure, made.success, made.failure, rerolled.success,
                     rerolled.failure):  # fmt: skip
            done(self.idle_buttons, outputs=buttons, api_visibility="private", queue=False)
        for done in (made.success, rerolled.success):
            self.quote_after(done, visitor)  # today's spending moved on
        self.choose.click(
            self.choose_take,
            inputs=[self.summary, self.made_shot, self.take, self.api_key, visitor],
            outputs=outputs,
            api_visibility="private",
            concurrency_limit=None,
        )
        self.export_button.click(
            self.export_board,
            inputs=[self.summary, self.api_key, visitor],
            outputs=[self.zip, self.progress],
            api_visibility="private",
            concurrency_limit=None,
        )

    def quote_after(self, event: Any, visitor: gr.Textbox) -> None:
        event(
            self.quote_board,
            inputs=[*self.fields, self.api_key, visitor],
            outputs=[self.quote_note],
            api_visibility="private",
            queue=False,
        )

    # --- handlers: editing and quoting ----------------------------------------------------------

    def running_buttons(self) -> tuple[Any, Any]:
        """Run (saying so) and Re-roll off: a run or re-roll goes."""
        return gr.update(value=RUN_BUSY, interactive=False), gr.update(interactive=False)

    def idle_buttons(self) -> tuple[Any, Any]:
        """Run and Re-roll on again."""
        return gr.update(value=RUN_IDLE, interactive=True), gr.update(interactive=True)

    def add_shot(self, count: Any) -> tuple[Any, ...]:
        """One more shot slot shown (up to ``SLOTS``)."""
        try:
            n = min(shown_count(count) + 1, SLOTS)
        except errors.PixVerseError:
            n = 1
        return (n, *(gr.update(visible=k <= n) for k in range(1, SLOTS + 1)))

    def quote_board(self, *values: Any) -> str:
        """What the board would cost before it starts, in dollars and credits (and what the
        caller has spent today); a sentence for a board that cannot start."""
        *fields, api_key, visitor = values
        try:
            board = checked(compose(*fields))
        except errors.PixVerseError as exc:
            return error_markdown(exc)
        try:
            who = caller(self.page, api_key, None, visitor, None)
        except errors.PixVerseError:
            who = None  # the cost alone: today's spending is the caller's
        priced = [board.priced(k) for k in range(1, len(board.shots) + 1)]
        return self.page.app.quote(who, priced)

    # --- handlers: running ----------------------------------------------------------------------

    async def storyboard(
        self,
        board: Any,
        api_key: str | None = None,
        visitor: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> AsyncIterator[tuple[Any, str, Any, str]]:
        """Make a storyboard: several PixVerse v5.5 shots in order, stitched into one MP4.

        One quote and one budget check for every shot before anything is sent; then each
        shot is a paid generation (on the simulator, a free one). A shot with
        "from_previous": true starts from the exact last frame of the shot before it. A
        mistake in the board is refused with a sentence naming the shot and field, and
        nothing is sent.

        Args:
            board: The storyboard as JSON (text or object): {"title", "resolution" (360p, 540p,
                720p or 1080p), "aspect_ratio" (16:9, 4:3, 1:1, 3:4, 9:16), "style", "shots":
                [{"prompt", "duration" (5, 8 or 10), "seed", "image" (an http(s) URL only),
                "from_previous" (true or false)}]}, up to 20 shots.
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: Without a key: the token visitor_token gave you (as for generate).

        Returns:
            The stitched video once every shot is done, what happened as it happened, a summary
            (the storyboard's id, and per shot its generation id, seed, state, cost and why it
            is not done), and the shots as HTML cards.
        """
        try:
            story = checked(board)
            runner = self._runner(api_key, x_aimlapi_key, visitor, request)
        except errors.PixVerseError as exc:
            raise refusal(exc, title=TITLE) from None
        async for shown in self._follow(runner, lambda: runner.run(story)):
            yield shown

    async def reroll_shot(
        self,
        summary: Any,
        shot: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> AsyncIterator[tuple[Any, str, Any, str]]:
        """**Re-roll this shot**: a new take of it (a new seed) and of the shots chained to it,
        quoted and checked first, then a new stitch."""
        try:
            ident, k = board_id_of(summary), shot_number(shot)
            runner = self._runner(api_key, None, visitor, request)
            runner.board(ident)
        except errors.PixVerseError as exc:
            raise refusal(exc, title="Could not re-roll") from None
        async for shown in self._follow(runner, lambda: runner.reroll(ident, k)):
            yield shown

    def choose_take(
        self,
        summary: Any,
        shot: Any,
        take: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, str, Any, str]:
        """**Use this take**: shot ``shot`` uses take ``take`` (free), and the video is stitched
        again when every shot is done."""
        try:
            ident, k, number = board_id_of(summary), shot_number(shot), shot_number(take)
            runner = self._runner(api_key, None, visitor, request)
            runner.choose(ident, k, number)
        except errors.PixVerseError as exc:
            return gr.skip(), error_markdown(exc), gr.skip(), gr.skip()
        said = f"Shot {k} uses take {number}."
        try:
            video = self.page.publisher.file(runner.stitch(ident))
            said += " Stitched again."
        except errors.PixVerseError as exc:
            video = None
            said += f" {exc.user_message}"
        outcome = Outcome(runner.board(ident), runner.results(ident), None)
        return video, said, summary_of(outcome, runner), self.strip_html(runner, outcome)

    def export_board(
        self,
        summary: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, str]:
        """**Export**: the zip (stitched video, the board's JSON, every take used, reproduce.py)
        for download."""
        try:
            ident = board_id_of(summary)
            runner = self._runner(api_key, None, visitor, request)
            runner.board(ident)
            published = self.page.publisher.derived(
                ("storyboard-zip", ident, str(runner.board(ident).takes)),
                lambda folder: runner.export(ident, folder),
            )
        except errors.PixVerseError as exc:
            return gr.update(visible=False, value=None), error_markdown(exc)
        return gr.update(visible=True, value=published), f"Exported {Path(published).name}."

    # --- helpers --------------------------------------------------------------------------------

    def _runner(self, key: Any, header: Any, visitor: Any, request: gr.Request | None) -> Runner:
        """The caller's runner on the page's app: their key's or the shared key's rules."""
        return Runner(self.page.app, caller(self.page, key, header, visitor, request))

    async def _follow(
        self, runner: Runner, work: Callable[[], Outcome]
    ) -> AsyncIterator[tuple[Any, str, Any, str]]:
        """Run ``work`` off the event loop; yield what it says and the shots' cards as it goes,
        then the stitched video and the summary."""
        loop = asyncio.get_running_loop()
        lines: list[str] = []
        news = asyncio.Event()

        def said(text: str) -> None:
            if text.startswith("Stitched: "):  # a path on the server: never shown
                text = "Stitched into one video."

            def add() -> None:
                lines.append(text)
                news.set()

            loop.call_soon_threadsafe(add)

        runner.on_event = said
        task = asyncio.ensure_future(asyncio.to_thread(work))
        while not task.done():
            waiter = asyncio.ensure_future(news.wait())
            await asyncio.wait(
                {task, waiter}, timeout=BATCH_REDRAW_MAX, return_when="FIRST_COMPLETED"
            )
            waiter.cancel()
            news.clear()
            strip = gr.skip()
            if runner.board_id is not None:
                strip = self.strip_html(runner, None)
            yield gr.skip(), progress_text(lines), gr.skip(), strip
        try:
            outcome = task.result()
        except errors.PixVerseError as exc:
            yield gr.skip(), progress_text([*lines, error_markdown(exc)]), gr.skip(), gr.skip()
            raise refusal(exc, title=TITLE) from None
        await asyncio.sleep(0)  # the last sentences said from the thread
        video = self.page.publisher.file(outcome.video_path) if outcome.video_path else None
        yield (
            video,
            progress_text(lines),
            summary_of(outcome, runner),
            self.strip_html(runner, outcome),
        )

    def strip_html(self, runner: Runner, outcome: Outcome | None) -> str:
        """Every shot as a card: its chosen take's still, state, take and cost."""
        if outcome is None:
            assert runner.board_id is not None
            outcome = Outcome(runner.board(runner.board_id), runner.results(runner.board_id), None)
        board = outcome.board
        cards = []
        for r, shot in zip(outcome.shots, board.storyboard.shots, strict=True):
            still = poster_or_none(Path(r.video_path)) if r.video_path else None
            image = (
                f'<img src="gradio_api/file={html.escape(self.page.publisher.file(still))}" '
                f'alt="shot {r.shot}">'
                if still
                else ""
            )
            state = "stale" if r.state == DONE and board.stale(r.shot) else r.state
            takes = len(board.takes_of(r.shot))
            chain = " · from the shot before" if shot.from_previous else ""
            why = f"<p>{html.escape(r.reason)}</p>" if r.reason else ""
            cards.append(
                f'<figure class="pxui-sb-card" data-shot="{r.shot}" data-state="{state}">{image}'
                f"<figcaption><b>Shot {r.shot}</b> · {shot.duration} s{chain}<br>"
                f'<span class="pxui-sb-state">{html.escape(state)}</span>'
                f" · take {r.take or '–'} of {takes} · "
                f"{html.escape(cost_words(runner, outcome, r))}<br>"
                f"{html.escape(shot.prompt[:160])}{why}</figcaption></figure>"
            )
        return f'<div class="pxui-sb-strip">{"".join(cards)}</div>'


def progress_text(lines: list[str]) -> str:
    return "\n\n".join(lines)


def edit_shots(action: str) -> Callable[..., tuple[Any, ...]]:
    """The handler of **Move earlier**, **Move later** or **Remove** (``action``) for the shot
    the tab's *Shot* number names."""

    def edit_shots(shot: Any, count: Any, *rows: Any) -> tuple[Any, ...]:
        unchanged = (gr.update(),) * (1 + SLOTS + len(rows))
        try:
            n, k = shown_count(count), shot_number(shot)
            if k > n:
                raise errors.ValidationError(f"There is no shot {k}: the board has {n}.")
        except errors.PixVerseError as exc:
            return (*unchanged, error_markdown(exc))
        columns = [list(rows[i * SLOTS : (i + 1) * SLOTS]) for i in range(3)]
        if action == "remove":
            if n == 1:
                return (
                    *unchanged,
                    error_markdown(errors.ValidationError("A board keeps one shot.")),
                )
            for column, blank in zip(columns, ("", params.DEFAULT_DURATION, False), strict=True):
                del column[k - 1]
                column.append(blank)
            n -= 1
        else:
            j = k - 1 if action == "up" else k + 1
            if not 1 <= j <= n:
                return (*unchanged, "")
            for column in columns:
                column[k - 1], column[j - 1] = column[j - 1], column[k - 1]
        columns[2][0] = False  # the first shot starts from nothing
        shown = (gr.update(visible=i <= n) for i in range(1, SLOTS + 1))
        return (n, *shown, *columns[0], *columns[1], *columns[2], "")

    return edit_shots
