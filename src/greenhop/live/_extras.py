"""Lazy imports of the ``live`` extra, failing with a message that names the extra."""

from __future__ import annotations

from types import ModuleType

from greenhop.errors import require_extra


def import_ray() -> ModuleType:
    """Return the ``ray`` module, or raise MissingExtraError naming the ``live`` extra."""
    require_extra("ray", "live")
    import ray

    return ray


def import_torch() -> ModuleType:
    """Return the ``torch`` module, or raise MissingExtraError naming the ``live`` extra."""
    require_extra("torch", "live")
    import torch

    return torch
