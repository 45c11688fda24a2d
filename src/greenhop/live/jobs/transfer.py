"""Moving a checkpoint between site nodes in SHA-256-verified chunks, and what a move measured.

The source actor serialises its checkpoint, splits it into chunks of ``chunk_bytes`` and puts
each chunk into its node's Ray object store; the :class:`CheckpointManifest` it returns names
the chunks (Ray object refs), their SHA-256 and the SHA-256 of the whole checkpoint. The
destination actor pulls the chunks one at a time over the network (Ray's object transfer),
checks each chunk and then the whole checkpoint, and only then parses and loads it; any
mismatch raises :class:`~greenhop.live.errors.ChecksumError` and nothing is loaded.

Chunks that each cross a link well within Ray's ``object_manager_pull_timeout_ms`` (10 s by
default) avoid a slow pull being re-requested and sent twice; pick ``chunk_bytes`` for the
slowest link (16 MiB crosses a 100 Mbit/s link in 1.3 s).

**Content-addressed transfer.** Chunks are cut at tensor boundaries
(:func:`~greenhop.live.jobs.chunks.plan_chunks`) and named by their SHA-256. With chunk stores
(``LiveJobs(chunk_store_bytes=...)``) the manifest carries no ref for a chunk the destination's
store already holds (``chunk_refs[i] is None``): the destination takes it from its store, and
only the other chunks cross the network (``bytes_to_send``). The whole blob is verified as
before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from greenhop.errors import InputError
from greenhop.live.errors import ChecksumError

DEFAULT_CHUNK_BYTES = 16 * 2**20
"""Default chunk size, 16 MiB: 1.3 s on a 100 Mbit/s link, well inside Ray's pull timeout."""


@dataclass(frozen=True)
class CheckpointManifest:
    """A checkpoint waiting in the source node's object store, chunk by chunk.

    ``chunk_refs`` are Ray object refs owned by the source actor; they stay valid while the
    source actor lives. ``checkpoint_duration_s`` is the time the source took to pause at a
    step boundary, serialise, hash and store the chunks.
    """

    job_id: str
    source_site: str
    source_node_id: str
    steps_done: int
    total_steps: int
    size_bytes: int
    sha256: str
    chunk_bytes: int
    chunk_sha256: tuple[str, ...]
    chunk_refs: tuple[Any, ...]
    checkpoint_duration_s: float
    chunk_lengths: tuple[int, ...] = ()
    """Each chunk's size in bytes (empty: fixed cuts of ``chunk_bytes``)."""
    chunk_immutable: tuple[bool, ...] = ()
    """Whether each chunk holds frozen tensors only (empty: none does)."""

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return len(self.chunk_refs)

    def lengths(self) -> tuple[int, ...]:
        """Each chunk's size in bytes."""
        if self.chunk_lengths:
            return self.chunk_lengths
        n, c = self.size_bytes, self.chunk_bytes
        return tuple(min(c, n - i) for i in range(0, max(n, 1), c))

    @property
    def immutable_bytes(self) -> int:
        """Bytes of the chunks that hold frozen tensors only (the immutable part)."""
        pairs = zip(self.chunk_lengths, self.chunk_immutable, strict=True)
        return sum(n for n, imm in pairs if imm)

    @property
    def bytes_to_send(self) -> int:
        """Bytes of the chunks that cross the network (those with a ref)."""
        pairs = zip(self.lengths(), self.chunk_refs, strict=True)
        return sum(n for n, ref in pairs if ref is not None)

    @property
    def chunks_to_send(self) -> int:
        """Chunks that cross the network."""
        return sum(ref is not None for ref in self.chunk_refs)


