"""The app, launched on the simulator and driven with gradio_client as another program would."""

from __future__ import annotations

import re

import av
import pytest
import requests
from boards import TWO_SHOTS, board, slot_rows
from conftest import TEST_KEY
from PIL import Image
from support import advance_until, form, sim_posts, wait_for

from pixverse_ui.lifecycle import Status

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ALICE = "sk-alice-0123456789abcdef0123"
BOB = "sk-bob-fedcba9876543210fedc"


def statuses(outputs):
    found = []
    for markdown, _video, _body in outputs:
        match = re.search(r"<b>(\w+)</b>", markdown or "")
        word = match.group(1) if match else ("sending" if "Sending" in (markdown or "") else None)
        if word and (not found or found[-1] != word):
            found.append(word)
    return found


@pytest.mark.parametrize(("aspect", "size"), [("16:9", (640, 360)), ("9:16", (360, 640))])
def test_the_stream_arrives_in_order_and_ends_with_a_playable_mp4(
    launch_app, make_sim, clock, aspect, size
):
    # the API is a simulator on the test's manual clock: each state lasts until the test moves
    # it on, so every one of them reaches the stream however busy the machine is
    api = make_sim(speed=40)
    _, client, ledger = launch_app(AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url)
    job = client.submit(*form(aspect=aspect), api_name="/generate")
    for status in ("generating", "completed"):
        shown = "queued" if status == "generating" else "generating"
        wait_for(lambda shown=shown: shown in statuses(job.outputs()), timeout=60)
        advance_until(api, clock, status)
    job.result(timeout=60)
    assert statuses(job.outputs()) == ["sending", "queued", "generating", "completed"]
    final_markdown, video, body = job.outputs()[-1]
    assert "completed" in final_markdown and "Your video is ready" in final_markdown
    assert "credits used" in final_markdown
    path = video["video"] if isinstance(video, dict) else video
    with av.open(path) as container:
        s = container.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == size
        assert float(container.duration) / av.time_base == pytest.approx(5, abs=0.3)
    assert '"aspect_ratio": "' + aspect + '"' in body
    [record] = ledger.history()
    assert record.state == Status.DONE


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"resolution": "1080p", "duration": 8}, "1080p does not support 8-second videos"),
        ({"prompt": ""}, "The prompt is empty"),
        ({"prompt": "x" * 2049}, "the limit is 2048"),
    ],
)
def test_bad_input_is_refused_with_a_sentence_before_any_request(launch_app, changes, words):
    _, client, ledger = launch_app()
    before = sim_posts()
    with pytest.raises(Exception) as caught:
        client.predict(*form(**changes), api_name="/generate")
    assert words in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert sim_posts() == before and ledger.history() == []


def test_stop_ends_the_watching_and_the_job_completes_into_the_history(launch_app, make_sim, clock):
    api = make_sim(speed=40)  # on the test's manual clock: the job waits for the test
    demo, client, ledger = launch_app(AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url)
    job = client.submit(*form(visitor="stopper"), api_name="/generate")
    wait_for(lambda: "queued" in statuses(job.outputs()), timeout=60)
    advance_until(api, clock, "generating")
    wait_for(lambda: "generating" in statuses(job.outputs()), timeout=60)
    job.cancel()
    [record] = ledger.history()
    assert record.state != Status.DONE  # still running when we stopped watching
    advance_until(api, clock, "completed")
    done = wait_for(lambda: ledger.get(record.client_request_id).state == Status.DONE, timeout=90)
    assert done
    items, ids, table = client.predict("", "stopper", api_name="/list_history")
    assert len(items) == 1 and "done" in table


