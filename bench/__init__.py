"""cuadra-top's benchmark suite: run ``.venv/bin/python -m bench`` (see bench/README.md)."""
