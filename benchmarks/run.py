"""Run every benchmark in this folder, one after another, and print their tables.

    .venv/bin/python benchmarks/run.py [--quick]

``--quick`` passes small sizes so the whole run takes a minute (a smoke test, not a measurement).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "bench_customers.py": ["--rows", "200000", "--process-rows", "1000000", "--big-rows", "2000000"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n## {script.name}\n", flush=True)
        extra = QUICK.get(script.name, ["--quick"]) if args.quick else []
        failed += subprocess.run([sys.executable, str(script), *extra]).returncode != 0
    # Spark as the scale-out engine: the customer table on Spark (local mode) equals DuckDB's on the same files.
    print("\n## spark_check.py\n", flush=True)
    failed += subprocess.run([sys.executable, str(HERE / "spark_check.py"), *(["--quick"] if args.quick else [])]
                             ).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
