"""``python -m gnp_cli.serve ARGS``: ``gnp serve ARGS``, for a service that starts a
Python module rather than a command."""

from __future__ import annotations

import sys

from gnp_cli.app import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
