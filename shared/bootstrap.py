"""The composition root: builds each function's adapters from settings, once per instance.

Imports are local to each builder so that a function loads only what it uses (the webhook
must stay light).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.observability import configure_logging, set_pseudonym_key
from shared.settings import Settings, get_settings
from shared.tracing import TracedPublisher, configure_tracing

if TYPE_CHECKING:
    from shared.agents.brain import GraphBrain
    from shared.console.web import ConsoleWeb
    from shared.handlers.agent_turn import AgentTurnService
    from shared.handlers.billing_api import BillingApi
    from shared.handlers.dead_letter import DeadLetterService
    from shared.handlers.followups import FollowUpService
    from shared.handlers.handoff_notifier import HandoffNotifierService
    from shared.handlers.intake import IntakeService
    from shared.handlers.outbound import OutboundService
    from shared.handlers.webhook import WebhookConfig
    from shared.ports import (
        AgentBrain,
        BusinessData,
        DebtStore,
        Embedder,
        KnowledgeStore,
        Publisher,
        SecretSource,
        TemplateStore,
    )

__all__ = [
    "agent_turn_service",
    "billing_api_service",
    "business_data",
    "console_web",
    "dead_letter_service",
    "debt_store",
    "followup_service",
    "handoff_notifier_service",
    "intake_service",
    "outbound_service",
    "publisher",
    "template_store",
    "webhook_runtime",
]

T = TypeVar("T")
_lock = threading.RLock()


class _once(Generic[T]):
    """Build on first use, once per instance, even when the first requests arrive together.

    (lru_cache alone lets concurrent first callers each build their own publisher.)
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: list[T] = []
        self.__doc__ = build.__doc__

    def __call__(self) -> T:
        if not self._built:
            with _lock:
                if not self._built:
                    self._built.append(self._build())
        return self._built[0]

    def cache_clear(self) -> None:
        """Forget the built object (tests)."""
        self._built.clear()


@_once
def secrets() -> SecretSource:
    """Secret Manager in the cloud, environment variables locally."""
    settings = get_settings()
    configure_logging(project=settings.google_cloud_project)
    # Here because every function builds its secrets first, before any span is started.
    configure_tracing(settings)
    source: SecretSource
    if settings.secrets_backend == "secretmanager":
        from shared.adapters.secrets import SecretManagerSecrets

        source = SecretManagerSecrets(settings.google_cloud_project)
    else:
        from shared.adapters.secrets import EnvSecrets

        source = EnvSecrets()
    set_pseudonym_key(source.get("log-pseudonym-key"))
    return source


@_once
def publisher() -> Publisher:
    """The instance's Pub/Sub publisher; every publish carries the trace context."""
    from shared.adapters.pubsub import PubSubPublisher

    return TracedPublisher(PubSubPublisher(get_settings().google_cloud_project))


@_once
def _firestore() -> Any:
    from google.cloud import firestore

    settings = get_settings()
    return firestore.Client(
        project=settings.google_cloud_project, database=settings.firestore_database
    )


def store() -> Any:
    """The Firestore-backed conversation store."""
    from shared.adapters.firestore_store import FirestoreStore

    return FirestoreStore(_firestore())


@_once
def embedder() -> Embedder:
    """The embedder the settings choose (offline USE v3 by default)."""
    settings = get_settings()
    if settings.embedding_backend == "vertex":
        from shared.adapters.vertex import VertexEmbedder

        return VertexEmbedder(
            project=settings.vertex_project_id,
            location=settings.vertex_location,
            model=settings.vertex_embedding_model,
            endpoint=settings.vertex_endpoint,
        )
    from shared.adapters.local_embeddings import LocalEmbedder

    return LocalEmbedder()


