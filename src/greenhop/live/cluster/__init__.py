"""The nodes of a live run: a local cluster or an attached one (``local``), the namespaced WAN
between them (``wan``), and the power meters of their devices (``power``)."""
