"""``cuadra-top exporter``: the monitor's figures for Prometheus.

The same :class:`~cuadra_top.state.monitor.Monitor` as the TUI polls every org in the
background; a scrape reads only what the last polls left (``views``), rendered by
prometheus_client (``metrics``), served by ``server`` behind the web configuration file every
official exporter shares (:mod:`cuadra_top.webconfig`, read by ``cuadra-top web`` too). ``run``
ties them together and handles the signals.
"""
