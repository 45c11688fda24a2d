"""Content-addressed checkpoint chunks: how a checkpoint is cut, and a chunk store per site.

**Cutting** (:func:`plan_chunks`). A checkpoint blob is its safetensors header (the JSON state,
steps done) followed by its tensors' bytes, frozen tensors first
(:mod:`~greenhop.live.jobs.checkpoint`). The header is one chunk; then each run of tensors of
one kind (frozen or not) is packed into chunks of at most ``chunk_bytes``, and a tensor of
``chunk_bytes`` or more gets chunks of its own, cut every ``chunk_bytes`` from its start. So an
unchanged tensor gives unchanged chunks, whatever changed around it, and a chunk of frozen
tensors holds frozen tensors only (an *immutable* chunk).

**The store** (:class:`ChunkStore`). One per site, a small Ray actor on the site's node
(:func:`chunk_store`, started by ``LiveJobs``, pinned to the node by node affinity, holding no
site resource), that outlives the jobs' actors. It keeps chunks named by their SHA-256 (each is
checked before it is kept) up to ``capacity_bytes``; when full, it evicts the least recently
used chunk that is not pinned. A migration pins, under a key of its own, the chunks it relies
on at the destination (and a pre-stage the chunks it copies) and releases them when it ends:
a chunk of a job in flight is never evicted. A chunk that finds no room is simply not kept (the
store is a cache: a migration never fails for it; the chunk is sent the next time).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from greenhop.errors import InputError
from greenhop.live.errors import LiveError


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk of a blob: ``length`` bytes at ``offset``; ``immutable`` when it holds frozen
    tensors only."""

    offset: int
    length: int
    immutable: bool


def plan_chunks(
    sizes: Sequence[tuple[int, bool]], chunk_bytes: int, *, start: int = 0
) -> list[ChunkSpec]:
    """Chunks of a run of tensors laid out back to back from ``start``.

    ``sizes``: each tensor's (bytes, frozen) in data order. A tensor of ``chunk_bytes`` or more
    is cut into pieces of ``chunk_bytes`` from its own start (the last one shorter); smaller
    tensors are packed greedily, in order, into chunks of at most ``chunk_bytes`` that never
    mix frozen and other tensors and never hold part of a large tensor.
    """
    if chunk_bytes < 1:
        raise InputError(f"chunk_bytes must be >= 1, got {chunk_bytes}.")
    out: list[ChunkSpec] = []
    offset = start
    group_start, group_len, group_frozen = start, 0, False

    def flush() -> None:
        nonlocal group_len
        if group_len:
            out.append(ChunkSpec(group_start, group_len, group_frozen))
        group_len = 0

    for nbytes, frozen in sizes:
        if nbytes >= chunk_bytes:
            flush()
            for piece in range(0, nbytes, chunk_bytes):
                out.append(ChunkSpec(offset + piece, min(chunk_bytes, nbytes - piece), frozen))
        else:
            if group_len and (frozen != group_frozen or group_len + nbytes > chunk_bytes):
                flush()
            if not group_len:
                group_start, group_frozen = offset, frozen
            group_len += nbytes
        offset += nbytes
    flush()
    return out


def digest(chunk: Any) -> str:
    """SHA-256 of a chunk (bytes, memoryview or uint8 array), hex: its name in a store."""
    return hashlib.sha256(memoryview(chunk).cast("B")).hexdigest()


class ChunkMissingError(LiveError):
    """A chunk asked of a store is not there (never kept, or evicted while not pinned)."""


@dataclass(frozen=True)
class StoreStats:
    """What a site's chunk store holds and has done; sizes in bytes."""

    site: str
    capacity_bytes: int
    used_bytes: int
    n_chunks: int
    pinned_bytes: int
    pins: int
    added_bytes: int
    evicted_bytes: int
    evicted_chunks: int
    not_kept_bytes: int


