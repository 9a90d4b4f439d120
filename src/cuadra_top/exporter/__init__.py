"""``cuadra-top exporter``: the monitor's figures for Prometheus.

The same :class:`~cuadra_top.state.monitor.Monitor` as the TUI polls every org in the
background; a scrape reads only what the last polls left (``views``), rendered by
prometheus_client (``metrics``), behind the web configuration file every official exporter
shares (``webconfig``, ``server``). ``run`` ties them together and handles the signals.
"""