def test_two_visitors_never_see_each_others_keys_or_history(launch_app):
    demo, client, _ = launch_app()
    a = client.submit(*form(prompt="alice's fox", key=ALICE, visitor="a"), api_name="/generate")
    b = client.submit(*form(prompt="bob's owl", key=BOB, visitor="b"), api_name="/generate")
    outputs = [str(o) for o in list(a) + list(b)]
    alice_history = client.predict(ALICE, "a", api_name="/list_history")
    bob_history = client.predict(BOB, "b", api_name="/list_history")
    assert "alice's fox" in alice_history[-1] and "bob's owl" not in alice_history[-1]
    assert "bob's owl" in bob_history[-1] and "alice's fox" not in bob_history[-1]
    shown = " ".join(outputs) + str(alice_history) + str(bob_history)
    page = requests.get(demo.local_url, timeout=10).text
    config = requests.get(demo.local_url.rstrip("/") + "/config", timeout=10).text
    for key in (ALICE, BOB):
        assert key not in shown and key not in page and key not in config


def test_a_private_simulator_page_is_one_persons_history_the_clis_too(launch_app):
    from pixverse_ui.defaults import SIMULATOR_KEY

    _, client, ledger = launch_app()
    client.predict(*form(prompt="first visitor", visitor="v-one"), api_name="/generate")
    other_browser = client.predict("", "v-two", api_name="/list_history")[-1]
    assert "first visitor" in other_browser
    # what `pixverse-ui list` reads on this machine: the simulator key's history
    [record] = ledger.history(ledger.owner_of(SIMULATOR_KEY))
    assert record.prompt == "first visitor"


def test_visitors_without_a_key_on_a_public_simulator_page_have_their_own_histories(launch_app):
    _, client, _ = launch_app(SPACE_ID="someone/pixverse-ui")  # a Space with no key: public
    one, two = (client.predict("", api_name="/visitor_token") for _ in range(2))
    assert one != two and client.predict(one, api_name="/visitor_token") == one
    client.predict(*form(prompt="first visitor", visitor=one), api_name="/generate")
    mine = client.predict("", one, api_name="/list_history")[-1]
    theirs = client.predict("", two, api_name="/list_history")[-1]
    assert "first visitor" in mine and "first visitor" not in theirs
    # a name the caller picks is no one's: "v-one" twice is two strangers, neither of them one
    client.predict(*form(prompt="a chosen name", visitor="v-one"), api_name="/generate")
    chosen = client.predict("", "v-one", api_name="/list_history")[-1]
    assert "a chosen name" not in chosen and "first visitor" not in chosen


def test_on_a_space_with_a_host_key_a_visitor_must_bring_their_own(launch_app, make_sim):
    local = make_sim()  # never the real API: the host "key" points at a local simulator
    demo, client, ledger = launch_app(
        SPACE_ID="someone/pixverse-ui",
        AIMLAPI_KEY="sk-host-key-000111222333",
        AIMLAPI_BASE_URL=local.url,
    )
    page = requests.get(demo.local_url, timeout=10).text
    assert "Bring your own key" in page or "Bring your own key" in str(
        requests.get(demo.local_url.rstrip("/") + "/config", timeout=10).json()
    )
    with pytest.raises(Exception) as caught:
        client.predict(*form(), api_name="/generate")
    assert "needs your own AI/ML API key" in str(caught.value)
    assert local.stats()["posts"] == 0 and ledger.history() == []


def test_variations_ask_for_confirmation_and_show_results_side_by_side(launch_app):
    _, client, ledger = launch_app()
    fields = form()[:10]
    with pytest.raises(Exception) as caught:
        client.predict(*fields, "seeds", 5, [], [], False, "", "v", api_name="/variations")
    assert "Tick" in str(caught.value) and ledger.history() == []
    gallery, note, sheet, cards = client.predict(
        *fields, "styles", 2, ["anime", "clay"], [], False, "", "v", api_name="/variations"
    )
    assert cards.count("Use this one") == 2  # the batch as the page's cards, each playable
    # quoted as one video is: dollars and credits, and what the caller spent today
    assert len(gallery) == 2 and note.startswith("These 2 videos: about $0.56 (1,111,112 credits)")
    assert "Spent today: " in note
    with Image.open(sheet) as contact:  # a still of each, captioned with its style
        assert contact.format == "PNG" and contact.width >= 2 * 160
    assert {r.request.get("style") for r in ledger.history()} == {"anime", "clay"}
    assert len({r.batch for r in ledger.history()}) == 1


