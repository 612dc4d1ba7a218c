"""What every part of the page shares: the app's state, who is calling, how inputs are taken,
and how outcomes are said."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import errors, params
from ..access import App, Caller, Origin, came_from_outside
from ..formatting import duration
from ..lifecycle import TRANSIENT_ICON, Status
from ..polling import Update
from ..publish import Publisher
from ..store import JobRecord
from .gradio_internals import pass_input_through
from .signin import signed_in_username

NO_STYLE = "none"
THINKING_DEFAULT = "model default"
KEY_STORAGE = "pixverse-ui-key"
VISITOR_STORAGE = "pixverse-ui-visitor"
#: What a caller hears about a history item that is not theirs, or not there: the same sentence.
NOT_YOURS = "That generation is not in your history. Press **Refresh history** and pick again."
#: The estimate left when there is none: the job may end at any poll.
ANY_MOMENT = "any moment now"
#: The settings column of a generation known by its id alone (its request was made elsewhere).
ADOPTED_WORDS = "started elsewhere; resumed by its id"


@dataclass(frozen=True)
class Page:
    """The state one page's handlers share: the app (mode, ledger, watchers, clients, budgets)
    and the publisher that hands files to the page."""

    app: App
    publisher: Publisher


#: The elem_ids of the components whose input reaches their handlers as sent (:func:`strict_input`).
_RAW_INPUT_IDS: set[str] = set()


def strict_input(component: Any) -> Any:
    """Hand the handler what the caller sent, unconverted, so that it is validated, not coerced.

    Gradio's Textbox turns any value into its ``str`` (a list prompt would be sent as its repr),
    its Number rounds (seed 1.5 would become 2), and its choice components refuse a stranger
    value by quoting it whole (a key sent in the wrong place would be echoed and logged).
    ``params.validate`` and the handlers refuse all of these with a sentence instead.

    When an event sends a component new properties (the duration's choices), Gradio rebuilds it
    for that session, and the copy must take input as sent too: a copy that checked the value
    against its choices answered a duration the page had just set (by an example, or a value
    sent as the choices changed) with a 500 and a traceback. The copy keeps the component's
    ``elem_id`` (and loses what was set on the instance), so the component is known by its
    ``elem_id`` (every one given here has one) and its class's ``preprocess`` passes a known
    component's input through (``gradio_internals.pass_input_through``); others are left as
    Gradio has them.
    """
    if not component.elem_id:
        raise ValueError("strict_input needs a component with an elem_id")
    _RAW_INPUT_IDS.add(component.elem_id)
    pass_input_through(type(component), lambda copy: copy.elem_id in _RAW_INPUT_IDS)
    return component


def event_value(evt: gr.EventData | None, name: str) -> str | None:
    """A text field of an event's data (``evt.<name>``, Gradio's public access to it); None when
    the event has none, or it is not text (the data comes from the caller, whoever they are)."""
    try:
        value = getattr(evt, name, None)
    except (TypeError, AttributeError):  # an event with no data at all
        return None
    return value if isinstance(value, str) else None


def with_integer_schema(dropdown: gr.Dropdown) -> gr.Dropdown:
    """Declare a dropdown of whole numbers as such in the API schema.

    ``gr.Dropdown`` declares every choice a string, so its schema for 5, 8, 10 matches no value at
    all, and MCP clients, which check arguments against it, could not pass a duration. Set on the
    instance: a subclass would make Gradio write a ``.pyi`` file next to this module.
    """
    dropdown.api_info = lambda: {  # type: ignore[method-assign]
        "type": "integer",
        "enum": [value for _, value in dropdown.choices],
    }
    return dropdown


def with_seed_schema(box: gr.Textbox) -> gr.Textbox:
    """Declare the seed's text box a whole number in the API schema (blank: one is picked).

    Set on the instance, as in :func:`with_integer_schema`.
    """
    box.api_info = lambda: {  # type: ignore[method-assign]
        "type": "integer",
        "minimum": params.SEED_MIN,
        "maximum": params.SEED_MAX,
    }
    return box


def caller(page: Page, key: Any, header: Any, visitor: Any, request: gr.Request | None) -> Caller:
    """Who is calling (see ``App.caller``): their key from the form or the MCP header, their
    visitor token, their login name, their Hugging Face sign-in, their network address, and
    whether they came from beyond this machine.

    Gradio's session hash is not an identity: the caller chooses it, and every queued MCP call
    goes through one process-wide client with the same one.
    """
    username = getattr(request, "username", None)
    signed_in = signed_in_username(request) if page.app.mode.sign_in else None
    origin = Origin(client_address(request, page.app.mode.proxy_hops), from_outside(page, request))
    return page.app.caller(key or header, visitor, username, signed_in=signed_in, origin=origin)


def from_outside(page: Page, request: gr.Request | None) -> bool:
    """Whether ``request`` reached a page that believes it is private from beyond this machine
    (``access.came_from_outside``); the host hears of the first such request in the log."""
    if request is None or page.app.mode.public:
        return False
    header = came_from_outside(getattr(request, "headers", None) or {})
    if header is None:
        return False
    page.app.note_outside(header)
    return True


def client_address(request: gr.Request | None, hops: int) -> str | None:
    """The caller's network address: with ``hops`` proxies in front of the app, the entry the
    outermost trusted one appended to ``X-Forwarded-For`` (entries before it are the caller's
    to write); with none, the socket's peer."""
    if request is None:
        return None
    peer = getattr(getattr(request, "client", None), "host", None)
    return address_of(getattr(request, "headers", None) or {}, peer, hops)


