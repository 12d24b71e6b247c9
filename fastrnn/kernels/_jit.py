"""The Numba options of the kernels, defined once.

``error_model="numpy"``: with Numba's default ("python") every division checks for zero and LLVM
vectorises nothing; ``nogil``: BLAS and other threads may run beside a kernel; ``cache``: compiled
code is kept on disk (``__pycache__``), so only the first import of a new build compiles.

Numba's on-disk cache is keyed on the file of each jitted function: it does not notice edits to
the functions it inlined from other files (:mod:`fastrnn.kernels.activations` into every cell's
kernels), and then silently runs the old code. Set the environment variable ``FASTRNN_NO_CACHE=1``
while editing kernels: everything is compiled afresh in each process and nothing is written.
"""

import os

#: Whether compiled kernels are cached on disk (False when ``FASTRNN_NO_CACHE`` is set, not "0").
CACHE = os.environ.get("FASTRNN_NO_CACHE", "") in ("", "0")
#: The options of every kernel: ``njit(**JIT)``.
JIT = dict(cache=CACHE, error_model="numpy", nogil=True)
#: The options of the stacked kernels (one call for the M models of a :class:`fastrnn.stacks.Stack`):
#: ``parallel=True``, their loop over the models is a ``prange`` run by Numba's thread pool (the
#: count is :mod:`fastrnn.threads`' choice), each model's work on one thread, BLAS single-threaded.
PARALLEL_JIT = dict(JIT, parallel=True)
