"""Exact checkpoints of a training job: safetensors for tensors, JSON for the rest, no pickle.

A :class:`Checkpoint` holds a trainer's ``state_dict()`` (model, optimizer, scheduler, its own
generators, the data position), the process-wide random states (torch, CUDA if present,
``numpy.random``, Python's ``random``) and the number of steps done.

Format (version 1): one safetensors blob. Every tensor of the state (and every numpy array, as
raw bytes) is a safetensors tensor named by its path in the state (``trainer/model/fc.weight``);
everything else is JSON in the safetensors header's ``__metadata__["greenhop"]``
(``{"format": ..., "version": 1, "state": ..., "frozen": [...]}``), with each tensor replaced by
``{"__gh_tensor__": name}``. Loading parses the JSON and the tensors
and nothing else: no pickle, no code runs.

The trainer's **frozen tensors** (:meth:`~greenhop.live.jobs.trainer.FreezingTrainer.frozen_keys`,
the checkpoint's immutable part) are listed in ``"frozen"`` and written first in the data buffer,
each group sorted by name, so the immutable part is a prefix whose bytes depend on the frozen
tensors alone. :meth:`Checkpoint.chunked` cuts the blob at tensor boundaries
(:func:`~greenhop.live.jobs.chunks.plan_chunks`): an unchanged tensor gives unchanged chunks,
whatever changed around it. The SHA-256 of the blob identifies the checkpoint;
:meth:`Checkpoint.save` writes the blob (``*.safetensors``) and a JSON sidecar with its size,
SHA-256 and step (``*.json``), each atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from greenhop.errors import InputError
from greenhop.live._extras import import_torch
from greenhop.live.errors import ChecksumError
from greenhop.live.jobs.chunks import ChunkSpec, plan_chunks
from greenhop.live.jobs.trainer import Trainer, frozen_keys_of

FORMAT = "greenhop.live.jobs.checkpoint"
VERSION = 1
_METADATA_KEY = "greenhop"
_T, _A, _D, _U, _F = (
    "__gh_tensor__",
    "__gh_ndarray__",
    "__gh_dict__",
    "__gh_tuple__",
    "__gh_float__",
)


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """SHA-256 of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ChunkedBlob:
    """A checkpoint's blob and its chunks (offsets into ``data``), cut at tensor boundaries."""

    data: bytes
    chunks: tuple[ChunkSpec, ...]

    def chunk(self, i: int) -> memoryview:
        """The bytes of chunk ``i`` (a view into ``data``)."""
        c = self.chunks[i]
        return memoryview(self.data)[c.offset : c.offset + c.length]

    @property
    def immutable_bytes(self) -> int:
        """Bytes of the chunks that hold frozen tensors only."""
        return sum(c.length for c in self.chunks if c.immutable)