def _left_unfinished(ledger, name):
    """A job the simulator runs that a killed process left in the ledger as running, this
    machine's (the history a private page shows); its generation id."""
    from pixverse_ui import validate
    from pixverse_ui.defaults import SIMULATOR_KEY, simulator_client
    from pixverse_ui.lifecycle import Status

    params = validate(f"left behind: {name}", resolution="360p")
    with simulator_client() as sim:
        created = sim.create(params, client_request_id=name)
        owner = ledger.owner_of(SIMULATOR_KEY)
        ledger.record(
            client_request_id=name, owner=owner, endpoint=sim.label, body=params.to_body()
        )
    ledger.update(name, generation_id=created.id, state=Status.RUNNING, status=created.status)
    return created.id


def test_building_and_reading_start_no_watcher_serving_and_starting_do(launch_app):
    """build_demo and list_history (a read) start nothing; serving the page (ui.start, what
    launch() runs) watches what a killed process left, and a start watches the caller's own."""
    from pixverse_ui.jobs import watchers
    from pixverse_ui.ui import app_of, start

    demo, client, ledger = launch_app()  # built and served as launch() does, without start()
    first = _left_unfinished(ledger, "first")
    client.predict("", "v1", api_name="/list_history")
    assert watchers().started[first] == 0 and ledger.get(first).state != Status.DONE
    assert start(demo) == 1
    wait_for(lambda: ledger.get(first).state == Status.DONE, timeout=60)

    second = _left_unfinished(ledger, "second")
    client.predict("", "v1", api_name="/list_history")
    assert watchers().started[second] == 0
    client.predict(*form(prompt="another one"), api_name="/generate")  # a start by that caller
    wait_for(lambda: ledger.get(second).state == Status.DONE, timeout=60)
    assert watchers().started[second] == 1 and app_of(demo).ledger is ledger


# --- History: the pick follows what is shown ------------------------------------------------------


def history_part(tmp_path, monkeypatch):
    """The History tab of an app built (not launched) over a ledger in ``tmp_path``, and the
    owner its visitor "visitor" is."""
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo
    from pixverse_ui.ui.common import caller

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    demo = build_demo(ledger=ledger, download_dir=tmp_path / "videos")
    pick = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "pick")
    part = pick.__self__
    return part, ledger, caller(part.page, None, None, "visitor", None).owner


def add_done(ledger, owner, tmp_path, job, prompt, **settings):
    """A finished job of ``owner`` with a (not playable) video file."""
    from pixverse_ui import params

    body = params.validate(prompt, resolution="360p", **settings).to_body()
    ledger.record(client_request_id=job, owner=owner, endpoint="e", body=body)
    video = tmp_path / f"video-{job}.mp4"
    video.write_bytes(b"\0" * 64)
    ledger.update(job, state="running")
    ledger.update(job, generation_id=f"gen-{job}", state=Status.DONE, video_path=str(video))