@dataclass(frozen=True)
class TransferResult:
    """What one migration measured. Durations in seconds, sizes in bytes.

    ``transfer_duration_s`` is the destination's time to pull every chunk over the network and
    verify it; ``downtime_s`` is the stop-the-world time, from the source pausing to the
    destination resuming (checkpoint + transfer + load + the calls between them). The
    destination actor is started before the source pauses; ``actor_start_duration_s`` is that
    time (process start, imports, building the trainer), outside the downtime. ``attempts``
    counts the tries the move took (see the retry rule); ``recovered_from_disk`` is True when
    the source died and the job was restored from its last saved checkpoint instead.
    """

    job_id: str
    source_site: str
    dest_site: str
    source_node_id: str
    dest_node_id: str
    steps_done: int
    size_bytes: int
    n_chunks: int
    sha256: str
    actor_start_duration_s: float
    checkpoint_duration_s: float
    transfer_duration_s: float
    load_duration_s: float
    downtime_s: float
    attempts: int = 1
    recovered_from_disk: bool = False
    bytes_sent: int = 0
    n_chunks_sent: int = 0
    immutable_bytes: int = 0
    wire_duration_s: float = 0.0

    @property
    def mutable_bytes(self) -> int:
        """Bytes of the checkpoint that are not immutable (header, trainable tensors,
        optimizer and random states)."""
        return self.size_bytes - self.immutable_bytes

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """Achieved goodput, ``bytes_sent / wire_duration_s``; NaN when nothing crossed (no
        measurement of the link), inf for an instant transfer."""
        if self.bytes_sent <= 0:
            return float("nan")
        return self.bytes_sent / self.wire_duration_s if self.wire_duration_s > 0 else float("inf")

    @property
    def bandwidth_gbps(self) -> float:
        """Achieved goodput in Gbit/s (1e9 bit/s), the unit of a link's ``bandwidth_gbps``."""
        return 8.0 * self.bandwidth_bytes_per_s / 1e9

    @property
    def size_gb(self) -> float:
        """Checkpoint size in GB (1e9 bytes)."""
        return self.size_bytes / 1e9


def split_chunks(data: bytes, chunk_bytes: int) -> list[np.ndarray]:
    """Split ``data`` into uint8 arrays of ``chunk_bytes`` (the last one shorter); numpy arrays
    travel through Ray's object store without a copy on read. An empty blob gives one chunk."""
    if chunk_bytes < 1:
        raise InputError(f"chunk_bytes must be >= 1, got {chunk_bytes}.")
    view = np.frombuffer(data, dtype=np.uint8)
    return [view[i : i + chunk_bytes] for i in range(0, max(len(view), 1), chunk_bytes)]


def chunk_digests(chunks: Iterable[np.ndarray]) -> tuple[str, ...]:
    """SHA-256 of each chunk, hex."""
    return tuple(hashlib.sha256(c.data).hexdigest() for c in chunks)


class ChunkVerifier:
    """Checks a checkpoint's chunks as they arrive, in order: each chunk's SHA-256 when it is
    added (:class:`~greenhop.live.errors.ChecksumError` at the first bad one, before anything
    is parsed), and the whole blob's size and SHA-256 in :meth:`finish`."""

    def __init__(self, manifest: CheckpointManifest) -> None:
        self.manifest = manifest
        self._whole = hashlib.sha256()
        self._chunks: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> None:
        """Verify the next chunk and keep it."""
        m = self.manifest
        i = len(self._chunks)
        if i >= m.n_chunks:
            raise ChecksumError(
                f"Checkpoint of job {m.job_id!r} arrived in more than the {m.n_chunks} chunks "
                "of its manifest; it is refused."
            )
        digest = hashlib.sha256(chunk.data).hexdigest()
        expected = m.chunk_sha256[i]
        if digest != expected:
            raise ChecksumError(
                f"Chunk {i} of {m.n_chunks} of job {m.job_id!r}'s checkpoint "
                f"({len(chunk)} bytes) has SHA-256 {digest[:16]}..., expected {expected[:16]}...; "
                "it was corrupted in transit and the checkpoint is refused."
            )
        self._whole.update(chunk.data)
        self._chunks.append(chunk)

    def finish(self) -> bytes:
        """The verified blob; ChecksumError if chunks are missing or the whole does not match."""
        m = self.manifest
        if len(self._chunks) != m.n_chunks:
            raise ChecksumError(
                f"Checkpoint of job {m.job_id!r} arrived in {len(self._chunks)} chunks, "
                f"expected {m.n_chunks}; it is refused."
            )
        data = b"".join(c.data for c in self._chunks)
        self._chunks = []
        if len(data) != m.size_bytes or self._whole.hexdigest() != m.sha256:
            raise ChecksumError(
                f"Checkpoint of job {m.job_id!r} arrived as {len(data)} bytes with SHA-256 "
                f"{self._whole.hexdigest()[:16]}..., expected {m.size_bytes} bytes with "
                f"{m.sha256[:16]}...; it is refused."
            )
        return data


