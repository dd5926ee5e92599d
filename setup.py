"""Builds the native value rules (src/pushapi/schema/native.pyx); the rest is in pyproject.toml.

The extension is optional: without a C compiler the package installs without it, with a warning,
and the same rules run in Python (docs/operations.md, Installing).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = cythonize(
    [Extension("pushapi.schema.native", ["src/pushapi/schema/native.pyx"])],
    compiler_directives={"language_level": "3"},
)
for extension in extensions:
    extension.optional = True  # set after cythonize, which does not carry it over

setup(ext_modules=extensions)