def test_a_filter_then_a_star_stars_the_highlighted_item_or_none(tmp_path, monkeypatch):
    """The pick is kept by its id where the filtered cards still show it (the cards' script marks
    it at its new place), cleared where they do not; Star never acts on whatever took its old
    place."""
    import gradio as gr

    part, ledger, owner = history_part(tmp_path, monkeypatch)
    for n, prompt in enumerate(("a heron at dawn", "a fox in snow", "a heron at dusk")):
        add_done(ledger, owner, tmp_path, f"job-{n}", prompt)

    def shown(search=""):
        return part.list_history(None, "visitor", search)[1]

    def picked(ids, index):
        return part.pick(
            ids, None, "visitor", gr.SelectData(None, {"index": index, "value": None}), None
        )

    ids = shown()
    assert ids == ["job-2", "job-1", "job-0"]  # newest first
    fox = ids.index("job-1")
    loaded = picked(ids, fox)
    selected = loaded[-5]
    assert selected == "job-1" and "a fox in snow" in loaded[-2] and "gen-job-1" in loaded[-2]

    # a search that hides the fox: no pick, and a star stars nothing
    dropped = part.follow_pick(shown("heron"), selected, None, "visitor")
    selected, _, _, line, said = dropped
    assert selected == "" and "Pick a video" in line
    # said, not dropped in silence (a card clicked while a search was replacing the cards)
    assert said.startswith("The video you picked is not among those shown now")
    assert part.set_star(selected, True, None, "visitor").startswith("Pick a video first")
    assert (
        part.set_note(selected, "x", None, "visitor") == "Pick a video first, then write its note."
    )
    export_file, said = part.export(selected, None, "visitor")
    assert said == "Pick a video first, then export it." and export_file["visible"] is False
    assert not any(r.starred for r in ledger.history())

    # pick the dawn heron among the herons, then show all: it is kept, shown at its new place,
    # and the star goes to it, not to the fox now at its old place
    ids = shown("heron")
    dawn = ids.index("job-0")
    selected = picked(ids, dawn)[-5]
    ids = shown()
    selected, star, note, line, said = part.follow_pick(ids, selected, None, "visitor")
    # the same item stays picked: the star and the note being typed are left as they are
    assert star == gr.skip() and note == gr.skip() and said == gr.skip()
    assert ids.index("job-0") != dawn  # at another place now
    assert selected == "job-0" and "a heron at dawn" in line
    assert part.set_star(selected, True, None, "visitor") == "★ Starred."
    assert [r.client_request_id for r in ledger.history() if r.starred] == ["job-0"]


def test_the_history_search_says_it_runs_as_you_type_and_on_enter(tmp_path, monkeypatch):
    part, _, _ = history_part(tmp_path, monkeypatch)
    assert part.search.info == "Searches as you type (Enter searches at once)."


def test_a_redraw_that_read_no_pick_leaves_a_pick_made_meanwhile(tmp_path, monkeypatch):
    """The timer redraws History on its own; a pick the visitor makes while that redraw is in
    flight arrives first, and the redraw (which read the page before it) must not undo it."""
    import gradio as gr

    part, ledger, owner = history_part(tmp_path, monkeypatch)
    add_done(ledger, owner, tmp_path, "job-0", "a heron at dawn")
    ids = part.list_history(None, "visitor")[1]
    # the redraw read "no pick"; the visitor's pick of job-0 was answered in the meantime
    assert part.follow_pick(ids, "", None, "visitor") == (gr.skip(),) * 5
    picked = part.pick(ids, None, "visitor", gr.SelectData(None, {"index": 0, "value": None}), None)
    assert picked[-5] == "job-0"  # kept: the star goes to it
    assert part.set_star(picked[-5], True, None, "visitor") == "★ Starred."


# --- Variations: the quote before the start, and "Use this one" ----------------------------------


@pytest.fixture
def variations_part(tmp_path, monkeypatch):
    """The Variations tab's handlers on a page that is built, not served (simulator mode)."""
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "videos")
    quote = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "quote")
    return quote.__self__


