"""The one module that constructs Vertex AI models: Gemini chat models, fallbacks, embeddings.

Everything that builds a `langchain_google_vertexai` object lives here, so that the move to
`langchain-google-genai` (`ChatGoogleGenerativeAI(vertexai=True)`), announced for
langchain-google-vertexai 4.0, changes this file only (docs/vertex.md, "Migration").

* `chat_model()` - a `ChatVertexAI` on the REST transport: Application Default Credentials
  against `https://{location}-aiplatform.googleapis.com` in production, or anonymous
  credentials against `endpoint` (the local stand-in, shared/localstack/vertex_standin.py).
* `chat_with_fallbacks()` - the primary model, then the fallbacks, on the errors that another
  model may not have: quota (429), server errors (5xx) and timeouts (`FALLBACK_EXCEPTIONS`).
* `VertexEmbedder` - the `Embedder` port over `VertexAIEmbeddings`
  (text-multilingual-embedding-002, 768 dimensions), batched and cached by text hash.
* `usage_of()` and `cost_usd()` - tokens of a reply and their list price.

The heavy imports (langchain_google_vertexai takes seconds) happen inside the builders.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

import requests.exceptions
from google.api_core import exceptions as api_exceptions
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables.fallbacks import RunnableWithFallbacks

if TYPE_CHECKING:
    from langchain_google_vertexai import VertexAIEmbeddings

    from shared.settings import Settings

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_FALLBACK_MODEL",
    "FALLBACK_EXCEPTIONS",
    "PRICES_USD_PER_1M_TOKENS",
    "EmbeddingTask",
    "Price",
    "VertexEmbedder",
    "chat_model",
    "chat_models_from_settings",
    "chat_with_fallbacks",
    "cost_usd",
    "usage_of",
]

DEFAULT_CHAT_MODEL: Final = "gemini-2.5-flash"
# A different model has its own quota, so a 429 on the primary does not carry over.
DEFAULT_FALLBACK_MODEL: Final = "gemini-2.5-flash-lite"
DEFAULT_EMBEDDING_MODEL: Final = "text-multilingual-embedding-002"

EmbeddingTask = Literal[
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
]

# The errors worth trying another model on. A 4xx other than 429 (bad request, permission,
# unknown model) would fail the same way on the fallback, so it propagates.
FALLBACK_EXCEPTIONS: Final[tuple[type[BaseException], ...]] = (
    # 429, raised as TooManyRequests by the REST transport (gRPC: ResourceExhausted, a subclass).
    api_exceptions.TooManyRequests,
    # Every 5xx: InternalServerError, BadGateway, ServiceUnavailable, GatewayTimeout and
    # DeadlineExceeded (gRPC's timeout) all derive from ServerError.
    api_exceptions.ServerError,
    # The REST transport is `requests`: a client-side timeout is requests' ReadTimeout or
    # ConnectTimeout (not wrapped in a google.api_core exception, and not retried by
    # ChatVertexAI), and an unreachable endpoint is requests' ConnectionError.
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    TimeoutError,
)

# Vertex AI's embeddings `predict` takes at most 250 texts and 20,000 tokens per request
# (https://cloud.google.com/vertex-ai/generative-ai/docs/embeddings/get-text-embeddings,
# "API limits"); 40,000 characters stays near half the token limit at ~4 characters a token.
_MAX_BATCH_TEXTS = 250
_MAX_BATCH_CHARACTERS = 40_000
_EMBEDDING_DIMENSIONS: Final[dict[str, int]] = {
    "text-multilingual-embedding-002": 768,
    "text-embedding-005": 768,
}
# google-genai needs a bearer token and cannot refresh AnonymousCredentials; the stand-in
# ignores the token, so a fixed one stands in for ADC there.
_STAND_IN_TOKEN = "vertex-standin"  # noqa: S105 - not a secret, never sent to Google

_warnings_lock = threading.Lock()


@contextlib.contextmanager
def _vertex_deprecations_silenced() -> Iterator[None]:
    """Construct the deprecated langchain-google-vertexai classes without their warnings.

    langchain-google-vertexai 3.2 deprecates ChatVertexAI and VertexAIEmbeddings in favour of
    langchain-google-genai (removal in 4.0). We keep the package the project card names, pinned
    below 4 in pyproject.toml, and this module is the only place that builds those classes, so
    the warning says nothing new: it is silenced here, deliberately and only here, for exactly
    those two classes (LangChain's warning and the PEP 702 one typing_extensions raises at each
    instantiation). The lock keeps concurrent builders from racing on the warning filters.
    """
    with _warnings_lock, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"The class `(ChatVertexAI|VertexAIEmbeddings)` was deprecated",
            category=DeprecationWarning,
        )
        warnings.filterwarnings(
            "ignore",
            message=r"Use \[`(ChatGoogleGenerativeAI|GoogleGenerativeAIEmbeddings)`\]",
            category=DeprecationWarning,
        )
        yield


def _wait(retry_wait_seconds: float) -> dict[str, float]:
    # Waits of w, 2w, 4w ... capped at 8w (the library default starts at 4 s, too slow for a
    # customer waiting on WhatsApp).
    return {
        "multiplier": retry_wait_seconds,
        "min": retry_wait_seconds,
        "max": retry_wait_seconds * 8,
    }


def chat_model(
    *,
    model: str,
    project: str,
    location: str,
    endpoint: str | None = None,
    timeout: float = 30,
    max_retries: int = 2,
    temperature: float = 0.2,
    retry_wait_seconds: float = 1.0,
    thinking_budget: int | None = None,
) -> BaseChatModel:
    """A Gemini chat model on Vertex AI.

    Production (`endpoint=None`): Application Default Credentials, the regional endpoint
    `https://{location}-aiplatform.googleapis.com` (`location="global"`:
    `https://aiplatform.googleapis.com`). With `endpoint` (for example the stand-in's
    `http://127.0.0.1:8086`): anonymous credentials, so nothing looks for ADC.

    Both use the REST transport, so tests exercise the same code path and exceptions as
    production. `timeout` applies to the connection and to each read of one attempt.
    `max_retries` counts retries after the first attempt (ChatVertexAI's own `max_retries`
    counts attempts, hence the +1); the library retries every google.api_core error, 4xx
    included, but not a client-side timeout. `thinking_budget`: None leaves the model's
    default (2.5 Flash and Pro think, billed as output), 0 turns thinking off where the model
    allows it (Flash, Flash-Lite; Pro needs at least 128).
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    from google.auth.credentials import AnonymousCredentials
    from langchain_google_vertexai import ChatVertexAI

    with _vertex_deprecations_silenced():
        return ChatVertexAI(
            model=model,
            project=project,
            location=location,
            api_endpoint=endpoint,
            api_transport="rest",
            credentials=AnonymousCredentials() if endpoint else None,  # type: ignore[no-untyped-call]
            temperature=temperature,
            timeout=timeout,
            max_retries=max_retries + 1,
            wait_exponential_kwargs=_wait(retry_wait_seconds),
            thinking_budget=thinking_budget,
        )


