"""``python -m analysis ...`` is the ``kanta`` command (for an install without the script on PATH)."""
import sys

from analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
