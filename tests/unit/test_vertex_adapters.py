"""The Vertex AI adapters through the real client classes, against the local stand-in.

Nothing here reaches Google: the stand-in listens on 127.0.0.1, chat models get anonymous
credentials, and `google.auth.default` is replaced so that any look-up of Application Default
Credentials (which could probe the metadata server) fails the test. The one live test at the
end runs only with ATENDE_VERTEX_LIVE=1 and ADC (docs/vertex.md).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests.exceptions
from google.api_core import exceptions as api_exceptions
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from shared.adapters.vertex import (
    FALLBACK_EXCEPTIONS,
    VertexEmbedder,
    chat_model,
    chat_with_fallbacks,
    cost_usd,
    usage_of,
)
from shared.localstack.vertex_standin import (
    MAX_EMBEDDING_INSTANCES,
    VertexStandIn,
    request_key,
)

PROJECT = "atende-test"
LOCATION = "us-central1"
PRIMARY = "gemini-2.5-flash"
FALLBACK = "gemini-2.5-flash-lite"
EMBEDDING_MODEL = "text-multilingual-embedding-002"
RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "vertex"
SYSTEM = (
    "Você é o assistente de atendimento da Atende. "
    "Responda em português do Brasil, de forma breve e cordial."
)


class Triage(BaseModel):
    """What the customer wants."""

    intent: str
    confidence: float
    needs_human: bool


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, no metadata server, no proxy between the clients and 127.0.0.1."""
    if request.node.name.startswith("test_live_"):
        return
    request.getfixturevalue("no_google_credentials")


@pytest.fixture(scope="module")
def _server() -> Iterator[VertexStandIn]:
    with VertexStandIn(port=0, recordings_dir=RECORDINGS) as standin:
        yield standin


@pytest.fixture
def standin(_server: VertexStandIn) -> VertexStandIn:
    _server.reset()
    return _server


def _chat(
    standin: VertexStandIn,
    model: str = PRIMARY,
    *,
    timeout: float = 5.0,
    max_retries: int = 2,
) -> BaseChatModel:
    return chat_model(
        model=model,
        project=PROJECT,
        location=LOCATION,
        endpoint=standin.url,
        timeout=timeout,
        max_retries=max_retries,
        retry_wait_seconds=0.01,
    )


def _paths(standin: VertexStandIn) -> list[str]:
    return [f"{r.model}:{r.method}" for r in standin.requests]


# chat


def test_plain_chat_returns_the_scripted_text_and_usage(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, text="Olá! Como posso ajudar?", usage=(42, 7))
    chat = _chat(standin)

    reply = chat.invoke(
        [
            SystemMessage(SYSTEM),
            HumanMessage("Oi"),
            AIMessage("Olá! Em que posso ajudar?"),
            HumanMessage("Quero falar sobre meu pedido"),
        ]
    )

    assert reply.content == "Olá! Como posso ajudar?"
    assert usage_of(reply) == (42, 7)
    (sent,) = standin.requests
    assert sent.path == (
        f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}"
        f"/publishers/google/models/{PRIMARY}:generateContent"
    )
    assert sent.query == {"$alt": ["json;enum-encoding=int"]}
    assert "authorization" not in sent.headers  # anonymous credentials
    assert sent.system_text == SYSTEM
    assert sent.turns == [
        ("user", "Oi"),
        ("model", "Olá! Em que posso ajudar?"),
        ("user", "Quero falar sobre meu pedido"),
    ]
    assert sent.generation_config["temperature"] == pytest.approx(0.2)
    assert "thinkingConfig" not in sent.generation_config  # the model's default


def test_thinking_budget_is_sent(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, text="Oi!", usage=(3, 2))
    chat = chat_model(
        model=PRIMARY,
        project=PROJECT,
        location=LOCATION,
        endpoint=standin.url,
        thinking_budget=0,
    )

    chat.invoke("Oi")

    assert standin.requests[0].generation_config["thinkingConfig"] == {"thinkingBudget": 0}


def test_structured_output_json_mode_sends_the_schema(standin: VertexStandIn) -> None:
    answer = {"intent": "status_pedido", "confidence": 0.92, "needs_human": False}
    standin.script(PRIMARY, text=json.dumps(answer), usage=(80, 20))
    chat = _chat(standin)

    triage = chat.with_structured_output(Triage, method="json_mode").invoke("Cadê meu pedido 123?")

    assert triage == Triage.model_validate(answer)
    config = standin.requests[0].generation_config
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] in (6, "OBJECT")  # the REST transport sends enums as numbers
    assert set(schema["properties"]) == {"intent", "confidence", "needs_human"}
    assert set(schema["required"]) == {"intent", "confidence", "needs_human"}


