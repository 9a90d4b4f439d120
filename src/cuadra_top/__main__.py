"""Allow ``python -m cuadra_top``."""

from cuadra_top.cli import main

raise SystemExit(main())
