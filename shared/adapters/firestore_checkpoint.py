"""LangGraph checkpoints in Firestore, so a conversation's graph survives cold starts and crashes.

Layout, under one collection (`agent_checkpoints` by default):

- `{collection}/{thread}`: one parent document per thread (conversation), with `thread_id`,
  `updated_at` and `expires_at`.
- `{collection}/{thread}/checkpoints/{ns}|{checkpoint_id}`: one document per checkpoint, the
  whole checkpoint (channel values included) and its metadata serialized by `self.serde` and
  stored as `(type, bytes)` fields.
- `{collection}/{thread}/checkpoint_writes/{ns}|{checkpoint_id}|{task_id}|{idx}`: one document
  per pending write of a task.

Document ids escape `%`, `/` and `|` in each part, so `|` only ever separates parts and the
writes and checkpoints of one namespace share an id prefix. Checkpoint ids are uuid6 strings,
whose lexicographic order is their time order (langgraph's own savers compare them as strings),
so "newest first" is a descending range query on `sort_key` (the document id again, as a
field), which single-field indexes serve: no composite index. Every document carries
`expires_at` for the Firestore TTL policy, and each `put` keeps only the newest `keep_last`
checkpoints of its thread and namespace (and their writes).

Each checkpoint is stored whole rather than as per-channel blobs: pruning and TTL then never
leave a checkpoint pointing at a deleted blob. The cost is that a checkpoint repeats unchanged
channel values, which is small for a conversation's state and bounded by the 1 MiB document
limit that `put` checks for.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from shared.observability import pseudonym
from shared.settings import Settings

__all__ = [
    "CHECKPOINTS_SUBCOLLECTION",
    "MAX_SERIALIZED_BYTES",
    "WRITES_SUBCOLLECTION",
    "CheckpointTooLargeError",
    "FirestoreCheckpointSaver",
    "checkpoint_saver_from_settings",
]

logger = logging.getLogger(__name__)

CHECKPOINTS_SUBCOLLECTION = "checkpoints"
WRITES_SUBCOLLECTION = "checkpoint_writes"
# Firestore refuses documents over 1 MiB; leave room for the other fields and names.
MAX_SERIALIZED_BYTES = 900_000
# One batch commits at most 500 operations.
_BATCH = 500
# The next character after the `|` separator: `{prefix}|` .. `{prefix}}` spans one prefix.
_SEP = "|"
_SEP_END = "}"
# A checkpoint's document id again, as a field: Firestore (the emulator at least) refuses
# descending scans by document id, while a field's automatic index serves both directions.
_SORT_KEY = "sort_key"


class CheckpointTooLargeError(ValueError):
    """A serialized checkpoint or write would not fit in one Firestore document."""


def _escape(part: str) -> str:
    """A document-id-safe form of one id part: no `/`, and `|` only as our separator."""
    return part.replace("%", "%25").replace("/", "%2F").replace("|", "%7C")


def _thread_doc_id(thread_id: str) -> str:
    """The parent document's id: escaped, and never `.`, `..` or `__x__` (reserved ids)."""
    if not thread_id:
        raise ValueError("a checkpoint needs a non-empty thread_id")
    escaped = _escape(thread_id)
    if escaped[0] in "._":
        # Escaping the first character keeps the id reversible and clear of reserved forms.
        escaped = f"%{ord(escaped[0]):02X}{escaped[1:]}"
    return escaped


def _checkpoint_doc_id(checkpoint_ns: str, checkpoint_id: str) -> str:
    return f"{_escape(checkpoint_ns)}{_SEP}{_escape(checkpoint_id)}"


