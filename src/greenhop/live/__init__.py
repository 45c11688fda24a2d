"""greenhop.live: real PyTorch training jobs on a Ray cluster with one node per site.

Each site is a Ray node that carries the custom resource ``site:<name>`` sized to its GPU slots;
a training job is a Ray actor placed on its site with a fractional share of that resource.
Jobs move between sites by an exact checkpoint sent in SHA-256-verified chunks.

Ray and torch are optional (the ``live`` extra); this package imports them only when a class
that needs them is used, and raises :class:`greenhop.errors.MissingExtraError` if they are
missing. Three rooms, imports pointing down (import-linter contracts in pyproject.toml):

=====================  ===========================================================================
``control``            the world on a wall clock: ``controller`` (:class:`Controller`, a
                       :class:`~greenhop.world.loop.World`), ``state`` (its SQLite database, all
                       SQL inside), ``ledger`` (energy per tick, job and site), ``results`` (a
                       live run as a :class:`~greenhop.world.record.RunRecord`), ``scenario``
                       (:class:`LiveScenario`), ``links`` (:class:`LinkEstimates`, the one
                       bandwidth estimator)
``jobs``               training jobs: ``trainer`` (the protocol), ``examples``, ``checkpoint``,
                       ``transfer``, ``actor`` (the Ray actor), ``store`` (the one checkpoint
                       store), ``driver`` (:class:`LiveJobs`: start, migrate, pause, stop),
                       ``spec`` (a scenario job's ``[jobs.live]`` table)
``cluster``            the nodes: ``local`` (:class:`LocalCluster`, :func:`attach`), ``wan``
                       (the namespaced WAN of veth pairs and tbf), ``power`` (power meters)
=====================  ===========================================================================

The most used names are importable from ``greenhop.live`` itself, lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LocalCluster": "cluster.local",
    "attach": "cluster.local",
    "SiteNode": "cluster.local",
    "Trainer": "jobs.trainer",
    "DigitsCNNTrainer": "jobs.examples",
    "CharTransformerTrainer": "jobs.examples",
    "Checkpoint": "jobs.checkpoint",
    "CheckpointManifest": "jobs.transfer",
    "TransferResult": "jobs.transfer",
    "TrainingActor": "jobs.actor",
    "JobProgress": "jobs.actor",
    "LiveJob": "jobs.driver",
    "LiveJobs": "jobs.driver",
    "CheckpointStore": "jobs.store",
    "PowerMeter": "cluster.power",
    "NominalPowerMeter": "cluster.power",
    "ReplayPowerMeter": "cluster.power",
    "NvmlPowerMeter": "cluster.power",
    "Measurement": "cluster.power",
    "Controller": "control.controller",
    "LiveScenario": "control.scenario",
    "LinkEstimates": "control.links",
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
