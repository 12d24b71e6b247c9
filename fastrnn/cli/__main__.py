"""``python -m fastrnn.cli``: the same as the ``fastrnn`` command."""

from fastrnn.cli import main

main()
