"""Writers keep sensible modes: a replaced file keeps its mode, a new one gets the umask.

The mail ledger and the kernels' connection files are private on purpose, whatever the umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from impactbook.fsutil import atomic_write_text
from impactbook.mail.ledger import MailLedger
from impactbook.news.store import import_news
from impactbook.render.notebook import write_report_files
from impactbook.report.index_page import write_index
from tests.workbooks import TAGS, write_workbook


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_process_umask(tmp_path, umask, mask, expected):
    umask(mask)
    atomic_write_text(tmp_path / "manifest.json", "{}")
    write_index(tmp_path, {"run": "r", "reports": []})
    write_report_files({tmp_path / "a" / "a.html": b"<p>a</p>"}, "a")
    for path in (tmp_path / "manifest.json", tmp_path / "index.html",
                 tmp_path / "a" / "a.html"):
        assert mode(path) == expected, path.name


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "news.csv"
    path.write_text("old\n")
    path.chmod(0o664)  # a workbook folder shared by a team
    atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n" and mode(path) == 0o664
    path.chmod(0o600)
    atomic_write_text(path, "newer\n")
    assert mode(path) == 0o600


def test_news_import_keeps_a_shared_news_csv_shared(tmp_path, umask):
    """Old code: after ``news import`` the workbook's news.csv was 0600 (owner only)."""
    umask(0o022)
    data = write_workbook(tmp_path / "wb", tags=TAGS,
                          news="date,title,outlet,tags\n2017-03,First,Gazette,Springfield\n")
    (data / "news.csv").chmod(0o664)
    incoming = tmp_path / "in.csv"
    incoming.write_text("date,title,outlet,tags\n2017-05,Second,Gazette,Springfield\n")
    assert import_news(data, incoming, "csv").new == 1
    assert mode(data / "news.csv") == 0o664
    (data / "news.csv").unlink()
    assert import_news(data, incoming, "csv").new == 1
    assert mode(data / "news.csv") == 0o644


def test_mail_ledger_is_private_whatever_the_umask(tmp_path, umask):
    umask(0o022)
    with MailLedger(tmp_path / "ledger.sqlite"):
        pass
    assert mode(tmp_path / "ledger.sqlite") == 0o600
