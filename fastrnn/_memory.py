"""How much memory this process may still use, to refuse work that cannot fit before starting it.

The checks that use it (model files in :func:`fastrnn.models.load`, training settings in
:func:`fastrnn.forecast.make_config`, windows in :func:`fastrnn.forecast.preprocessing.prepare`) compare an
estimate of what they would allocate with :func:`available_bytes`, and raise a ValueError naming a
size that fits instead of letting the allocation die with a MemoryError halfway.
"""

from __future__ import annotations

import os


def available_bytes() -> int | None:
    """Bytes of memory available to new allocations, or ``None`` if the system does not say.

    Linux: ``MemAvailable`` of ``/proc/meminfo`` (free memory plus reclaimable caches), lowered to
    the room left under a cgroup v2 limit (``memory.max`` minus ``memory.current``) when the process
    runs under one. Elsewhere the free physical pages (``SC_AVPHYS_PAGES``).
    """
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
                used = int(f.read().strip())
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return avail


def fits(nbytes: float) -> bool:
    """Whether ``nbytes`` fit in :func:`available_bytes` (always true when that is unknown)."""
    avail = available_bytes()
    return avail is None or nbytes <= avail


def format_bytes(nbytes: float) -> str:
    """``'512 kB'``, ``'2.3 GB'``, ``'1.6 TB'``: decimal units, two or three significant digits."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            v = nbytes / size
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{int(nbytes)} bytes"


def largest_fitting(need, lo: int, hi: int) -> int | None:
    """The largest integer ``n`` in ``[lo, hi]`` with ``fits(need(n))``, for ``need`` non-decreasing
    in ``n`` (a bisection: a few dozen calls of ``need``); ``None`` if not even ``lo`` fits."""
    avail = available_bytes()
    if avail is None:
        return hi
    if need(lo) > avail:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if need(mid) <= avail:
            lo = mid
        else:
            hi = mid - 1
    return lo
