"""Telling people about alerts: the notification channels (apprise URLs, from ``[[notify]]``
tables), the terminal's own desktop notification and bell, and delivery that never blocks
polling or the screen.

Between the front ends (TUI, ``watch``, ``--once --notify``, ``notify test``) and the state
layer. Importing this package is cheap: apprise is loaded only by the modules that deliver
(:mod:`cuadra_top.notify.backend`), when a channel is built.
"""
