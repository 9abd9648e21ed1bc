"""``python -m cranioscan``: the command line (see :mod:`cranioscan.cli.main`)."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m cranioscan"))