@dataclass(frozen=True)
class Checkpoint:
    """A job's complete state at a step boundary; see the module docstring for the format.

    ``frozen``: names of the state's tensors (paths such as ``trainer/model/embed.weight``) that
    the trainer marked frozen: the checkpoint's immutable part.
    """

    state: dict[str, Any]
    frozen: frozenset[str] = frozenset()

    # -- capture and restore ------------------------------------------------------------------

    @classmethod
    def capture(cls, trainer: Trainer, *, steps_done: int) -> Checkpoint:
        """Snapshot ``trainer`` and the process-wide RNGs after ``steps_done`` steps."""
        state = {"steps_done": steps_done, "rng": rng_state(), "trainer": trainer.state_dict()}
        return cls(state, frozen=frozenset(f"trainer/{k}" for k in frozen_keys_of(trainer)))

    def restore(self, trainer: Trainer) -> int:
        """Load the state into ``trainer`` and set the process-wide RNGs; return steps done."""
        trainer.load_state_dict(self.state["trainer"])
        set_rng_state(self.state["rng"])
        return self.steps_done

    @property
    def steps_done(self) -> int:
        """Training steps the job had done when this checkpoint was taken."""
        return int(self.state["steps_done"])

    # -- bytes --------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialise to one safetensors blob (deterministic: equal states give equal bytes)."""
        header, parts = self._layout()
        return b"".join([header, *(view for _, view, _ in parts)])

    def chunked(self, chunk_bytes: int) -> ChunkedBlob:
        """The blob and its chunks: the header (JSON state, steps, RNG) alone, then runs of
        tensors of one kind (frozen or not) packed up to ``chunk_bytes``, a larger tensor cut
        into pieces of ``chunk_bytes`` from its own start."""
        header, parts = self._layout()
        data = b"".join([header, *(view for _, view, _ in parts)])
        sizes = [(view.nbytes, frozen) for _, view, frozen in parts]
        chunks = plan_chunks(sizes, chunk_bytes, start=len(header))
        return ChunkedBlob(data, (ChunkSpec(0, len(header), False), *chunks))

    def immutable_chunks(self, chunk_bytes: int) -> list[bytes]:
        """The bytes of the chunks of the frozen tensors alone, equal to the immutable chunks of
        :meth:`chunked` (the frozen tensors are a prefix of the data buffer), without
        serialising the rest. Each is a copy, so the trainer may go on afterwards."""
        tensors = self._tensors_checked()
        parts = [(n, _raw(tensors[n])) for n in sorted(self.frozen)]
        specs = plan_chunks([(v.nbytes, True) for _, v in parts], chunk_bytes)
        flat = b"".join(v for _, v in parts)
        return [flat[c.offset : c.offset + c.length] for c in specs]

    def check_frozen(self) -> None:
        """InputError if a frozen tensor name names no tensor of the state."""
        self._tensors_checked()

    def _tensors_checked(self) -> dict[str, Any]:
        tensors: dict[str, Any] = {}
        _encode(self.state, "", tensors, {})
        self._check_frozen(tensors)
        return tensors

    def _check_frozen(self, tensors: Mapping[str, Any]) -> None:
        missing = sorted(self.frozen - tensors.keys())
        if missing:
            known = ", ".join(sorted(k for k in tensors if k.startswith("trainer/"))[:8])
            raise InputError(
                f"The trainer marks {missing[0]!r} frozen (frozen_keys), but its state has no "
                f"such tensor; its tensors include {known}. Give paths in the trainer's "
                "state_dict, e.g. 'model/embed.weight'."
            )

    def _layout(self) -> tuple[bytes, list[tuple[str, memoryview, bool]]]:
        """The safetensors header and each tensor's bytes in data order: frozen tensors first,
        then the others, each group by name."""
        tensors: dict[str, Any] = {}
        tree = _encode(self.state, "", tensors, {})
        self._check_frozen(tensors)
        # one metadata key: the JSON text is the checkpoint's header, in a fixed key order
        meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "state": tree}
        if self.frozen:
            meta["frozen"] = sorted(self.frozen)
        text = json.dumps(meta, separators=(",", ":"), allow_nan=False)
        order = sorted(self.frozen & tensors.keys()) + sorted(tensors.keys() - self.frozen)
        entries: dict[str, Any] = {"__metadata__": {_METADATA_KEY: text}}
        parts: list[tuple[str, memoryview, bool]] = []
        offset = 0
        for name in order:
            t = tensors[name]
            view = _raw(t)
            entries[name] = {
                "dtype": _dtype_code(t),
                "shape": list(t.shape),
                "data_offsets": [offset, offset + view.nbytes],
            }
            offset += view.nbytes
            parts.append((name, view, name in self.frozen))
        head = json.dumps(entries, separators=(",", ":")).encode()
        head += b" " * (-len(head) % 8)  # the data buffer starts 8-byte aligned, as safetensors
        return struct.pack("<Q", len(head)) + head, parts

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray, *, expected_sha256: str | None = None
    ) -> Checkpoint:
        """Parse a blob from :meth:`to_bytes`; if ``expected_sha256`` is given, verify it first
        and raise ChecksumError on mismatch, before anything is parsed."""
        if expected_sha256 is not None:
            actual = sha256_hex(data)
            if actual != expected_sha256:
                raise ChecksumError(
                    f"Checkpoint of {len(data)} bytes has SHA-256 {actual[:16]}..., expected "
                    f"{expected_sha256[:16]}...; it was corrupted and is refused."
                )
        from safetensors.torch import load

        header = json.loads(_read_metadata(data).get(_METADATA_KEY, "{}"))
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise InputError(
                f"Not a greenhop checkpoint of version {VERSION}: header format "
                f"{header.get('format')!r}, version {header.get('version')!r}."
            )
        tensors = load(bytes(data))
        state = _decode(header["state"], tensors)
        return cls(state, frozen=frozenset(header.get("frozen", ())))

    def sha256(self) -> str:
        """SHA-256 of :meth:`to_bytes`."""
        return sha256_hex(self.to_bytes())

    # -- disk ---------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``<path>.safetensors`` and its ``<path>.json`` sidecar atomically; return the
        blob's path. A crash leaves either the old pair or the new blob, never a torn file."""
        blob_path = _blob_path(path)
        data = self.to_bytes()
        sidecar = {
            "format": FORMAT,
            "version": VERSION,
            "size_bytes": len(data),
            "sha256": sha256_hex(data),
            "steps_done": self.steps_done,
            "blob": blob_path.name,
        }
        _atomic_write(blob_path, data)
        _atomic_write(
            blob_path.with_suffix(".json"), (json.dumps(sidecar, indent=2) + "\n").encode()
        )
        return blob_path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Checkpoint:
        """Read a checkpoint written by :meth:`save`, verifying the SHA-256 in its sidecar."""
        blob_path = _blob_path(path)
        sidecar_path = blob_path.with_suffix(".json")
        try:
            sidecar = json.loads(sidecar_path.read_text())
            data = blob_path.read_bytes()
        except FileNotFoundError as exc:
            raise InputError(f"Checkpoint file {exc.filename} does not exist.") from exc
        return cls.from_bytes(data, expected_sha256=sidecar["sha256"])

    # -- inspection ---------------------------------------------------------------------------

    def tensors(self) -> dict[str, Any]:
        """Every tensor of the state by its path (``trainer/model/fc.weight``), for comparison."""
        out: dict[str, Any] = {}
        _encode(self.state, "", out, {})
        return out