def test_structured_output_by_default_forces_a_function_call(standin: VertexStandIn) -> None:
    args = {"intent": "cancelamento", "confidence": 0.7, "needs_human": True}
    standin.script(PRIMARY, text="", function_call=("Triage", args), usage=(90, 15))
    chat = _chat(standin)

    triage = chat.with_structured_output(Triage).invoke("Quero cancelar tudo")

    assert triage == Triage.model_validate(args)
    body = standin.requests[0].body
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "Triage"
    calling = body["toolConfig"]["functionCallingConfig"]
    assert calling["allowedFunctionNames"] == ["Triage"]
    assert "responseSchema" not in standin.requests[0].generation_config


def test_stream_uses_stream_generate_content(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, text="Seu pedido saiu para entrega hoje.", usage=(30, 9))
    chat = _chat(standin)

    chunks = list(chat.stream("Cadê meu pedido?"))

    assert "".join(str(c.content) for c in chunks) == "Seu pedido saiu para entrega hoje."
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert usage_of(merged) == (30, 9)
    assert _paths(standin) == [f"{PRIMARY}:streamGenerateContent"]


def test_recorded_response_answers_when_nothing_is_scripted(standin: VertexStandIn) -> None:
    chat = _chat(standin)

    reply = chat.invoke([SystemMessage(SYSTEM), HumanMessage("Qual é o horário de atendimento?")])

    assert "segunda a sexta" in reply.content
    # 29 candidate tokens plus 12 thinking tokens, both billed as output.
    assert usage_of(reply) == (31, 41)
    assert standin.requests[0].source == "recording"


def test_unknown_conversation_is_a_404_naming_the_recording(standin: VertexStandIn) -> None:
    chat = _chat(standin, max_retries=0)

    with pytest.raises(api_exceptions.NotFound, match=rf"{PRIMARY}\.[0-9a-f]{{16}}\.json"):
        chat.invoke("Pergunta que ninguém gravou")


def test_recordings_are_exact_vertex_rest_responses() -> None:
    # The GA (v1) schema, strictly; ChatVertexAI's v1beta1 types lack a few v1 fields such as
    # usageMetadata.trafficType and skip them, as they do in Vertex AI's own answers.
    from google.cloud.aiplatform_v1.types import GenerateContentResponse

    files = sorted(RECORDINGS.glob("*.json"))
    assert files
    for path in files:
        model, key, _ = path.name.rsplit(".", 2)
        assert len(key) == 16, path.name
        response = GenerateContentResponse.from_json(
            path.read_text(encoding="utf-8"), ignore_unknown_fields=False
        )
        assert response.candidates[0].content.parts[0].text
        assert response.usage_metadata.total_token_count > 0
        assert response.model_version.startswith(model)


def test_request_key_ignores_generation_config_and_system_role() -> None:
    chat_vertexai = {
        "systemInstruction": {"role": "system", "parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": "Oi"}]}],
        "generationConfig": {"temperature": 0.2},
    }
    genai = {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": "Oi"}]}],
    }
    assert request_key(PRIMARY, chat_vertexai) == request_key(PRIMARY, genai)
    assert request_key(PRIMARY, genai) != request_key(FALLBACK, genai)


# retries and fallbacks


def test_429_is_retried_by_the_client(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, status=429, times=2)
    standin.script(PRIMARY, text="Tudo certo!", usage=(5, 3))

    reply = _chat(standin, max_retries=2).invoke("Oi")

    assert reply.content == "Tudo certo!"
    assert _paths(standin) == [f"{PRIMARY}:generateContent"] * 3


def test_retries_stop_after_max_retries(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, status=429, times=3)

    with pytest.raises(api_exceptions.TooManyRequests):
        _chat(standin, max_retries=1).invoke("Oi")

    assert len(standin.requests) == 2  # the first attempt and one retry


def test_503_falls_back_to_the_next_model(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, status=503, times=2)
    standin.script(FALLBACK, text="Resposta do modelo reserva.", usage=(12, 6))
    chain = chat_with_fallbacks(
        _chat(standin, max_retries=1),
        _chat(standin, model=FALLBACK),
    )

    reply = chain.invoke("Oi")

    assert reply.content == "Resposta do modelo reserva."
    assert _paths(standin) == [
        f"{PRIMARY}:generateContent",
        f"{PRIMARY}:generateContent",
        f"{FALLBACK}:generateContent",
    ]


