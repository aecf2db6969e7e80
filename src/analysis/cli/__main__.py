"""``python -m analysis.cli``: the ``kanta`` command without the console script."""
import sys

from analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
