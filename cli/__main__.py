"""``python -m gnp_cli ARGS``: the ``gnp`` command, for where its script is not on PATH."""

from gnp_cli.entry import main

main()
