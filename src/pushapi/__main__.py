"""`python -m pushapi` is the `pushapi` command."""

from pushapi.cli import main

main()
