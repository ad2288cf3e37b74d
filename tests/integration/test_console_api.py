"""The console function through functions-framework's test client, on the emulators.

Tokens are signed here with locally generated keys (RS256 as Google's ID tokens, ES256 as IAP's
assertions); the verifier gets those keys through its injected fetcher.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.auth import crypt, jwt
from google.auth.crypt import es
from google.cloud import firestore

from shared import bootstrap
from shared.adapters.firestore_store import FirestoreStore
from shared.console.auth import TokenVerifier
from shared.settings import get_settings
from tests.integration.conftest import pull_all, text_message

FUNCTION_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "console" / "main.py"
AUDIENCE = "https://console.example.test"
ANALYST = "ana@example.com"
ADMIN = "chefe@example.com"


def _pem_private(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_public(key: Any) -> str:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


class Keys:
    """Google's (RS256) and IAP's (ES256) signing keys, and a stranger's."""

    def __init__(self) -> None:
        self.google = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.iap = ec.generate_private_key(ec.SECP256R1())

    def fetch(self, kind: str) -> Mapping[str, str]:
        if kind == "iap":
            return {"iap-1": _pem_public(self.iap)}
        return {"g-1": _pem_public(self.google)}

    def bearer(self, email: str, *, aud: str = AUDIENCE, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": aud,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        signer = crypt.RSASigner.from_string(  # type: ignore[no-untyped-call]
            _pem_private(key or self.google), key_id="g-1"
        )
        return jwt.encode(signer, payload).decode()  # type: ignore[no-untyped-call,no-any-return]

    def iap_assertion(self, email: str, *, aud: str = AUDIENCE) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://cloud.google.com/iap",
            "aud": aud,
            "email": email,
            "iat": now,
            "exp": now + 600,
        }
        signer = es.EsSigner.from_string(_pem_private(self.iap), key_id="iap-1")
        return jwt.encode(signer, payload).decode()  # type: ignore[no-untyped-call,no-any-return]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def _clear() -> None:
    get_settings.cache_clear()
    for built in (
        bootstrap.secrets,
        bootstrap.publisher,
        bootstrap._firestore,
        bootstrap.knowledge_base,
        bootstrap.console_web,
    ):
        built.cache_clear()


