"""Progress bars (tqdm) that also show on terminals reporting a size of 0 x 0.

Some pseudo-terminals (``docker exec -t``, ``script``, a pty opened without a window size) report
0 columns and 0 rows. tqdm then draws an empty bar (0 columns) or hides it altogether (it treats
the bar's line as below the bottom of a screen of -1 rows). ``shutil.get_terminal_size`` falls
back to 80 x 24 in that case, so the size it returns is passed to tqdm explicitly.
"""

import shutil


def progress_bar(iterable=None, max_cols=100, **kwargs):
    """``tqdm.auto.tqdm(iterable, **kwargs)`` with ``ncols`` (at most ``max_cols``) and ``nrows``
    taken from :func:`shutil.get_terminal_size` (80 x 24 when the terminal does not say)."""
    from tqdm.auto import tqdm

    size = shutil.get_terminal_size((80, 24))
    kwargs.setdefault("ncols", min(size.columns, max_cols))
    kwargs.setdefault("nrows", size.lines)
    return tqdm(iterable, **kwargs)
