"""Storage: tables, engines, migrations, and the code that applies a validated push."""
