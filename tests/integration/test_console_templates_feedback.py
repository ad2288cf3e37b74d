# ruff: noqa: F811 (test_console_api's fixtures are imported, then named as parameters)
"""Console templates (CRUD, roles, sending one outside the 24-hour window) and feedback on AI
answers (verdicts, export as evaluation cases), through the console function on the emulators.

The client, keys and ticket fixtures are test_console_api's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore

from shared.adapters.firestore_store import FirestoreStore
from shared.domain.models import OutboundMessage, TicketStatus, Turn
from shared.evaluation import EvalCase
from tests.integration.conftest import pull_all
from tests.integration.test_console_api import (  # noqa: F401 (fixtures)
    ADMIN,
    ANALYST,
    Keys,
    _auth,
    _post,
    client,
    keys,
    ticket,
)

TEMPLATE = {
    "name": "retorno_atendimento",
    "language": "pt_BR",
    "category": "UTILITY",
    "body": "Olá {{1}}, temos novidades sobre o pedido {{2}}.",
    "parameters": ["nome", "pedido"],
    "status": "approved",
}


def _create(client: Any, keys: Keys, **changes: object) -> Any:
    return _post(client, keys, "/api/templates", {**TEMPLATE, **changes}, ADMIN)


def _close_window(db: firestore.Client, ticket: dict[str, str]) -> None:
    db.collection("conversations").document(ticket["conversation_id"]).update(
        {"last_customer_message_at": datetime.now(UTC) - timedelta(hours=30)}
    )


# --------------------------------------------------------------------- templates


def test_templates_crud_by_an_admin_is_audited(client: Any, keys: Keys, ticket: Any) -> None:
    created = _create(client, keys)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["updated_by"] == ADMIN
    assert _create(client, keys).status_code == 409
    listed = client.get("/api/templates", headers=_auth(keys)).get_json()["templates"]
    assert [(t["name"], t["status"]) for t in listed] == [("retorno_atendimento", "approved")]
    update = {k: v for k, v in TEMPLATE.items() if k not in ("name", "language")}
    path = "/api/templates/retorno_atendimento/pt_BR"
    updated = _post(client, keys, path, {**update, "status": "rejected"}, ADMIN)
    assert updated.status_code == 200, updated.get_json()
    assert updated.get_json()["status"] == "rejected"
    assert _post(client, keys, "/api/templates/nope/pt_BR", update, ADMIN).status_code == 404
    deleted = client.delete(path, headers=_auth(keys, ADMIN))
    assert deleted.status_code == 200
    assert client.get("/api/templates", headers=_auth(keys)).get_json()["templates"] == []
    assert client.delete(path, headers=_auth(keys, ADMIN)).status_code == 404
    trail = client.get("/api/audit", headers=_auth(keys, ADMIN)).get_json()["actions"]
    done = sorted((a["action"], a["outcome"]) for a in trail if a["action"].startswith("template"))
    assert done == [
        ("template-create", "done"),
        ("template-create", "refused"),
        ("template-delete", "done"),
        ("template-update", "done"),
    ]


def test_analysts_read_templates_but_may_not_write(client: Any, keys: Keys, ticket: Any) -> None:
    assert client.get("/api/templates", headers=_auth(keys)).status_code == 200
    assert _post(client, keys, "/api/templates", TEMPLATE).status_code == 403
    path = "/api/templates/retorno_atendimento/pt_BR"
    assert client.delete(path, headers=_auth(keys)).status_code == 403
    assert client.get("/api/templates").status_code == 401


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": "Com Espaço"}, "name: String should match pattern"),
        ({"category": "PROMO"}, "category: Input should be"),
        ({"status": "live"}, "status: Input should be"),
        ({"parameters": ["nome"]}, "2 placeholders but 1 parameter names"),
        ({"body": "Olá {{2}}"}, "without gaps"),
        ({"language": "portuguese"}, "language: String should match pattern"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_templates_are_a_clear_400(
    client: Any, keys: Keys, ticket: Any, changes: dict[str, object], fragment: str
) -> None:
    response = _create(client, keys, **changes)
    assert response.status_code == 400, response.get_json()
    assert fragment in response.get_json()["error"]


def test_templates_page_lists_and_saves(client: Any, ticket: Any) -> None:
    client.post("/login", data={"email": ADMIN})
    page = client.get("/templates")
    assert page.status_code == 200 and 'id="template-form"' in page.get_data(as_text=True)
    csrf = client.get("/api/me").get_json()["csrf_token"]
    form = {**TEMPLATE, "parameters": "nome\npedido"}
    assert client.post("/templates", data=form).status_code == 403  # no CSRF token
    saved = client.post("/templates", data={**form, "csrf_token": csrf})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    again = client.post("/templates", data={**form, "status": "pending", "csrf_token": csrf})
    assert again.status_code == 303
    html = client.get("/templates").get_data(as_text=True)
    assert 'data-template="retorno_atendimento.pt_BR"' in html and "pending" in html


# ------------------------------------------------------------- sending a template


def test_reply_template_outside_the_window_publishes_a_template(
    client: Any, keys: Keys, ticket: dict[str, str], topics: dict[str, str], db: firestore.Client
) -> None:
    assert _create(client, keys).status_code == 201
    _close_window(db, ticket)
    path = f"/api/tickets/{ticket['ticket_id']}/reply-template"
    body = {"name": "retorno_atendimento", "language": "pt_BR", "parameters": ["Maria", "4829"]}
    response = _post(client, keys, path, {**body, "action_id": "act-template-1"})
    assert response.status_code == 200, response.get_json()
    sent = [OutboundMessage.model_validate_json(m.data) for m in pull_all(topics["outbound"])]
    assert len(sent) == 1
    message = sent[0]
    assert (message.kind, message.template_name, message.template_language) == (
        "template",
        "retorno_atendimento",
        "pt_BR",
    )
    assert message.template_parameters == ["Maria", "4829"]
    assert message.text == "Olá Maria, temos novidades sobre o pedido 4829."
    assert message.idempotency_key == "console-act-template-1"
    audit = db.collection("console_audit").document("act-template-1").get().to_dict() or {}
    assert audit["action"] == "reply-template" and audit["outcome"] == "done"
    assert audit["detail"] == {"template": "retorno_atendimento.pt_BR", "parameters": 2}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "nao_existe", "parameters": []}, 400, "no template nao_existe"),
        ({"name": "retorno_atendimento", "parameters": ["Maria"]}, 400, "takes 2"),
        ({"name": "retorno_atendimento", "parameters": ["Maria", ""]}, 400, "parameters.1"),
        ({"name": "pendente", "parameters": []}, 409, "pending at Meta, not approved"),
        ({"parameters": []}, 400, "name: Field required"),
    ],
)
def test_bad_template_sends_are_refused_and_audited(
    client: Any,
    keys: Keys,
    ticket: dict[str, str],
    topics: dict[str, str],
    db: firestore.Client,
    body: dict[str, object],
    status: int,
    fragment: str,
) -> None:
    assert _create(client, keys).status_code == 201
    pending = {"name": "pendente", "body": "Oi", "parameters": [], "status": "pending"}
    assert _create(client, keys, **pending).status_code == 201
    _close_window(db, ticket)
    path = f"/api/tickets/{ticket['ticket_id']}/reply-template"
    response = _post(client, keys, path, body)
    assert response.status_code == status, response.get_json()
    assert fragment in response.get_json()["error"]
    assert pull_all(topics["outbound"]) == []
    trail = client.get(f"/api/audit?ticket={ticket['ticket_id']}", headers=_auth(keys, ADMIN))
    refused = [(a["action"], a["outcome"]) for a in trail.get_json()["actions"]]
    # A body that fails validation is refused before the action runs, as for every action.
    audited = "Field required" not in fragment
    assert refused == ([("reply-template", "refused")] if audited else [])


def test_ticket_page_offers_templates_when_the_window_is_closed(
    client: Any, keys: Keys, ticket: dict[str, str], db: firestore.Client, topics: Any
) -> None:
    assert _create(client, keys).status_code == 201
    client.post("/login", data={"email": ANALYST})
    page = client.get(f"/tickets/{ticket['ticket_id']}").get_data(as_text=True)
    assert 'id="template-reply-form"' not in page
    _close_window(db, ticket)
    page = client.get(f"/tickets/{ticket['ticket_id']}").get_data(as_text=True)
    assert 'id="template-reply-form"' in page and "retorno_atendimento|pt_BR" in page
    csrf = client.get("/api/me").get_json()["csrf_token"]
    form = {
        "template": "retorno_atendimento|pt_BR",
        "parameters": "Maria\n4829",
        "csrf_token": csrf,
    }
    sent = client.post(f"/tickets/{ticket['ticket_id']}/reply-template", data=form)
    assert sent.status_code == 303, sent.get_data(as_text=True)
    assert len(pull_all(topics["outbound"])) == 1


# ---------------------------------------------------------------------- feedback


@pytest.fixture
def turn(ticket: dict[str, str], store: FirestoreStore, db: firestore.Client) -> str:
    """The AI's answer to the ticket's question, recorded as the agent turn records it."""
    reply = OutboundMessage(
        idempotency_key="turn-fb-1-0",
        conversation_id=ticket["conversation_id"],
        phone_number_id="100000000000001",
        to="5511988887777",
        text="Sim, em até 3x no boleto.",
        turn_id="turn-fb-1",
    )
    recorded = Turn(
        turn_id="turn-fb-1",
        conversation_id=ticket["conversation_id"],
        message_ids=["wamid.console-1"],
        replies=[reply],
        route="sac",
        ticket_status=TicketStatus.AI_REPLIED,
    )
    assert store.claim_turn(recorded, now=datetime.now(UTC))
    return recorded.turn_id


def test_feedback_right_and_wrong_export_as_eval_cases(
    client: Any, keys: Keys, ticket: dict[str, str], turn: str, db: firestore.Client
) -> None:
    path = f"/api/tickets/{ticket['ticket_id']}/feedback"
    right = _post(client, keys, path, {"turn_id": turn, "verdict": "right", "note": "ok"})
    assert right.status_code == 200, right.get_json()
    stored = db.collection("answer_feedback").document(turn).get().to_dict() or {}
    assert (stored["verdict"], stored["by"], stored["turn_route"]) == ("right", ANALYST, "sac")
    assert stored["customer_texts"] == ["Posso parcelar no boleto?"]
    export = client.get("/api/feedback/export", headers=_auth(keys, ADMIN))
    assert export.status_code == 200
    cases = [
        EvalCase.model_validate_json(line) for line in export.get_data(as_text=True).splitlines()
    ]
    assert len(cases) == 1
    assert cases[0].messages == ["Posso parcelar no boleto?"]
    assert (cases[0].kind, cases[0].expect.route, cases[0].expect.outcome) == (
        "answerable",
        "sac",
        "answer",
    )
    wrong = {
        "turn_id": turn,
        "verdict": "wrong",
        "expected_route": "billing",
        "expected_outcome": "handoff",
    }
    assert _post(client, keys, path, wrong).status_code == 200
    lines = client.get("/api/feedback/export", headers=_auth(keys, ADMIN)).get_data(as_text=True)
    cases = [EvalCase.model_validate_json(line) for line in lines.splitlines()]
    assert len(cases) == 1  # marking again replaces the verdict
    assert (cases[0].kind, cases[0].expect.route, cases[0].expect.outcome) == (
        "must_handoff",
        "billing",
        "handoff",
    )
    trail = client.get(f"/api/audit?ticket={ticket['ticket_id']}", headers=_auth(keys, ADMIN))
    feedback = [a for a in trail.get_json()["actions"] if a["action"] == "feedback"]
    assert [a["detail"]["verdict"] for a in feedback] == ["wrong", "right"]
    assert any(
        a["action"] == "feedback-export"
        for a in client.get("/api/audit", headers=_auth(keys, ADMIN)).get_json()["actions"]
    )
    assert client.get("/api/feedback/export", headers=_auth(keys)).status_code == 403


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"turn_id": "turn-fb-1", "verdict": "wrong"}, "needs expected_route"),
        (
            {"turn_id": "turn-fb-1", "verdict": "wrong", "expected_route": "sac"},
            "needs expected_route and expected_outcome",
        ),
        (
            {"turn_id": "turn-fb-1", "verdict": "right", "expected_route": "sac"},
            "only for a wrong answer",
        ),
        ({"turn_id": "turn-fb-1", "verdict": "maybe"}, "verdict: Input should be"),
        (
            {
                "turn_id": "turn-fb-1",
                "verdict": "wrong",
                "expected_route": "vendas",
                "expected_outcome": "answer",
            },
            "expected_route: Input should be",
        ),
        ({"turn_id": "turn-other", "verdict": "right"}, "turn_id: no AI answer turn-other"),
        ({"verdict": "right"}, "turn_id: Field required"),
    ],
)
def test_bad_feedback_is_a_clear_400(
    client: Any, keys: Keys, ticket: dict[str, str], turn: str, body: object, fragment: str
) -> None:
    response = _post(client, keys, f"/api/tickets/{ticket['ticket_id']}/feedback", body)
    assert response.status_code == 400, response.get_json()
    assert fragment in response.get_json()["error"]


def test_ticket_page_marks_answers(client: Any, ticket: dict[str, str], turn: str) -> None:
    client.post("/login", data={"email": ANALYST})
    page = client.get(f"/tickets/{ticket['ticket_id']}").get_data(as_text=True)
    assert f'data-turn="{turn}"' in page and "feedback-wrong-submit" in page
    csrf = client.get("/api/me").get_json()["csrf_token"]
    form = {"turn_id": turn, "verdict": "right", "note": "", "csrf_token": csrf}
    done = client.post(f"/tickets/{ticket['ticket_id']}/feedback", data=form)
    assert done.status_code == 303, done.get_data(as_text=True)
    page = client.get(f"/tickets/{ticket['ticket_id']}").get_data(as_text=True)
    assert 'data-verdict="right"' in page
