"""One rule per thing: validate, the mailer and news import agree on what they accept.

Property-based (Hypothesis, small budgets, no deadline) where the space is large, plus one
example per disagreement that the old, separate rules had.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from impactbook.errors import DataError, MailError
from impactbook.mail.compose import compose_message
from impactbook.mail.funders import Funder, funders_from_workbook, load_funders
from impactbook.mail.plan import plan_messages
from impactbook.news.store import import_news
from impactbook.workbook import FUNDERS, NEWS, TAGS, load_workbook, split_list, validate_workbook
from impactbook.workbook.cells import is_http_url
from tests.workbooks import build_workbook, monthly_rows, write_workbook

BOUNDED = settings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


# Text a spreadsheet can hold (no lone surrogates: those cannot be saved as UTF-8), with the
# characters the rules care about made likely.
TRICKY = st.sampled_from(list("@.;,\"' <>\\`\r\n\t\x00\x7f\u202e\u200b\u2028\u00a0éß-_+"))
text = st.lists(st.one_of(st.characters(exclude_categories=("Cs",)), TRICKY),
                max_size=24).map("".join)
local = st.sampled_from(["a", "ford", "a.b", "a..b", ".a", "a.", "o'brien", "x+y", "", "a b"])
domain = st.sampled_from(["example.org", "x.org", "x..org", "-x.org", "localhost", "x_y.org",
                          "", "exa mple.org"])
address = st.one_of(st.builds(lambda lo, do: f"{lo}@{do}", local, domain), text)
email_cell = st.one_of(address, st.lists(address, min_size=1, max_size=3).map(";".join))
name = st.one_of(st.sampled_from(["Ford Foundation", "Arnold Ventures", "!!!", "  Trust  "]),
                 text)


def funders_accepted(folder: Path, funder: str, email: str) -> list[Funder] | None:
    (folder / FUNDERS).write_text(csv_text(["funder", "email", "cities", "interventions"],
                                           [[funder, email, "*", ""]]), encoding="utf-8")
    try:
        return load_funders(folder)
    except DataError:
        return None


def mailer_accepts(funder: str, email: str) -> bool:
    """What the mailer's own guard (a Funder built in code) accepts for the same cells."""
    try:
        Funder(funder.strip(), tuple(split_list(email.strip())), ("*",))
    except MailError:
        return False
    return True


@BOUNDED
@given(funder=name, email=email_cell)
@example(funder="Ford Foundation", email="a@x.org;b@y.org")
@example(funder="Ford Foundation", email="a..b@x.org")
@example(funder="Ford \u202eFoundation", email="a@x.org")
def test_validate_and_mailer_accept_the_same_funders(tmp_path, funder, email):
    # Cells with a line break or a comma round-trip through CSV quoting; the loader strips.
    accepted = funders_accepted(tmp_path, funder, email)
    assert (accepted is not None) == mailer_accepts(funder, email)
    if accepted:
        assert list(accepted[0].emails) == split_list(email.strip())


def test_several_addresses_pass_validate_and_reach_every_recipient(tmp_path):
    """Old rules: ``a@x.org;b@y.org`` passed the mailer and failed validate."""
    write_workbook(tmp_path, funders="funder,email,cities,interventions\n"
                                     "Ford Foundation,a@x.org;b@y.org,*,\n")
    workbook = load_workbook(tmp_path, require=(FUNDERS,))
    [funder] = funders_from_workbook(workbook)
    assert funder.emails == ("a@x.org", "b@y.org")


def test_doubled_dot_fails_validate_as_it_fails_the_mailer(tmp_path):
    """Old rules: ``a..b@x.org`` passed validate and failed the mailer."""
    write_workbook(tmp_path, funders="funder,email,cities,interventions\n"
                                     "Ford Foundation,a..b@x.org,*,\n")
    with pytest.raises(DataError, match="a..b@x.org") as info:
        load_workbook(tmp_path, require=(FUNDERS,))
    assert info.value.problems[0].column == "email"
    with pytest.raises(MailError):
        Funder("Ford Foundation", ("a..b@x.org",))


def test_repeated_funder_fails_validate_as_it_failed_the_mailer(tmp_path):
    write_workbook(tmp_path, funders="funder,email,cities,interventions\n"
                                     "Ford Foundation,a@x.org,*,\nFord Foundation,b@x.org,*,\n")
    with pytest.raises(DataError, match="already listed"):
        load_workbook(tmp_path, require=(FUNDERS,))


def test_mail_composes_for_a_validated_funder_with_several_addresses(tmp_path):
    run = tmp_path / "run"
    (run / "x").mkdir(parents=True)
    (run / "x" / "x.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    (run / "manifest.json").write_text(json.dumps({"run": "run", "reports": [
        {"id": "city/x", "kind": "city", "name": "X", "slug": "x", "status": "ok",
         "files": {"pdf": "x/x.pdf"}, "key_findings": ["One finding."]}]}))
    write_workbook(tmp_path / "data", funders="funder,email,cities,interventions\n"
                                              "Ford Foundation,a@x.org; b@y.org,*,\n")
    [planned] = plan_messages(run, load_funders(tmp_path / "data"))
    msg = compose_message(planned)
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@x.org", "b@y.org"]


# --------------------------------------------------------------------------- news

