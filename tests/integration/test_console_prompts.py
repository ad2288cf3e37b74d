"""Prompt versions on the emulators: the store's rules, the graph on the published version,
and the console's prompts API (drafts, the staging chat, publish, roll back, roles, bad input)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore

from shared.adapters.firestore_prompts import FirestorePromptStore
from shared.agents.brain import GraphBrain
from shared.agents.offline import OfflineReasoner
from shared.agents.prompt_cache import PublishedPrompts
from shared.agents.prompts import default_prompt_set, prompt_version
from shared.domain.models import BrainRequest
from shared.domain.prompts import PromptError, PromptStatus
from tests.integration import test_console_api as console_api
from tests.integration.test_console_api import ADMIN, ANALYST, Keys, _auth, _post
from tests.unit.agent_fakes import HANDOFF, MIN_SCORE, FakeTools, ScriptedKB, conversation, message

# The console on the emulators, with its token keys, as the console's own API tests run it.
client = console_api.client
keys = console_api.keys

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
TEXTS = default_prompt_set("sac").texts()


@pytest.fixture
def prompts(db: firestore.Client) -> FirestorePromptStore:
    return FirestorePromptStore(db)


def test_store_round_trip_publish_and_roll_back(prompts: FirestorePromptStore) -> None:
    assert prompts.published("sac") is None
    v1 = prompts.save_draft("sac", TEXTS, author=ANALYST, now=NOW)
    assert (v1.number, v1.status) == (1, PromptStatus.DRAFT)
    edited = prompts.save_draft(
        "sac", {**TEXTS, "greeting": "Oi!"}, author=ADMIN, now=NOW, number=1
    )
    assert prompts.version("sac", 1) == edited
    assert edited.texts["greeting"] == "Oi!"
    live = prompts.publish("sac", 1, author=ADMIN, now=NOW)
    assert (live.status, live.published_by) == (PromptStatus.PUBLISHED, ADMIN)
    assert prompts.published("sac") == live

    v2 = prompts.save_draft("sac", {**TEXTS, "greeting": "Olá, v2"}, author=ANALYST, now=NOW)
    prompts.publish("sac", v2.number, author=ADMIN, now=NOW)
    restored = prompts.rollback("sac", 1, author=ADMIN, now=NOW)
    assert (restored.number, restored.restored_from) == (3, 1)
    assert restored.texts["greeting"] == "Oi!"
    assert [(v.number, v.status) for v in prompts.versions("sac")] == [
        (3, PromptStatus.PUBLISHED),
        (2, PromptStatus.ARCHIVED),
        (1, PromptStatus.ARCHIVED),
    ]
    assert prompts.published("saf") is None  # per assistant


def test_store_refusals(prompts: FirestorePromptStore) -> None:
    draft = prompts.save_draft("sac", TEXTS, author=ANALYST, now=NOW)
    with pytest.raises(PromptError) as draft_rollback:
        prompts.rollback("sac", draft.number, author=ADMIN, now=NOW)
    assert draft_rollback.value.status == 409
    prompts.publish("sac", draft.number, author=ADMIN, now=NOW)
    attempts: list[Callable[[], object]] = [
        lambda: prompts.publish("sac", draft.number, author=ADMIN, now=NOW),
        lambda: prompts.rollback("sac", draft.number, author=ADMIN, now=NOW),
        lambda: prompts.save_draft("sac", TEXTS, author=ADMIN, now=NOW, number=draft.number),
    ]
    for attempt in attempts:
        with pytest.raises(PromptError) as refused:
            attempt()
        assert refused.value.status == 409
    with pytest.raises(PromptError) as missing:
        prompts.publish("sac", 99, author=ADMIN, now=NOW)
    assert missing.value.status == 404


def test_a_turn_records_the_published_version(
    prompts: FirestorePromptStore, offline: OfflineReasoner
) -> None:
    brain = GraphBrain(
        knowledge_base=ScriptedKB(default={}),
        tools=FakeTools(),
        images=None,
        reasoner=offline,
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
        prompts=PublishedPrompts(prompts, ttl_seconds=0),
    )

    def greet(turn: str) -> Any:
        request = BrainRequest(
            conversation=conversation("sac"), pending=[message("oi", 0)], turn_id=turn
        )
        return brain.answer(request)

    assert greet("t1").prompt_version == prompt_version("sac")
    draft = prompts.save_draft("sac", {**TEXTS, "greeting": "Oi, v1!"}, author=ADMIN, now=NOW)
    assert greet("t2").prompt_version == prompt_version("sac")  # a draft is not live
    prompts.publish("sac", draft.number, author=ADMIN, now=NOW)
    reply = greet("t3")
    assert (reply.texts, reply.prompt_version) == (["Oi, v1!"], "sac@v1")


# ------------------------------------------------------------------------------ the API


@pytest.fixture
def analyst(db: firestore.Client) -> str:
    db.collection("console_users").document(ANALYST).set({"role": "analyst"})
    return ANALYST


def test_draft_try_publish_and_roll_back_through_the_api(
    client: Any, keys: Keys, analyst: str
) -> None:
    overview = client.get("/api/prompts/sac", headers=_auth(keys)).get_json()
    assert overview["published"] is None
    assert overview["live_version"] == prompt_version("sac")

    created = _post(
        client, keys, "/api/prompts/sac/drafts", {"texts": {"greeting": "Oi, homolog!"}}
    )
    assert created.status_code == 201, created.get_json()
    number = created.get_json()["number"]

    tried = _post(client, keys, f"/api/prompts/sac/drafts/{number}/try", {"messages": ["oi"]})
    assert tried.status_code == 200, tried.get_json()
    body = tried.get_json()
    assert body["version"] == f"sac@v{number}-draft"
    assert body["turns"][0]["replies"] == ["Oi, homolog!"]
    assert body["turns"][0]["route"] == "small_talk"
    # Trying touched nothing live: no published version, no conversation or ticket.
    assert client.get("/api/prompts/sac", headers=_auth(keys)).get_json()["published"] is None

    refused = _post(client, keys, f"/api/prompts/sac/drafts/{number}/publish", {})
    assert refused.status_code == 403
    published = _post(client, keys, f"/api/prompts/sac/drafts/{number}/publish", {}, ADMIN)
    assert published.status_code == 200, published.get_json()
    assert published.get_json()["label"] == f"sac@v{number}"

    second = _post(client, keys, "/api/prompts/sac/drafts", {"texts": {"thanks": "Valeu!"}})
    second_number = second.get_json()["number"]
    assert second.get_json()["texts"]["greeting"] == "Oi, homolog!"  # from the published one
    _post(client, keys, f"/api/prompts/sac/drafts/{second_number}/publish", {}, ADMIN)
    assert _post(client, keys, "/api/prompts/sac/rollback", {"version": number}).status_code == 403
    back = _post(client, keys, "/api/prompts/sac/rollback", {"version": number}, ADMIN)
    assert back.status_code == 200
    assert back.get_json()["restored_from"] == number

    view = client.get("/api/prompts/sac", headers=_auth(keys)).get_json()
    assert view["live_version"] == back.get_json()["label"]
    assert [v["status"] for v in view["history"]] == ["published", "archived", "archived"]
    actions = client.get("/api/audit", headers=_auth(keys, ADMIN)).get_json()["actions"]
    done = {(a["action"], a["outcome"]) for a in actions}
    assert {
        ("prompt-draft", "done"),
        ("prompt-try", "done"),
        ("prompt-publish", "done"),
        ("prompt-rollback", "done"),
    } <= done


def test_bad_input_is_a_clear_4xx(client: Any, keys: Keys, analyst: str) -> None:
    def post(path: str, body: object, who: str = ANALYST) -> tuple[int, str]:
        response = _post(client, keys, path, body, who)
        return response.status_code, response.get_json()["error"]

    assert client.get("/api/prompts/nobody", headers=_auth(keys)).status_code == 404
    status, error = post("/api/prompts/sac/drafts", {"texts": {"bogus": "x"}})
    assert status == 400 and "unknown keys" in error
    status, error = post("/api/prompts/sac/drafts", {"texts": {"system": "Sou {nome}."}})
    assert status == 400 and "display_name" in error
    status, error = post("/api/prompts/sac/drafts", {"texts": {"greeting": " "}})
    assert status == 400 and "greeting" in error
    assert post("/api/prompts/sac/drafts/7/try", {"messages": ["oi"]})[0] == 404
    number = _post(client, keys, "/api/prompts/sac/drafts", {}).get_json()["number"]
    status, error = post(f"/api/prompts/sac/drafts/{number}/try", {"messages": []})
    assert status == 400 and "messages" in error
    assert post(f"/api/prompts/sac/drafts/{number}/try", {"messages": "oi"})[0] == 400
    assert post("/api/prompts/sac/rollback", {}, ADMIN)[0] == 400
    status, error = post("/api/prompts/sac/rollback", {"version": number}, ADMIN)
    assert status == 409 and "draft" in error
    response = client.post(f"/api/prompts/sac/drafts/{number}/try", data="oi", headers=_auth(keys))
    assert response.status_code == 415


def test_the_page_shows_the_editor_the_staging_chat_and_the_history(
    client: Any, keys: Keys, analyst: str
) -> None:
    number = _post(client, keys, "/api/prompts/sac/drafts", {}).get_json()["number"]
    page = client.get("/prompts/sac", headers={**_auth(keys, ADMIN), "Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for marker in ('id="draft-form"', 'id="try-form"', 'id="publish"', f'id="version-{number}"'):
        assert marker in html
