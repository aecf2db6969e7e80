"""Operational errors in one sentence, nothing lost: full, read-only or forbidden disks for every output, names too
long for the file system, odd --out targets, a damaged file from last month, labels that look like TeX, and
refusals that quote positions, never a whole row."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.data import load_source, write_json, write_table
from analysis.errors import DataError, OutputError, ParameterError
from analysis.report.site import safe_id
from report_month import SAMPLE
from sources import write_source

AS_OF = "2026-10-31"
ERRORS = {"full_disk": errno.ENOSPC, "read_only": errno.EROFS, "no_permission": errno.EACCES,
          "quota": errno.EDQUOT, "name_too_long": errno.ENAMETOOLONG}
COMMANDS = {
    "customers_csv": ["customers", str(SAMPLE), "--as-of", AS_OF, "--out", "{out}/customers.csv"],
    "customers_parquet": ["customers", str(SAMPLE), "--as-of", AS_OF, "--out", "{out}/customers.parquet"],
    "segments": ["segments", str(SAMPLE), "--as-of", AS_OF, "--out", "{out}/segments.csv", "--n-clusters", "3"],
    "contacts": ["contacts", str(SAMPLE), "--as-of", AS_OF, "--out", "{out}/contacts.json"],
    "churn": ["churn", str(SAMPLE), "--as-of", AS_OF, "--out", "{out}/risk.csv", "--no-clv"],
}


def failing_replace(code: int):
    def replace(src, dst):
        raise OSError(code, os.strerror(code), str(dst))
    return replace


@pytest.mark.parametrize("case", list(ERRORS))
@pytest.mark.parametrize("kind", ["csv", "parquet", "json"])
def test_disk_errors_while_writing_are_one_sentence_and_leave_nothing(tmp_path, monkeypatch, case, kind):
    monkeypatch.setattr(os, "replace", failing_replace(ERRORS[case]))
    out = tmp_path / f"out.{kind}"
    with pytest.raises(OutputError) as exc:
        if kind == "json":
            write_json({"a": 1}, out)
        else:
            write_table(pd.DataFrame({"a": [1]}), out)
    msg = str(exc.value)
    assert "\n" not in msg and "nothing was written" in msg and "out." in msg
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", ["full_disk", "read_only", "no_permission"])
def test_every_command_output_on_a_full_or_read_only_disk_exits_2_in_one_line(tmp_path, monkeypatch, capsys,
                                                                              command, case):
    monkeypatch.setattr(os, "replace", failing_replace(ERRORS[case]))
    argv = [a.format(out=tmp_path) for a in COMMANDS[command]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "could not be written" in err
    assert not [p for p in tmp_path.iterdir()]


def test_a_name_too_long_for_the_file_system_is_one_sentence(tmp_path):
    out = tmp_path / ("x" * 300 + ".csv")
    with pytest.raises(OutputError, match="the name is too long for the file system"):
        write_table(pd.DataFrame({"a": [1]}), out)
    assert list(tmp_path.iterdir()) == []


def test_300_character_experiment_id_makes_a_folder_name_that_fits():
    long_id = "campaign-" + "x" * 291
    name = safe_id(long_id)
    assert len(name.encode()) <= 100 and name == safe_id(long_id)
    assert safe_id("campaign-" + "x" * 290 + "y") != name


def test_two_experiment_ids_never_share_a_folder():
    ids = ["spring/2026", "spring_2026", "spring 2026", "spring?2026", "Kevät 2026", "kevat_2026", "..", "."]
    names = [safe_id(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert all("/" not in n and n not in (".", "..") for n in names)
    assert safe_id("reactivation-2026-03") == "reactivation-2026-03"  # a plain ID stays its own name


def test_out_naming_an_existing_folder_is_refused_before_the_work(tmp_path, capsys):
    (tmp_path / "segments.csv").mkdir()
    assert main(["segments", str(SAMPLE), "--as-of", AS_OF, "--out", str(tmp_path / "segments.csv")]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and len(err.strip().splitlines()) == 1


def test_out_with_a_non_utf8_name_is_refused_in_one_printable_sentence(tmp_path, capsys):
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/lista\xff.csv")
    assert main(["churn", str(SAMPLE), "--as-of", AS_OF, "--out", out]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "\\xff" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00garbage", b"cluster,log_spend\n1,abc\n",
                                     b"not,a,centroid\n1,2,3\n", b'"unclosed\n1,2\n', b"cluster\n"])
def test_damaged_previous_centroids_are_a_finding_and_the_month_goes_on(tmp_path, content):
    from analysis.base import BaseSettings, CustomerBase

    damaged = tmp_path / "segments_centroids.csv"
    damaged.write_bytes(content)
    base = CustomerBase.build(SAMPLE, AS_OF, BaseSettings(n_clusters=3), previous_centroids=damaged)
    f = base.finding("segments.previous_centroids")
    assert f is not None and f.reason == "previous_centroids_unreadable" and f.facts == {"file": damaged.name}
    assert base.segmentation is not None and base.customers["cluster"].notna().any()


def test_damaged_previous_centroids_via_the_option_is_a_note_not_a_stop(tmp_path, capsys):
    damaged = tmp_path / "old.csv"
    damaged.write_bytes(b"\x00\x01\x02")
    out = tmp_path / "segments.csv"
    assert main(["segments", str(SAMPLE), "--as-of", AS_OF, "--out", str(out), "--n-clusters", "3",
                 "--previous-centroids", str(damaged)]) == 0
    assert "numbered afresh" in capsys.readouterr().err and out.is_file()


@pytest.mark.parametrize("label", ["bonus_$10_$20", "$", "a$b", "$\\frac{1}{0}$", "100$ off", r"\$x^2$"])
def test_dollar_signs_in_labels_are_drawn_as_text_not_mathtext(tmp_path, label):
    import matplotlib.pyplot as plt

    import analysis.report.pages  # noqa: F401 - the pages switch mathtext off

    fig, ax = plt.subplots()
    ax.barh([label, "plain"], [1, 2])
    ax.set_title(label)
    fig.savefig(tmp_path / "figure.png")  # raised ValueError for "bonus_$10_$20" with mathtext on
    assert ax.get_yticklabels()[0].get_text() == label
    plt.close(fig)


def test_ragged_contacts_row_is_refused_by_position_without_the_row(tmp_path):
    folder = write_source(tmp_path, "customer_id,timestamp,amount\nc1,2024-01-01,10\n")
    (folder / "contacts.csv").write_text(
        "contact_id,customer_id,timestamp,direction,channel,type,note\n"
        "k1,c1,2024-01-01,inbound,phone,service,ok\n"
        "k2,c1,2024-01-02,inbound,phone,complaint,Matti Meikäläinen 010190-123A matti@example.fi,extra,fields\n")
    with pytest.raises(DataError) as exc:
        load_source(folder, as_of="2024-01-31")
    msg = str(exc.value)
    assert msg.startswith("contacts: contacts.csv could not be read as CSV (line 3)") and "9 fields" in msg
    for secret in ("Matti", "010190-123A", "matti@example.fi", "complaint"):
        assert secret not in msg


def test_ragged_transactions_row_is_refused_by_position_without_the_row(tmp_path):
    folder = write_source(tmp_path, "customer_id,timestamp,amount\nc1,2024-01-01,10\nsecret-id,2024-01-02\n")
    with pytest.raises(DataError) as exc:
        load_source(folder)
    assert "(line 3)" in str(exc.value) and "secret-id" not in str(exc.value)


def test_output_error_is_the_packages_error_with_exit_code_2():
    assert OutputError("x").exit_code == 2 and not issubclass(OutputError, ParameterError)


def test_damaged_centroids_file_read_directly_is_one_sentence(tmp_path):
    from analysis.segments import read_centroids

    bad = tmp_path / "c.csv"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(DataError, match=r"^previous centroids: c.csv could not be read as CSV"):
        read_centroids(bad)
    assert Path(bad).exists()
