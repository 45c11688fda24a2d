"""The protocol a training job implements so greenhop can run, checkpoint and move it.

greenhop does not own your training loop's contents; it calls three methods::

    class MyTrainer:
        def step(self) -> dict[str, float]: ...        # one optimisation step; its metrics
        def state_dict(self) -> dict[str, Any]: ...    # everything needed to continue exactly
        def load_state_dict(self, state) -> None: ...  # the inverse

``state_dict`` must hold the model, the optimizer, the LR scheduler, any random generator the
trainer owns (a ``torch.Generator`` for shuffling, a ``numpy.random.Generator``) and the data
position (epoch, batch index, the current permutation). It may nest dicts, lists and tuples of
tensors, numpy arrays, ints, floats, strings, bools and None; dict keys may be str or int
(an optimizer's ``state`` is keyed by int). The process-wide generators (``torch``'s default
generator, ``numpy.random``'s global state, Python's ``random``) are saved by greenhop itself,
so a trainer may use them (dropout does).

The trainer is built on the site's node by a factory, a picklable callable without arguments
(a class, or ``functools.partial(MyTrainer, seed=1)``); the factory should call
:func:`make_deterministic` first, so that a restored job ends bit-identical to an uninterrupted
run of the same number of steps. Each step must depend only on the trainer's state and those
generators (no wall clock, no unseeded randomness).

**Frozen tensors** (optional). A trainer whose checkpoint holds tensors that training never
changes (a frozen base model under LoRA adapters, frozen embeddings, the frozen lower layers of a
fine-tuning) may say which, with a fourth method::

        def frozen_keys(self) -> Iterable[str]: ...   # e.g. "model/embed.weight"

A path names a tensor of ``state_dict()`` by its keys joined with ``/`` (the model's own
``state_dict`` keys keep their dots): ``{"model": model.state_dict()}`` holds
``model/embed.weight``. :func:`frozen_parameter_keys` lists a module's parameters that do not
require gradients. Frozen tensors are the checkpoint's immutable part: they are cut into chunks
of their own, so a site that already holds them (the job was there before, or they were
pre-staged there) is sent only the rest. Marking a tensor frozen that does change costs bytes,
never correctness: every chunk is named by its SHA-256 and a changed one is sent.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from greenhop.live._extras import import_torch


@runtime_checkable
class Trainer(Protocol):
    """One training job: a step function and its complete, restorable state."""

    def step(self) -> Mapping[str, float]:
        """Run one optimisation step and return its metrics (e.g. ``{"loss": 0.7}``)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: model, optimizer, scheduler, own RNGs, data
        position. Tensors may be returned by reference; greenhop copies them."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (possibly from another process)."""
        ...


@runtime_checkable
class FreezingTrainer(Trainer, Protocol):
    """A :class:`Trainer` that marks its frozen tensors (the checkpoint's immutable part)."""

    def frozen_keys(self) -> Iterable[str]:
        """Paths in :meth:`state_dict` of the tensors training never changes."""
        ...


def frozen_keys_of(trainer: object) -> frozenset[str]:
    """The frozen tensors a trainer marks (:meth:`FreezingTrainer.frozen_keys`), or none."""
    method = getattr(trainer, "frozen_keys", None)
    if method is None:
        return frozenset()
    keys = frozenset(method())
    bad = sorted(k for k in keys if not isinstance(k, str) or not k or k.startswith("/"))
    if bad:
        raise TypeError(f"frozen_keys() must give paths such as 'model/embed.weight'; got {bad!r}")
    return keys


def frozen_parameter_keys(module: Any, prefix: str = "model") -> list[str]:
    """Paths (``<prefix>/<parameter name>``) of ``module``'s parameters that do not require
    gradients, for a trainer whose ``state_dict()`` holds ``{prefix: module.state_dict()}``."""
    return [f"{prefix}/{name}" for name, p in module.named_parameters() if not p.requires_grad]


TrainerFactory = Callable[[], Trainer]
"""A picklable callable without arguments that builds a :class:`Trainer` on the site's node."""


def make_deterministic(seed: int, *, num_threads: int = 1) -> None:
    """Seed torch (CPU and every CUDA device), numpy and Python's ``random``; ask torch for
    deterministic kernels and ``num_threads`` intra-op threads (one thread makes CPU reductions
    reproducible).

    On CUDA, bit-exact resumption also needs cuBLAS's fixed workspace
    (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, set here unless already set: call this before the
    trainer's first CUDA operation) and cuDNN without autotuning (``benchmark`` off,
    ``deterministic`` on).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch = import_torch()
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(num_threads)
