"""Progress bars must show on a terminal that reports its size as 0 x 0 (a pty opened without a
window size, as ``docker exec -t`` or ``script`` give): tqdm alone hides them there."""

import os
import subprocess
import sys

import pytest

pty = pytest.importorskip("pty")

CODE = """
import time
from fastrnn._progress import progress_bar
for _ in progress_bar(range(3), desc="{desc}", unit="step"):
    time.sleep(0.01)
"""


def _stderr_on_sizeless_pty(code):
    """Run ``code`` in a new Python with stderr on a fresh pty (0 x 0); return what it wrote."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=slave, timeout=120, check=False)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other end is closed and everything was read
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stdout
    return b"".join(chunks).decode("utf-8", "replace")


def test_the_pty_reports_no_size():
    # the premise of the next test: a fresh pty says 0 x 0
    master, slave = pty.openpty()
    try:
        assert tuple(os.get_terminal_size(slave)) == (0, 0)
    finally:
        os.close(slave)
        os.close(master)


def test_progress_bar_shows_on_a_terminal_of_size_zero():
    out = _stderr_on_sizeless_pty(CODE.format(desc="work"))
    assert "work: 100%" in out and "3/3" in out, repr(out)
