"""Benchmark: whole ``kanta report`` processes at 200,000 and 1,000,000 demo customers, next to the previous release.

Run ``.venv/bin/python benchmarks/bench_report.py [--sizes 200000,1000000] [--jobs 2]``. For each size it
builds the demo base once (``kanta demo-data --customers N`` into ``benchmarks/_work/demo_N``, timed and
kept for later runs), runs ``kanta report --data ... --jobs 2 --quiet`` as its own process and prints
the wall-clock time, the peak memory (the largest single process, and the sum over the report and its
notebook kernels, sampled every 0.2 s) and the time per step from the run's ``manifest.json``.

Goals (issue 14): 200,000 customers under 120 s, 1,000,000 customers under 5 minutes, peak memory under
6 GB, on a 2-core machine. The anchor is the previous release: by default the figure measured for it
in issue 14 (839 s at 200,000 customers, same machine); ``--anchor-commit d7161f4`` runs that commit's
package (``git archive``, nothing in the working tree changes) on the same data in the same run.
``--anchor-src PATH`` runs the package in another checkout's ``src`` instead (e.g. the main branch beside a
worktree), so a change is measured against the code it replaces on the same data in the same run.
``--quick``: the committed 2,000-customer sample only, a smoke test, not a measurement.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
#: The previous release's report time at 200,000 customers, as measured in issue 14 (whole process, this machine).
ANCHOR_SECONDS = {200_000: 839.0}
GOAL_SECONDS = {200_000: 120.0, 1_000_000: 300.0}
GOAL_PEAK_MB = 6 * 1024


def measure(cmd: list[str], env: dict | None = None, sample_s: float = 0.2) -> dict:
    """Run ``cmd`` as a process; wall-clock and CPU seconds, exit code and peak memory of it and its children.

    CPU seconds (user + system of the process and its children) say how much work a run was when
    other processes share the machine and stretch the wall clock.

    ``peak_process_mb`` is the largest resident set of any one process (``ru_maxrss`` of the
    process and the children it waited for, as ``/usr/bin/time -v`` reports); ``peak_tree_mb`` the
    largest sum over the process and its live descendants (the notebook kernels run side by side).
    """
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak_tree = 0
    status = rusage = None
    while status is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        peak_tree = max(peak_tree, total)
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, rusage = code, usage
        else:
            time.sleep(sample_s)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.communicate()
    return {"seconds": seconds, "returncode": proc.returncode, "stdout": out, "stderr": err,
            "cpu_seconds": rusage.ru_utime + rusage.ru_stime,
            "peak_process_mb": rusage.ru_maxrss / 1024, "peak_tree_mb": peak_tree / 2**20}


def demo_data(n: int) -> tuple[Path, float | None, float | None]:
    """The demo base of ``n`` customers (built once and kept); build seconds and peak MB when built now."""
    path = WORK / f"demo_{n}"
    if (path / "transactions.parquet").is_file() or (path / "transactions").is_dir():
        return path, None, None
    r = measure([sys.executable, "-m", "analysis", "demo-data", "--out", str(path), "--customers", str(n)])
    if r["returncode"] != 0:
        raise SystemExit(f"demo data for {n} customers failed: {r['stderr'][-2000:]}")
    return path, r["seconds"], r["peak_process_mb"]


def anchor_env(commit: str) -> dict:
    """An environment whose ``analysis`` package is the one of ``commit`` (extracted with git archive)."""
    target = WORK / f"anchor_{commit}"
    if not (target / "src" / "analysis").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile() as tar:
            subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], stdout=tar, check=True)
            tar.seek(0)
            subprocess.run(["tar", "-x", "-C", str(target)], stdin=tar, check=True)
    return {**os.environ, "PYTHONPATH": str(target / "src")}  # kernels inherit it, so the notebooks run it too


def src_env(src: Path) -> dict:
    """An environment whose ``analysis`` package is the one in the folder ``src`` (another checkout's)."""
    if not (src / "analysis").is_dir():
        raise SystemExit(f"--anchor-src: {src} holds no analysis package (expected a checkout's src folder).")
    return {**os.environ, "PYTHONPATH": str(src.resolve())}


def report(data: Path, jobs: int, out: Path, env: dict | None = None) -> dict:
    r = measure([sys.executable, "-m", "analysis", "report", "--data", str(data), "--out", str(out),
                 "--jobs", str(jobs), "--quiet"], env=env)
    if r["returncode"] != 0:
        raise SystemExit(f"kanta report on {data} failed ({r['returncode']}): {r['stderr'][-3000:]}")
    landing = Path(r["stdout"].strip().splitlines()[-1])
    r["manifest"] = json.loads((landing.parent / "manifest.json").read_text(encoding="utf-8"))
    return r


def steps(manifest: dict) -> list[tuple[str, float]]:
    rows = [("customer base (computed once, read by every page)", manifest["customer_base"]["duration_s"])]
    rows += [(n["name"], n["duration_s"]) for n in manifest["notebooks"]]
    rows += [(f"experiment {e['experiment_id']}", e["duration_s"]) for e in manifest.get("experiment_reports", [])]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,1000000", help="demo customer counts, comma-separated")
    ap.add_argument("--jobs", type=int, default=2, help="notebooks at the same time (default 2)")
    ap.add_argument("--anchor-commit", default=None,
                    help="also run this commit's package on the same data (e.g. d7161f4, the previous release)")
    ap.add_argument("--anchor-src", default=None, type=Path,
                    help="also run the package in this src folder (another checkout) on the same data")
    ap.add_argument("--quick", action="store_true", help="smoke test on the committed 2,000-customer sample")
    args = ap.parse_args(argv)

    if args.quick:
        runs = [("sample", ROOT / "data" / "sample", None)]
    else:
        runs = []
        for n in (int(s) for s in args.sizes.split(",") if s.strip()):
            path, build_s, build_mb = demo_data(n)
            if build_s is not None:
                print(f"demo data {n:,} customers built in {build_s:.0f} s, peak {build_mb:.0f} MB", flush=True)
            runs.append((n, path, None))
    print(f"kanta report, whole processes, {os.cpu_count()} cores, --jobs {args.jobs}\n")
    print("| customers | seconds | goal | previous release | speed-up | CPU seconds | peak MB (one process / all) "
          "| goal MB | goals |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    failed = False
    details = []
    for n, path, _ in runs:
        r = report(path, args.jobs, WORK / "reports" / str(n))
        anchor, anchor_label = ANCHOR_SECONDS.get(n) if isinstance(n, int) else None, "issue 14"
        if (args.anchor_commit or args.anchor_src) and isinstance(n, int):
            env = src_env(args.anchor_src) if args.anchor_src else anchor_env(args.anchor_commit)
            a = report(path, args.jobs, WORK / "reports_anchor" / str(n), env=env)
            anchor, anchor_label = a["seconds"], "anchor src" if args.anchor_src else args.anchor_commit
            print(f"anchor ({anchor_label}) at {n:,}: {a['seconds']:.0f} s, CPU {a['cpu_seconds']:.0f} s, peak MB "
                  f"{a['peak_process_mb']:.0f} / {a['peak_tree_mb']:.0f}", flush=True)
        goal = GOAL_SECONDS.get(n) if isinstance(n, int) else None
        ok = (goal is None or r["seconds"] < goal) and r["peak_tree_mb"] < GOAL_PEAK_MB
        failed |= not ok
        label = f"{n:,}" if isinstance(n, int) else n
        print(f"| {label} | {r['seconds']:.0f} | {'< %.0f' % goal if goal else '–'} | "
              f"{'%.0f (%s)' % (anchor, anchor_label) if anchor else '–'} | "
              f"{'%.1fx' % (anchor / r['seconds']) if anchor else '–'} | {r['cpu_seconds']:.0f} | "
              f"{r['peak_process_mb']:.0f} / {r['peak_tree_mb']:.0f} | < {GOAL_PEAK_MB} | {'met' if ok else 'NOT met'}",
              flush=True)
        details.append((label, r))
    for label, r in details:
        print(f"\n{label} customers, seconds per step (steps overlap: {args.jobs} notebooks at a time)")
        print("| step | seconds |\n|---|---:|")
        for name, seconds in steps(r["manifest"]):
            print(f"| {name} | {seconds:.1f} |")
    print("\ngoals " + ("met" if not failed else "NOT met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
