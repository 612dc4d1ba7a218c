"""Sign in with Hugging Face: a signed-in person spends the Space's shared key as themselves.

``python app.py`` runs as a Space (``SPACE_ID``, ``SYSTEM=spaces``, a host key shared with
``PIXVERSE_UI_SHARE_HOST_KEY=1``) with ``PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY=1``, in front of the
loopback simulator, with Gradio's OAuth pointed at a stand-in OpenID provider on loopback
(``tests/openid_provider.py``), never at huggingface.co. People sign in as a browser does:
``/login/huggingface``, the provider's ``/authorize``, ``/login/callback``, carrying the session
cookie; then they call the page's events through the queue with that cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from openid_provider import OpenIDProvider
from support import RawCall, ServedApp, form, queue_call, running_app_py, visitor_token

from pixverse_ui import errors
from pixverse_ui.access import NO_SIGN_IN_HERE, SIGN_IN_TO_SHARE, App, Mode
from pixverse_ui.simulator import SimConfig, Simulator
from pixverse_ui.store import Ledger
from pixverse_ui.ui.signin import signed_in_profile, signed_in_username

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOST = "sk-oauth-HOST-00112233445566778899"
CAROL = "sk-oauth-CAROL-aabbccddeeff00112233"  # an anonymous visitor with a key of her own
SPACE = {
    "SPACE_ID": "someone/pixverse-ui",
    # what a Space sets; Gradio's real sign-in needs it (Gradio's hot-reload watcher, which needs
    # the `spaces` package a real Space has, prints a traceback in the log and the app goes on)
    "SYSTEM": "spaces",
    "SPACE_HOST": "",  # Gradio would send the provider to https://<SPACE_HOST>/login/callback
    "AIMLAPI_KEY": HOST,
    "PIXVERSE_UI_SHARE_HOST_KEY": "1",
}
ALICE_PROMPT = "alice's heron over the marsh at dawn"
FILTERS = ["", "any", False, "any", "any time", 1]  # the History filters' defaults, page 1


@dataclass
class Space:
    app: ServedApp
    home: Path
    sim: Simulator
    provider: OpenIDProvider
    deps: list[dict[str, Any]]

    def call(self, name: str, data: list[Any], http: requests.Session | None = None) -> RawCall:
        index = next(i for i, dep in enumerate(self.deps) if dep.get("api_name") == name)
        return queue_call(self.app.url, index, data, session=http, timeout=120)

    def sign_in(self, username: str, *, expires_in: int = 3600) -> requests.Session:
        """A browser's session after signing in as ``username`` through the provider.

        The redirects are followed by hand: Gradio's session cookie is ``Secure`` (a Space is
        served over https), which requests will not send to http://127.0.0.1, though browsers do.
        """
        self.provider.sign_in_as(username, expires_in=expires_in)
        url, cookie, hops = self.app.url + "/login/huggingface", "", []
        while len(hops) < 10:
            to_app = url.startswith(self.app.url + "/")
            headers = {"Cookie": cookie} if to_app and cookie else {}
            answer = requests.get(url, headers=headers, allow_redirects=False, timeout=30)
            if to_app and "session" in answer.cookies:
                cookie = "session=" + answer.cookies["session"]
            if not answer.is_redirect:
                break
            hops.append(url.split("?")[0])
            url = urljoin(url, answer.headers["Location"])
        assert hops == [
            self.app.url + "/login/huggingface",
            self.provider.url + "/authorize",
            self.app.url + "/login/callback",
        ], hops
        assert answer.status_code == 200 and url.startswith(self.app.url + "/"), url
        http = requests.Session()
        http.headers["Cookie"] = cookie
        return http

    def posts(self) -> int:
        return self.sim.stats()["posts"]


def _data(call: RawCall) -> list[Any]:
    assert call.final is not None and call.final["success"], call.messages
    return call.final["output"]["data"]


def _refusal(call: RawCall) -> str:
    assert call.final is not None and call.final["success"] is False, call.messages
    return call.final["output"]["error"]


def _config(url: str, http: requests.Session | None = None) -> dict[str, Any]:
    return (http or requests).get(url + "/config", timeout=10).json()


def _banner(config: dict[str, Any]) -> str:
    [banner] = [
        c["props"]["value"]
        for c in config["components"]
        if c.get("props", {}).get("elem_id") == "mode-banner"
    ]
    return banner


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Any]]:
    root = tmp_path_factory.mktemp("oauth-stand-ins")
    sim = Simulator(
        SimConfig(speed=40, seed=5, api_keys=frozenset({HOST, CAROL}), cache_dir=root / "videos")
    ).start()
    provider = OpenIDProvider().start()
    try:
        yield sim, provider
    finally:
        provider.stop()
        sim.stop()


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory, stand_ins: Any) -> Iterator[Space]:
    sim, provider = stand_ins
    home = tmp_path_factory.mktemp("oauth-space") / "home"
    env = {
        **SPACE,
        **provider.env(),
        "AIMLAPI_BASE_URL": sim.url,
        "PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY": "1",
    }
    with running_app_py(home, **env) as app:
        deps = _config(app.url)["dependencies"]
        yield Space(app, home, sim, provider, deps)


# --- end to end, on a Space ---------------------------------------------------------------------


def test_the_page_offers_sign_in_and_says_the_key_is_for_signed_in_people(space: Space) -> None:
    config = _config(space.app.url)
    [button] = [c for c in config["components"] if c["props"].get("elem_id") == "sign-in"]
    assert button["props"]["value"] == "Sign in with Hugging Face"
    assert _banner(config).startswith("**Sign in to use this Space's key.**")


def test_a_signed_in_person_spends_the_host_key_and_owns_the_job_by_username(
    space: Space,
) -> None:
    before = space.posts()
    alice = space.sign_in("alice")
    status, video, _ = _data(
        space.call("generate", form(prompt=ALICE_PROMPT, key="", visitor="alice-laptop"), alice)
    )
    assert "Your video is ready" in status and video["url"], status
    assert space.posts() == before + 1
    ledger = Ledger(space.home / "ledger.sqlite3")
    [record] = [r for r in ledger.history() if r.prompt == ALICE_PROMPT]
    assert record.owner == ledger.owner_of("hf:alice")  # her username, not her browser
    assert record.paid_by == ledger.owner_of(HOST)  # the Space's key paid

    # her history is hers from another browser (a fresh sign-in, another visitor id) ...
    elsewhere = space.sign_in("alice")
    _gallery, ids, table = _data(
        space.call("list_history", ["", "alice-phone", *FILTERS], elsewhere)
    )
    assert ids == [record.client_request_id] and ALICE_PROMPT[:30] in table
    # ... and not another signed-in person's, even from alice's own browser id
    bob = space.sign_in("bob")
    _gallery, ids, table = _data(space.call("list_history", ["", "alice-laptop", *FILTERS], bob))
    assert ids == [] and ALICE_PROMPT[:30] not in table
    # the button says who is signed in (Gradio's own check of the same session)
    [button] = _data(space.call("_check_login_status", [], bob))
    assert button["value"] == "Logout (bob)"


def test_an_anonymous_caller_without_a_key_is_refused_and_nothing_is_sent(space: Space) -> None:
    before = space.posts()
    refused = _refusal(space.call("generate", form(key="", visitor="stranger")))
    assert refused == f"Could not generate: {SIGN_IN_TO_SHARE}. Nothing was sent."
    # a session cookie the app did not sign is nobody's
    forged = requests.Session()
    forged.headers["Cookie"] = "session=eyJvYXV0aF9pbmZvIjoge319.forged.cookie"
    assert _refusal(space.call("generate", form(key="", visitor="stranger"), forged)) == refused
    # a sign-in that has expired counts as none, as Gradio's own OAuthProfile says
    expired = space.sign_in("mallory", expires_in=-60)
    assert _refusal(space.call("generate", form(key="", visitor="m"), expired)) == refused
    assert space.posts() == before, "an anonymous caller started a generation on the host's key"


def test_an_anonymous_visitor_with_their_own_key_is_unaffected(space: Space) -> None:
    before = space.posts()
    status, _video, _ = _data(space.call("generate", form(key=CAROL, visitor="carol-browser")))
    assert "Your video is ready" in status, status
    assert space.posts() == before + 1
    ledger = Ledger(space.home / "ledger.sqlite3")
    assert ledger.history()[0].paid_by == ledger.owner_of(CAROL)


def test_with_the_setting_off_the_shared_key_is_for_anyone_as_before(
    tmp_path: Path, stand_ins: Any
) -> None:
    sim, provider = stand_ins
    env = {**SPACE, **provider.env(), "AIMLAPI_BASE_URL": sim.url}
    with running_app_py(tmp_path / "home", **env) as app:
        config = _config(app.url)
        assert _banner(config).startswith("**Live mode.**")
        space = Space(app, tmp_path / "home", sim, provider, config["dependencies"])
        before = space.posts()
        anyone = visitor_token(app.url)  # the page's own, as a browser gets it when it loads
        status, _video, _ = _data(space.call("generate", form(key="", visitor=anyone)))
        assert "Your video is ready" in status, status
        assert space.posts() == before + 1
        # signing in still names the owner, and the history follows the person
        dana = space.sign_in("dana")
        _data(space.call("generate", form(prompt="dana's kite", key="", visitor="d1"), dana))
        ledger = Ledger(tmp_path / "home" / "ledger.sqlite3")
        assert ledger.history()[0].owner == ledger.owner_of("hf:dana")


def test_with_the_setting_on_and_no_hf_oauth_nobody_anonymous_spends_the_key(
    tmp_path: Path, stand_ins: Any
) -> None:
    sim, provider = stand_ins
    env = {**SPACE, "AIMLAPI_BASE_URL": sim.url, "PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY": "1"}
    with running_app_py(tmp_path / "home", **env) as app:  # no OAUTH_* or OPENID_PROVIDER_URL
        config = _config(app.url)
        assert _banner(config).startswith("**Bring your own key.** " + NO_SIGN_IN_HERE)
        assert not [c for c in config["components"] if c["props"].get("elem_id") == "sign-in"]
        assert requests.get(app.url + "/login/huggingface", timeout=10).status_code == 404
        space = Space(app, tmp_path / "home", sim, provider, config["dependencies"])
        before = space.posts()
        refused = _refusal(space.call("generate", form(key="", visitor="anyone")))
        assert refused == f"Could not generate: {NO_SIGN_IN_HERE}. Nothing was sent."
        assert space.posts() == before
    assert "PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY is set but Hugging Face sign-in is not" in (
        app.output
    )


# --- the rules, without a server ----------------------------------------------------------------


def app_in(tmp_path: Path, **mode: Any) -> App:
    settings = {
        "host_key": HOST,
        "on_space": True,
        "share_host_key": True,
        "has_auth": False,
        "public": True,
        "sign_in": True,
        "signed_in_only": True,
    }
    settings.update(mode)
    return App(Mode(**settings), Ledger(tmp_path / "l.sqlite3"), tmp_path / "videos")


def test_the_owner_of_a_signed_in_person_is_their_username_whoever_pays(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    with pytest.raises(errors.AuthenticationError) as refused:
        app.caller("", "browser-1")
    assert refused.value.user_message == f"{SIGN_IN_TO_SHARE}. Nothing was sent."
    on_host = app.caller("", "browser-1", signed_in="alice")
    on_own = app.caller(CAROL, "browser-2", signed_in="alice")
    assert on_host.client.owner_key == HOST and on_own.client.owner_key == CAROL
    assert on_host.owner == on_own.owner == app.ledger.owner_of("hf:alice")
    assert app.caller("", "browser-1", signed_in="bob").owner != on_host.owner
    assert app.caller("", "b", "alice").owner == app.ledger.owner_of("user:alice")  # a login
    assert app.caller(CAROL, "browser-1").owner == app.ledger.owner_of(CAROL)


@pytest.mark.parametrize(
    ("mode", "anonymous", "banner"),
    [
        ({}, SIGN_IN_TO_SHARE, "**Sign in to use this Space's key.**"),
        ({"sign_in": False}, NO_SIGN_IN_HERE, "**Bring your own key.** This app's key is kept"),
        ({"signed_in_only": False}, None, "**Live mode.**"),
        ({"has_auth": True}, "needs a login name", "**Live mode.**"),
        ({"share_host_key": False}, "This Space needs your own", "**Bring your own key.** This"),
        ({"on_space": False, "public": False, "sign_in": False}, None, "**Live mode.**"),
    ],
    ids=["signed-in-only", "no-sign-in-set-up", "off", "behind-a-login", "not-shared", "private"],
)
def test_which_rule_applies_and_what_the_banner_says(
    tmp_path: Path, mode: dict[str, Any], anonymous: str | None, banner: str
) -> None:
    app = app_in(tmp_path, **mode)
    assert app.mode.banner().startswith(banner)
    if anonymous is None:
        assert app.caller("", "browser-1").client.owner_key == HOST
    elif anonymous == "needs a login name":  # behind a login everyone has one: that is enough
        assert app.caller("", "browser-1", "alice").client.owner_key == HOST
    else:
        with pytest.raises(errors.AuthenticationError) as refused:
            app.caller("", "browser-1")
        assert refused.value.message.startswith(anonymous)


@pytest.mark.parametrize(
    ("drop", "system", "expected"),
    [(None, "spaces", True), ("OPENID_PROVIDER_URL", "spaces", False), (None, None, False)],
    ids=["a-space-with-hf-oauth", "no-hf-oauth", "not-really-a-space"],
)
def test_sign_in_is_on_only_where_gradio_can_do_it_for_real(
    monkeypatch: pytest.MonkeyPatch, drop: str | None, system: str | None, expected: bool
) -> None:
    monkeypatch.setenv("SPACE_ID", "someone/pixverse-ui")
    for name, value in OpenIDProvider.env_for("http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    if drop:
        monkeypatch.delenv(drop)
    if system:
        monkeypatch.setenv("SYSTEM", system)
    else:
        monkeypatch.delenv("SYSTEM", raising=False)
    monkeypatch.setenv("PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY", "yes")
    mode = Mode.from_env()
    assert mode.sign_in is expected and mode.signed_in_only


def _request(session: dict[str, Any] | None) -> Any:
    """A ``gr.Request`` as a queued event holds it: the join's Starlette request and its scope."""
    scope: dict[str, Any] = {"type": "http"} if session is None else {"session": session}
    return SimpleNamespace(request=SimpleNamespace(scope=scope))


def test_the_session_is_read_as_gradio_reads_it() -> None:
    userinfo = OpenIDProvider.claims_of("alice")
    signed = {"oauth_info": {"userinfo": userinfo, "expires_at": 1_000}}
    assert signed_in_username(_request(signed)) is None  # long expired, on the real clock
    profile = signed_in_profile(_request(signed), now=lambda: 999.0)
    assert profile is not None and (profile.username, profile.name) == ("alice", "Alice")
    assert signed_in_username(_request({"oauth_info": {"userinfo": userinfo}})) == "alice"
    for nobody in (None, {}, {"oauth_info": "junk"}, {"oauth_info": {"userinfo": {"x": 1}}}):
        assert signed_in_username(_request(nobody)) is None, nobody
    assert signed_in_username(None) is None
