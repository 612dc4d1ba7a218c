"""Who a browser is: its visitor token, asked of the server when the page loads and kept in the
browser's storage; and, on an app that believes it is private, the banner a stranger who came
through a proxy or tunnel sees instead of the host's.

The page's load event restores what the browser kept (``page._JS_RESTORE``): its key, if it was
to be remembered, and its token. :meth:`VisitorPart.visitor_token` then hands back that token if
the app signed it, or a fresh one (a new browser, a cleared storage, or an id from before tokens
were signed), and the page keeps it (in its storage, and in a cookie its uploads carry). The same
handler is the ``visitor_token`` endpoint and MCP tool, for callers that are not a page.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from .common import VISITOR_STORAGE, Page, from_outside
from .uploads import VISITOR_COOKIE

#: After the server has answered: the browser keeps its token (a reload, a new tab, the same one),
#: and puts it in a cookie too, which the page's uploads carry (``uploads.VISITOR_COOKIE``: an
#: upload is counted per visitor as well as per address). Over https the cookie is one a
#: Space's iframe may send (SameSite=None, partitioned by the site that embeds it).
_JS_KEEP = f"""(token) => {{
  if (!token) return;
  localStorage.setItem('{VISITOR_STORAGE}', token);
  const where = location.protocol === 'https:'
    ? 'SameSite=None; Secure; Partitioned' : 'SameSite=Lax';
  document.cookie = `{VISITOR_COOKIE}=${{token}}; path=/; max-age=31536000; ${{where}}`;
}}"""


class VisitorPart:
    """The visitor token's events, and the banner for strangers on a private app."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def wire(self, restored: Any, visitor: gr.Textbox, banner: gr.Markdown, key_box: Any) -> Any:
        """After ``restored`` (the load's restore of what the browser kept): the token, then its
        keeping; returns the token's event, which everything that reads ``visitor`` follows."""
        token = restored(
            self.visitor_token,
            inputs=[visitor],
            outputs=[visitor],
            api_name="visitor_token",
            queue=False,
        )
        token.then(None, inputs=[visitor], js=_JS_KEEP, api_visibility="private", queue=False)
        if not self.page.app.mode.public:  # a public page's banner is right for everyone
            restored(
                self.outside_banner,
                outputs=[banner, key_box],
                api_visibility="private",
                queue=False,
            )
        return token

    def visitor_token(self, visitor: str | None = None) -> str:
        """Your visitor token: who you are here when you send no key and have no sign-in.

        Send it as `visitor` to generate, variations and list_history, and they know your
        videos as yours: list_history with it finds what generate made with it. Keep it; it does
        not expire. A name you choose yourself is not one: a call without a token this app gave
        has a history of its own alone, and may not spend a key the host shares.

        Args:
            visitor: A token this app gave you before: it comes back as it is. Empty (or
                anything else) for a new one.

        Returns:
            The token to send as `visitor`.
        """
        return self.page.app.visitor_token(visitor)

    def outside_banner(self, request: gr.Request = None) -> tuple[Any, Any]:  # type: ignore[assignment]
        """For a page that came through a proxy or tunnel to an app on loopback: the banner of
        the public rules it meets, and the key field open; nothing changed for the host."""
        mode = self.page.app.outside_mode
        if not mode.outside or not from_outside(self.page, request):
            return gr.skip(), gr.skip()
        return mode.banner(), gr.update(open=mode.visitors_need_own_key)