def test_timeout_falls_back_without_retrying(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, text="tarde demais", delay=3.0)
    standin.script(FALLBACK, text="Resposta a tempo.", usage=(12, 4))
    chain = chat_with_fallbacks(
        _chat(standin, timeout=0.3, max_retries=2),
        _chat(standin, model=FALLBACK),
    )

    started = time.monotonic()
    reply = chain.invoke("Oi")

    assert reply.content == "Resposta a tempo."
    assert time.monotonic() - started < 2.0
    # requests' ReadTimeout is not a google.api_core error, so ChatVertexAI does not retry it.
    assert _paths(standin) == [f"{PRIMARY}:generateContent", f"{FALLBACK}:generateContent"]
    assert issubclass(requests.exceptions.ReadTimeout, FALLBACK_EXCEPTIONS)


def test_bad_request_is_retried_but_never_falls_back(standin: VertexStandIn) -> None:
    standin.script(PRIMARY, status=400, times=2)
    standin.script(FALLBACK, text="não deveria ser chamado")
    chain = chat_with_fallbacks(
        _chat(standin, max_retries=1),
        _chat(standin, model=FALLBACK),
    )

    with pytest.raises(api_exceptions.BadRequest):
        chain.invoke("Oi")

    # ChatVertexAI retries every google.api_core error, 400 included; the fallback is skipped.
    assert _paths(standin) == [f"{PRIMARY}:generateContent"] * 2


def test_structured_output_goes_through_the_fallbacks(standin: VertexStandIn) -> None:
    answer = {"intent": "segunda_via", "confidence": 0.8, "needs_human": False}
    standin.script(PRIMARY, status=500)
    standin.script(FALLBACK, text=json.dumps(answer))
    chain = chat_with_fallbacks(
        _chat(standin, max_retries=0),
        _chat(standin, model=FALLBACK),
    )

    triage = chain.with_structured_output(Triage, method="json_mode").invoke("2ª via do boleto")

    assert triage == Triage.model_validate(answer)
    (fallback_request,) = standin.requests_for(FALLBACK)
    assert fallback_request.generation_config["responseMimeType"] == "application/json"


# construction


