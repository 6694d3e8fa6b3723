"""``python -m analysis.cli``: the ``canary`` command."""

from analysis.cli import main

main()
