"""`python -m pushapi` is the `pushapi` command."""

from pushapi.cli import main

if __name__ == "__main__":  # not when a child process started by spawn imports this module
    main()
