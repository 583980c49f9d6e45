"""Build of the one compiled module; everything else about the package is in pyproject.toml.

The k-mer counting loop (``genocat_desktop/engine/embed/embedders/_kmer_count.pyx``) is built with Cython.
It is optional: without a C compiler the install still succeeds, with a warning, and the embedder
counts with numpy (the same vectors, slower). ``tests/test_embedder.py`` fails when the compiled
loop is missing, so a test run does not pass on the slow path unnoticed.
"""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """``build_ext`` that warns instead of failing when the loop cannot be compiled.

    setuptools' own ``Extension(optional=True)`` lets some of these failures through (a missing
    or failing compiler ends the install with "Command ... returned non-zero exit status"), and
    an in-place or editable build then fails copying the module that was never made.
    """

    def build_extensions(self) -> None:
        self.check_extensions_list(self.extensions)
        built = []
        for ext in self.extensions:
            try:
                self.build_extension(ext)
            except Exception as exc:  # no compiler, no Python headers, a failing compiler
                print(f"WARNING: {ext.name} was not built ({exc}); the k-mer embedder will count with numpy, "
                      "which gives the same vectors more slowly. Install a C compiler (gcc) and reinstall.",
                      file=sys.stderr)
            else:
                built.append(ext)
        self.extensions = built  # what is copied into place and listed as built: only what was


setup(
    ext_modules=cythonize(
        [Extension("genocat_desktop.engine.embed.embedders._kmer_count",
                   ["genocat_desktop/engine/embed/embedders/_kmer_count.pyx"]),
         Extension("genocat_desktop.engine.search._seeds",
                   ["genocat_desktop/engine/search/_seeds.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": OptionalBuildExt},
)