def address_of(headers: Any, peer: str | None, hops: int) -> str | None:
    """:func:`client_address` from a request's headers (a mapping with ``get``) and the socket's
    peer address."""
    if hops > 0:
        forwarded = [part.strip() for part in str(headers.get("x-forwarded-for", "")).split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            return forwarded[-min(hops, len(forwarded))][:64]
    return str(peer)[:64] if peer else None


def form_params(
    prompt: Any,
    negative_prompt: Any,
    aspect_ratio: Any,
    resolution: Any,
    duration: Any,
    style: Any,
    seed: Any,
    audio: Any,
    multi_clip: Any,
    thinking: Any,
    image: Any = None,
) -> params.Params:
    """The page's fields, validated (``ValidationError`` with a sentence otherwise); the image
    last, as ``params.validate`` checks it: a refusal of the other fields comes first."""
    fields = {
        "negative_prompt": negative_prompt or None,
        "aspect_ratio": aspect_ratio or None,
        "resolution": resolution,
        "duration": duration,
        "style": None if style in (None, NO_STYLE) else style,
        "seed": None if seed is None or seed == "" else seed,
        "generate_audio_switch": None if audio in (None, False) else audio,
        "generate_multi_clip_switch": None if multi_clip in (None, False) else multi_clip,
        "thinking_type": None if thinking in (None, "", THINKING_DEFAULT) else thinking,
    }
    try:
        chosen = form_image(image)
    except errors.ValidationError:
        params.validate(prompt, **fields)  # the other fields' own refusal, if they have one
        raise
    return params.validate(prompt, **fields, **({} if chosen is None else {"image": chosen}))


def form_image(image: Any) -> str | None:
    """The image an input names: a file Gradio has (its path, which Gradio checked is one of its
    uploads), or text that is a URL or a data: URI; a path sent as text is refused (a stranger
    would name files of the server's)."""
    if image is None or image == "":
        return None
    if isinstance(image, dict) and isinstance(image.get("path"), str):
        return image["path"]
    if isinstance(image, str) and image.strip().lower().startswith(_IMAGE_TEXT):
        return image.strip()
    if isinstance(image, str) and "://" in image:
        return image.strip()  # images.prepare refuses other schemes with its sentence
    raise errors.ValidationError(
        "The image must be a public http(s) URL, a data:image URI, or an uploaded file "
        "(gradio_client's handle_file); a path on the server is not taken.",
        field="image",
    )


_IMAGE_TEXT = ("http://", "https://", "data:")


def request_json(body: dict[str, Any]) -> str:
    """A request body as the page shows it."""
    return json.dumps(body, indent=2, ensure_ascii=False)


# --- how outcomes are said ------------------------------------------------------------------------


def refusal(exc: errors.PixVerseError, title: str = "Could not generate") -> gr.Error:
    """The toast for a sentence of ours. Gradio 6's toast heads every error "Error" and does not
    show ``title``, so the title leads the message."""
    return gr.Error(f"{title}: {exc.user_message}", title=title, print_exception=False)


def error_markdown(exc: errors.PixVerseError) -> str:
    return f"{Status.FAILED.icon} {exc.user_message}"


def status_html(
    update: Update | None,
    *,
    note: str = "",
    started: float | None = None,
    now: float | None = None,
    job: str | None = None,
) -> str:
    """The live status panel: status, then elapsed, estimate, credits and generation id as lines
    that wrap (a table's four columns cut the id off on a phone).

    The elapsed time and the estimate carry their values in ``data-elapsed``/``data-left``; the
    page's script (``PAGE_JS``) moves them on every second, so the server sends a new panel only
    when something happens, not a tick a second. With ``started`` and ``now`` the clock is the
    job's own (:func:`live_clock`), as the strip of running jobs shows it. The cost is in the
    words every face uses (``Update.cost_words``). The panel names the job it shows
    (``data-job``; ``job`` for a panel with no update, such as Stop's), which "Watch again"
    follows.
    """
    named = job or (update.generation_id if update is not None else "")
    tag = f' data-job="{html.escape(named)}"' if named else ""
    if update is None:
        text = note or READY
        return f'<div class="pxui-status"{tag}><p>{text}</p></div>'
    # the figure after its label; "cost not known yet" is a sentence of its own
    label = "cost (credits used) " if update.cost is not None else ""
    credits = html.escape(update.cost_words())
    icon = TRANSIENT_ICON if update.transient and not update.done else update.state.icon
    done = update.done
    live = not (done or update.stopped)
    elapsed, left = live_clock(update, started, now)
    facts = clock_facts(elapsed, left, live=live, done=done, job=update.generation_id)
    extra = f"<p>{note}</p>" if note else ""
    return (
        f'<div class="pxui-status" data-status="{html.escape(update.status)}"{tag}>'
        f"<p>{icon} <b>{html.escape(update.word)}</b> — {html.escape(update.message)}</p>"
        f'<p class="pxui-facts">{facts}'
        f"<span>{label}<b>{credits}</b></span> "
        f"<span>id <code>{html.escape(update.generation_id)}</code></span></p>{extra}</div>"
    )


#: The panel before a job is followed or anything went wrong.
READY = "Ready. Type a prompt and press <b>Generate</b>."
#: The panel a page is first drawn with, until its load has looked for the visitor's running
#: jobs (``LivePart.reattach``); while it shows, the form is hidden (``page.CSS``).
LOADING = f"{Status.SUBMITTING.icon} Looking for a job of yours still running…"


#: The panel when the load could not look for the visitor's running jobs (the form shows anyway).
NOT_LOOKED = (
    "Could not look for a job of yours still running. A job you started goes on and is in "
    "<b>History</b> when it ends; reload the page to look again."
)


def loading_html() -> str:
    """The status panel of a page whose load has not answered yet."""
    return f'<div class="pxui-status pxui-loading"><p>{LOADING}</p></div>'


def clock_is_live(panel: Any) -> bool:
    """Whether the status panel shows a job being followed: its clock moves (``clock_facts``
    with ``live``)."""
    return isinstance(panel, str) and "data-elapsed=" in panel


def followed_job(panel: Any) -> str | None:
    """The generation id the status panel names (``data-job``), if it names one: what
    "Watch again" follows. The panel comes from the page: the caller's own jobs are checked."""
    if not isinstance(panel, str):
        return None
    found = re.search(r'data-job="([^"<>]{1,200})"', panel)
    return html.unescape(found.group(1)) if found else None


def started_at(record: JobRecord) -> float:
    """When the API took a job (its create answer), the start of its one clock."""
    return record.submitted_at or record.created_at


def live_clock(
    update: Update, started: float | None, now: float | None
) -> tuple[float, float | None]:
    """A running job's one clock, as the status panel and the strip of running jobs both show
    it: elapsed from when the API took it (``started``) to ``now``, never less than its last
    update said; the estimate left is what that update expected in all, less that. Without
    ``started`` or ``now``, the update's own."""
    elapsed = update.elapsed
    if started is not None and now is not None:
        elapsed = max(elapsed, now - started)
    left = None if update.eta is None else max(0.0, update.elapsed + update.eta - elapsed)
    return elapsed, left


def clock_facts(
    elapsed: float, eta: float | None, *, live: bool, done: bool = False, job: str | None = None
) -> str:
    """``elapsed 0:12`` and ``estimate left 0:40`` as spans; live ones move on in the page, and
    those of one ``job`` (the panel's and the strip's) count from one start (``PAGE_JS``)."""
    shown = duration(elapsed)
    left = "done" if done else duration(eta, missing=ANY_MOMENT)
    tag = f' data-job="{html.escape(job)}"' if job else ""
    if live:
        clock = f'<b class="pxui-clock" data-elapsed="{elapsed:.1f}"{tag}>{shown}</b>'
        if eta is not None:
            left = f'<b class="pxui-left" data-left="{eta:.1f}"{tag}>{left}</b>'
        else:
            left = f"<b>{left}</b>"
    else:
        clock, left = f"<b>{shown}</b>", f"<b>{left}</b>"
    return f"<span>elapsed {clock}</span> <span>estimate left {left}</span> "


def refused_html(exc: errors.PixVerseError) -> str:
    """The status panel for a refusal: what is wrong, and that nothing was sent."""
    said = html.escape(exc.user_message)
    return f'<div class="pxui-status pxui-refused"><p>{Status.FAILED.icon} {said}</p></div>'


#: Runs once in the page: moves every live clock on between the server's updates, and makes the
#: videos of a comparison play, pause and seek together.
PAGE_JS = """() => {
  const pad = (n) => String(n).padStart(2, '0');
  const fmt = (s) => { s = Math.max(0, Math.round(s));  // as formatting.duration
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h ? h + ':' + pad(m) : m) + ':' + pad(s % 60); };
  // one clock per job: the status panel and the strip count from one start, to one end
  const starts = {}, ends = {};
  const shared = (table, job, value, pick) => {
    if (!job) return value;
    table[job] = table[job] === undefined ? value : pick(table[job], value);
    return table[job];
  };
  const show = (el, text) => { if (el.textContent !== text) el.textContent = text; };
  const tick = () => {
    const now = performance.now(), clocks = [];
    for (const el of document.querySelectorAll('[data-elapsed], [data-left]')) {
      if (!el.dataset.seen) el.dataset.seen = String(now);
      const seen = parseFloat(el.dataset.seen), job = el.dataset.job;
      clocks.push(el.dataset.elapsed !== undefined
        ? [el, starts, shared(starts, job, seen - parseFloat(el.dataset.elapsed) * 1000, Math.min)]
        : [el, ends, shared(ends, job, seen + parseFloat(el.dataset.left) * 1000, Math.max)]);
    }
    for (const [el, table, own] of clocks) {  // after every clock of a job has had its say
      const at = el.dataset.job ? table[el.dataset.job] : own;
      const left = (at - now) / 1000;
      show(el, table === starts ? fmt((now - at) / 1000) : left > 0 ? fmt(left) : 'any moment now');
    }
  };
  setInterval(tick, 1000);
  // a clock drawn anew shows the job's one time at once, not a second later
  new MutationObserver(tick).observe(document, {subtree: true, childList: true});
  const peers = (video) => {
    const box = video.closest && video.closest('.pxui-compare');
    return box ? [...box.querySelectorAll('video')].filter((v) => v !== video) : [];
  };
  let echoing = false;  // a change made to follow another video is not followed again
  const follow = (kind) => document.addEventListener(kind, (event) => {
    if (echoing || !(event.target instanceof HTMLVideoElement)) return;
    const others = peers(event.target);
    if (!others.length) return;
    echoing = true;
    for (const other of others) {
      if (kind === 'seeked') other.currentTime = event.target.currentTime;
      else if (kind === 'play') other.play();
      else other.pause();
    }
    setTimeout(() => { echoing = false; }, 50);
  }, true);
  ['play', 'pause', 'seeked'].forEach(follow);
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('.pxui-play-all');
    if (!button) return;
    for (const video of button.closest('.pxui-compare').querySelectorAll('video')) {
      video.muted = true; video.currentTime = 0; video.play();
    }
  });
}"""
