"""``python -m ndic <command> ...`` (also installed as ``ndic``): see :mod:`ndic.cli`."""

import sys

from ndic.cli import main

if __name__ == "__main__":
    sys.exit(main())
