"""The console's prompts: versions per assistant, drafts, the staging chat, publish, roll back.

| route | does | who |
|---|---|---|
| `GET /api/prompts/{assistant}` | published + drafts + history, and the built-in texts | all |
| `POST /api/prompts/{assistant}/drafts` | `{texts, version?}`: a new draft from the | all |
|   | published texts (or the built-in ones), or new texts for draft `version` | |
| `POST /api/prompts/{assistant}/drafts/{n}/try` | `{messages}`: the staging chat | all |
| `POST /api/prompts/{assistant}/drafts/{n}/publish` | the draft goes live | admins |
| `POST /api/prompts/{assistant}/rollback` | `{version}`: re-published as a new version | admins |
| `/prompts/{assistant}` | the page; its forms post to the same paths without `/api` | |

The staging chat (the seed's "Chat IA Homolog") runs the real graph, knowledge base and
tools with the draft's texts, on a sandbox conversation held in memory: nothing is sent to
WhatsApp, no ticket or conversation is written, and the tool that opens service tickets is
refused (shared.console.prompts.SandboxTools).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.agents.assistants import PROFILES
from shared.agents.prompts import default_prompt_set
from shared.domain.console import AuditRecord, ConsoleError, Identity
from shared.domain.models import (
    BrainRequest,
    Conversation,
    InboundMessage,
    ToolResult,
)
from shared.domain.prompts import PROMPT_KEYS, PromptError, PromptSet, PromptStatus, PromptVersion
from shared.observability import pseudonym
from shared.ports import AgentBrain, BusinessTools, Clock, ConsoleStore, PromptStore

__all__ = ["DraftBody", "PromptsService", "RollbackBody", "SandboxTools", "TryBody"]

logger = logging.getLogger(__name__)

# Tools that change something in the business systems; the staging chat must not call them.
_WRITING_TOOLS = frozenset({"open_ticket"})
_SANDBOX_PHONE_ID = "sandbox"
_SANDBOX_WA_ID = "5500000000000"


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    action_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[\w-]+$")


class DraftBody(_Body):
    """Texts to change (the rest come from the base); `version` edits that draft instead."""

    texts: dict[str, str] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1)


Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class TryBody(_Body):
    """The customer's messages, one turn each, in order."""

    messages: list[Message] = Field(min_length=1, max_length=10)


class RollbackBody(_Body):
    """The earlier version to publish again."""

    version: int = Field(ge=1)


class SandboxTools:
    """The real tools, except those that write: the staging chat opens no service ticket."""

    def __init__(self, tools: BusinessTools) -> None:
        self._tools = tools

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        if tool in _WRITING_TOOLS:
            return ToolResult(
                tool=tool, arguments=dict(arguments), ok=False, error="sandbox: not called"
            )
        return self._tools.call(tool, arguments)


