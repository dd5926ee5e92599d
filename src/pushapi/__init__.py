"""pushapi: an open, self-hostable implementation of the Push API v2."""

__version__ = "0.1.0"
