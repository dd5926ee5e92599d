"""Alembic migrations, shipped inside the package so `pushapi db upgrade` works when installed."""
