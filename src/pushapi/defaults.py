"""Defaults the server's settings (config.py) and the CLI share, importable without the settings
machinery (so that `pushapi --help` stays quick)."""

# SPEC 2: the embedded database in the current directory.
DEFAULT_DATABASE_URL = "sqlite:///./pushapi.db"
