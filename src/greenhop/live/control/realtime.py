"""``greenhop live --realtime``: the controller on the wall clock, reading the sites' meters.

A real-time run is a live run whose clock is the wall clock (one trace second per second, tick
``k`` at ``start + k·step``, ``start`` being when the run began) and whose sites' renewable power
(and base load) come from their live sources (``[sites.realtime]``, :mod:`greenhop.signals.sources`)
instead of the scenario's replayed trace. The jobs' arrivals keep their offsets from the scenario's
``start``; the run lasts the scenario's ``end - start``.

:func:`site_feeds` builds the :class:`~greenhop.signals.feed.SiteFeeds` of a scenario: a watched
power source per site (stale after the source's ``max_age``), an optional base-load source, and
the forecast the site asks for (``persistence``, or ``clear-sky`` from its PV model).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.errors import InputError
from greenhop.scenario import Scenario, Site
from greenhop.signals.feed import ClearSkyModel, FloatArray, SiteFeeds
from greenhop.signals.sources import make_forecast_source, make_source
from greenhop.signals.watch import Watched


def _clear_sky_w(times: pd.DatetimeIndex, site: Site) -> FloatArray:
    """The site's PV power under a clear sky at ``times`` (pvlib Ineichen, PVWatts chain)."""
    from pvlib.location import Location

    from greenhop.energy.generation import pv_power_w

    assert site.pv is not None and site.latitude is not None and site.longitude is not None
    altitude = site.altitude_m or 0.0
    place = Location(site.latitude, site.longitude, altitude=altitude)
    sky = place.get_clearsky(times)
    weather = sky.assign(temp_air=20.0, wind_speed=1.0)
    power = pv_power_w(
        weather, site.latitude, site.longitude, altitude_m=altitude, **site.pv.model_dump()
    )
    out: FloatArray = power.to_numpy(dtype=np.float64)
    return out


def site_feeds(scenario: Scenario) -> SiteFeeds:
    """The live sources of every site of ``scenario`` (each needs a ``[sites.realtime]``).

    Raises InputError naming the sites without one, or a site that asks for a ``clear-sky``
    forecast without a PV array and a place."""
    label = scenario.source.name if scenario.source is not None else repr(scenario.name)
    missing = [s.name for s in scenario.sites if s.realtime is None]
    if missing:
        raise InputError(
            f"{label}: --realtime reads every site's power from a live source, and sites "
            f"{missing} have no [sites.realtime] table; add one (power = {{ kind = "
            "'prometheus' | 'http' | 'file', ... }}, see docs/deploy.md)"
        )
    base_dir = scenario.source.parent if scenario.source is not None else Path.cwd()
    power, base, kinds, models, sources = [], [], [], [], []
    for site in scenario.sites:
        feed = site.realtime
        assert feed is not None
        spec = feed.power
        power.append(
            Watched(
                make_source(spec, name=f"{site.name}.power", base_dir=base_dir),
                pd.Timedelta(spec.max_age),
            )
        )
        b = feed.base_load
        base.append(
            None
            if b is None
            else Watched(
                make_source(b, name=f"{site.name}.base_load", base_dir=base_dir),
                pd.Timedelta(b.max_age),
            )
        )
        model: ClearSkyModel | None = None
        if feed.forecast == "clear-sky":
            if site.pv is None or site.latitude is None or site.longitude is None:
                raise InputError(
                    f"{label}: site {site.name!r} asks for a clear-sky forecast, which needs its "
                    "PV array ([sites.pv]) and its place (latitude, longitude)"
                )
            model = partial(_clear_sky_w, site=site)
        kinds.append(feed.forecast)
        models.append(model)
        fs = feed.forecast_source
        sources.append(
            None
            if fs is None
            else make_forecast_source(fs, name=f"{site.name}.forecast", base_dir=base_dir)
        )
    return SiteFeeds(
        scenario.site_names,
        power,
        base,
        [s.base_load_w for s in scenario.sites],
        forecast=kinds,
        clear_sky=models,
        forecast_sources=sources,
    )
