"""Errors of the live orchestrator, under :class:`greenhop.errors.GreenhopError`."""

from __future__ import annotations

from greenhop.errors import GreenhopError


class LiveError(GreenhopError):
    """Something went wrong on the live Ray cluster."""


class ClusterError(LiveError):
    """A Ray cluster could not be started, reached, or lacks the ``site:<name>`` resources."""


class ChecksumError(LiveError):
    """A checkpoint's bytes do not match their SHA-256: it was corrupted and is refused."""


class MigrationError(LiveError):
    """A migration could not be carried out; the job keeps running at its source site."""