@_once
def knowledge_base() -> KnowledgeStore:
    """The knowledge base the settings choose."""
    settings = get_settings()
    if settings.kb_backend == "mongodb":
        from shared.adapters.mongo_kb import MongoKnowledgeBase

        return MongoKnowledgeBase.from_uri(
            secrets().get("mongodb-uri"),
            embedder(),
            database=settings.mongodb_database,
            collection=settings.mongodb_collection,
        )
    from shared.adapters.firestore_kb import FirestoreKnowledgeBase

    return FirestoreKnowledgeBase(_firestore(), embedder())


def webhook_runtime() -> tuple[WebhookConfig, Publisher]:
    """The webhook's configuration and publisher."""
    return _webhook_config(), publisher()


@_once
def _webhook_config() -> WebhookConfig:
    from shared.handlers.webhook import WebhookConfig

    settings = get_settings()
    source = secrets()
    return WebhookConfig(
        app_secret=source.get("whatsapp-app-secret"),
        verify_token=source.get("whatsapp-verify-token"),
        inbound_topic=settings.topic_inbound,
        max_body_bytes=settings.webhook_max_body_bytes,
    )


@_once
def intake_service() -> IntakeService:
    """Intake wired to Firestore and Pub/Sub."""
    from shared.handlers.intake import IntakeService

    secrets()
    return IntakeService(store=store(), publisher=publisher(), settings=get_settings())


@_once
def brain() -> AgentBrain:
    """The multi-agent graph: the offline reasoner, or Gemini with the offline one behind it."""
    from shared.adapters.firestore_checkpoint import checkpoint_saver_from_settings
    from shared.adapters.image_reader import image_reader_from_settings
    from shared.adapters.mcp_tools import business_tools_from_settings
    from shared.agents.prompt_cache import PublishedPrompts
    from shared.billing_policy import instalment_policy

    settings = get_settings()
    return _graph_brain(
        tools=business_tools_from_settings(settings),
        images=image_reader_from_settings(settings, secrets()),
        checkpointer=checkpoint_saver_from_settings(_firestore(), settings),
        # Each instance re-reads an assistant's published prompts at most once a minute.
        prompts=PublishedPrompts(prompt_store()),
        # A debtor's "amanhã" is counted in the zone the reminder trail keeps their hours in.
        time_zone=settings.followup_time_zone,
        policy=instalment_policy(settings),
    )


def prompt_store() -> Any:
    """The versioned prompts on Firestore (prompt_versions)."""
    from shared.adapters.firestore_prompts import FirestorePromptStore

    return FirestorePromptStore(_firestore())


@_once
def _reasoner() -> Any:
    from shared.agents.offline import OfflineReasoner
    from shared.agents.reasoning import Reasoner, ResilientReasoner

    settings = get_settings()
    offline = OfflineReasoner(
        embedder(),
        min_score=settings.kb_min_score,
        sure_score=settings.kb_sure_score,
        knowledge_base=knowledge_base(),
    )
    reasoner: Reasoner = offline
    if settings.llm_backend == "vertex":
        from shared.adapters.vertex import (
            FALLBACK_EXCEPTIONS,
            chat_models_from_settings,
            cost_usd,
            usage_of,
        )
        from shared.agents.llm_reasoner import LlmReasoner

        llm = LlmReasoner(
            chat_models_from_settings(settings),
            retryable=FALLBACK_EXCEPTIONS,
            usage=usage_of,
            price=cost_usd,
        )
        reasoner = ResilientReasoner(llm, offline)
    return reasoner


def _graph_brain(
    *,
    tools: Any,
    images: Any,
    checkpointer: Any,
    prompts: Any,
    time_zone: str = "America/Sao_Paulo",
    policy: Any = None,
) -> GraphBrain:
    """A GraphBrain over the instance's knowledge base and reasoner.

    The debtors' time zone and instalment policy come from the caller: a builder that reads
    them reads the whole reminder trail's settings, which the console does not have (its
    staging chat runs the billing agent with the default policy).
    """
    from shared.agents.brain import GraphBrain
    from shared.clock import SystemClock

    settings = get_settings()
    return GraphBrain(
        knowledge_base=knowledge_base(),
        tools=tools,
        images=images,
        reasoner=_reasoner(),
        min_score=settings.kb_min_score,
        handoff_message=settings.handoff_message,
        checkpointer=checkpointer,
        offline_model=f"offline/{embedder().model_id}",
        prompts=prompts,
        clock=SystemClock(),
        time_zone=time_zone,
        instalment_policy=policy,
    )


