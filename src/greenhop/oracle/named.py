"""The oracle by name: ``oracle``, ``oracle:eps=0.1``, ``oracle:window=24`` ...

A name is ``oracle`` followed by ``:key=value`` options:

- ``eps=E``: the completion-time budget (no job later than ``(1 + E)`` x its JCT under
  ``stay``, or its deadline); ``eps=inf`` is the plain oracle;
- ``window=H``: the rolling horizon of ``H`` hours (:mod:`greenhop.oracle.rolling`; a heuristic,
  not a bound), with ``lookahead=L`` hours after each window (default: ``H``);
- ``gap=G``: HiGHS's relative MIP gap; ``time=S``: its time limit per program, s.

``oracle`` alone is today's oracle, unchanged.
"""

from __future__ import annotations

import math
from typing import Any

from greenhop.errors import InputError
from greenhop.oracle.program import oracle_policy, solve_oracle
from greenhop.oracle.rolling import solve_rolling
from greenhop.policies.replay import ReplayPolicy
from greenhop.world.inputs import SimInputs

_KEYS = {
    "eps": "eps",
    "window": "window_h",
    "lookahead": "lookahead_h",
    "gap": "mip_rel_gap",
    "time": "time_limit_s",
}


def is_oracle_name(name: str) -> bool:
    """Whether ``name`` names the oracle (``oracle`` or ``oracle:...``)."""
    return name == "oracle" or name.startswith("oracle:")


def parse_oracle_name(name: str) -> dict[str, float]:
    """The options of an oracle name, as keyword arguments; :class:`InputError` naming the
    option when one is unknown or not a number."""
    if not is_oracle_name(name):
        raise InputError(f"{name!r} is not an oracle name (oracle or oracle:key=value...)")
    out: dict[str, float] = {}
    for part in name.split(":")[1:]:
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in _KEYS:
            raise InputError(
                f"oracle option {part!r} in {name!r}: use key=value with key one of "
                f"{', '.join(_KEYS)} (e.g. oracle:eps=0.1)"
            )
        try:
            number = float(value.strip().removesuffix("h").removesuffix("s"))
        except ValueError:
            raise InputError(
                f"oracle option {part!r} in {name!r}: {value!r} is not a number"
            ) from None
        if math.isnan(number) or number < 0:
            raise InputError(f"oracle option {part!r} in {name!r}: must be a number >= 0")
        out[_KEYS[key.strip()]] = number
    return out


def named_oracle(name: str, inputs: SimInputs) -> ReplayPolicy:
    """The oracle policy ``name`` for ``inputs``: solved (exactly, or over a rolling horizon
    with ``window=``) and replayed, reported under ``name``."""
    opts: dict[str, Any] = parse_oracle_name(name)
    eps = opts.get("eps")
    if eps is not None and not math.isfinite(eps):
        opts.pop("eps")
    if "window_h" in opts:
        opts.setdefault("lookahead_h", opts["window_h"])
        return oracle_policy(inputs, solve_rolling(inputs, **opts), name=name)
    if "lookahead_h" in opts:
        raise InputError(f"{name!r}: lookahead= needs window= (the rolling horizon)")
    return oracle_policy(inputs, solve_oracle(inputs, **opts), name=name)
