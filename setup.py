"""Builds the native value rules (src/pushapi/schema/native.pyx); the rest is in pyproject.toml.

The extension is optional: without a C compiler the package installs without it and the same
rules run in Python (tests/test_native.py says which one runs).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("pushapi.schema.native", ["src/pushapi/schema/native.pyx"], optional=True)],
        compiler_directives={"language_level": "3"},
    )
)