def test_the_variations_quote_is_in_dollars_and_credits_and_follows_every_control(
    variations_part,
):
    """What the tab says before Run, from the form's shape and the tab's controls (never the
    prompt): the batch's price in dollars and credits, marked as the simulator's, today's
    spending, and the tick rule when the batch needs it."""

    def quote(aspect="16:9", resolution="540p", duration=5, axis="seeds", count=3, **values):
        tick, text = variations_part.quote(
            aspect, resolution, duration, axis, count, values.get("styles", []),
            values.get("ratios", []), None, "visitor",
        )  # fmt: skip
        return tick, text

    tick, text = quote()
    assert text.startswith(
        "These 3 videos: about $1.88 (3,750,000 credits) (simulated: nothing is charged) in all;"
    )
    assert "Spent today: $0.00 (0 credits)" in text and "tick" not in text
    assert tick == {"__type__": "update", "visible": False, "value": False}
    # every control the price depends on moves it
    assert quote(resolution="360p")[1].startswith("These 3 videos: about $0.83 (1,666,668 credits)")
    assert quote(duration=8)[1].startswith("These 3 videos: about $3.00 (6,000,000 credits)")
    assert quote(count=2)[1].startswith("These 2 videos: about $1.25 (2,500,000 credits)")
    styles = quote(axis="styles", styles=["anime", "clay", "comic", "cyberpunk"])[1]
    assert styles.startswith("These 4 videos: about $2.50 (5,000,000 credits)")
    # each aspect ratio at its own price: 9:16 as 16:9 (1,250,000), 1:1 at 540x540 (703,125)
    ratios = quote(axis="aspect ratios", ratios=["9:16", "1:1"])[1]
    assert ratios.startswith("These 2 videos: about $0.98 (1,953,125 credits)")
    # more than 4: the tick box shows, and the quote says why
    tick, text = quote(count=5)
    assert tick == {"__type__": "update", "visible": True}
    assert text.endswith("More than 4 generations at once need the tick below.")
    # choosing styles or aspect ratios asks for them, with no red sentence before any action
    tick, text = quote(axis="styles")
    assert text == "Pick the styles to run; the batch's cost shows here." and not tick["visible"]
    assert quote(axis="aspect ratios")[1].startswith("Pick the aspect ratios to run;")
    # what cannot be run is said instead of a price, and needs no tick
    assert quote(resolution="1080p", duration=8)[1].startswith(
        "✗ 1080p does not support 8-second videos"
    )


def test_use_this_one_loads_a_variants_settings_and_seed_for_its_owner_only(variations_part):
    import gradio as gr

    from pixverse_ui import params
    from pixverse_ui.ui.common import caller
    from pixverse_ui.ui.variations import NOT_A_VARIANT

    ledger = variations_part.page.app.ledger
    owner = caller(variations_part.page, ALICE, None, "a", None).owner
    body = params.validate(
        "a heron", aspect_ratio="9:16", resolution="360p", duration=8, style="clay", seed=424242
    ).to_body()
    ledger.record(client_request_id="variant-2", owner=owner, endpoint="e", body=body)

    def use(key, ident):
        return variations_part.use_variant(key, "a", gr.EventData(None, {"id": ident}), None)

    *form_values, line = use(ALICE, "variant-2")
    prompt, negative, aspect, resolution, duration, style, seed, *_ = form_values
    assert (prompt, aspect, resolution, style, seed) == ("a heron", "9:16", "360p", "clay", 424242)
    assert duration["value"] == 8 and 8 in duration["choices"]
    assert "seed 424242" in line and "Generate" in line
    for key, ident in ((BOB, "variant-2"), (ALICE, "no-such-variant"), (ALICE, None)):
        *unchanged, line = use(key, ident)
        assert line == NOT_A_VARIANT
        assert all(value == {"__type__": "update"} for value in unchanged)


def test_a_duration_the_page_rebuilt_still_reaches_the_handler_as_sent(tmp_path, monkeypatch):
    """Gradio rebuilds a component for a session when an event sends it new properties (the
    duration's choices after 1080p). The copy takes input as sent, as the original does: an
    example's 8 s arriving while the copy offers 5 and 10 is the handlers' to answer (a
    sentence), not Gradio's (a 500 and a traceback)."""
    import gradio as gr

    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "v")
    [duration] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "duration"]
    # what Gradio does with gr.update(choices=[5, 10], value=5) (blocks.postprocess_data)
    rebuilt = type(duration)(**{**duration.constructor_args, "choices": [5, 10], "render": False})
    assert rebuilt.preprocess(8) == 8 and duration.preprocess("8") == "8"
    with pytest.raises(gr.Error):  # an unmarked dropdown elsewhere keeps Gradio's check
        gr.Dropdown([5, 10], value=5).preprocess(8)


