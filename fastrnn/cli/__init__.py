"""The ``fastrnn`` command line interface: the click group :data:`main` and ``fastrnn info``.

The commands live beside it: :mod:`fastrnn.cli.forecast` (``train``, ``predict``, ``datasets``),
:mod:`fastrnn.cli.sweep` (``sweep``) and :mod:`fastrnn.cli.bench` (``bench``). ``python -m fastrnn.cli``
runs :data:`main` (``__main__.py``).
The CLI is the top layer: it may import the forecasting application and the library, and nothing
imports it (``tests/test_architecture.py``).

Conventions for commands added to the :data:`main` group:

* Keep module-level imports to ``click`` only; import numpy/numba/pandas/torch
  *inside* the command function so that ``fastrnn --help`` stays fast.
* Report bad user input with ``raise click.ClickException("message")`` (or
  ``click.BadParameter`` / ``click.UsageError`` for option problems): click
  prints ``Error: message`` and exits with status 1 (2 for usage errors),
  without a traceback.
* As a safety net, a ``ValueError`` or ``OSError`` escaping a command (e.g. the
  ``ValueError`` raised by :mod:`fastrnn.functional` on bad shapes, or a
  missing file) is turned into the same one-line error. Pass ``--debug``
  (``fastrnn --debug CMD ...``) or set ``FASTRNN_DEBUG=1`` to get the full
  traceback instead. Other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import os

import click

from fastrnn._version import __version__


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


class FastrnnGroup(click.Group):
    """Click group that turns input errors from subcommands into one-line errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            raise  # click's standalone mode handles EPIPE itself
        except (ValueError, OSError) as exc:
            if ctx.params.get("debug") or os.environ.get("FASTRNN_DEBUG", "") not in ("", "0"):
                raise
            raise click.ClickException(_error_message(exc)) from exc


@click.group(cls=FastrnnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="fastrnn")
@click.option(
    "--debug",
    is_flag=True,
    help="Show full Python tracebacks instead of one-line errors.",
)
def main(debug: bool) -> None:
    """fastrnn: fast CPU training of RNN, LSTM and GRU networks with Numba."""


@main.command()
def info() -> None:
    """Show versions, BLAS and Numba threading details.

    Prints the fastrnn, Python, numpy, numba, llvmlite and scipy versions, the
    BLAS numpy uses, the configured and active Numba threading layer, thread
    and CPU counts, and whether PyTorch is importable. Include this output in
    bug reports.
    """
    from fastrnn._info import collect_info, format_info

    click.echo(format_info(collect_info()))


# Forecasting: train, predict, datasets (fastrnn.cli.forecast imports only click and the cell
# registry at module level).
from fastrnn.cli.forecast import datasets, predict, train  # noqa: E402

main.add_command(train)
main.add_command(predict)
main.add_command(datasets)

from fastrnn.cli.sweep import sweep  # noqa: E402

main.add_command(sweep)

from fastrnn.cli.bench import bench  # noqa: E402

main.add_command(bench)
