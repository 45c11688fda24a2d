"""greenhop: move AI training jobs between renewable-powered micro datacenters,
and move them only when the move can pay off in time."""

from greenhop.errors import GreenhopError

__version__ = "0.1.0"
__all__ = ["GreenhopError", "__version__"]