def test_history_cards_show_the_persons_words_as_text_never_as_markup(tmp_path, monkeypatch):
    part, ledger, owner = history_part(tmp_path, monkeypatch)
    add_done(
        ledger, owner, tmp_path, "tall", "<img src=x onerror=alert(1)> a fox", aspect_ratio="9:16"
    )
    ledger.set_note("tall", owner, '<script>alert("note")</script> & "more"')
    gallery, ids, cards = part.list_history(None, "visitor")
    assert ids == ["tall"] and "a fox" in gallery[0][1]
    assert "&lt;img src=x onerror=alert(1)&gt; a fox" in cards
    assert '&lt;script&gt;alert("note")&lt;/script&gt; &amp; "more"' in cards
    assert "<img src=x" not in cards and "<script" not in cards
    # the still in its own aspect ratio: a 9:16 box, not a square
    assert 'style="width:72px;height:128px"' in cards


def test_every_card_is_a_pick_and_a_finished_videos_card_has_a_compare_tick(tmp_path, monkeypatch):
    from pixverse_ui import params

    part, ledger, owner = history_part(tmp_path, monkeypatch)
    add_done(ledger, owner, tmp_path, "done", "a heron at dawn")
    body = params.validate("a heron, its answer lost", resolution="360p").to_body()
    ledger.record(client_request_id="lost", owner=owner, endpoint="e", body=body)  # no video
    gallery, ids, cards = part.list_history(None, "visitor")
    assert ids == ["lost", "done"] and len(gallery) == 1  # every card, in order; one still
    lost, done = re.findall(r'<li class="pxui-card".*?</li>', cards)
    assert 'class="pxui-tick"' in done and "pxui-tick" not in lost


def test_history_comes_a_page_at_a_time_and_says_which(tmp_path, monkeypatch):
    from pixverse_ui.ui.history import PAGE_SIZE

    part, ledger, owner = history_part(tmp_path, monkeypatch)
    for n in range(PAGE_SIZE + 5):
        add_done(
            ledger,
            owner,
            tmp_path,
            f"job-{n:02d}",
            f"take {n} of a heron" if n % 2 else f"take {n}",
        )

    def page(number, search=""):
        gallery, ids, cards = part.list_history(
            None, "visitor", search, "any", False, "any", "any time", number
        )
        return ids, cards, part.follow_pager(cards)

    ids, cards, (number, newer, shown, older) = page(1)
    assert len(ids) == PAGE_SIZE and ids[0] == f"job-{PAGE_SIZE + 4:02d}"
    assert (
        f"1–{PAGE_SIZE} of {PAGE_SIZE + 5}" in cards
        and cards.count('class="pxui-card"') == PAGE_SIZE
    )
    assert (number, newer["interactive"], older["interactive"]) == (1, False, True)
    assert shown == f"Generations 1–{PAGE_SIZE} of {PAGE_SIZE + 5}, page 1 of 2"
    ids, cards, (number, newer, shown, older) = page(2)
    assert ids == [f"job-{n:02d}" for n in reversed(range(5))]
    assert (number, newer["interactive"], older["interactive"]) == (2, True, False)
    assert page(7)[0] == ids and page(7)[2][0] == 2  # past the last: the last, and it says so
    ids, cards, (number, newer, shown, older) = page(1, "HERON")  # one page of the found
    assert len(ids) == (PAGE_SIZE + 5) // 2 and shown == "" and not older["interactive"]
    for bad in ("two", 1.5, True, None, [2]):
        _, ids, cards = part.list_history(None, "visitor", "", "any", False, "any", "any time", bad)
        assert ids == [] and cards.startswith("✗ The page must be a whole number from 1; got")
        assert part.follow_pager(cards)[0] == 1


@pytest.fixture
def storyboard_part(tmp_path, monkeypatch):
    """The Storyboard tab's handlers on a page that is built, not served (simulator mode)."""
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("PIXVERSE_UI_SIM_SPEED", "40")
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "videos")
    add = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "add_shot")
    return add.__self__


