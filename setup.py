"""Build of the compiled loops; everything else about the package is in pyproject.toml.

Three loops are built with Cython: the k-mer counting of the embedder
(``genocat_desktop/engine/embed/embedders/_kmer_count.pyx``), the seed index and diagonals of the
search prefilter (``genocat_desktop/engine/search/_seeds.pyx``) and the compositional matrix
adjustment (``genocat_desktop/engine/search/_composition.pyx``). They are optional: without a C
compiler the install still succeeds, with a warning; the embedder counts and the matrix adjustment
fits with numpy (the same results, slower), and search keeps to candidates without seeds. The tests fail
when a compiled loop is missing, so a test run does not pass on a slow path unnoticed.
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
                print(f"WARNING: {ext.name} was not built ({exc}); GenoCat falls back to slower code where it can "
                      "(setup.py says which). Install a C compiler (gcc) and reinstall.", file=sys.stderr)
            else:
                built.append(ext)
        self.extensions = built  # what is copied into place and listed as built: only what was


setup(
    ext_modules=cythonize(
        [Extension("genocat_desktop.engine.embed.embedders._kmer_count",
                   ["genocat_desktop/engine/embed/embedders/_kmer_count.pyx"]),
         Extension("genocat_desktop.engine.search._seeds",
                   ["genocat_desktop/engine/search/_seeds.pyx"], extra_compile_args=["-O3"]),
         Extension("genocat_desktop.engine.search._composition",
                   ["genocat_desktop/engine/search/_composition.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": OptionalBuildExt},
)
