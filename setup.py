"""Builds the native code (src/pushapi/schema/native.pyx: value rules; src/pushapi/store/native.pyx:
a contact's normalisation for storage); the rest is in pyproject.toml.

Both extensions are optional: without a C compiler the package installs without them, with a
warning, and the same code runs in Python (docs/operations.md, Installing).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = cythonize(
    [
        Extension("pushapi.schema.native", ["src/pushapi/schema/native.pyx"]),
        Extension("pushapi.store.native", ["src/pushapi/store/native.pyx"]),
    ],
    compiler_directives={"language_level": "3"},
    include_path=["src"],
)
for extension in extensions:
    extension.optional = True  # set after cythonize, which does not carry it over

setup(ext_modules=extensions)
