"""Renewable energy at a site: generation from weather, traces, surplus windows, forecasts.

One module per concept:

- :mod:`greenhop.energy.generation` — PV (pvlib, PVWatts chain) and wind (windpowerlib) power
  from weather.
- :mod:`greenhop.energy.sites` — the bundled fleet of real sites with a typical year of weather.
- :mod:`greenhop.energy.traces` — read, write, validate, resample and align power traces; the
  loader of the real Solcast traces in ``../shared/data``.
- :mod:`greenhop.energy.windows` — surplus windows, their statistics, simultaneity across sites.
- :mod:`greenhop.energy.forecast` — forecasters of surplus and of the end of the current window.

Conventions, written down once: power is in W, energy in kWh, durations in s. Every time index is
a UTC :class:`pandas.DatetimeIndex` and a value labelled ``t`` is the mean over the step
``[t, t + step)`` (left label). Files whose timestamps mark the end of the period (Solcast, TMY3)
are shifted on read.
"""