@pytest.fixture
def client(
    emulator_project: str,
    topics: dict[str, str],
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """The console function on a fresh project, its verifier on the test keys."""
    monkeypatch.setenv("ATENDE_ENV", "test")
    monkeypatch.setenv("CONSOLE_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("CONSOLE_USERS", json.dumps({ADMIN: "admin"}))
    _clear()
    web = bootstrap.console_web()
    auth = dataclasses.replace(web.auth, verifier=TokenVerifier(AUDIENCE, keys.fetch))
    bootstrap.console_web.cache_clear()
    bootstrap.console_web._built.append(dataclasses.replace(web, auth=auth))
    app = functions_framework.create_app("console", str(FUNCTION_SOURCE))  # type: ignore[no-untyped-call]
    yield app.test_client()
    _clear()


@pytest.fixture
def ticket(db: firestore.Client, store: FirestoreStore) -> dict[str, str]:
    """A customer's question handed off to an analyst (TA, human holder), with the card."""
    db.collection("console_users").document(ANALYST).set({"role": "analyst"})
    message = text_message("wamid.console-1", "Posso parcelar no boleto?")
    store.record_inbound(message, assistant="sac")
    conv_id = message.conversation_id
    ticket_id = db.collection("conversations").document(conv_id).get().get("open_ticket_id")
    db.collection("tickets").document(ticket_id).update(
        {
            "status": "TA",
            "category": "pagamento",
            "handoff": {"question": "É possível parcelar no boleto?", "summary": "Quer parcelar."},
        }
    )
    db.collection("conversations").document(conv_id).update({"holder": "human"})
    return {"ticket_id": ticket_id, "conversation_id": conv_id}


def _auth(keys: Keys, email: str = ANALYST) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.bearer(email)}"}


def _post(client: Any, keys: Keys, path: str, body: object, email: str = ANALYST) -> Any:
    return client.post(path, json=body, headers=_auth(keys, email))


# ------------------------------------------------------------------------------ auth


def test_no_token_is_401(client: Any, ticket: dict[str, str]) -> None:
    response = client.get("/api/queue")
    assert response.status_code == 401
    assert "sign in" in response.get_json()["error"]


def test_wrong_audience_is_401_with_the_reason(client: Any, keys: Keys, ticket: Any) -> None:
    token = keys.bearer(ANALYST, aud="https://elsewhere.example")
    response = client.get("/api/queue", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid token: wrong audience"


def test_bad_signature_is_401_with_the_reason(client: Any, keys: Keys, ticket: Any) -> None:
    token = keys.bearer(ANALYST, key=keys.stranger)
    response = client.get("/api/queue", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid token: bad signature"


def test_expired_and_foreign_issuer_tokens_are_401(client: Any, keys: Keys, ticket: Any) -> None:
    old = keys.bearer(ANALYST, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    response = client.get("/api/queue", headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 401
    assert "expired" in response.get_json()["error"]
    foreign = keys.bearer(ANALYST, iss="https://evil.example")
    response = client.get("/api/queue", headers={"Authorization": f"Bearer {foreign}"})
    assert response.status_code == 401
    assert "issuer" in response.get_json()["error"]


def test_unknown_user_is_403(client: Any, keys: Keys, ticket: Any) -> None:
    response = client.get("/api/queue", headers=_auth(keys, "who@example.com"))
    assert response.status_code == 403
    assert "not a console user" in response.get_json()["error"]


def test_analyst_may_not_read_the_audit_trail_admin_may(
    client: Any, keys: Keys, ticket: Any
) -> None:
    assert client.get("/api/audit", headers=_auth(keys)).status_code == 403
    response = client.get("/api/audit", headers=_auth(keys, ADMIN))
    assert response.status_code == 200, response.get_json()


def test_iap_assertion_signs_in(client: Any, keys: Keys, ticket: Any) -> None:
    headers = {"x-goog-iap-jwt-assertion": keys.iap_assertion(ADMIN)}
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["role"] == "admin"
    assert response.get_json()["via"] == "iap"
    # IAP also rides a browser's cookie: a POST without the CSRF token is refused.
    path = f"/api/tickets/{ticket['ticket_id']}/transfer"
    response = client.post(path, json={"area": "financeiro"}, headers=headers)
    assert response.status_code == 403
    assert "CSRF" in response.get_json()["error"]


# ------------------------------------------------------------------------- reads


def test_queue_lists_transferred_tickets_oldest_first_with_filters(
    client: Any, keys: Keys, ticket: dict[str, str], db: firestore.Client, store: FirestoreStore
) -> None:
    second = text_message("wamid.console-2", "Outra dúvida", wa_id="5511977776666")
    store.record_inbound(second, assistant="saf")
    other = db.collection("conversations").document(second.conversation_id).get()
    other_id = other.get("open_ticket_id")
    db.collection("tickets").document(other_id).update(
        {"status": "TAF", "transferred_at": datetime.now(UTC) + timedelta(seconds=5)}
    )
    response = client.get("/api/queue", headers=_auth(keys))
    assert response.status_code == 200
    rows = response.get_json()["tickets"]
    assert [r["ticket_id"] for r in rows] == [ticket["ticket_id"], other_id]
    assert rows[0]["question"] == "É possível parcelar no boleto?"
    assert rows[0]["waiting_seconds"] >= 0
    only_saf = client.get("/api/queue?assistant=saf", headers=_auth(keys)).get_json()
    assert [r["ticket_id"] for r in only_saf["tickets"]] == [other_id]
    by_category = client.get("/api/queue?category=pagamento", headers=_auth(keys)).get_json()
    assert [r["ticket_id"] for r in by_category["tickets"]] == [ticket["ticket_id"]]


def test_ticket_shows_the_conversation_and_card(client: Any, keys: Keys, ticket: Any) -> None:
    response = client.get(f"/api/tickets/{ticket['ticket_id']}", headers=_auth(keys))
    assert response.status_code == 200
    view = response.get_json()
    assert view["status"] == "TA"
    assert view["holder"] == "human"
    assert view["window_open"] is True
    assert view["handoff"]["question"] == "É possível parcelar no boleto?"
    assert view["debt"] is None  # not a billing trail's ticket
    assert [(line["author"], line["text"]) for line in view["lines"]] == [
        ("customer", "Posso parcelar no boleto?")
    ]
    assert client.get("/api/tickets/T-nope", headers=_auth(keys)).status_code == 404


# ----------------------------------------------------------------------- actions


def test_reply_publishes_to_outbound_and_is_audited(
    client: Any, keys: Keys, ticket: dict[str, str], topics: dict[str, str], db: firestore.Client
) -> None:
    path = f"/api/tickets/{ticket['ticket_id']}/reply"
    response = _post(client, keys, path, {"text": "Sim, em até 3x.", "action_id": "act-reply-1"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["idempotency_key"] == "console-act-reply-1"
    sent = [json.loads(m.data) for m in pull_all(topics["outbound"])]
    assert len(sent) == 1
    assert sent[0]["text"] == "Sim, em até 3x."
    assert sent[0]["to"] == "5511988887777"
    assert sent[0]["ticket_id"] == ticket["ticket_id"]
    audit = db.collection("console_audit").document("act-reply-1").get().to_dict() or {}
    assert audit["actor"] == ANALYST
    assert audit["action"] == "reply"
    assert audit["ticket_id"] == ticket["ticket_id"]
    assert audit["outcome"] == "done"


def test_reply_outside_the_24_hour_window_is_409(
    client: Any, keys: Keys, ticket: dict[str, str], topics: dict[str, str], db: firestore.Client
) -> None:
    db.collection("conversations").document(ticket["conversation_id"]).update(
        {"last_customer_message_at": datetime.now(UTC) - timedelta(hours=25)}
    )
    path = f"/api/tickets/{ticket['ticket_id']}/reply"
    response = _post(client, keys, path, {"text": "Olá"})
    assert response.status_code == 409
    assert "24-hour" in response.get_json()["error"]
    assert "template" in response.get_json()["error"]
    assert pull_all(topics["outbound"]) == []


def test_reply_while_the_ai_holds_the_conversation_is_409(
    client: Any, keys: Keys, ticket: dict[str, str], db: firestore.Client
) -> None:
    db.collection("conversations").document(ticket["conversation_id"]).update({"holder": "ai"})
    response = _post(client, keys, f"/api/tickets/{ticket['ticket_id']}/reply", {"text": "Oi"})
    assert response.status_code == 409
    assert "take it over" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("action", "body", "fragment"),
    [
        ("reply", {}, "text: Field required"),
        ("reply", {"text": ""}, "text: String should have at least 1 character"),
        ("reply", {"text": "x", "extra": 1}, "extra: Extra inputs are not permitted"),
        ("add-to-kb", {"question": "Q?", "answer": "A"}, "question: String should have at least"),
        (
            "add-to-kb",
            {"question": "Parcela?", "answer": "A", "expires_at": "amanhã"},
            "expires_at",
        ),
        (
            "add-to-kb",
            {"question": "Parcela?", "answer": "A", "expires_at": "2020-01-01T00:00:00Z"},
            "must be in the future",
        ),
        (
            "add-to-kb",
            {"question": "Parcela?", "answer": "A", "expires_at": "2099-01-01T00:00:00"},
            "time zone",
        ),
        ("transfer", {}, "area: Field required"),
        ("transfer", {"area": "x"}, "area: String should have at least 2"),
        ("close", {"action_id": "no spaces!"}, "action_id"),
    ],
)
def test_bad_input_is_a_clear_400(
    client: Any, keys: Keys, ticket: dict[str, str], action: str, body: object, fragment: str
) -> None:
    response = _post(client, keys, f"/api/tickets/{ticket['ticket_id']}/{action}", body)
    assert response.status_code == 400, response.get_json()
    assert fragment in response.get_json()["error"]


def test_other_bad_requests(client: Any, keys: Keys, ticket: dict[str, str]) -> None:
    base = f"/api/tickets/{ticket['ticket_id']}"
    assert _post(client, keys, f"{base}/explode", {}).status_code == 404
    response = client.post(f"{base}/reply", data="text=oi", headers=_auth(keys))
    assert response.status_code == 415
    response = client.post(
        f"{base}/reply", data="[1]", content_type="application/json", headers=_auth(keys)
    )
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]
    assert _post(client, keys, "/api/tickets/T-nope/close", {}).status_code == 404
    assert client.get("/api/queue", headers={"Authorization": "Basic abc"}).status_code == 401


def test_add_to_kb_upserts_an_analyst_entry(
    client: Any, keys: Keys, ticket: dict[str, str]
) -> None:
    expiry = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = {
        "question": "Posso parcelar no boleto?",
        "answer": "Sim, em até 3x.",
        "expires_at": expiry,
    }
    response = _post(client, keys, f"/api/tickets/{ticket['ticket_id']}/add-to-kb", body)
    assert response.status_code == 200, response.get_json()
    entry_id = response.get_json()["entry_id"]
    entries = {e.id: e for e in bootstrap.knowledge_base().export("sac")}
    entry = entries[entry_id]
    assert entry.source == "analyst"
    assert entry.author == ANALYST
    assert entry.namespace == "sac"
    assert entry.expires_at is not None
    hits = bootstrap.knowledge_base().search("sac", "dá pra parcelar no boleto?")
    assert hits and hits[0].entry_id == entry_id


def test_answer_replies_and_teaches_in_one_go(
    client: Any, keys: Keys, ticket: dict[str, str], topics: dict[str, str]
) -> None:
    body = {"answer": "Sim, em até 3x sem juros.", "expires_at": ""}
    response = _post(client, keys, f"/api/tickets/{ticket['ticket_id']}/answer", body)
    assert response.status_code == 200, response.get_json()
    assert len(pull_all(topics["outbound"])) == 1
    entry_id = response.get_json()["entry_id"]
    entry = {e.id: e for e in bootstrap.knowledge_base().export("sac")}[entry_id]
    assert entry.question == "É possível parcelar no boleto?"
    assert entry.expires_at is None


def test_transfer_sets_taf(client: Any, keys: Keys, ticket: dict[str, str], db: Any) -> None:
    response = _post(
        client, keys, f"/api/tickets/{ticket['ticket_id']}/transfer", {"area": "financeiro"}
    )
    assert response.status_code == 200, response.get_json()
    doc = db.collection("tickets").document(ticket["ticket_id"]).get().to_dict() or {}
    assert doc["status"] == "TAF"
    assert doc["transferred_area"] == "financeiro"
    assert doc["transferred_by"] == ANALYST


def test_take_over_return_and_close(
    client: Any, keys: Keys, ticket: dict[str, str], db: firestore.Client
) -> None:
    tickets = db.collection("tickets").document(ticket["ticket_id"])
    conv = db.collection("conversations").document(ticket["conversation_id"])
    base = f"/api/tickets/{ticket['ticket_id']}"
    # A transferred ticket is the analysts' already: no take-over.
    assert _post(client, keys, f"{base}/take-over", {}).status_code == 409
    assert _post(client, keys, f"{base}/return-to-ai", {}).status_code == 200
    assert conv.get().get("holder") == "ai"
    tickets.update({"status": "IAR"})
    response = _post(client, keys, f"{base}/take-over", {})
    assert response.status_code == 200, response.get_json()
    doc = tickets.get().to_dict() or {}
    assert (doc["status"], doc["intervened"], doc["intervention"]) == ("TA", True, "console")
    assert conv.get().get("holder") == "human"
    response = _post(client, keys, f"{base}/close", {})
    assert response.status_code == 200, response.get_json()
    doc = tickets.get().to_dict() or {}
    assert doc["status"] == "TA" and doc["closed_by"] == ANALYST and doc["closed_at"]
    assert conv.get().get("open_ticket_id") is None
    assert conv.get().get("holder") == "ai"
    again = _post(client, keys, f"{base}/close", {})
    assert again.status_code == 409
    assert "closed" in again.get_json()["error"]
    trail = client.get(f"/api/audit?ticket={ticket['ticket_id']}", headers=_auth(keys, ADMIN))
    actions = [(a["action"], a["outcome"]) for a in trail.get_json()["actions"]]
    assert ("close", "refused") in actions and ("take-over", "done") in actions
    assert len(actions) == 5


# ------------------------------------------------------------------- dashboard


def test_dashboard_api(client: Any, keys: Keys, ticket: dict[str, str]) -> None:
    response = client.get("/api/dashboard?days=7&assistant=sac", headers=_auth(keys))
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["sac_saf"]["tickets"] == 1
    assert data["sac_saf"]["by_status"]["TA"] == 1
    assert len(data["sac_saf"]["tickets_per_day"]) == 7
    bad = client.get("/api/dashboard?days=7&from=2025-01-01&to=2025-01-02", headers=_auth(keys))
    assert bad.status_code == 400
    assert "not both" in bad.get_json()["error"]
    assert client.get("/api/dashboard?days=abc", headers=_auth(keys)).status_code == 400
    assert (
        client.get("/api/dashboard?from=2025-13-01&to=2025-01-01", headers=_auth(keys)).status_code
        == 400
    )


# ------------------------------------------------------------------------ pages


def test_dev_login_pages_and_csrf(client: Any, ticket: dict[str, str], topics: Any) -> None:
    assert client.get("/queue").status_code == 303  # to /login
    assert client.get("/login").status_code == 200
    assert client.post("/login", data={"email": "who@example.com"}).status_code == 403
    response = client.post("/login", data={"email": ANALYST})
    assert response.status_code == 303
    page = client.get("/queue")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert ticket["ticket_id"] in html and 'id="queue"' in html
    page = client.get(f"/tickets/{ticket['ticket_id']}").get_data(as_text=True)
    assert 'id="answer-form"' in page and 'id="handoff-card"' in page
    csrf = client.get("/api/me").get_json()["csrf_token"]
    form = {"answer": "Sim.", "question": "Posso parcelar?", "action_id": "form-answer-1"}
    refused = client.post(f"/tickets/{ticket['ticket_id']}/answer", data=form)
    assert refused.status_code == 403  # no CSRF token
    done = client.post(
        f"/tickets/{ticket['ticket_id']}/answer",
        data={**form, "csrf_token": csrf, "expires_at": "2099-01-01T10:00", "tz": "180"},
    )
    assert done.status_code == 303, done.get_data(as_text=True)
    assert len(pull_all(topics["outbound"])) == 1
    bad = client.post(
        f"/tickets/{ticket['ticket_id']}/transfer",
        data={"area": "x", "csrf_token": csrf},
        headers={"Accept": "text/html"},
    )
    assert bad.status_code == 400
    assert 'id="error"' in bad.get_data(as_text=True)
    dashboard = client.get("/dashboard?days=7")
    assert dashboard.status_code == 200
    assert 'id="chart"' in dashboard.get_data(as_text=True)


def test_a_debtors_ticket_shows_the_debt_and_its_trail(
    client: Any, keys: Keys, db: firestore.Client
) -> None:
    from datetime import UTC, datetime

    from shared.adapters.firestore_debts import FirestoreDebts
    from shared.billing_policy import trail_policy
    from shared.domain.billing import Debt, DebtorAction

    db.collection("console_users").document(ANALYST).set({"role": "analyst"})
    debts = FirestoreDebts(db)
    now = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    policy = trail_policy(get_settings())
    debt = Debt(
        invoice_id="FAT-77",
        customer="Bruno Lima",
        phone="5511988880102",
        amount="420.00",  # type: ignore[arg-type]
        due_date="2026-11-12",  # type: ignore[arg-type]
        pix_code="000201PIX77",
    )
    debts.import_debts([debt], now=now, policy=policy)
    promised = DebtorAction.model_validate({"kind": "promise", "promised_for": "2026-11-27"})
    debts.apply_action("5511988880102", promised, now=now, policy=policy)
    db.collection("debts").document("FAT-77").update({"ticket_id": "T-debt-77"})
    db.collection("tickets").document("T-debt-77").set(
        {"status": "TA", "assistant": "cobranca", "debt_id": "FAT-77", "conversation_id": "x:1"}
    )
    view = client.get("/api/tickets/T-debt-77", headers=_auth(keys)).get_json()
    assert view["debt"]["debt"]["amount"] == "420.00"
    assert view["debt"]["trail_status"] == "active"
    assert view["debt"]["promised_for"] == "2026-11-27"
    page = client.get("/tickets/T-debt-77", headers=_auth(keys)).get_data(as_text=True)
    assert 'id="debt"' in page and "FAT-77" in page and "2026-11-27" in page
    assert "000201PIX77" in page
