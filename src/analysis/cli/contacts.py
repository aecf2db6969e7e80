"""``kanta contacts``: complaint effect, irritation threshold and the contact numbers (:mod:`analysis.contacts`)."""
from __future__ import annotations

from analysis.cli.arguments import add_as_of, add_source


def _cmd_contacts(args) -> int:
    from pathlib import Path

    from analysis import contacts
    from analysis.data import load_source, write_json
    from analysis.errors import DataError, ParameterError

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise ParameterError(f"--out: got {out.name!r}, expected a file name ending in .json.")
    if not out.parent.exists():
        raise ParameterError(f"--out: folder {out.parent} does not exist.")
    src = load_source(args.source, as_of=args.as_of)
    if not src.has("contacts"):
        raise DataError(f"contacts: the source {args.source} has no contacts table (contacts.csv, contacts.parquet, "
                        "a contacts/ folder or a view named contacts); expected one for kanta contacts.")
    result = contacts.analyse(src, args.as_of, inactivity_days=args.inactivity_days)
    write_json(result.to_dict(), out)
    parts = []
    if result.complaint is not None:
        r = result.complaint.ratios["open"]
        parts.append(f"unresolved complaint hazard ratio {r.hazard_ratio:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})")
    if result.pressure is not None:
        p = result.pressure
        parts.append(f"contact threshold {p.threshold} per month ({p.ci_low}-{p.ci_high})")
    parts += [f"not estimated: {f.analysis} ({f.reason})" for f in result.findings]
    print(f"{'; '.join(parts)} (as of {result.as_of.date()}) -> {out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``kanta contacts SOURCE --as-of DATE --out FILE.json [--inactivity-days N]``."""
    p = subparsers.add_parser("contacts",
                              help="complaints, marketing pressure and satisfaction from the contacts table")
    add_source(p)
    add_as_of(p)
    p.add_argument("--out", required=True, help="output file (.json)")
    p.add_argument("--inactivity-days", type=int, default=None,
                   help="churned after this many days without a purchase (default: data-driven, as kanta churn)")
    p.set_defaults(func=_cmd_contacts)
