"""greenhop.live: real PyTorch training jobs on a Ray cluster with one node per site.

Each site is a Ray node that carries the custom resource ``site:<name>`` sized to its GPU slots;
a training job is a Ray actor placed on its site with a fractional share of that resource.
Jobs move between sites by an exact checkpoint sent in SHA-256-verified chunks.

Ray and torch are optional (the ``live`` extra); this package imports them only when a class
that needs them is used, and raises :class:`greenhop.errors.MissingExtraError` if they are
missing. The names below are imported lazily from their modules:

=====================  =====================================================
``cluster``            :class:`LocalCluster`, :func:`attach`, :class:`SiteNode`
``trainer``            :class:`Trainer` (the protocol a training job implements)
``examples``           :class:`DigitsCNNTrainer`, :class:`CharTransformerTrainer`
``checkpoint``         :class:`Checkpoint`
``transfer``           :class:`CheckpointManifest`, :class:`TransferResult`
``actor``              :class:`TrainingActor`, :class:`JobProgress`
``jobs``               :class:`LiveJob`, :class:`LiveJobs` (start, migrate, progress, stop)
``power``              :class:`PowerMeter`, :class:`NominalPowerMeter`,
                       :class:`ReplayPowerMeter`, :class:`NvmlPowerMeter`, :class:`Measurement`
``errors``             :class:`LiveError`, :class:`ChecksumError`, :class:`ClusterError`,
                       :class:`MigrationError`
=====================  =====================================================
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LocalCluster": "cluster",
    "attach": "cluster",
    "SiteNode": "cluster",
    "Trainer": "trainer",
    "DigitsCNNTrainer": "examples",
    "CharTransformerTrainer": "examples",
    "Checkpoint": "checkpoint",
    "CheckpointManifest": "transfer",
    "TransferResult": "transfer",
    "TrainingActor": "actor",
    "JobProgress": "actor",
    "LiveJob": "jobs",
    "LiveJobs": "jobs",
    "PowerMeter": "power",
    "NominalPowerMeter": "power",
    "ReplayPowerMeter": "power",
    "NvmlPowerMeter": "power",
    "Measurement": "power",
    "LiveError": "errors",
    "ChecksumError": "errors",
    "ClusterError": "errors",
    "MigrationError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greenhop.live' has no attribute {name!r}")
    return getattr(importlib.import_module(f"greenhop.live.{module}"), name)
