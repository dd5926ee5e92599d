"""Builds the native code; the rest is in pyproject.toml.

- src/pushapi/schema/native.pyx: hand-written Cython, the usual DateTime form;
- src/pushapi/schema/finishing.py, schema/warnings.py and store/contact_rows.py: plain Python
  compiled by Cython in pure-Python mode (each module is its own fallback).

Every extension is optional: without a C compiler the package installs without them, with a
warning, and the same code runs in Python (docs/operations.md, Installing).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = cythonize(
    [
        Extension("pushapi.schema.native", ["src/pushapi/schema/native.pyx"]),
        Extension("pushapi.schema.finishing", ["src/pushapi/schema/finishing.py"]),
        Extension("pushapi.schema.warnings", ["src/pushapi/schema/warnings.py"]),
        Extension("pushapi.store.contact_rows", ["src/pushapi/store/contact_rows.py"]),
    ],
    compiler_directives={"language_level": "3"},
    include_path=["src"],
)
for extension in extensions:
    extension.optional = True  # set after cythonize, which does not carry it over

setup(ext_modules=extensions)