class ChunkStore:
    """Chunks named by their SHA-256, at most ``capacity_bytes``, evicted least recently used
    first, never while pinned. Thread-safe (its Ray actor serves calls concurrently).

    Use it through :func:`chunk_store` (the Ray actor of a site); the class itself runs
    anywhere (tests use it as is).
    """

    def __init__(self, site: str, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise InputError(f"A chunk store's capacity must be >= 0 bytes, got {capacity_bytes}.")
        self.site = site
        self.capacity_bytes = int(capacity_bytes)
        self._chunks: OrderedDict[str, np.ndarray] = OrderedDict()  # oldest use first
        self._pins: dict[str, set[str]] = {}  # key -> digests it pins
        self._pin_count: dict[str, int] = {}  # digest -> keys pinning it
        self._used = 0
        self._added = self._evicted = self._evicted_n = self._not_kept = 0
        self._lock = threading.Lock()

    # -- queries ------------------------------------------------------------------------------

    def ping(self) -> str:
        """The node id of the store's actor ("local" outside Ray)."""
        try:
            import ray

            if ray.is_initialized():
                return str(ray.get_runtime_context().get_node_id())
        except ImportError:  # pragma: no cover - ray is part of the live extra
            pass
        return "local"

    def contains(self, digests: Sequence[str]) -> list[bool]:
        """Whether each chunk is held (does not count as a use)."""
        with self._lock:
            return [d in self._chunks for d in digests]

    def stats(self) -> StoreStats:
        """What the store holds now and has done."""
        with self._lock:
            pinned = sum(self._chunks[d].nbytes for d in self._pin_count if d in self._chunks)
            return StoreStats(
                site=self.site,
                capacity_bytes=self.capacity_bytes,
                used_bytes=self._used,
                n_chunks=len(self._chunks),
                pinned_bytes=pinned,
                pins=len(self._pins),
                added_bytes=self._added,
                evicted_bytes=self._evicted,
                evicted_chunks=self._evicted_n,
                not_kept_bytes=self._not_kept,
            )

    # -- pins ---------------------------------------------------------------------------------

    def reserve(self, key: str, digests: Sequence[str]) -> list[bool]:
        """Whether each chunk is held; those held are used (recently used) and pinned under
        ``key`` until :meth:`release`."""
        with self._lock:
            present = []
            for d in digests:
                held = d in self._chunks
                present.append(held)
                if held:
                    self._chunks.move_to_end(d)
                    self._pin(key, d)
            return present

    def release(self, key: str) -> None:
        """Unpin every chunk pinned under ``key`` (they stay, evictable)."""
        with self._lock:
            for d in self._pins.pop(key, set()):
                n = self._pin_count[d] - 1
                if n:
                    self._pin_count[d] = n
                else:
                    del self._pin_count[d]

    def _pin(self, key: str, d: str) -> None:
        pins = self._pins.setdefault(key, set())
        if d not in pins:
            pins.add(d)
            self._pin_count[d] = self._pin_count.get(d, 0) + 1

    # -- chunks in and out --------------------------------------------------------------------

    def get(self, digests: Sequence[str]) -> list[np.ndarray]:
        """The chunks (read-only arrays), used; ChunkMissingError names the first missing."""
        with self._lock:
            out = []
            for d in digests:
                chunk = self._chunks.get(d)
                if chunk is None:
                    raise ChunkMissingError(
                        f"The chunk store of site {self.site!r} does not hold chunk {d[:16]}..."
                    )
                self._chunks.move_to_end(d)
                out.append(chunk)
            return out

    def add(self, key: str | None, chunks: Sequence[Any], digests: Sequence[str]) -> int:
        """Keep each chunk whose SHA-256 is its name (ChecksumError otherwise, nothing kept
        from that chunk on), pinned under ``key`` if given; return the bytes newly kept. A
        chunk already held is used and pinned; one that finds no room is not kept."""
        from greenhop.live.errors import ChecksumError

        if len(chunks) != len(digests):
            raise InputError(f"{len(chunks)} chunks but {len(digests)} digests.")
        kept = 0
        for chunk, d in zip(chunks, digests, strict=True):
            with self._lock:
                if d in self._chunks:
                    self._chunks.move_to_end(d)
                    if key is not None:
                        self._pin(key, d)
                    continue
            data = np.frombuffer(memoryview(chunk).cast("B"), dtype=np.uint8)
            actual = digest(data)
            if actual != d:
                raise ChecksumError(
                    f"A chunk offered to the store of site {self.site!r} has SHA-256 "
                    f"{actual[:16]}..., not its name {d[:16]}...; it is refused."
                )
            copy = data.copy()  # the store's own bytes, whatever happens to the sender's
            copy.flags.writeable = False
            with self._lock:
                if d not in self._chunks:
                    if not self._make_room(copy.nbytes):
                        self._not_kept += copy.nbytes
                        continue
                    self._chunks[d] = copy
                    self._used += copy.nbytes
                    self._added += copy.nbytes
                    kept += copy.nbytes
                self._chunks.move_to_end(d)
                if key is not None:
                    self._pin(key, d)
        return kept

    def _make_room(self, nbytes: int) -> bool:
        """Evict unpinned chunks, least recently used first, until ``nbytes`` fit; False (and
        nothing evicted) if they cannot."""
        if nbytes > self.capacity_bytes:
            return False
        need = self._used + nbytes - self.capacity_bytes
        if need <= 0:
            return True
        victims, freed = [], 0
        for d, chunk in self._chunks.items():
            if d in self._pin_count:
                continue
            victims.append(d)
            freed += chunk.nbytes
            if freed >= need:
                break
        if freed < need:
            return False
        for d in victims:
            chunk = self._chunks.pop(d)
            self._used -= chunk.nbytes
            self._evicted += chunk.nbytes
            self._evicted_n += 1
        return True

    def fetch(self, key: str, source: Any, digests: Sequence[str]) -> int:
        """Pull chunks from another site's store (a Ray actor handle) into this one, verified,
        pinned under ``key``; return the bytes that crossed."""
        import ray

        chunks = ray.get(source.get.remote(list(digests)))
        self.add(key, chunks, digests)
        return sum(int(np.asarray(c).nbytes) for c in chunks)


STORE_NAME_PREFIX = "greenhop-chunks/"
"""A site's chunk store is the named actor ``greenhop-chunks/<site>`` in the driver's
namespace; it lives as long as the driver."""

_REMOTE: Any = None


def chunk_store(site: str, node_id: str, capacity_bytes: int) -> Any:
    """The chunk store actor of ``site`` (on node ``node_id``), created if it does not exist
    (an existing one keeps its capacity). It asks for no CPU and no site resource: node
    affinity places it."""
    global _REMOTE
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from greenhop.live._extras import import_ray

    if _REMOTE is None:
        _REMOTE = import_ray().remote(max_concurrency=8)(ChunkStore)
    return _REMOTE.options(
        name=f"{STORE_NAME_PREFIX}{site}",
        get_if_exists=True,
        num_cpus=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
    ).remote(site, capacity_bytes)


@dataclass(frozen=True)
class PrestageResult:
    """What pre-staging a job's immutable chunks at a site did. Sizes in bytes, times in s.

    ``bytes_sent`` crossed the network (count its energy, ``e_net`` per byte);
    ``immutable_bytes`` is the job's whole immutable part, ``present_bytes`` what the site held
    already. ``paused_s`` is the time it waited for migrations; ``completed`` is False when it
    was cancelled or superseded (``reason``) or failed (``error``).
    """

    job_id: str
    source_site: str
    dest_site: str
    rate_bytes_per_s: float
    immutable_bytes: int
    n_chunks: int
    present_bytes: int
    bytes_sent: int
    chunks_sent: int
    duration_s: float
    paused_s: float
    completed: bool
    reason: str | None = None
    error: str | None = None

    @property
    def bytes_sent_gb(self) -> float:
        """``bytes_sent`` in GB (1e9 bytes), the unit of ``e_net``'s per-GB energy."""
        return self.bytes_sent / 1e9


class Pacer:
    """Paces a sequence of sends to an average of ``rate_bytes_per_s``, not counting time
    spent paused: :meth:`delay_s` is how long to wait before the next send."""

    def __init__(self, rate_bytes_per_s: float) -> None:
        if not rate_bytes_per_s > 0:
            raise InputError(f"A pre-stage rate must be > 0 bytes/s, got {rate_bytes_per_s}.")
        self.rate = float(rate_bytes_per_s)
        self.start = time.monotonic()
        self.sent = 0
        self.paused_s = 0.0

    def delay_s(self) -> float:
        """Seconds to wait before the next send."""
        due = self.start + self.paused_s + self.sent / self.rate
        return max(0.0, due - time.monotonic())
