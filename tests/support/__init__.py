"""Helpers of the test suite that are not fixtures: real server processes, plain-Python copies of
compiled modules."""
