"""Sign in with Hugging Face: who signed in on a request's session, read as Gradio reads it.

Gradio's OAuth (``hf_oauth: true`` on a Space, and a ``gr.LoginButton`` on the page) keeps what
the sign-in returned as ``oauth_info`` in a session cookie signed with the Space's OAuth secret,
and builds ``gr.OAuthProfile`` from it for handlers that ask for one. The app reads the same
session through the ``gr.Request`` every handler already takes, so the public handlers' signatures
(the API's and the MCP tools' schemas) stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gradio as gr


def signed_in_profile(
    request: gr.Request | None, *, now: Callable[[], float] = time.time
) -> gr.OAuthProfile | None:
    """The Hugging Face profile this request's session signed in with; None when nobody did,
    the sign-in has expired, or the app has no sign-in (no session)."""
    fastapi_request = getattr(request, "request", None)
    scope = getattr(fastapi_request, "scope", None)
    session = scope.get("session") if isinstance(scope, dict) else None
    info = session.get("oauth_info") if isinstance(session, dict) else None
    if not isinstance(info, dict):
        return None
    expires_at = info.get("expires_at")
    if isinstance(expires_at, (int, float)) and expires_at < now():
        return None  # Gradio's rule too: an expired sign-in is no sign-in
    try:
        return gr.OAuthProfile(info["userinfo"])
    except (KeyError, TypeError):
        return None


def signed_in_username(request: gr.Request | None) -> str | None:
    """The Hugging Face username of whoever signed in on this request's session, if anyone."""
    profile = signed_in_profile(request)
    if profile is None or not isinstance(profile.username, str) or not profile.username:
        return None
    return profile.username
