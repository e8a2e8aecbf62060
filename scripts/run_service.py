"""Exec a service command with SIGINT and SIGTERM at their defaults.

A job a non-interactive shell starts in the background (`make dev &`, `nohup`, a
service script's `( ... ) &`) inherits SIGINT *ignored*, and Dagster's processes map
SIGTERM onto SIGINT's handler: such a `dagster dev` or `dagster-daemon` ignores both and
only SIGKILL stops it, leaving its children running. Measured: `dagster dev` started
that way was still running 90 s after SIGTERM. Usage: ``python run_service.py CMD ARGS...``
"""

import os
import signal
import sys

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: run_service.py CMD [ARGS...]")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.execvp(sys.argv[1], sys.argv[1:])
