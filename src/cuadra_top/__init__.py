"""cuadra-top: a terminal monitor for the Cuadra AI Usage API."""

__version__ = "0.1.0"
