"""The WhatsApp templates' use cases: list them (everyone), create, update, delete (admins).

Every write is audited in console_audit like a ticket action (no ticket; the template's id in
the detail). Sending one to a customer is the ticket action `reply-template` (service.py).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic import ValidationError

from shared.domain.console import AuditRecord, ConsoleError, Identity
from shared.domain.whatsapp_templates import WhatsAppTemplate
from shared.observability import pseudonym
from shared.ports import Clock, ConsoleStore, TemplateStore

__all__ = ["TemplateService"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TemplateService:
    """The `whatsapp_templates` list as the console edits it; the caller checks roles."""

    templates: TemplateStore
    audit: ConsoleStore
    clock: Clock

    def list(self) -> list[WhatsAppTemplate]:
        """Every template, by name and language."""
        return self.templates.templates()

    def create(self, who: Identity, body: dict[str, Any]) -> WhatsAppTemplate:
        """A new template; 409 if one with this name and language exists."""
        template = self._parse(who, "template-create", body)
        if not self.templates.save_template(template, create=True):
            self._refuse(who, "template-create", template.id, 409, "already exists: update it")
        return self._done(who, "template-create", template)

    def update(
        self, who: Identity, name: str, language: str, body: dict[str, Any]
    ) -> WhatsAppTemplate:
        """Replace the template's category, body, parameters and status; 404 if none."""
        key = f"{name}.{language}"
        if self.templates.template(name, language) is None:
            raise ConsoleError(404, f"no template {name} in {language}")
        if body.get("name", name) != name or body.get("language", language) != language:
            self._refuse(who, "template-update", key, 400, "name and language cannot change")
        template = self._parse(who, "template-update", {**body, "name": name, "language": language})
        self.templates.save_template(template, create=False)
        return self._done(who, "template-update", template)

    def delete(self, who: Identity, name: str, language: str) -> None:
        """Delete it; 404 if none."""
        if not self.templates.delete_template(name, language):
            raise ConsoleError(404, f"no template {name} in {language}")
        self._audit(who, "template-delete", {"template": f"{name}.{language}"})
        logger.info("console template-delete by %s", pseudonym(who.email))

    # ---------------------------------------------------------------- helpers

    def _parse(self, who: Identity, action: str, body: dict[str, Any]) -> WhatsAppTemplate:
        clean = {k: v for k, v in body.items() if k not in ("updated_by", "updated_at")}
        try:
            return WhatsAppTemplate.model_validate(
                {**clean, "updated_by": who.email, "updated_at": self.clock.now()}
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            )
            key = f"{body.get('name', '')}.{body.get('language', '')}"
            self._refuse(who, action, key, 400, problems)

    def _done(self, who: Identity, action: str, template: WhatsAppTemplate) -> WhatsAppTemplate:
        detail = {"template": template.id, "status": template.status.value}
        self._audit(who, action, detail)
        logger.info("console %s by %s", action, pseudonym(who.email))
        return template

    def _refuse(self, who: Identity, action: str, key: str, status: int, message: str) -> NoReturn:
        self._audit(who, action, {"template": key, "reason": message}, outcome="refused")
        raise ConsoleError(status, message) from None

    def _audit(
        self, who: Identity, action: str, detail: dict[str, Any], *, outcome: str = "done"
    ) -> None:
        now = self.clock.now()
        seed = f"{who.email}\n{action}\n{detail.get('template')}\n{now.isoformat()}"
        key = hashlib.sha256(seed.encode()).hexdigest()[:24]
        if outcome != "done":
            key = f"{key}-refused-{uuid.uuid4().hex[:8]}"
        self.audit.record_audit(
            AuditRecord(
                action_id=key,
                actor=who.email,
                role=who.role,
                action=action,
                at=now,
                outcome="done" if outcome == "done" else "refused",
                detail=detail,
            )
        )