def test_the_storyboard_tab_edits_its_shots_and_quotes_them_before_anything_starts(
    storyboard_part,
):
    from pixverse_ui.ui.storyboard import edit_shots

    part = storyboard_part
    count, *slots = part.add_shot(2)
    assert count == 3 and [s["visible"] for s in slots] == [True] * 3 + [False] * 3
    rows = slot_rows(board(("a fox wakes", 5, False), ("it runs", 8, True), ("it swims", 5, False)))
    quote = part.quote_board("Fox", "360p", "16:9", "none", 3, *rows, None, "visitor")
    assert quote.startswith("These 3 videos: about $")
    assert "credits" in quote and "simulated: nothing is charged" in quote
    # a chained first shot is refused with the sentence naming it, before any price
    first_chained = slot_rows(board(("a", 5, True), ("b", 5, False)))
    said = part.quote_board("Fox", "360p", "16:9", "none", 2, *first_chained, None, "visitor")
    assert said.startswith("✗ Shot 1 starts from the previous shot's last frame")
    # move shot 3 earlier: its prompt, duration and chain switch move with it
    out = edit_shots("up")(3, 3, *rows)
    prompts, durations = list(out[7:10]), list(out[13:16])
    assert prompts == ["a fox wakes", "it swims", "it runs"] and durations == [5, 5, 8]
    # remove shot 1: the others move up, one slot fewer shows, the new first starts from nothing
    out = edit_shots("remove")(1, 3, *rows)
    assert out[0] == 2 and [s["visible"] for s in out[1:7]] == [True, True] + [False] * 4
    assert list(out[7:9]) == ["it runs", "it swims"] and out[19] is False
    assert edit_shots("remove")(1, 1, *rows)[-1].startswith("✗ A board keeps one shot.")


def test_the_storyboard_tab_runs_rerolls_chooses_and_exports(storyboard_part, tmp_path):
    import asyncio
    import json
    import zipfile

    import av

    from pixverse_ui.ui.storyboard import compose

    part = storyboard_part
    composed = compose("A fox at dawn", "360p", "16:9", "none", 2, *slot_rows(TWO_SHOTS))
    assert json.loads(composed) == {**TWO_SHOTS, "style": None}

    async def drain(stream):
        return [shown async for shown in stream]

    shown = asyncio.run(drain(part.storyboard(composed, None, "visitor")))
    video, progress, summary, strip = shown[-1]
    assert "Shot 2, take 1: started from shot 1's last frame" in progress
    assert [s["state"] for s in summary["shots"]] == ["done", "done"]
    assert strip.count('data-state="done"') == 2 and "<img" in strip
    assert any('data-state="running"' in str(s[3]) for s in shown[:-1])  # per-shot progress
    with av.open(video) as container:
        assert float(container.duration) / av.time_base == pytest.approx(13, abs=0.3)
    # re-roll shot 1: a new take of it and of shot 2 chained to it, and a new stitch
    video2, _, summary2, _ = asyncio.run(drain(part.reroll_shot(summary, 1, None, "visitor")))[-1]
    assert [s["takes"] for s in summary2["shots"]] == [2, 2] and video2 != video
    # take 1 of shot 1 back: shot 2 (made from take 2) is stale, nothing stitched
    video3, said, summary3, _ = part.choose_take(summary2, 1, 1, None, "visitor")
    assert video3 is None and "Shot 2 has no video to stitch yet" in said
    assert [s["state"] for s in summary3["shots"]] == ["done", "stale"]
    part.choose_take(summary2, 1, 2, None, "visitor")
    zipped, note = part.export_board(summary2, None, "visitor")
    assert note.startswith("Exported") and zipfile.is_zipfile(zipped["value"])
    # a board that is not the caller's gets the sentence of an unknown one
    forged = {**summary2, "id": "sb-0000000000000000"}
    assert part.choose_take(forged, 1, 1, None, "visitor")[1].startswith("✗ There is no")
