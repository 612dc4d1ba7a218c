"""Who may generate with which key, and whose history each caller sees (``access.App``)."""

from __future__ import annotations

import pytest

from pixverse_ui import errors
from pixverse_ui.access import App, Mode
from pixverse_ui.params import shown
from pixverse_ui.store import Ledger

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
    one, two = app.caller(None, "browser-1"), app.caller(None, "browser-2")
    assert one.client is two.client and one.client.owner_key == HOST
    assert one.owner != two.owner


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