def news_workbook(folder: Path) -> Path:
    """A whole valid workbook without news.csv (validate needs all five tables)."""
    counts = [10 + (i % 5) for i in range(36)]
    return build_workbook(
        folder, monthly_rows("Springfield", "citywide", "shootings", 2016, counts),
        "g,Springfield,Group Violence Intervention,GVI,citywide,2017-01,shootings\n",
        funders="Example Fund,grants@example.org,*,\n")


def validate_news(folder: Path) -> None:
    """``validate`` of the folder, news.csv included when it exists."""
    if (folder / NEWS).exists():
        validate_workbook(folder)
    else:
        load_workbook(folder, require=(TAGS,))


date = st.one_of(st.sampled_from(["2017-05", "2017-05-09", "2017-13", "May 2017",
                                  "November 5, 2017", "2017-02-30", "", "Nov. 2017"]), text)
url = st.one_of(st.sampled_from(["", "https://example.org/a", "https://example.org/a\\b",
                                 "http://x.org/`y", "javascript:alert(1)",
                                 "https://example.org/\uff1cb", "https://ex.org/a b"]), text)
item = st.tuples(date, name, name, url, text)
NEWS_HEADER = ["date", "title", "outlet", "tags", "url", "summary"]


def news_csv(items) -> str:
    """``items`` (date, title, outlet, url, summary) as news CSV text, all tagged Springfield."""
    return csv_text(NEWS_HEADER, [[d, title, outlet, "Springfield", link, summary]
                                  for d, title, outlet, link, summary in items])


@BOUNDED
@given(items=st.lists(item, min_size=1, max_size=4))
@example(items=[("2017-05", "Title", "Gazette", "https://example.org/a\\b", "")])
@example(items=[("2017-05", "Title", "", "", "")])
def test_news_import_never_writes_a_row_validate_refuses(tmp_path_factory, items):
    folder = news_workbook(tmp_path_factory.mktemp("wb"))
    incoming = folder.parent / "incoming.csv"
    incoming.write_text(news_csv(items), encoding="utf-8")
    try:
        report = import_news(folder, incoming, "csv")
    except DataError:
        assert not (folder / NEWS).exists()
        return
    validate_news(folder)  # raises on any row it refuses
    if report.new:
        assert len(load_workbook(folder).news) == report.new


@BOUNDED
@given(items=st.lists(item, min_size=1, max_size=4))
@example(items=[("2017-05", "Title", "Gazette", "https://example.org/a\\b", "")])
@example(items=[("2017-05", "Title", "", "", "")])
def test_a_news_csv_validate_accepts_imports_whole_and_vice_versa(tmp_path_factory, items):
    folder = news_workbook(tmp_path_factory.mktemp("wb"))
    text_csv = news_csv(items)
    (folder / NEWS).write_text(text_csv, encoding="utf-8")
    try:
        validate_news(folder)
        accepted = True
    except DataError:
        accepted = False
    (folder / NEWS).unlink()
    incoming = folder.parent / "incoming.csv"
    incoming.write_text(text_csv, encoding="utf-8")
    try:
        report = import_news(folder, incoming, "csv")
    except DataError:
        assert not accepted
        return
    if accepted:
        assert not report.rejected
    # Rows import rejects (dates only pages print, NFKC titles aside) validate refuses too.
    if report.rejected:
        assert not accepted


def test_url_with_backslash_is_refused_by_import_as_by_validate(tmp_path):
    """Old rules: news import wrote ``https://example.org/a\\b`` and validate refused it."""
    folder = news_workbook(tmp_path / "wb")
    incoming = tmp_path / "in.csv"
    incoming.write_text("date,title,outlet,tags,url\n2017-05,GVI starts,Gazette,Springfield,"
                        "https://example.org/a\\b\n", encoding="utf-8")
    report = import_news(folder, incoming, "csv")
    assert report.new == 0 and report.rejected[0].column == "url"
    assert not is_http_url("https://example.org/a\\b")


# --------------------------------------------------------------------------- one digest

def test_reports_index_and_manifest_show_one_digest(tiny_workbook, tmp_path):
    """Old code: the index showed a hash of every CSV, each report one of four files."""
    from impactbook.render.plan import plan_batch
    from impactbook.render.run_folder import build_manifest
    from impactbook.report import build_city_report, build_intervention_summary
    from impactbook.report.index_page import render_index

    (tiny_workbook / "notes.csv").write_text("not,a,table\n", encoding="utf-8")
    jobs = plan_batch(tiny_workbook, tmp_path / "run")
    digest = load_workbook(tiny_workbook).digest
    assert {job.data_digest for job in jobs} == {digest}
    manifest = build_manifest(tmp_path / "run", [], jobs[0].data_digest).model_dump(mode="json")
    assert manifest["data_hash"] == digest
    shown = digest[:12]
    assert f"<code>{shown}</code>" in render_index(manifest)
    assert build_city_report(tiny_workbook, "Springfield").data_hash == shown
    assert build_intervention_summary(tiny_workbook, "Group Violence Intervention"
                                      ).data_hash == shown
    (tiny_workbook / "funders.csv").write_text(
        "funder,email,cities,interventions\nOther Fund,o@example.org,*,\n", encoding="utf-8")
    assert load_workbook(tiny_workbook).digest != digest  # every table counts