def staging_brain(prompts: Any) -> GraphBrain:
    """The console's staging chat: the real graph with these prompts, on a sandbox.

    Checkpoints in memory (the sandbox conversation lives for one request), no image reader
    (the chat is text), and the tools that write (open_ticket) refused.
    """
    from langgraph.checkpoint.memory import InMemorySaver

    from shared.adapters.mcp_tools import business_tools_from_settings
    from shared.console.prompts import SandboxTools

    return _graph_brain(
        tools=SandboxTools(business_tools_from_settings(get_settings())),
        images=None,
        checkpointer=InMemorySaver(),
        prompts=lambda _assistant: prompts,
    )


@_once
def agent_turn_service() -> AgentTurnService:
    """The agent turn wired to Firestore, Pub/Sub and the agent graph."""
    from shared.billing_policy import trail_policy
    from shared.clock import SystemClock
    from shared.handlers.agent_turn import AgentTurnService

    secrets()
    settings: Settings = get_settings()
    return AgentTurnService(
        store=store(),
        publisher=publisher(),
        brain=brain(),
        clock=SystemClock(),
        settings=settings,
        debts=debt_store(),
        trail=trail_policy(settings),
    )


@_once
def outbound_service() -> OutboundService:
    """Outbound wired to Firestore and the Graph API."""
    from shared.adapters.graph_api import GraphApiSender
    from shared.clock import SystemClock
    from shared.handlers.outbound import OutboundService

    settings = get_settings()
    sender = GraphApiSender(
        base_url=settings.whatsapp_api_base_url,
        version=settings.whatsapp_api_version,
        access_token=secrets().get("whatsapp-access-token"),
        timeout_seconds=settings.whatsapp_timeout_seconds,
    )
    return OutboundService(store=store(), sender=sender, clock=SystemClock(), settings=settings)


@_once
def dead_letter_service() -> DeadLetterService:
    """The dead-letter recorder."""
    from shared.handlers.dead_letter import DeadLetterService

    secrets()
    return DeadLetterService(store=store())


@_once
def handoff_notifier_service() -> HandoffNotifierService:
    """The handoff notifier wired to Firestore and the analysts' Google Chat space."""
    from shared.adapters.firestore_handoffs import FirestoreHandoffNotifications
    from shared.adapters.google_chat import GoogleChatWebhook
    from shared.clock import SystemClock
    from shared.handlers.handoff_notifier import HandoffNotifierService

    settings = get_settings()
    chat = GoogleChatWebhook(
        webhook_url=secrets().get("google-chat-webhook-url"),
        timeout_seconds=settings.google_chat_timeout_seconds,
    )
    return HandoffNotifierService(
        notifications=FirestoreHandoffNotifications(_firestore()),
        chat=chat,
        clock=SystemClock(),
        settings=settings,
    )


