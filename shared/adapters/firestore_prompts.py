"""PromptStore on Firestore: `prompt_versions/{assistant}-v{n}` and a head per assistant.

`prompt_heads/{assistant}` holds the last version number and the published one, so numbering
and "one published version per assistant" are decided inside one transaction each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.prompts import PromptError, PromptStatus, PromptVersion

__all__ = ["FirestorePromptStore"]

T = TypeVar("T")

VERSIONS = "prompt_versions"
HEADS = "prompt_heads"


class FirestorePromptStore:
    """Versions, drafts, publish and roll back, each write transactional."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def _ref(self, assistant: str, number: int) -> Any:
        return self._db.collection(VERSIONS).document(f"{assistant}-v{number}")

    def _head(self, assistant: str) -> Any:
        return self._db.collection(HEADS).document(assistant)

    def _run(self, work: Callable[[Any], T], *, attempts: int = 5) -> T:
        last: Exception | None = None
        for _ in range(attempts):
            try:
                return firestore.transactional(work)(self._db.transaction())  # type: ignore[no-any-return]
            except gexc.Aborted as error:
                last = error
            except ValueError as error:
                if not isinstance(error.__cause__, gexc.Aborted):
                    raise
                last = error
        raise RuntimeError("prompt transaction kept aborting") from last

    # ------------------------------------------------------------------ reads

    def published(self, assistant: str) -> PromptVersion | None:
        """The published version (two reads: the head, then the version)."""
        head = self._head(assistant).get()
        number = (head.to_dict() or {}).get("published") if head.exists else None
        return self.version(assistant, int(number)) if number else None

    def versions(self, assistant: str) -> list[PromptVersion]:
        """Newest first; sorted here, so no composite index."""
        query = self._db.collection(VERSIONS).where(
            filter=FieldFilter("assistant", "==", assistant)
        )
        found = [PromptVersion.model_validate(s.to_dict()) for s in query.limit(500).stream()]
        return sorted(found, key=lambda v: v.number, reverse=True)

    def version(self, assistant: str, number: int) -> PromptVersion | None:
        snap = self._ref(assistant, number).get()
        return PromptVersion.model_validate(snap.to_dict()) if snap.exists else None

    # ----------------------------------------------------------------- writes

    def save_draft(
        self,
        assistant: str,
        texts: Mapping[str, str],
        *,
        author: str,
        now: datetime,
        number: int | None = None,
    ) -> PromptVersion:
        """A new draft numbered after the last version, or new texts for an existing draft."""
        head_ref = self._head(assistant)

        def work(txn: Any) -> PromptVersion:
            if number is not None:
                ref = self._ref(assistant, number)
                current = _load(ref.get(transaction=txn), assistant, number)
                if current.status is not PromptStatus.DRAFT:
                    raise PromptError(
                        409, f"v{number} is {current.status.value}: only a draft can be edited"
                    )
                edited = current.model_copy(
                    update={"texts": dict(texts), "author": author, "created_at": now}
                )
                txn.set(ref, _doc(edited))
                return edited
            head = head_ref.get(transaction=txn)
            last = int((head.to_dict() or {}).get("last", 0)) if head.exists else 0
            draft = PromptVersion(
                assistant=assistant,
                number=last + 1,
                texts=dict(texts),
                status=PromptStatus.DRAFT,
                author=author,
                created_at=now,
            )
            txn.set(self._ref(assistant, draft.number), _doc(draft))
            txn.set(head_ref, {"last": draft.number}, merge=True)
            return draft

        return self._run(work)

    def publish(self, assistant: str, number: int, *, author: str, now: datetime) -> PromptVersion:
        """The draft becomes the published version; the previous one is archived."""
        head_ref = self._head(assistant)

        def work(txn: Any) -> PromptVersion:
            ref = self._ref(assistant, number)
            draft = _load(ref.get(transaction=txn), assistant, number)
            if draft.status is not PromptStatus.DRAFT:
                raise PromptError(
                    409,
                    f"v{number} is {draft.status.value}: only a draft can be published "
                    "(roll back to re-publish an earlier version)",
                )
            head = head_ref.get(transaction=txn)
            previous = (head.to_dict() or {}).get("published") if head.exists else None
            published = draft.model_copy(
                update={
                    "status": PromptStatus.PUBLISHED,
                    "published_at": now,
                    "published_by": author,
                }
            )
            self._archive(txn, assistant, previous)
            txn.set(ref, _doc(published))
            txn.set(head_ref, {"published": number}, merge=True)
            return published

        return self._run(work)

    def rollback(self, assistant: str, number: int, *, author: str, now: datetime) -> PromptVersion:
        """An earlier version's texts, published as a new version numbered after the last."""
        head_ref = self._head(assistant)

        def work(txn: Any) -> PromptVersion:
            earlier = _load(self._ref(assistant, number).get(transaction=txn), assistant, number)
            head = head_ref.get(transaction=txn)
            data = (head.to_dict() or {}) if head.exists else {}
            previous = data.get("published")
            if earlier.status is PromptStatus.DRAFT:
                raise PromptError(409, f"v{number} is a draft: publish it instead")
            if previous == number:
                raise PromptError(409, f"v{number} is already the published version")
            restored = PromptVersion(
                assistant=assistant,
                number=int(data.get("last", 0)) + 1,
                texts=dict(earlier.texts),
                status=PromptStatus.PUBLISHED,
                author=author,
                created_at=now,
                published_at=now,
                published_by=author,
                restored_from=number,
            )
            self._archive(txn, assistant, previous)
            txn.set(self._ref(assistant, restored.number), _doc(restored))
            txn.set(head_ref, {"last": restored.number, "published": restored.number}, merge=True)
            return restored

        return self._run(work)

    def _archive(self, txn: Any, assistant: str, number: object) -> None:
        if isinstance(number, int):
            txn.update(self._ref(assistant, number), {"status": PromptStatus.ARCHIVED.value})


def _doc(version: PromptVersion) -> dict[str, Any]:
    # The status as a plain string, as queries and other readers compare it.
    return {**version.model_dump(mode="python"), "status": version.status.value}


def _load(snap: Any, assistant: str, number: int) -> PromptVersion:
    if not snap.exists:
        raise PromptError(404, f"no version v{number} of {assistant}'s prompts")
    return PromptVersion.model_validate(snap.to_dict())