class ChunkAssembler:
    """Assembles a checkpoint from chunks that arrive in any order, some pulled over the
    network, some from the destination's store.

    :meth:`put` with ``verify`` checks a chunk's SHA-256 at once (pulled chunks: a corrupted
    one is refused before anything else happens); chunks from the store were checked when they
    were kept. The whole blob's SHA-256 is computed in order as chunks arrive; :meth:`finish`
    checks it and the size (a mismatch names the first bad chunk) and returns the blob.
    """

    def __init__(self, manifest: CheckpointManifest) -> None:
        self.manifest = manifest
        self._slots: list[Any] = [None] * manifest.n_chunks
        self._whole = hashlib.sha256()
        self._next = 0

    def put(self, i: int, chunk: Any, *, verify: bool = True) -> None:
        """Chunk ``i`` arrived; ChecksumError if ``verify`` and it does not match."""
        m = self.manifest
        if verify:
            d = hashlib.sha256(memoryview(chunk).cast("B")).hexdigest()
            if d != m.chunk_sha256[i]:
                raise ChecksumError(
                    f"Chunk {i} of {m.n_chunks} of job {m.job_id!r}'s checkpoint "
                    f"({len(chunk)} bytes) has SHA-256 {d[:16]}..., expected "
                    f"{m.chunk_sha256[i][:16]}...; it was corrupted in transit and the "
                    "checkpoint is refused."
                )
        self._slots[i] = chunk
        while self._next < len(self._slots) and self._slots[self._next] is not None:
            self._whole.update(memoryview(self._slots[self._next]).cast("B"))
            self._next += 1

    def finish(self) -> bytes:
        """The verified blob; ChecksumError if a chunk is missing or the whole mismatches."""
        m = self.manifest
        missing = [i for i, c in enumerate(self._slots) if c is None]
        if missing:
            raise ChecksumError(
                f"Checkpoint of job {m.job_id!r} lacks chunk {missing[0]} of {m.n_chunks}; "
                "it is refused."
            )
        data = b"".join(memoryview(c).cast("B") for c in self._slots)
        if len(data) != m.size_bytes or self._whole.hexdigest() != m.sha256:
            for i, c in enumerate(self._slots):
                if hashlib.sha256(memoryview(c).cast("B")).hexdigest() != m.chunk_sha256[i]:
                    raise ChecksumError(
                        f"Chunk {i} of {m.n_chunks} of job {m.job_id!r}'s checkpoint does not "
                        "match its SHA-256 (taken from the destination's chunk store); the "
                        "checkpoint is refused."
                    )
            raise ChecksumError(
                f"Checkpoint of job {m.job_id!r} arrived as {len(data)} bytes with SHA-256 "
                f"{self._whole.hexdigest()[:16]}..., expected {m.size_bytes} bytes with "
                f"{m.sha256[:16]}...; it is refused."
            )
        self._slots = []
        return data


def join_verified(chunks: Sequence[np.ndarray], manifest: CheckpointManifest) -> bytes:
    """Join pulled chunks into the checkpoint blob, checking each chunk's SHA-256 and then the
    whole blob's size and SHA-256 against ``manifest``; raise ChecksumError on any mismatch."""
    if len(chunks) != manifest.n_chunks:
        raise ChecksumError(
            f"Checkpoint of job {manifest.job_id!r} arrived in {len(chunks)} chunks, "
            f"expected {manifest.n_chunks}; it is refused."
        )
    verifier = ChunkVerifier(manifest)
    for chunk in chunks:
        verifier.add(chunk)
    return verifier.finish()