_DTYPE_CODES: dict[Any, str] = {}


def _dtype_code(t: Any) -> str:
    """The safetensors name of ``t``'s dtype (``F32``, ``BF16``, ...)."""
    if not _DTYPE_CODES:
        torch = import_torch()
        names = {
            "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
            "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
            "bool": "BOOL", "uint16": "U16", "uint32": "U32", "uint64": "U64",
            "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
        }  # fmt: skip
        for attr, code in names.items():
            if hasattr(torch, attr):
                _DTYPE_CODES[getattr(torch, attr)] = code
    try:
        return _DTYPE_CODES[t.dtype]
    except KeyError:
        raise InputError(f"A checkpoint cannot hold tensors of dtype {t.dtype}.") from None


def _raw(t: Any) -> memoryview:
    """The bytes of a contiguous CPU tensor, without a copy."""
    torch = import_torch()
    flat = t.reshape(-1)
    if flat.dtype != torch.uint8:
        flat = flat.view(torch.uint8)
    return memoryview(flat.numpy()).cast("B")


def _blob_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if p.suffix == ".safetensors" else p.with_name(p.name + ".safetensors")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_metadata(data: bytes | bytearray) -> dict[str, str]:
    if len(data) < 8:
        raise InputError(f"Checkpoint of {len(data)} bytes is too short for a safetensors header.")
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    if n > len(data) - 8:
        raise InputError(f"Checkpoint header claims {n} bytes but the blob has {len(data)}.")
    header = json.loads(bytes(data[8 : 8 + n]))
    return dict(header.get("__metadata__") or {})


# -- the state tree <-> (JSON tree, flat tensors) ----------------------------------------------


def _encode(obj: Any, path: str, tensors: dict[str, Any], seen: dict[int, str]) -> Any:
    torch = import_torch()
    if isinstance(obj, torch.Tensor):
        name = path or "root"
        if name in tensors:
            raise InputError(f"Two tensors of the state map to the same name {name!r}.")
        t = obj.detach().to("cpu")
        # safetensors refuses shared or partial storage (tied weights, views): copy those
        storage = t.untyped_storage()
        key = storage.data_ptr()
        whole = storage.nbytes() == t.numel() * t.element_size()
        if key in seen or not whole or not t.is_contiguous():
            t = t.contiguous().clone()
        elif t.numel():
            seen[key] = name
        tensors[name] = t
        return {_T: name}
    if isinstance(obj, np.ndarray):
        name = path or "root"
        raw = np.ascontiguousarray(obj).view(np.uint8).reshape(-1)
        tensors[name] = torch.from_numpy(raw.copy())
        return {_A: name, "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else {_F: repr(x)}
    if isinstance(obj, tuple):
        return {_U: [_encode(v, f"{path}/{i}", tensors, seen) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{path}/{i}", tensors, seen) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__gh_") for k in obj):
            return {
                k: _encode(v, f"{path}/{k}" if path else k, tensors, seen) for k, v in obj.items()
            }
        return {
            _D: [
                [
                    _encode(k, f"{path}/key{i}", tensors, seen),
                    _encode(v, f"{path}/{k}", tensors, seen),
                ]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    raise InputError(
        f"Checkpoint state at {path or '<root>'!r} is a {type(obj).__name__}; a state may hold "
        "tensors, numpy arrays, numbers, strings, bools, None, and dicts, lists and tuples of them."
    )


def _decode(obj: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if _T in obj:
        return tensors[obj[_T]]
    if _A in obj:
        raw = tensors[obj[_A]].numpy()
        return raw.view(np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
    if _F in obj:
        return float(obj[_F])
    if _U in obj:
        return tuple(_decode(v, tensors) for v in obj[_U])
    if _D in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj[_D]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


# -- process-wide random states -----------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """The process-wide random states: torch (and CUDA), numpy's global, Python's ``random``."""
    torch = import_torch()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": keys, "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "python": {
            "version": version,
            "internal": np.asarray(internal, dtype=np.uint64),
            "gauss_next": gauss_next,
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Set the process-wide random states from :func:`rng_state`."""
    torch = import_torch()
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"], n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
