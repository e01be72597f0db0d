"""``python -m sehat`` is the ``sehat`` command."""

from sehat.cli import main

main()
