# What other native modules of pushapi call directly (see native.pyx).
cpdef bint plausible_email(str text)