def test_building_models_raises_no_deprecation_warning(standin: VertexStandIn) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _chat(standin)
        VertexEmbedder(project=PROJECT, location=LOCATION, endpoint=standin.url)

    assert [w for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_production_models_use_adc_rest_and_the_regional_endpoint() -> None:
    from langchain_google_vertexai import ChatVertexAI

    chat = chat_model(model=PRIMARY, project=PROJECT, location="southamerica-east1")

    # Built without looking for credentials: ADC is resolved at the first call.
    assert isinstance(chat, ChatVertexAI)
    assert chat.credentials is None
    assert chat.api_transport == "rest"
    assert chat.client_options is not None
    assert chat.client_options.api_endpoint == "southamerica-east1-aiplatform.googleapis.com"
    assert chat.max_retries == 3
    assert chat.timeout == 30
    embedder = VertexEmbedder(project=PROJECT, location="southamerica-east1")
    assert (embedder.model_id, embedder.dimensions) == (f"vertex/{EMBEDDING_MODEL}", 768)


# embeddings


def test_embedder_returns_768_dimensions_and_embeds_a_text_once(standin: VertexStandIn) -> None:
    embedder = VertexEmbedder(
        project=PROJECT, location=LOCATION, endpoint=standin.url, retry_wait_seconds=0.01
    )

    first = embedder.embed(["Qual o horário?", "Onde fica a loja?", "Qual o horário?"])
    again = embedder.embed(["Qual o horário?"])

    assert [len(v) for v in first] == [768, 768, 768]
    assert math.isclose(math.sqrt(sum(x * x for x in first[0])), 1.0, rel_tol=1e-9)
    assert first[0] == first[2] == again[0]
    assert first[0] != first[1]
    (sent,) = standin.requests
    assert sent.method == "predict"
    assert sent.path.endswith(f"/publishers/google/models/{EMBEDDING_MODEL}:predict")
    assert sent.body["instances"] == [
        {"content": "Qual o horário?", "task_type": "SEMANTIC_SIMILARITY"},
        {"content": "Onde fica a loja?", "task_type": "SEMANTIC_SIMILARITY"},
    ]
    assert embedder.model_id == "vertex/text-multilingual-embedding-002"
    assert embedder.dimensions == 768


def test_embedder_batches_requests(standin: VertexStandIn) -> None:
    embedder = VertexEmbedder(
        project=PROJECT, location=LOCATION, endpoint=standin.url, batch_size=2
    )

    vectors = embedder.embed([f"pergunta {i}" for i in range(5)])

    assert len(vectors) == 5
    assert [len(r.body["instances"]) for r in standin.requests] == [2, 2, 1]


def test_embedder_retries_a_503(standin: VertexStandIn) -> None:
    standin.script(EMBEDDING_MODEL, status=503)
    embedder = VertexEmbedder(
        project=PROJECT, location=LOCATION, endpoint=standin.url, retry_wait_seconds=0.01
    )

    (vector,) = embedder.embed(["Oi"])

    assert len(vector) == 768
    assert [r.status for r in standin.requests] == [503, 200]


def test_standin_rejects_more_embedding_instances_than_vertex(standin: VertexStandIn) -> None:
    url = (
        f"{standin.url}/v1/projects/{PROJECT}/locations/{LOCATION}"
        f"/publishers/google/models/{EMBEDDING_MODEL}:predict"
    )
    instances = [{"content": str(i)} for i in range(MAX_EMBEDDING_INSTANCES + 1)]

    response = httpx.post(url, json={"instances": instances}, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    health = httpx.get(f"{standin.url}/_standin/health", timeout=5)
    assert health.json() == {"ok": True}


# usage and cost


def test_usage_of_counts_thinking_tokens_once() -> None:
    vertexai_style = AIMessage(
        "",
        usage_metadata={
            "input_tokens": 10,
            "output_tokens": 4,
            "total_tokens": 21,
            "output_token_details": {"reasoning": 7},
        },
    )
    genai_style = AIMessage(
        "",
        usage_metadata={
            "input_tokens": 10,
            "output_tokens": 11,
            "total_tokens": 21,
            "output_token_details": {"reasoning": 7},
        },
    )
    assert usage_of(vertexai_style) == (10, 11)
    assert usage_of(genai_style) == (10, 11)
    assert usage_of(AIMessage("sem uso")) == (0, 0)


def test_cost_usd() -> None:
    assert cost_usd("gemini-2.5-flash", 1_000_000, 1_000_000) == pytest.approx(2.80)
    assert cost_usd("gemini-2.5-flash-lite-001", 2_000, 500) == pytest.approx(0.0004)
    assert cost_usd(
        "projects/p/locations/l/publishers/google/models/gemini-2.5-pro", 1_000, 1_000
    ) == pytest.approx(0.01125)
    # Above 200k prompt tokens Gemini 2.5 Pro bills the long-context rates.
    assert cost_usd("gemini-2.5-pro", 300_000, 1_000) == pytest.approx(0.765)
    assert cost_usd("gemini-2.0-flash", 0, 0) == 0.0
    with pytest.raises(ValueError, match="no price"):
        cost_usd("gemini-1.0-pro", 1, 1)


# live (opt-in)


@pytest.mark.skipif(
    os.environ.get("ATENDE_VERTEX_LIVE") != "1",
    reason="set ATENDE_VERTEX_LIVE=1 with Application Default Credentials to call Vertex AI",
)
def test_live_vertex_round_trip() -> None:
    import google.auth.exceptions

    try:
        _, adc_project = google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        pytest.skip("no Application Default Credentials (gcloud auth application-default login)")
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or adc_project
    if not project:
        pytest.skip("set GOOGLE_CLOUD_PROJECT")
    location = os.environ.get("ATENDE_VERTEX_LOCATION", LOCATION)
    model = os.environ.get("ATENDE_VERTEX_MODEL", FALLBACK)
    chat = chat_model(model=model, project=project, location=location, max_retries=1)

    reply = chat.invoke(
        [SystemMessage("Responda com uma única palavra."), HumanMessage("Capital do Brasil?")]
    )
    triage = chat.with_structured_output(Triage, method="json_mode").invoke(
        "Quero a segunda via do meu boleto."
    )
    vectors = VertexEmbedder(project=project, location=location).embed(
        ["Qual o horário de atendimento?", "Que horas vocês abrem?"]
    )

    assert "bras" in str(reply.content).lower()
    prompt, completion = usage_of(reply)
    assert prompt > 0 and completion > 0
    assert cost_usd(model, prompt, completion) < 0.01
    assert isinstance(triage, Triage)
    assert [len(v) for v in vectors] == [768, 768]
    assert sum(a * b for a, b in zip(*vectors, strict=True)) > 0.5


def test_bootstrap_picks_the_vertex_embedder_from_settings(
    standin: VertexStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import bootstrap
    from shared.settings import get_settings

    monkeypatch.setenv("EMBEDDING_BACKEND", "vertex")
    monkeypatch.setenv("VERTEX_ENDPOINT", standin.url)
    get_settings.cache_clear()
    bootstrap.embedder.cache_clear()
    try:
        chosen = bootstrap.embedder()
        assert isinstance(chosen, VertexEmbedder)
        (vector,) = chosen.embed(["Vocês aceitam PIX?"])
        assert len(vector) == chosen.dimensions == 768
    finally:
        get_settings.cache_clear()
        bootstrap.embedder.cache_clear()
