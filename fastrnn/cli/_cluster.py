"""The cluster options of the commands that run independent jobs: ``--scheduler`` and
``--dask-workers`` (:func:`cluster_options`), and the block they run in (:func:`cluster_context`).

Without either option a command runs its jobs on this machine (:mod:`fastrnn.parallel`'s local
backend, ``--jobs``); with one, every :func:`fastrnn.parallel.map_jobs` call inside the command
runs on that Dask cluster (:func:`fastrnn.parallel.cluster`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click


def cluster_options(f: Callable) -> Callable:
    """Add ``--scheduler ADDRESS`` and ``--dask-workers N`` to a click command.

    Parameters
    ----------
    f : callable
        The command function; it receives ``scheduler`` and ``dask_workers``.

    Returns
    -------
    callable
    """
    f = click.option("--dask-workers", type=click.IntRange(min=1), metavar="N",
                     help="Run the independent jobs on a local Dask cluster of N worker processes "
                          "started for this command (needs fastrnn[dask]).")(f)
    f = click.option("--scheduler", metavar="ADDRESS",
                     help="Run the independent jobs on the Dask cluster of this running scheduler, "
                          "e.g. tcp://10.0.0.5:8786 (needs fastrnn[dask]).")(f)
    return f


@contextlib.contextmanager
def cluster_context(scheduler: str | None, dask_workers: int | None) -> Iterator[object]:
    """The block a command runs in: a Dask cluster with ``--scheduler`` or ``--dask-workers``
    (:func:`fastrnn.parallel.cluster`), this machine without either.

    Parameters
    ----------
    scheduler : str or None
        ``--scheduler``.
    dask_workers : int or None
        ``--dask-workers``.

    Yields
    ------
    dask.distributed.Client or None
        None without a cluster.

    Raises
    ------
    click.UsageError
        Both options given.
    click.ClickException
        Dask is not installed (``--dask-workers needs dask.distributed, which is not installed; pip
        install 'fastrnn[dask]', or drop --dask-workers``), or the scheduler cannot be reached.
    """
    if scheduler is None and dask_workers is None:
        yield None
        return
    if scheduler is not None and dask_workers is not None:
        raise click.UsageError("--scheduler and --dask-workers exclude each other: give the address of a "
                               "running scheduler, or the number of local workers to start")
    from fastrnn import parallel

    option = "--scheduler" if scheduler is not None else "--dask-workers"
    try:
        manager = parallel.cluster(scheduler=scheduler, workers=dask_workers)
        client = manager.__enter__()
    except ImportError as exc:
        if not str(getattr(exc, "name", "") or "").startswith("dask"):
            raise
        raise click.ClickException(f"{option} needs dask.distributed, which is not installed; pip install "
                                   f"'fastrnn[dask]', or drop {option}") from None
    except (ConnectionError, ValueError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    try:
        yield client
    except BaseException as exc:
        if not manager.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        manager.__exit__(None, None, None)