def _write_doc_id(checkpoint_ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    return _SEP.join((_escape(checkpoint_ns), _escape(checkpoint_id), _escape(task_id), str(idx)))


def _thread_id(config: RunnableConfig) -> str:
    return str(config["configurable"]["thread_id"])


def _checkpoint_ns(config: RunnableConfig) -> str:
    return str(config["configurable"].get("checkpoint_ns") or "")


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


class FirestoreCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpoint saver on Firestore, with TTL and bounded history per thread."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = "agent_checkpoints",
        ttl: timedelta = timedelta(days=30),
        keep_last: int = 20,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1: the latest checkpoint is the state")
        self._db = client
        self._collection = collection
        self._ttl = ttl
        self._keep_last = keep_last

    # ------------------------------------------------------------------ references

    def _thread_ref(self, thread_id: str) -> Any:
        return self._db.collection(self._collection).document(_thread_doc_id(thread_id))

    def _checkpoints(self, thread_id: str) -> Any:
        return self._thread_ref(thread_id).collection(CHECKPOINTS_SUBCOLLECTION)

    def _writes(self, thread_id: str) -> Any:
        return self._thread_ref(thread_id).collection(WRITES_SUBCOLLECTION)

    @staticmethod
    def _id_range(collection: Any, low: str, high: str) -> Any:
        """Documents of `collection` whose id is in [low, high), by document id."""
        name = FieldPath.document_id()
        return collection.where(filter=FieldFilter(name, ">=", collection.document(low))).where(
            filter=FieldFilter(name, "<", collection.document(high))
        )

    def _ns_checkpoints(self, thread_id: str, checkpoint_ns: str) -> Any:
        """Query for one namespace's checkpoints (every one's `sort_key` starts with `{ns}|`)."""
        prefix = _escape(checkpoint_ns)
        return (
            self._checkpoints(thread_id)
            .where(filter=FieldFilter(_SORT_KEY, ">=", prefix + _SEP))
            .where(filter=FieldFilter(_SORT_KEY, "<", prefix + _SEP_END))
        )

    def _expires_at(self, now: datetime) -> datetime:
        return now + self._ttl

    # ------------------------------------------------------------------ reading

    def _pending_writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> list[PendingWrite]:
        """A checkpoint's writes in `writes_sort_key` order, as the base class requires."""
        prefix = _SEP.join((_escape(checkpoint_ns), _escape(checkpoint_id)))
        query = self._id_range(self._writes(thread_id), prefix + _SEP, prefix + _SEP_END)
        rows = [snapshot.to_dict() or {} for snapshot in query.stream()]
        rows.sort(key=lambda r: writes_sort_key(r["task_path"], r["task_id"], r["idx"]))
        return [
            (row["task_id"], row["channel"], self.serde.loads_typed((row["type"], row["value"])))
            for row in rows
        ]

    def _tuple(self, data: dict[str, Any]) -> CheckpointTuple:
        thread_id: str = data["thread_id"]
        checkpoint_ns: str = data["checkpoint_ns"]
        checkpoint_id: str = data["checkpoint_id"]
        parent_id: str | None = data.get("parent_checkpoint_id")
        checkpoint: Checkpoint = self.serde.loads_typed(
            (data["checkpoint_type"], data["checkpoint"])
        )
        metadata: CheckpointMetadata = self.serde.loads_typed(
            (data["metadata_type"], data["metadata"])
        )
        return CheckpointTuple(
            config=_config(thread_id, checkpoint_ns, checkpoint_id),
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config=_config(thread_id, checkpoint_ns, parent_id) if parent_id else None,
            pending_writes=self._pending_writes(thread_id, checkpoint_ns, checkpoint_id),
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `config`, or the thread's latest in its namespace."""
        thread_id = _thread_id(config)
        checkpoint_ns = _checkpoint_ns(config)
        if checkpoint_id := get_checkpoint_id(config):
            snapshot = (
                self._checkpoints(thread_id)
                .document(_checkpoint_doc_id(checkpoint_ns, checkpoint_id))
                .get()
            )
            if not snapshot.exists:
                return None
            found = self._tuple(snapshot.to_dict() or {})
            # Like InMemorySaver: hand back the caller's own config for an exact lookup.
            return found._replace(config=config)
        latest = (
            self._ns_checkpoints(thread_id, checkpoint_ns)
            .order_by(_SORT_KEY, direction=firestore.Query.DESCENDING)
            .limit(1)
        )
        for snapshot in latest.stream():
            return self._tuple(snapshot.to_dict() or {})
        return None

    def _thread_ids(self) -> Iterator[str]:
        for snapshot in self._db.collection(self._collection).stream():
            thread_id = (snapshot.to_dict() or {}).get("thread_id")
            if isinstance(thread_id, str):
                yield thread_id

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints matching config, metadata `filter` and `before`, newest first."""
        if limit is not None and limit <= 0:
            return
        thread_ids: Iterable[str] = (_thread_id(config),) if config else self._thread_ids()
        config_ns = config["configurable"].get("checkpoint_ns") if config else None
        config_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        remaining = limit
        for thread_id in thread_ids:
            if config_ns is not None:
                query = self._ns_checkpoints(thread_id, str(config_ns))
            else:
                query = self._checkpoints(thread_id)
            # Descending by id: grouped by namespace, newest first within each.
            query = query.order_by(_SORT_KEY, direction=firestore.Query.DESCENDING)
            for snapshot in query.stream():
                data = snapshot.to_dict() or {}
                checkpoint_id: str = data["checkpoint_id"]
                if config_id and checkpoint_id != config_id:
                    continue
                if before_id and checkpoint_id >= before_id:
                    continue
                if filter:
                    metadata = self.serde.loads_typed((data["metadata_type"], data["metadata"]))
                    if not all(metadata.get(key) == value for key, value in filter.items()):
                        continue
                yield self._tuple(data)
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return

    # ------------------------------------------------------------------ writing

    def _serialize(self, thread_id: str, what: str, value: Any) -> tuple[str, bytes]:
        kind, payload = self.serde.dumps_typed(value)
        if len(payload) > MAX_SERIALIZED_BYTES:
            raise CheckpointTooLargeError(
                f"{what} of thread {pseudonym(thread_id)} serializes to {len(payload)} bytes; "
                f"a Firestore document holds at most 1 MiB (limit here {MAX_SERIALIZED_BYTES})"
            )
        return kind, payload

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint, prune the thread's older ones; returns its config."""
        thread_id = _thread_id(config)
        checkpoint_ns = _checkpoint_ns(config)
        checkpoint_id = checkpoint["id"]
        parent_id = get_checkpoint_id(config)
        stored_metadata = get_checkpoint_metadata(config, metadata)
        checkpoint_type, checkpoint_bytes = self._serialize(thread_id, "checkpoint", checkpoint)
        metadata_type, metadata_bytes = self._serialize(thread_id, "metadata", stored_metadata)
        if len(checkpoint_bytes) + len(metadata_bytes) > MAX_SERIALIZED_BYTES:
            raise CheckpointTooLargeError(
                f"checkpoint of thread {pseudonym(thread_id)} and its metadata serialize to "
                f"{len(checkpoint_bytes) + len(metadata_bytes)} bytes; a Firestore document "
                f"holds at most 1 MiB (limit here {MAX_SERIALIZED_BYTES})"
            )
        now = datetime.now(tz=UTC)
        expires_at = self._expires_at(now)
        batch = self._db.batch()
        batch.set(
            self._thread_ref(thread_id),
            {"thread_id": thread_id, "updated_at": now, "expires_at": expires_at},
            merge=True,
        )
        batch.set(
            self._checkpoints(thread_id).document(_checkpoint_doc_id(checkpoint_ns, checkpoint_id)),
            {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
                "parent_checkpoint_id": parent_id,
                _SORT_KEY: _checkpoint_doc_id(checkpoint_ns, checkpoint_id),
                "checkpoint_type": checkpoint_type,
                "checkpoint": checkpoint_bytes,
                "metadata_type": metadata_type,
                "metadata": metadata_bytes,
                # Readable copies for someone browsing the console; never queried.
                "source": stored_metadata.get("source"),
                "step": stored_metadata.get("step"),
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        batch.commit()
        self._prune(thread_id, checkpoint_ns)
        return _config(thread_id, checkpoint_ns, checkpoint_id)

    def _prune(self, thread_id: str, checkpoint_ns: str) -> None:
        """Keep the newest `keep_last` checkpoints of a namespace, and only their writes."""
        query = self._ns_checkpoints(thread_id, checkpoint_ns)
        # A count costs one read per 1,000 entries; listing the newest would cost keep_last.
        total = int(query.count().get()[0][0].value)
        excess = total - self._keep_last
        if excess <= 0:
            return
        # Oldest first: the excess to delete, then the oldest kept one, whose id bounds the
        # writes to delete. A checkpoint put meanwhile is newer, so this never over-deletes.
        oldest = list(query.order_by(_SORT_KEY).select([_SORT_KEY]).limit(excess + 1).stream())
        if len(oldest) <= excess:
            return
        doomed = [snapshot.reference for snapshot in oldest[:excess]]
        oldest_kept = oldest[excess].id
        # Every write of an older checkpoint (including one never put, after a crash) sorts
        # below the oldest kept checkpoint's `{ns}|{id}|` prefix.
        writes = self._id_range(
            self._writes(thread_id), _escape(checkpoint_ns) + _SEP, oldest_kept + _SEP
        ).select([FieldPath.document_id()])
        doomed.extend(snapshot.reference for snapshot in writes.stream())
        self._delete(doomed)
        logger.debug(
            "pruned %d checkpoint documents of thread %s", len(doomed), pseudonym(thread_id)
        )

    def _delete(self, refs: Sequence[Any]) -> None:
        for start in range(0, len(refs), _BATCH):
            batch = self._db.batch()
            for ref in refs[start : start + _BATCH]:
                batch.delete(ref)
            batch.commit()

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes: special channels overwrite, the others are kept once."""
        if not writes:
            return
        thread_id = _thread_id(config)
        checkpoint_ns = _checkpoint_ns(config)
        checkpoint_id = str(config["configurable"]["checkpoint_id"])
        now = datetime.now(tz=UTC)
        expires_at = self._expires_at(now)
        collection = self._writes(thread_id)
        rows: list[tuple[Any, bool, dict[str, Any]]] = []
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            kind, payload = self._serialize(thread_id, f"write to {channel!r}", value)
            ref = collection.document(_write_doc_id(checkpoint_ns, checkpoint_id, task_id, idx))
            document = {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
                "task_id": task_id,
                "task_path": task_path,
                "idx": idx,
                "channel": channel,
                "type": kind,
                "value": payload,
                "expires_at": expires_at,
            }
            rows.append((ref, idx >= 0, document))
        # Regular writes are first-wins, like InMemorySaver and the SQL savers' ON CONFLICT
        # DO NOTHING: a retried task must not replace what the first attempt recorded.
        keep_first = [ref for ref, first_wins, _ in rows if first_wins]
        existing = {snapshot.id for snapshot in self._db.get_all(keep_first) if snapshot.exists}
        batch = self._db.batch()
        pending = 0
        for ref, first_wins, document in rows:
            if first_wins and ref.id in existing:
                continue
            batch.set(ref, document)
            pending += 1
            if pending == _BATCH:
                batch.commit()
                batch, pending = self._db.batch(), 0
        if pending:
            batch.commit()

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of a thread, in every namespace."""
        thread_id = str(thread_id)
        refs: list[Any] = []
        for collection in (self._checkpoints(thread_id), self._writes(thread_id)):
            refs.extend(
                snapshot.reference
                for snapshot in collection.select([FieldPath.document_id()]).stream()
            )
        refs.append(self._thread_ref(thread_id))
        self._delete(refs)
        logger.info("deleted %d checkpoint documents of thread %s", len(refs), pseudonym(thread_id))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The next channel version: a zero-padded counter and a tie-breaker, as InMemorySaver."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        # Not a secret: only tells apart versions of forks, exactly as InMemorySaver does.
        tie_breaker = random.random()  # noqa: S311
        return f"{current_v + 1:032}.{tie_breaker:016}"

    # ------------------------------------------------------------------ async

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """`get_tuple` in a worker thread."""
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """`list` in a worker thread (its results are few: `keep_last` per namespace)."""
        found = await asyncio.to_thread(
            lambda: list(self.list(config, filter=filter, before=before, limit=limit))
        )
        for item in found:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """`put` in a worker thread."""
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """`put_writes` in a worker thread."""
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """`delete_thread` in a worker thread."""
        await asyncio.to_thread(self.delete_thread, thread_id)


def checkpoint_saver_from_settings(
    db: firestore.Client, settings: Settings
) -> FirestoreCheckpointSaver:
    """The agents' checkpoint saver, configured from settings."""
    return FirestoreCheckpointSaver(
        db,
        collection=settings.checkpoints_collection,
        ttl=timedelta(days=settings.checkpoint_ttl_days),
    )
