"""Exit codes, in one place: the README's table."""

OK = 0
FAILED = 1
"""One or more orgs failed (the others still printed), or an internal error."""
USAGE = 2
"""A usage or config error: one line on stderr says what to fix."""
INTERRUPTED = 130
