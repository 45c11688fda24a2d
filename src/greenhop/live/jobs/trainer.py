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
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
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
