"""Renewable energy at a site: generation from weather, traces, surplus windows, forecasts.

One module per concept:

- :mod:`greenhop.energy.generation` — PV (pvlib, PVWatts chain) and wind (windpowerlib) power
  from weather.
- :mod:`greenhop.energy.modelchain` — greenhop's ModelChain: a site's PV + wind power from
  weather, and a typical year mapped onto any time grid.
- :mod:`greenhop.energy.sites` — the bundled fleet of real sites with a typical year of weather.
- :mod:`greenhop.energy.weather` — a site's own weather file (EPW, TMY2/3, PVGIS, NSRDB, CSV,
  Parquet): read, checked, gaps refused or filled, missing irradiance derived.
- :mod:`greenhop.energy.traces` — read, write, validate, resample and align power traces, and put
  them on a time grid.
- :mod:`greenhop.energy.solcast` — the reader of the real Solcast traces (actuals and issued
  forecasts) that ship with greenhop.
- :mod:`greenhop.energy.battery` — site storage: a battery's parameters and the batteries of all
  sites stepped as arrays.
- :mod:`greenhop.energy.windows` — surplus windows, their statistics, simultaneity across sites.
- :mod:`greenhop.energy.forecast` — forecasters of surplus and of the end of the current window.

Conventions, written down once: power is in W, energy in kWh, durations in s. Every time index is
a UTC :class:`pandas.DatetimeIndex` and a value labelled ``t`` is the mean over the step
``[t, t + step)`` (left label). Files whose timestamps mark the end of the period (Solcast, TMY3)
are shifted on read.
"""