@_once
def console_web() -> ConsoleWeb:
    """The analysts' console: Firestore, topic outbound, the knowledge base, Google sign-in."""
    from shared.adapters.firestore_console import FirestoreConsoleStore
    from shared.adapters.firestore_dashboard import FirestoreDashboardSource
    from shared.adapters.firestore_templates_feedback import (
        FirestoreFeedbackStore,
        FirestoreTemplateStore,
    )
    from shared.adapters.graph_api import GraphApiMedia
    from shared.clock import SystemClock
    from shared.console.auth import Authenticator, CachedKeys, SessionCodec, TokenVerifier
    from shared.console.prompts import PromptsService
    from shared.console.service import ConsoleService
    from shared.console.wa_templates import TemplateService
    from shared.console.web import ConsoleWeb, dashboards_from

    settings = get_settings()
    console_store = FirestoreConsoleStore(_firestore())
    local = settings.atende_env in ("local", "test")
    auth = Authenticator(
        verifier=TokenVerifier(audience=settings.console_audience, keys=CachedKeys()),
        sessions=SessionCodec(secrets().get("console-session-key")),
        store=console_store,
        users={k.lower(): v for k, v in settings.console_users.items()},
        dev_login=local,
    )
    service = ConsoleService(
        store=console_store,
        publisher=publisher(),
        knowledge=knowledge_base(),
        clock=SystemClock(),
        outbound_topic=settings.topic_outbound,
        templates=FirestoreTemplateStore(_firestore()),
        feedback_store=FirestoreFeedbackStore(_firestore()),
        debts=debt_store(),
    )
    media = GraphApiMedia(
        base_url=settings.whatsapp_api_base_url,
        version=settings.whatsapp_api_version,
        access_token=secrets().get("whatsapp-access-token"),
        timeout_seconds=settings.whatsapp_timeout_seconds,
    )
    return ConsoleWeb(
        service=service,
        auth=auth,
        media=media,
        dashboards=dashboards_from(FirestoreDashboardSource(_firestore()), SystemClock()),
        secure_cookies=not local,
        templates=TemplateService(
            FirestoreTemplateStore(_firestore()), console_store, SystemClock()
        ),
        prompts=PromptsService(
            store=prompt_store(),
            audit=console_store,
            clock=SystemClock(),
            brain_for=staging_brain,
        ),
    )


@_once
def followup_service() -> FollowUpService:
    """The follow-up tick wired to Firestore, Pub/Sub, the templates and the knowledge base."""
    from shared.adapters.firestore_debts import FirestoreDebts, FirestoreMaintenance
    from shared.adapters.firestore_templates_feedback import FirestoreTemplateStore
    from shared.billing_policy import trail_policy
    from shared.clock import SystemClock
    from shared.handlers.followups import FollowUpService

    secrets()
    settings = get_settings()
    return FollowUpService(
        debts=FirestoreDebts(_firestore()),
        maintenance=FirestoreMaintenance(_firestore()),
        publisher=publisher(),
        templates=FirestoreTemplateStore(_firestore()),
        clock=SystemClock(),
        settings=settings,
        policy=trail_policy(settings),
        knowledge=knowledge_base,
    )


@_once
def billing_api_service() -> BillingApi:
    """The billing system's API on the debts store."""
    from shared.adapters.firestore_debts import FirestoreDebts
    from shared.billing_policy import trail_policy
    from shared.clock import SystemClock
    from shared.handlers.billing_api import BillingApi

    secrets()
    return BillingApi(
        debts=FirestoreDebts(_firestore()),
        clock=SystemClock(),
        policy=trail_policy(get_settings()),
        templates=template_store(),
    )


def debt_store() -> DebtStore:
    """The Firestore-backed debts store (the CLI, the agent turn, the tools hub)."""
    from shared.adapters.firestore_debts import FirestoreDebts

    return FirestoreDebts(_firestore())


def business_data() -> BusinessData:
    """The tools hub's records: the ERP's (a JSON file here) plus the imported debts."""
    from shared.adapters.business_debts import WithImportedDebts
    from shared.adapters.business_json import JsonBusinessData
    from shared.clock import SystemClock

    return WithImportedDebts(
        JsonBusinessData.from_settings(get_settings()), debt_store(), SystemClock()
    )


def template_store() -> TemplateStore:
    """The registered WhatsApp templates (Firestore)."""
    from shared.adapters.firestore_templates_feedback import FirestoreTemplateStore

    return FirestoreTemplateStore(_firestore())
