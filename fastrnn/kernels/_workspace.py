"""A pool of large buffers, recycled between calls to avoid page faults.

A training step allocates the same large arrays every time (the saved activations, the gate
gradients, ...). Arrays above glibc's mmap threshold come straight from the kernel, are zeroed and
mapped one 4 KiB page fault at a time on first touch, and are unmapped again when freed: for the
large cases of the benchmark grid the page faults were a large part of a forward + backward
(figures in benchmarks/README.md).

:class:`BufferPool` keeps the buffers instead. A buffer is handed out as a view, and is free again
when nothing references it any more: the view (and every view of it) holds a reference to the
buffer, so the pool tests the buffer's reference count. Arrays returned to users are therefore
safe to keep: their buffers are simply not reused while they live.

That test counts on ``sys.getrefcount`` reporting exactly the references the pool itself holds
(:data:`_REFS_WHEN_FREE`), which CPython does not promise across versions. So the first pooled
allocation checks it on the running interpreter (:func:`refcounts_tell_free`); if the check fails,
the pool hands out fresh arrays (``np.empty``: same results, the page faults come back) and says so
once with a RuntimeWarning.

The pool holds at most ``max_bytes`` (default 1 GiB, environment variable ``FASTRNN_POOL_BYTES``;
the largest case of the benchmark grid, an LSTM in float64 at 128, 100, 64, 512, needs ~0.7 GiB);
beyond that it evicts free buffers, least recently used first, and falls back to ordinary
allocations. Free buffers stay allocated until evicted: :func:`release` empties the pool.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

import numpy as np

_ALIGN = 64  # bytes: a cache line, and an AVX-512 vector
#: ``sys.getrefcount`` of a free buffer: the pool's entry tuple, the local name, getrefcount's argument.
_REFS_WHEN_FREE = 3


def _is_free(entry):
    """Whether the buffer of a pool entry ``(base, offset, capacity)`` is referenced by the pool only."""
    base = entry[0]
    return sys.getrefcount(base) == _REFS_WHEN_FREE


def refcounts_tell_free():
    """Whether :func:`_is_free` tells free buffers from used ones on this interpreter: checked on a
    small buffer that is free, then in use through a view and a view of that view, then free again."""
    entry = (np.empty(_ALIGN, np.uint8), 0, _ALIGN)
    if not _is_free(entry):
        return False
    view = entry[0][8:16].view(np.float64)
    inner = view[:1]
    if _is_free(entry):
        return False
    del view
    if _is_free(entry):  # `inner` still holds the buffer
        return False
    del inner
    return _is_free(entry)


class BufferPool:
    """Large arrays from recycled buffers (see the module's description).

    Parameters
    ----------
    max_bytes : the most the pool holds; beyond it, allocations are ordinary ``np.empty`` ones.
    min_bytes : arrays smaller than this are not pooled.
    """

    def __init__(self, max_bytes=1 << 30, min_bytes=1 << 16):
        self.max_bytes = int(max_bytes)
        self.min_bytes = int(min_bytes)
        self._bufs = []  # [(base uint8 array, aligned offset, capacity)], least recently used first
        self._bytes = 0
        self._lock = threading.Lock()
        self._pooling = None  # unknown until the first pooled allocation checks refcounts_tell_free()

    @property
    def nbytes(self):
        """Bytes held by the pool (in use or free)."""
        return self._bytes

    def __len__(self):
        return len(self._bufs)

    def _take(self, nbytes):
        """A free buffer of at least ``nbytes`` (best fit, at most twice as large), or None."""
        best = None
        for k, entry in enumerate(self._bufs):
            cap = entry[2]
            if nbytes <= cap <= 2 * nbytes + _ALIGN and (best is None or cap < self._bufs[best][2]):
                if _is_free(entry):
                    best = k
        if best is None:
            return None
        entry = self._bufs.pop(best)
        self._bufs.append(entry)  # most recently used last
        return entry

    def _evict(self, need):
        """Drop free buffers, least recently used first, until ``need`` more bytes fit."""
        k = 0
        while self._bytes + need > self.max_bytes and k < len(self._bufs):
            if _is_free(self._bufs[k]):
                self._bytes -= self._bufs[k][0].nbytes
                del self._bufs[k]
            else:
                k += 1
        return self._bytes + need <= self.max_bytes

    def empty(self, shape, dtype):
        """Like ``np.empty(shape, dtype)`` (C order; 64-byte aligned if pooled). ``shape`` is a tuple of
        ints, ``dtype`` a ``np.dtype``."""
        nbytes = dtype.itemsize
        for s in shape:
            nbytes *= s
        if nbytes < self.min_bytes or self._pooling is False:
            return np.empty(shape, dtype)
        with self._lock:
            if self._pooling is None:
                self._pooling = refcounts_tell_free()
                if not self._pooling:
                    warnings.warn("fastrnn: sys.getrefcount does not count references as the buffer pool expects "
                                  "on this Python; large arrays are allocated afresh (same results, slower)",
                                  RuntimeWarning, stacklevel=2)
                    return np.empty(shape, dtype)
            entry = self._take(nbytes)
            if entry is None:
                if not self._evict(nbytes + _ALIGN):
                    return np.empty(shape, dtype)
                base = np.empty(nbytes + _ALIGN, np.uint8)
                off = -base.ctypes.data % _ALIGN
                entry = (base, off, base.nbytes - off)
                self._bufs.append(entry)
                self._bytes += base.nbytes
            base, off = entry[0], entry[1]
            return base[off:off + nbytes].view(dtype).reshape(shape)

    def zeros(self, shape, dtype):
        a = self.empty(shape, dtype)
        a.fill(0)
        return a

    def release(self):
        """Forget every buffer (those still in use stay alive with their arrays)."""
        with self._lock:
            self._bufs.clear()
            self._bytes = 0


def _max_bytes_from_env():
    v = os.environ.get("FASTRNN_POOL_BYTES", "")
    try:
        return int(float(v)) if v else 1 << 30
    except ValueError:
        return 1 << 30


POOL = BufferPool(max_bytes=_max_bytes_from_env())


def release():
    """Empty the buffer pool, returning its free memory to the system."""
    POOL.release()
