"""HTTP routes, one module per resource; each handler is thin, the data flows straight through."""
