"""Build the C core (csrc/) and its Cython binding mcmcore._core."""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

CORE_SOURCES = sorted(
    os.path.join("csrc", f) for f in os.listdir("csrc") if f.endswith(".c") and not f.startswith("test_")
)

# -ffp-contract=off: no fused multiply-adds behind our back (the AVX-512 repair pass must round exactly as the
# portable one, so that both give the same placements). -fno-wrapv undoes CPython's -fwrapv (our C never relies on
# signed overflow wrapping; with -fwrapv the compiler may not simplify index arithmetic: repair ran ~10% slower).
extra_compile_args = (["-O3", "-ffp-contract=off", "-fno-wrapv"] if sys.platform != "win32"
                      else ["/O2", "/fp:precise"])
extra_link_args = ["-lpthread"] if sys.platform != "win32" else []

extensions = [
    Extension(
        "mcmcore._core",
        sources=["mcmcore/_core.pyx", *CORE_SOURCES],
        include_dirs=["csrc", np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False,
                                                                                 "wraparound": False,
                                                                                 "cdivision": True}))
