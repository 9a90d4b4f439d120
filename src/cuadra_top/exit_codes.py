"""Exit codes, in one place: the README's table."""

OK = 0
FAILED = 1
"""One or more orgs failed (the others still printed), or an internal error."""
USAGE = 2
"""A usage or config error: one line on stderr says what to fix."""
INTERRUPTED = 130
SIGNALLED = 128
"""The TUI ended by a signal exits 128 + its number, as a shell reports a process it killed:
129 SIGHUP (or a terminal that went away), 130 SIGINT, 143 SIGTERM."""
READER_GONE = SIGNALLED + 13
"""stdout's reader went away (``cuadra-top history | head``): the output stops quietly and the
code is SIGPIPE's, as a shell reports any tool that a closed pipe ended."""
