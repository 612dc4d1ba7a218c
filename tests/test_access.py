"""Who may generate with which key, and whose history each caller sees (``access.App``)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from pixverse_ui import errors
from pixverse_ui.access import App, Mode, Origin, came_from_outside
from pixverse_ui.params import shown
from pixverse_ui.store import Ledger
from pixverse_ui.visitors import SECRET_NAME, VisitorTokens

HOST = "sk-access-HOST-000111222333"
ALICE = "sk-access-ALICE-444555666777"


def app_in(tmp_path, **mode) -> App:
    settings = {"host_key": HOST, "on_space": False, "share_host_key": False, "has_auth": False}
    settings.update(mode)
    return App(Mode(**settings), Ledger(tmp_path / "l.sqlite3"), tmp_path / "videos")


def test_on_a_public_space_a_visitor_without_a_key_is_refused(tmp_path):
    app = app_in(tmp_path, on_space=True, public=True)
    with pytest.raises(errors.AuthenticationError, match="needs your own AI/ML API key"):
        app.caller("", "browser-1")
    caller = app.caller(ALICE, "browser-1")
    assert caller.client.owner_key == ALICE
    assert caller.owner == app.ledger.owner_of(ALICE)  # a key sees its own history anywhere
    assert app.caller(ALICE, "another-browser").owner == caller.owner


def test_behind_a_login_the_owner_is_the_person_whoever_pays(tmp_path):
    app = app_in(tmp_path, on_space=True, has_auth=True, public=True)
    alice_host = app.caller("", "b1", "alice")
    alice_own = app.caller(ALICE, "b2", "alice")
    bob_host = app.caller("", "b1", "bob")
    assert alice_host.client.owner_key == HOST and alice_own.client.owner_key == ALICE
    assert alice_host.owner == alice_own.owner != bob_host.owner


def test_people_sharing_the_host_key_on_a_public_page_each_have_their_browsers_history(tmp_path):
    app = app_in(tmp_path, public=True)
    first, second = app.visitor_token(), app.visitor_token()
    one, two = app.caller(None, first), app.caller(None, second)
    assert one.client is two.client and one.client.owner_key == HOST
    assert one.owner != two.owner
    assert not one.anonymous and app.caller(None, first).owner == one.owner  # a reload, a tab


def test_on_a_private_page_the_host_key_history_is_the_hosts_as_in_the_cli(tmp_path):
    app = app_in(tmp_path)
    assert app.caller(None, "browser-1").owner == app.ledger.owner_of(HOST)
    assert app.caller(None, "browser-2").owner == app.ledger.owner_of(HOST)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("sk with spaces inside it", "does not look like an AI/ML API key"),
        ("short", "does not look like an AI/ML API key"),
        (["sk-in-a-list-0123456789"], "must be text, not list"),
        ({"key": "sk-in-a-dict-0123456789"}, "must be text, not dict"),
    ],
)
def test_a_key_of_the_wrong_shape_is_refused_without_being_echoed(tmp_path, key, words):
    app = app_in(tmp_path)
    with pytest.raises(errors.AuthenticationError) as caught:
        app.caller(key, "b")
    said = caught.value.user_message
    assert words in said
    assert "0123456789" not in said and "inside it" not in said and "short" not in said


def test_visitors_clients_are_bounded_least_recently_used_first(tmp_path):
    app = app_in(tmp_path)
    app.max_clients = 3
    keys = [f"sk-visitor-{i}-0123456789ab" for i in range(5)]
    clients = [app.caller(key, "b").client for key in keys]
    assert len(app._clients) == 3
    assert app.caller(keys[-1], "b").client is clients[-1]  # kept
    assert app.caller(keys[0], "b").client is not clients[0]  # made again


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("12s", "'12s'"),
        (1.5, "1.5"),
        ("sk-a-key-typed-in-the-wrong-field", "a text of 33 characters"),
        (["x"], "a list"),
        (None, "None"),
    ],
)
def test_refusals_quote_short_values_only(value, quoted):
    assert shown(value) == quoted


# --- visitor tokens: an identity the server issued, not a name the caller picks ------------------


def test_two_callers_who_both_choose_the_same_name_share_nothing(tmp_path):
    app = app_in(tmp_path, host_key=None, public=True)  # a public simulator page
    one, two = app.caller(None, "claude"), app.caller(None, "claude")
    assert one.anonymous and two.anonymous and one.owner != two.owner
    # a token is the way to a history of one's own, and it is the server's to give
    mine, theirs = app.visitor_token("claude"), app.visitor_token("claude")
    assert mine != theirs and "claude" not in mine
    assert (
        app.caller(None, mine).owner
        == app.caller(None, mine).owner
        != app.caller(None, theirs).owner
    )


def test_a_token_the_app_did_not_sign_is_no_visitor(tmp_path):
    app = app_in(tmp_path, on_space=True, public=True, share_host_key=True)
    real = app.visitor_token()
    version, ident, signature = real.split(".")
    other_home = VisitorTokens(tmp_path / "another-home").issue()
    forged = [
        f"{version}.{ident}.{'0' * 32}",  # the id of a real one, a made-up signature
        f"{version}.{'f' * 32}.{signature}",  # a real signature on another id
        other_home,  # signed, but by another app's secret
        f"{version}.{ident.upper()}.{signature}",
        real + "x",
        "3b241101-e2bb-4255-8caf-4136c566a962",  # a browser id from before tokens were signed
    ]
    for token in forged:
        caller = app.caller(None, token)
        assert caller.anonymous, token
        assert caller.owner != app.caller(None, real).owner
        with pytest.raises(errors.AuthenticationError, match="cannot spend this Space's shared"):
            app.check_start(caller, [])
        fresh = app.visitor_token(token)  # a page holding one gets a new token, signed
        assert fresh != token and not app.caller(None, fresh).anonymous
    assert app.visitor_token(real) == real


def test_a_token_survives_a_restart_with_the_same_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXVERSE_UI_HOME", str(tmp_path / "home"))
    mode = Mode(host_key=None, on_space=True, share_host_key=False, has_auth=False, public=True)
    before = App(mode, Ledger(), tmp_path / "videos")
    token = before.visitor_token()
    owner = before.caller(None, token).owner
    secret = tmp_path / "home" / SECRET_NAME
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    after = App(mode, Ledger(), tmp_path / "videos")  # a new process: nothing kept in memory
    assert after.visitor_token(token) == token
    assert after.caller(None, token).owner == owner and not after.caller(None, token).anonymous
    # another home is another app: its visitors are strangers here
    monkeypatch.setenv("PIXVERSE_UI_HOME", str(tmp_path / "elsewhere"))
    assert App(mode, Ledger(), tmp_path / "videos").caller(None, token).anonymous


def test_apps_starting_at_once_on_one_home_agree_on_one_secret(tmp_path):
    """Twenty threads, each its own app over the same fresh home, issue a token at once: every
    token is good in every app (one secret was made, and nobody read half of it)."""
    apps = [app_in(tmp_path, host_key=None, public=True) for _ in range(20)]
    barrier = threading.Barrier(len(apps))
    tokens: list[str] = []

    def issue(app: App) -> None:
        barrier.wait(timeout=30)
        tokens.append(app.visitor_token())

    threads = [threading.Thread(target=issue, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(tokens) == 20
    assert all(app.tokens.visitor_of(token) for app in apps for token in tokens)
    assert [p.name for p in tmp_path.iterdir() if "visitor" in p.name] == [SECRET_NAME]


# --- a private app reached from outside -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"host": "127.0.0.1:7860"}, None),
        ({"host": "localhost:7860"}, None),
        ({"host": "[::1]:7860"}, None),
        ({"host": "127.8.9.10"}, None),
        ({}, None),
        ({"host": "example.test"}, "host"),
        ({"host": "abcd.ngrok-free.app"}, "host"),
        ({"host": "192.168.1.20:7860"}, "host"),
        ({"host": "localhost.example.test"}, "host"),
        ({"host": "127.0.0.1:port"}, "host"),
        ({"host": "127.0.0.1", "x-forwarded-for": "203.0.113.9"}, "x-forwarded-for"),
        ({"host": "127.0.0.1", "forwarded": "for=203.0.113.9"}, "forwarded"),
        ({"host": "127.0.0.1", "x-forwarded-host": "example.test"}, "x-forwarded-host"),
        ({"host": "127.0.0.1", "x-real-ip": "203.0.113.9"}, "x-real-ip"),
        ({"host": "127.0.0.1", "x-forwarded-for": " "}, None),
    ],
)
def test_what_says_a_request_came_from_outside(headers, said):
    assert came_from_outside(headers) == said


def test_a_private_app_reached_from_outside_meets_a_public_pages_rules(tmp_path, capsys):
    app = app_in(tmp_path)  # a host key, on loopback, no --share
    outside = Origin("127.0.0.1", outside=True)
    host = app.caller(None, "browser-1")  # a plain loopback request: the host's, as ever
    assert host.owner == app.ledger.owner_of(HOST) and not host.shared
    with pytest.raises(errors.AuthenticationError, match="This app needs your own AI/ML API key"):
        app.caller(None, app.visitor_token(), origin=outside)
    stranger = app.caller(ALICE, app.visitor_token(), origin=outside)
    assert stranger.owner == app.ledger.owner_of(ALICE) and not stranger.shared
    app.note_outside("x-forwarded-for")
    app.note_outside("host")
    said = capsys.readouterr().err
    assert said.count("through a proxy or tunnel (it carried x-forwarded-for)") == 1
    assert "PIXVERSE_UI_PRIVATE_PROXY=1" in said and "PIXVERSE_UI_SHARE_HOST_KEY=1" in said
    assert app.outside_mode.banner().startswith("**Reached through a proxy or tunnel.**")


def test_a_private_app_that_shares_its_key_with_strangers_keeps_them_under_the_ceiling(tmp_path):
    app = app_in(tmp_path, share_host_key=True)
    assert app.mode.host_ceiling_usd is None  # the host alone, on loopback: no ceiling
    outside = Origin("127.0.0.1", outside=True)
    one = app.caller(None, app.visitor_token(), origin=outside)
    two = app.caller(None, app.visitor_token(), origin=outside)
    assert one.shared and two.shared and one.owner != two.owner != app.ledger.owner_of(HOST)
    assert app.budget_for(one).payer_limit_usd == 5.0
    assert "of its $5.00 a day left for everyone" in app.ceiling_today(one)
    nobody = app.caller(None, "claude", origin=outside)
    with pytest.raises(errors.AuthenticationError, match="cannot spend this app's shared key"):
        app.check_start(nobody, [])
    assert not app.caller(None, "claude").shared  # the host on loopback: theirs to spend


def test_on_a_simulator_strangers_from_outside_have_their_own_histories(tmp_path):
    app = app_in(tmp_path, host_key=None)
    outside = Origin("127.0.0.1", outside=True)
    one = app.caller(None, app.visitor_token(), origin=outside)
    two = app.caller(None, app.visitor_token(), origin=outside)
    host = app.caller(None, "")
    assert len({one.owner, two.owner, host.owner}) == 3


def test_the_host_can_say_the_proxy_lets_only_them_in(tmp_path, capsys):
    app = app_in(tmp_path, private_proxy=True)
    assert app.outside_mode is app.mode and app.mode.private_words() == ""
    through = app.caller(None, "", origin=Origin("127.0.0.1", outside=True))
    assert through.owner == app.ledger.owner_of(HOST)  # the host's history, the host's key
    app.note_outside("host")
    assert capsys.readouterr().err == ""
    public = app_in(tmp_path / "public", public=True)
    assert public.outside_mode is public.mode  # a public page's rules hold already