@dataclass(frozen=True, slots=True)
class PromptsService:
    """Prompt versions through the store; every write (and refusal) in the audit trail."""

    store: PromptStore
    audit: ConsoleStore
    clock: Clock
    # The real graph with a given PromptSet, on a sandbox (in-memory checkpoints, sandbox tools).
    brain_for: Callable[[PromptSet], AgentBrain]

    def overview(self, assistant: str) -> dict[str, Any]:
        """The published version, the drafts, the rest of the history and the built-in texts."""
        _known(assistant)
        versions = self.store.versions(assistant)
        published = next((v for v in versions if v.status is PromptStatus.PUBLISHED), None)
        defaults = default_prompt_set(assistant)
        return {
            "assistant": assistant,
            "keys": list(PROMPT_KEYS),
            "live_version": published.label if published else defaults.version,
            "published": _dump(published) if published else None,
            "drafts": [_dump(v) for v in versions if v.status is PromptStatus.DRAFT],
            "history": [_dump(v) for v in versions if v.status is not PromptStatus.DRAFT],
            "defaults": defaults.texts(),
        }

    def save_draft(self, who: Identity, assistant: str, body: Mapping[str, Any]) -> PromptVersion:
        """A new draft from the published texts, or an edit of a draft."""
        parsed = _parse(DraftBody, body)

        def work() -> PromptVersion:
            unknown = sorted(set(parsed.texts) - set(PROMPT_KEYS))
            if unknown:
                raise ConsoleError(400, f"texts: unknown keys {unknown}; known: {PROMPT_KEYS}")
            if parsed.version is not None:
                base = self._version(assistant, parsed.version).texts
            else:
                live = self.store.published(assistant)
                base = live.texts if live else default_prompt_set(assistant).texts()
            texts = {**base, **parsed.texts}
            try:
                PromptSet(**texts)
            except ValidationError as error:
                raise ConsoleError(400, _problems(error, "texts")) from error
            return self.store.save_draft(
                assistant,
                texts,
                author=who.email,
                now=self.clock.now(),
                number=parsed.version,
            )

        changed = sorted(parsed.texts)
        return self._audited(who, "prompt-draft", assistant, parsed, work, {"changed": changed})

    def try_draft(
        self, who: Identity, assistant: str, number: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The staging chat: each message a turn of the real graph with the draft's texts."""
        _known(assistant)
        parsed = _parse(TryBody, body)
        version = self._version(assistant, number)
        prompts = version.prompt_set(draft=version.status is PromptStatus.DRAFT)
        brain = self.brain_for(prompts)
        sandbox = f"sandbox-{uuid.uuid4().hex[:12]}"
        conversation = Conversation(
            conversation_id=sandbox,
            wa_id=_SANDBOX_WA_ID,
            phone_number_id=_SANDBOX_PHONE_ID,
            assistant=assistant,
        )
        history: list[tuple[str, str]] = []
        turns = []
        for index, text in enumerate(parsed.messages):
            message = InboundMessage(
                message_id=f"{sandbox}-{index}",
                wa_id=_SANDBOX_WA_ID,
                phone_number_id=_SANDBOX_PHONE_ID,
                type="text",
                timestamp=self.clock.now(),
                text=text,
            )
            reply = brain.answer(
                BrainRequest(
                    conversation=conversation,
                    pending=[message],
                    history=list(history),
                    turn_id=message.message_id,
                )
            )
            history += [("customer", text), *(("assistant", t) for t in reply.texts)]
            turns.append(
                {
                    "message": text,
                    "replies": reply.texts,
                    "route": reply.route,
                    "status": reply.ticket_status.value,
                    "outcome": reply.outcome,
                    "prompt_version": reply.prompt_version,
                    "tools": reply.tools,
                    "sources": reply.answered_from,
                }
            )
        self._record(who, "prompt-try", assistant, parsed, {"version": number, "turns": len(turns)})
        return {"version": prompts.version, "conversation_id": sandbox, "turns": turns}

    def publish(
        self, who: Identity, assistant: str, number: int, body: Mapping[str, Any]
    ) -> PromptVersion:
        """The draft goes live (running instances within their cache's minute)."""
        parsed = _parse(_Body, body)
        return self._audited(
            who,
            "prompt-publish",
            assistant,
            parsed,
            lambda: self.store.publish(assistant, number, author=who.email, now=self.clock.now()),
            {"version": number},
        )

    def rollback(self, who: Identity, assistant: str, body: Mapping[str, Any]) -> PromptVersion:
        """An earlier version's texts, published again as a new version."""
        parsed = _parse(RollbackBody, body)
        return self._audited(
            who,
            "prompt-rollback",
            assistant,
            parsed,
            lambda: self.store.rollback(
                assistant, parsed.version, author=who.email, now=self.clock.now()
            ),
            {"version": parsed.version},
        )

    # ---------------------------------------------------------------- helpers

    def _version(self, assistant: str, number: int) -> PromptVersion:
        found = self.store.version(assistant, number)
        if found is None:
            raise ConsoleError(404, f"no version v{number} of {assistant}'s prompts")
        return found

    def _audited(
        self,
        who: Identity,
        action: str,
        assistant: str,
        body: _Body,
        work: Callable[[], PromptVersion],
        detail: dict[str, Any],
    ) -> PromptVersion:
        _known(assistant)
        try:
            try:
                version = work()
            except PromptError as error:
                raise ConsoleError(error.status, error.message) from error
        except ConsoleError as error:
            if error.status != 404:
                self._record(
                    who, action, assistant, body, {**detail, "reason": error.message}, "refused"
                )
            raise
        self._record(who, action, assistant, body, {**detail, "version": version.number})
        logger.info(
            "console %s on %s v%d by %s", action, assistant, version.number, pseudonym(who.email)
        )
        return version

    def _record(
        self,
        who: Identity,
        action: str,
        assistant: str,
        body: _Body,
        detail: dict[str, Any],
        outcome: str = "done",
    ) -> None:
        key = body.action_id if body.action_id and outcome == "done" else uuid.uuid4().hex
        self.audit.record_audit(
            AuditRecord(
                action_id=key,
                actor=who.email,
                role=who.role,
                action=action,
                at=self.clock.now(),
                outcome="done" if outcome == "done" else "refused",
                detail={"assistant": assistant, **detail},
            )
        )


def _known(assistant: str) -> None:
    if assistant not in PROFILES:
        raise ConsoleError(404, f"no assistant {assistant!r}; known: {sorted(PROFILES)}")


def _dump(version: PromptVersion) -> dict[str, Any]:
    return {**version.model_dump(mode="json"), "label": version.label}


def _parse(model: type[_Body], body: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(body))
    except ValidationError as error:
        raise ConsoleError(400, _problems(error, "body")) from error


def _problems(error: ValidationError, root: str) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or root}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    )