def chat_with_fallbacks(
    primary: BaseChatModel, *fallbacks: BaseChatModel
) -> RunnableWithFallbacks[LanguageModelInput, BaseMessage]:
    """`primary`, then each fallback in turn when the previous one raised a
    `FALLBACK_EXCEPTIONS` error (after its own retries).

    The result forwards `with_structured_output()` and `bind_tools()` to every model.
    """
    return primary.with_fallbacks(list(fallbacks), exceptions_to_handle=FALLBACK_EXCEPTIONS)


def chat_models_from_settings(settings: Settings) -> list[tuple[str, BaseChatModel]]:
    """The primary Gemini model and its fallbacks, in the order the agents try them."""
    names = [settings.vertex_chat_model, *settings.vertex_fallback_models]
    unique = list(dict.fromkeys(n for n in names if n))
    return [
        (
            name,
            chat_model(
                model=name,
                project=settings.vertex_project_id,
                location=settings.vertex_location,
                endpoint=settings.vertex_endpoint,
                timeout=settings.llm_timeout_seconds,
                max_retries=settings.llm_max_retries,
                thinking_budget=settings.llm_thinking_budget,
            ),
        )
        for name in unique
    ]


class VertexEmbedder:
    """Vertex AI text embeddings behind the `Embedder` port, cached by text hash.

    `VertexAIEmbeddings` talks to Vertex AI through a google-genai client, which it builds
    without a timeout, without retries and without a way to change the endpoint; this class
    gives it one that has all three (`endpoint` for the stand-in, with a fixed bearer token).
    A text seen before costs nothing, and a text repeated in one call is sent once.

    The task type is fixed per instance: the knowledge base compares customer questions with
    question variants, hence SEMANTIC_SIMILARITY by default. A different task type gives
    different vectors, so it becomes part of `model_id`.
    """

    def __init__(
        self,
        *,
        project: str,
        location: str,
        model: str = DEFAULT_EMBEDDING_MODEL,
        dimensions: int | None = None,
        endpoint: str | None = None,
        task_type: EmbeddingTask = "SEMANTIC_SIMILARITY",
        timeout: float = 30.0,
        max_retries: int = 2,
        retry_wait_seconds: float = 1.0,
        batch_size: int = 100,
        cache_size: int = 4096,
    ) -> None:
        if not 1 <= batch_size <= _MAX_BATCH_TEXTS:
            raise ValueError(f"batch_size must be between 1 and {_MAX_BATCH_TEXTS}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        native = _EMBEDDING_DIMENSIONS.get(model)
        self.dimensions: int = dimensions or native or 768
        suffix = "" if task_type == "SEMANTIC_SIMILARITY" else f"#{task_type.lower()}"
        self.model_id: str = f"vertex/{model}{suffix}"
        # Only ask for a reduced dimensionality when it is not the model's own.
        self._output_dimensionality = None if self.dimensions == native else self.dimensions
        self._task_type: EmbeddingTask = task_type
        self._batch_size = batch_size
        self._cache_size = cache_size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._embeddings = _vertex_embeddings(
            model=model,
            project=project,
            location=location,
            endpoint=endpoint,
            timeout=timeout,
            max_retries=max_retries,
            retry_wait_seconds=retry_wait_seconds,
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; only texts not seen before reach Vertex AI."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        with self._lock:
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
        fresh: dict[str, list[float]] = {}
        for batch in self._batches(list(missing.items())):
            vectors = self._embeddings.embed(
                [text for _, text in batch],
                embeddings_task_type=self._task_type,
                dimensions=self._output_dimensionality,
            )
            if len(vectors) != len(batch):
                raise RuntimeError(f"Vertex AI returned {len(vectors)} vectors for {len(batch)}")
            for (key, _), vector in zip(batch, vectors, strict=True):
                if len(vector) != self.dimensions:
                    raise RuntimeError(
                        f"Vertex AI returned {len(vector)} dimensions, not {self.dimensions}"
                    )
                fresh[key] = [float(x) for x in vector]
        with self._lock:
            for key, vector in fresh.items():
                self._cache[key] = vector
                self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return [list(fresh[k]) if k in fresh else list(self._cache[k]) for k in keys]

    def _batches(self, items: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
        batch: list[tuple[str, str]] = []
        characters = 0
        for item in items:
            size = len(item[1])
            if batch and (
                len(batch) >= self._batch_size or characters + size > _MAX_BATCH_CHARACTERS
            ):
                yield batch
                batch, characters = [], 0
            batch.append(item)
            characters += size
        if batch:
            yield batch


def _vertex_embeddings(
    *,
    model: str,
    project: str,
    location: str,
    endpoint: str | None,
    timeout: float,
    max_retries: int,
    retry_wait_seconds: float,
) -> VertexAIEmbeddings:
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials
    from langchain_google_vertexai import VertexAIEmbeddings

    # With an endpoint: a fixed token (the stand-in ignores it); without: None, and
    # google-genai finds Application Default Credentials at the first call.
    credentials = Credentials(token=_STAND_IN_TOKEN) if endpoint else None  # type: ignore[no-untyped-call]
    with _vertex_deprecations_silenced():
        embeddings = VertexAIEmbeddings(
            model=model,
            project=project,
            location=location,
            credentials=credentials,
            # Its retry wrapper only catches google.api_core errors, which google-genai never
            # raises; the client below retries instead.
            max_retries=1,
        )
    embeddings.client = genai.Client(
        vertexai=True,
        project=project,
        location=location,
        credentials=credentials,
        http_options=types.HttpOptions(
            base_url=endpoint,
            timeout=int(timeout * 1000),
            retry_options=types.HttpRetryOptions(
                attempts=max_retries + 1,
                initial_delay=retry_wait_seconds,
                max_delay=retry_wait_seconds * 8,
                jitter=retry_wait_seconds / 2,
                http_status_codes=[408, 429, 500, 502, 503, 504],
            ),
        ),
    )
    return embeddings


def usage_of(message: BaseMessage) -> tuple[int, int]:
    """(prompt, completion) tokens of a model reply; (0, 0) when it carries no usage.

    Completion includes thinking tokens, which Vertex AI bills as output: ChatVertexAI reports
    them apart from `output_tokens` (`output_token_details.reasoning`), whereas
    langchain-google-genai and LangChain's convention count them in. Which case applies is
    read off `total_tokens`, so the answer stays right after the migration.
    """
    usage = message.usage_metadata if isinstance(message, AIMessage) else None
    if not usage:
        return 0, 0
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    details = usage.get("output_token_details") or {}
    reasoning = int(details.get("reasoning", 0) or 0)
    if reasoning and prompt + completion + reasoning <= int(usage.get("total_tokens", 0)):
        completion += reasoning
    return prompt, completion


@dataclass(frozen=True)
class Price:
    """List prices in USD per 1M tokens; `long_*` apply when the prompt exceeds 200k tokens."""

    input: float
    output: float
    long_input: float | None = None
    long_output: float | None = None
    long_context_threshold: int = 200_000


# Vertex AI list prices, standard (on-demand, non-batch) tier, text input and output (output
# includes thinking tokens), USD per 1M tokens. Source: the "Gemini 2.5" and "Gemini 2.0"
# tables of https://cloud.google.com/vertex-ai/generative-ai/pricing, as published in 2025;
# written down 2026-11-25 without being able to reopen that page (offline environment), and
# cross-checked for the 2.5 models against the Gemini API list mirrored in
# github.com/eidast/ai-models-stats, docs/GOOGLE_PRICING.md (same figures). Vertex AI's 2.0
# Flash price (0.15/0.60) differs from the Gemini API's (0.10/0.40). Re-check before using
# these for billing: prices, tiers and models change.
PRICES_USD_PER_1M_TOKENS: Final[dict[str, Price]] = {
    "gemini-2.5-pro": Price(1.25, 10.00, long_input=2.50, long_output=15.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.0-flash": Price(0.15, 0.60),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
}

_VERSION_SUFFIX = re.compile(r"(@.*|-\d{3}|-preview(-\d{2}-\d{2})?)$")


def _price_key(model: str) -> str:
    name = model.rsplit("/", 1)[-1].lower()
    previous = None
    while previous != name:
        previous, name = name, _VERSION_SUFFIX.sub("", name)
    return name


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """List price of one call; `model` may carry a path or version (`.../gemini-2.5-flash-001`).

    Raises ValueError for a model without a price here (add it to the table).
    """
    price = PRICES_USD_PER_1M_TOKENS.get(_price_key(model))
    if price is None:
        raise ValueError(f"no price for model {model!r}; add it to PRICES_USD_PER_1M_TOKENS")
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts must be >= 0")
    long_context = prompt_tokens > price.long_context_threshold
    input_rate = price.long_input if long_context and price.long_input else price.input
    output_rate = price.long_output if long_context and price.long_output else price.output
    return (prompt_tokens * input_rate + completion_tokens * output_rate) / 1_000_000
