"""What a stranger's request may make the server keep: refused before Gradio reads it, or bounded.

On a public page anyone can call every route Gradio serves. What a request could make the
process write to disk, fetch, or hold in memory is settled here:

- Gradio's upload route takes one image of at most 10 MB, checked by its content before Gradio
  stores a byte of it, at a bounded rate per address and per visitor (:mod:`.uploads`).
- Routes the page never uses, that would keep what a caller sends, are refused with a sentence
  before a byte of the body is read (``REFUSED``): Gradio's recording upload, and
  ``/gradio_api/deep_link``, which writes the state of the caller's session (about
  90 kB) into ``GRADIO_TEMP_DIR/deep_links`` at every call, never removes it, and serves it back
  through the file route. The page offers no deep links, and Gradio's own script asks for one
  only from a ``gr.DeepLinkButton``, which the page has not.
- Every request's body is bounded (``BODY_CAPS``, else ``GENERAL_CAP``): a declared
  ``Content-Length`` over the cap is answered 413 at once; a body sent without one (chunked) is
  counted as it arrives, and at the cap the app is told the caller left and the caller gets 413.
  A request holds at most its cap in memory, however large the body it announces.
- A link in an input is not fetched (:func:`refuse_fetches`): Gradio downloads the file an input
  names by URL (a ``FileData`` dict, in any component's input, a text box's too) into its cache,
  whatever its size, before any handler runs. The page takes images only as uploads, and an
  image's URL as text, sent on as given.

What else Gradio writes on a request, and why it stays bounded: files the app publishes
(``publish.Publisher``, made once per version and swept); a login form's fields (held in memory:
starlette spools a part to disk only past 1 MiB, over the general cap). Gradio's run history is
off (``page.launch_options``). The MCP server turns a tool's file arguments into files, and the
app's tools declare none (``generate``'s ``image`` is text to MCP: a URL or a data: URI).

:func:`refuse_fetches` replaces a Gradio internal for the pages it is given only
(``gradio_internals.refuse_downloads``); ``tests/test_disk_bounds.py`` checks that a link in an
input is still refused with this module's sentence.

- A link named in the file route (``/gradio_api/file=https://...``) is refused too: Gradio would
  fetch any public address a stranger names there and stream it back. The app serves its own
  files only.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import address_of
from .gradio_internals import refuse_downloads
from .uploads import (
    UPLOAD_CAP,
    UPLOAD_ROUTE,
    VISITOR_COOKIE,
    Refused,
    UploadRate,
    checked_body,
    reading,
)

KB = 1000
MB = 1000 * KB

NO_UPLOADS = "This app takes no uploads."
NO_DEEP_LINKS = "This app makes no deep links."
NO_LINKS = (
    "This app fetches no link sent in place of a file: upload the image, or give its URL as text."
)

#: Gradio's routes this app refuses, by how their path ends: the status and the sentence.
REFUSED: dict[str, tuple[int, str]] = {
    "/gradio_api/process_recording": (403, NO_UPLOADS),
    "/gradio_api/deep_link": (404, NO_DEEP_LINKS),
}
#: The most body a request may carry, by how its route's path ends; any other route takes
#: ``GENERAL_CAP``. A route that takes files gets its own line (and leaves ``REFUSED``), e.g.
#: ``"/gradio_api/upload": 10 * MB`` for images of at most 10 MB.
BODY_CAPS: dict[str, int] = {UPLOAD_ROUTE: UPLOAD_CAP}
#: The most body any other request may carry. The largest the page sends is the History
#: pager's follow-up, which sends back the cards it shows: 33 kB for twelve cards with
#: 2,000-character notes, 153 kB at worst (notes of control characters, six bytes each in JSON).
#: A Generate with a 2,048-character prompt and negative prompt sends 9 to 17 kB. 1 MB leaves
#: six times the worst, and keeps a login form's fields in memory (see above).
GENERAL_CAP = 1 * MB


def too_large(cap: int) -> str:
    """The sentence a request over ``cap`` bytes gets."""
    size = f"{cap / MB:g} MB" if cap >= MB else f"{cap / KB:g} kB"
    return f"This request is too large: this app takes at most {size} in one request."


def refusal(path: str) -> tuple[int, str] | None:
    """The status and sentence a request for ``path`` is refused with, if it is."""
    _, file_route, named = path.partition("/gradio_api/file=")
    if file_route and named.lower().lstrip("/").startswith(_LINK_SCHEMES):
        return (403, NO_LINKS)
    path = path.rstrip("/")
    return next((answer for route, answer in REFUSED.items() if path.endswith(route)), None)


#: What a file route's path starts with when it names a link, not a file (``//`` included:
#: Gradio takes ``http:/x`` as well, a path's double slash folded).
_LINK_SCHEMES = ("http:", "https:")


def body_cap(path: str) -> int:
    """The most bytes of body a request for ``path`` may carry."""
    path = path.rstrip("/")
    return next((cap for route, cap in BODY_CAPS.items() if path.endswith(route)), GENERAL_CAP)


class RequestGuard:
    """ASGI middleware: refuse ``REFUSED`` routes, and bodies over their route's cap, with a
    status and a plain sentence, before Gradio reads the body."""

    def __init__(
        self,
        app: ASGIApp,
        proxy_hops: int = 0,
        uploads: UploadRate | None = None,
        visitor_of: Callable[[object], str | None] | None = None,
    ) -> None:
        """``visitor_of``: the visitor a token stands for, if the app signed it
        (``VisitorTokens.visitor_of``); without it uploads are counted by address alone."""
        self.app = app
        self.proxy_hops = proxy_hops
        self.uploads = uploads or UploadRate()
        self.visitor_of = visitor_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = refusal(scope["path"])
        if refused is not None:
            await _answer(send, *refused)
            return
        cap = body_cap(scope["path"])
        declared = _declared_length(scope["headers"])
        if declared is not None and declared > cap:
            await _answer(send, 413, too_large(cap))
            return
        if scope["path"].rstrip("/").endswith(UPLOAD_ROUTE):
            await self._upload(scope, receive, send)
            return
        bounded = _Bounded(receive, send, cap)
        await self.app(scope, bounded.receive, bounded.send)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An upload: counted, read whole into memory (within its cap), checked, and only then
        handed to Gradio, rebuilt from what was checked (:mod:`.uploads`)."""
        headers = Headers(scope=scope)
        peer = (scope.get("client") or (None,))[0]
        try:
            self.uploads.admit(
                address_of(headers, peer, self.proxy_hops) or "unknown", self._visitor(headers)
            )
            with reading():
                body = await _whole_body(receive, UPLOAD_CAP)
                rebuilt, content_type = checked_body(
                    headers.get("content-type", "").encode("latin-1"), body
                )
                del body
                scope = dict(scope)
                scope["headers"] = [
                    (name, value)
                    for name, value in scope["headers"]
                    if name.lower()
                    not in (b"content-type", b"content-length", b"transfer-encoding")
                ] + [
                    (b"content-type", content_type),
                    (b"content-length", str(len(rebuilt)).encode()),
                ]
                handed = False

                async def replay() -> Message:
                    nonlocal handed
                    if handed:
                        return await receive()
                    handed = True
                    return {"type": "http.request", "body": rebuilt, "more_body": False}

                await self.app(scope, replay, send)
        except Refused as refused:
            await _answer(send, refused.status, refused.words)

    def _visitor(self, headers: Headers) -> str | None:
        """The visitor an upload's cookie names, if the app signed its token."""
        if self.visitor_of is None or "cookie" not in headers:
            return None
        token = cookie_parser(headers["cookie"]).get(VISITOR_COOKIE)
        return self.visitor_of(token) if token else None


class _Bounded:
    """One request's receive and send, counting the body as it arrives: past ``cap`` bytes the
    app is told the caller has left, the caller gets 413, and what the app answers is dropped."""

    def __init__(self, receive: Receive, send: Send, cap: int) -> None:
        self._receive, self._send, self._cap = receive, send, cap
        self._received = 0
        self._cut = False
        self._started = False

    async def receive(self) -> Message:
        if self._cut:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._cap:
                self._cut = True
                if not self._started:
                    await _answer(self._send, 413, too_large(self._cap))
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._cut:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


async def _whole_body(receive: Receive, cap: int) -> bytes:
    """The request's body, read to its end; :class:`Refused` (413) past ``cap`` bytes, or when
    the caller leaves."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused(400, "The upload ended before its body did.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise Refused(413, too_large(cap))
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, words: str) -> None:
    body = words.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's declared length; None when there is none (the server refuses a malformed one
    before the app is called)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def refuse_fetches(demo: gr.Blocks) -> None:
    """Refuse, with ``NO_LINKS``, a link in any input of ``demo``'s events, before anything is
    fetched or written; other Gradio apps in the process are left as they are."""
    refuse_downloads(demo, lambda: gr.Error(NO_LINKS, print_exception=False))
