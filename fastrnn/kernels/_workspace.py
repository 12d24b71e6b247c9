"""A pool of large buffers, recycled between calls to avoid page faults.

A training step allocates the same large arrays every time (the saved activations, the gate
gradients, ...). Arrays above glibc's mmap threshold come straight from the kernel, are zeroed and
mapped one 4 KiB page fault at a time on first touch, and are unmapped again when freed: measured
here, ~3 µs per fault, ~75,000 faults (~0.25 s) per forward + backward of an LSTM at
B, T, I, H = 128, 100, 64, 512, and half the time of a forward at 64, 50, 8, 128.

:class:`BufferPool` keeps the buffers instead. A buffer is handed out as a view, and is free again
when nothing references it any more: the view (and every view of it) holds a reference to the
buffer, so the pool tests the buffer's reference count. Arrays returned to users are therefore
safe to keep: their buffers are simply not reused while they live.

The pool holds at most ``max_bytes`` (default 1 GiB, environment variable ``FASTRNN_POOL_BYTES``;
the largest case of the benchmark grid, an LSTM in float64 at 128, 100, 64, 512, needs ~0.7 GiB);
beyond that it evicts free buffers, least recently used first, and falls back to ordinary
allocations. Free buffers stay allocated until evicted: :func:`release` empties the pool.
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

_ALIGN = 64  # bytes: a cache line, and an AVX-512 vector


class BufferPool:
    def __init__(self, max_bytes=1 << 30, min_bytes=1 << 16):
        self.max_bytes = int(max_bytes)
        self.min_bytes = int(min_bytes)
        self._bufs = []  # [(base uint8 array, aligned offset, capacity)], least recently used first
        self._bytes = 0
        self._lock = threading.Lock()

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
                # Free iff referenced only by the pool: the entry tuple, `base`, getrefcount's argument.
                base = entry[0]
                if sys.getrefcount(base) == 3:
                    best = k
                del base
        if best is None:
            return None
        entry = self._bufs.pop(best)
        self._bufs.append(entry)  # most recently used last
        return entry

    def _evict(self, need):
        """Drop free buffers, least recently used first, until ``need`` more bytes fit."""
        k = 0
        while self._bytes + need > self.max_bytes and k < len(self._bufs):
            base = self._bufs[k][0]
            if sys.getrefcount(base) == 3:
                del base
                self._bytes -= self._bufs[k][0].nbytes
                del self._bufs[k]
            else:
                del base
                k += 1
        return self._bytes + need <= self.max_bytes

    def empty(self, shape, dtype):
        """Like ``np.empty(shape, dtype)`` (C order; 64-byte aligned if pooled). ``shape`` is a tuple of
        ints, ``dtype`` a ``np.dtype``."""
        nbytes = dtype.itemsize
        for s in shape:
            nbytes *= s
        if nbytes < self.min_bytes:
            return np.empty(shape, dtype)
        with self._lock:
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
