"""``python -m analysis.cli``: the ``kanta`` command without the console script."""
import sys

from analysis.cli import main

sys.exit(main())
