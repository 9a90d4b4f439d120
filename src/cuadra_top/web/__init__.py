"""``cuadra-top web``: the TUI in a browser, one app process per tab (textual-serve's model).

``server`` is the HTTP side (the page, the websocket bridged to each session's app, the checks
every request passes); ``run`` decides what may be served where and runs it until a signal.
Neither imports Textual: each session is the ``cuadra-top`` program itself, started with the
same config, so the sessions share the history (and its alert state) like any two runs.
"""
