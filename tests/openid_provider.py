"""A stand-in OpenID provider on loopback, in place of huggingface.co's, for Gradio's sign-in.

Gradio (through authlib) reads ``$OPENID_PROVIDER_URL/.well-known/openid-configuration``, sends
the browser to its ``authorization_endpoint``, trades the code at its ``token_endpoint`` (the
client id and secret in HTTP Basic), and takes who signed in from the RS256 ``id_token``, checked
against ``jwks_uri``: issuer, audience, nonce, expiry. This one does exactly that, with the user
the test chooses (:meth:`OpenIDProvider.sign_in_as`), and counts what it was asked.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "stand-in-client"
CLIENT_SECRET = "stand-in-secret-0123456789"
SCOPES = "openid profile"


@dataclass(frozen=True)
class Grant:
    """A code the provider handed out: whose, for which redirect, with which nonce."""

    username: str
    redirect_uri: str
    nonce: str | None
    expires_in: int


class OpenIDProvider:
    """Serve on ``127.0.0.1`` in a daemon thread; ``url`` is what ``OPENID_PROVIDER_URL`` says."""

    def __init__(self) -> None:
        self._key = RSAKey.generate_key(2048, parameters={"kid": "stand-in"})
        self._lock = threading.Lock()
        self._next: tuple[str, int] | None = None
        self._grants: dict[str, Grant] = {}
        self._tokens: dict[str, str] = {}
        #: How many requests each path answered.
        self.hits: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> OpenIDProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def sign_in_as(self, username: str, *, expires_in: int = 3600) -> None:
        """Whoever the next authorization is for (as if they typed their password)."""
        with self._lock:
            self._next = (username, expires_in)

    def env(self) -> dict[str, str]:
        """What a Space with ``hf_oauth: true`` sets, pointing here."""
        return self.env_for(self.url)

    @staticmethod
    def env_for(url: str) -> dict[str, str]:
        """What a Space with ``hf_oauth: true`` sets, for a provider at ``url``."""
        return {
            "OPENID_PROVIDER_URL": url,
            "OAUTH_CLIENT_ID": CLIENT_ID,
            "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "OAUTH_SCOPES": SCOPES,
        }

    # --- the endpoints ------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        with self._lock:
            if self._next is None:
                return 403, {}, {"error": "access_denied"}
            username, expires_in = self._next
            code = secrets.token_urlsafe(16)
            self._grants[code] = Grant(
                username, query["redirect_uri"], query.get("nonce"), expires_in
            )
        back = urllib.parse.urlsplit(query["redirect_uri"])
        params = urllib.parse.parse_qsl(back.query) + [("code", code), ("state", query["state"])]
        location = back._replace(query=urllib.parse.urlencode(params)).geturl()
        return 302, {"Location": location}, None

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, str], Any]:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {}, {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            return 400, {}, {"error": "invalid_grant"}
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = grant.username
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            **self.claims_of(grant.username),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": "stand-in"}, claims, self._key)
        return (
            200,
            {},
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": grant.expires_in,
                "scope": SCOPES,
                "id_token": id_token,
            },
        )

    def userinfo(self, authorization: str) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            username = self._tokens.get(authorization.removeprefix("Bearer "))
        if username is None:
            return 401, {}, {"error": "invalid_token"}
        return 200, {}, self.claims_of(username)

    @staticmethod
    def claims_of(username: str) -> dict[str, str]:
        """The claims huggingface.co gives for ``openid profile``."""
        return {
            "sub": f"sub-{username}",
            "name": username.title(),
            "preferred_username": username,
            "profile": f"https://huggingface.co/{username}",
            "picture": f"https://huggingface.co/avatars/{username}.png",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urllib.parse.urlsplit(self.path)
                provider.hits[url.path] += 1
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._answer(200, {}, provider.metadata())
                elif url.path == "/jwks":
                    self._answer(200, {}, {"keys": [provider._key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    self._answer(*provider.authorize(query))
                elif url.path == "/userinfo":
                    self._answer(*provider.userinfo(self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {}, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                provider.hits[url.path] += 1
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if url.path == "/token":
                    self._answer(*provider.token(form, self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {}, {"error": "not_found"})

            def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet: pytest shows what matters

        return Handler
