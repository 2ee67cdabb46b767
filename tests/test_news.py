import shutil
from pathlib import Path

import pandas as pd
import pytest

from impactbook.errors import DataError, ParameterError
from impactbook.news import store as news_mod
from impactbook.news.fields import NEWS_COLUMNS, normalise_news_date
from impactbook.news.html_list import render_news_html
from impactbook.news.link import count_tags_by_period, news_for_city, news_for_intervention
from impactbook.news.parse import parse_news_csv, parse_news_json
from impactbook.news.parse_page import parse_nnsc_page
from impactbook.news.store import duplicate_key, import_news
from impactbook.news.tags import read_tags_csv

FIXTURES = Path(__file__).parent / "fixtures" / "news"
SEED = FIXTURES / "nnsc_homepage_2017.txt"


@pytest.fixture
def vocab():
    return read_tags_csv(FIXTURES / "tags.csv")["tag"].tolist()


@pytest.fixture
def workbook(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURES / "tags.csv", data / "tags.csv")
    return data


def read_news(data_dir):
    return pd.read_csv(data_dir / "news.csv", dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize("text, expected", [
    ("2017-11", "2017-11"), ("2017-11-05", "2017-11-05"), ("November 2017", "2017-11"),
    ("Sept. 2017", "2017-09"), ("oct 2017", "2017-10"), ("November 5, 2017", "2017-11-05"),
    ("2017-11-05T10:30:00Z", "2017-11-05"),
])
def test_normalise_news_date(text, expected):
    assert normalise_news_date(text) == expected


@pytest.mark.parametrize("text", ["2017-13", "2019-02-30", "Novembr 2017", "11/05/2017", "",
                                  "17-11"])
def test_normalise_news_date_rejects(text):
    with pytest.raises(ValueError):
        normalise_news_date(text)


# --------------------------------------------------------------------------- NNSC page


def test_seed_page_yields_six_items(vocab):
    parsed = parse_nnsc_page(SEED.read_text(encoding="utf-8"), "seed", vocab)
    items = parsed.items
    assert parsed.rejected == [] and parsed.warnings == []
    assert list(items["date"]) == ["2017-11", "2017-10", "2017-10", "2017-10",
                                   "2017-09", "2017-09"]
    assert list(items["outlet"]) == ["Governing Magazine", "The Hill", "New York Times",
                                     "Buzzfeed", "The New York Times", "Washington Post"]
    assert items["title"].iloc[0] == "A Better Way to Deal With Intimate Partner Violence"
    assert items["title"].iloc[3] == "Here\u2019s What Actually Reduces Gun Violence"
    assert list(items["tags"]) == [
        "National Initiative for Building Community Trust and Justice;"
        "Intimate Partner Violence Intervention",
        "Pittsburgh;National Initiative for Building Community Trust and Justice",
        "Chicago;Oakland;Group Violence Intervention;Support and Outreach",
        "Group Violence Intervention",
        "Group Violence Intervention",
        "Intimate Partner Violence Intervention",
    ]
    assert list(items["line"]) == [17, 25, 33, 41, 49, 57]
    # No-break spaces are gone and the summary is one paragraph of plain text.
    assert items["summary"].iloc[0].startswith("In this op-ed for Governing Magazine, IPVI")
    assert "\u00a0" not in "".join(items["summary"])
    # Neither the mission text above nor the impact box below became items.
    assert not items["title"].str.contains("do no harm|reduction in", case=False).any()


def test_seed_page_without_vocabulary_keeps_tag_text():
    items = parse_nnsc_page(SEED.read_text(encoding="utf-8")).items
    assert items["tags"].iloc[2] == ("ChicagoOakland Group Violence Intervention "
                                     "Support and Outreach")


def test_page_without_bullets(vocab):
    text = ("Title one\nJanuary 2018 | Paper A\nSome summary.\nTags: Chicago\n\n"
            "Title two\n\n2018-02-03 | Paper B\n\nFirst paragraph.\n\nSecond.\n\nTags: oakland\n")
    parsed = parse_nnsc_page(text, "page", vocab)
    assert parsed.rejected == []
    assert list(parsed.items["title"]) == ["Title one", "Title two"]
    assert list(parsed.items["date"]) == ["2018-01", "2018-02-03"]
    assert list(parsed.items["tags"]) == ["Chicago", "Oakland"]
    assert parsed.items["summary"].iloc[1] == "First paragraph.\n\nSecond."


def test_malformed_page_rejects_with_line_numbers(vocab):
    text = (FIXTURES / "malformed_page.txt").read_text(encoding="utf-8")
    parsed = parse_nnsc_page(text, "bad.txt", vocab)
    assert list(parsed.items["title"]) == ["A good item", "An item without tags"]
    rejected = [(p.row, p.message) for p in parsed.rejected]
    assert [row for row, _ in rejected] == [11, 19]
    assert "no 'Month YYYY | Outlet' line" in rejected[0][1]
    assert "'Marchh' in 'Marchh 2018' is not a month name" in rejected[1][1]
    assert [(w.row, w.message) for w in parsed.warnings] == [
        (23, "item 'An item without tags' has no 'Tags:' line")]
    assert all(p.file == "bad.txt" for p in parsed.rejected)


def test_page_stray_text_is_rejected_not_dropped(vocab):
    text = ("News & Updates\nSome stray intro\n\n  • Title\n  May 2018 | Paper\n  Tags: Chicago\n"
            "  leftover line\n")
    parsed = parse_nnsc_page(text, "page", vocab)
    assert len(parsed.items) == 1
    assert [p.row for p in parsed.rejected] == [2, 7]


def test_page_with_no_items_is_an_error():
    with pytest.raises(DataError, match="no news items found") as info:
        parse_nnsc_page("<html>\n<body>Hello</body></html>", "page.html")
    assert [p.row for p in info.value.problems] == [None, 1]


# --------------------------------------------------------------------------- CSV and JSON


def test_parse_news_csv(vocab):
    parsed = parse_news_csv(FIXTURES / "items.csv", vocab)
    items = parsed.items
    assert list(items["title"]) == ["Ceasefire returns", "Month name date"]
    assert list(items["date"]) == ["2018-03-05", "2018-11"]
    assert list(items["tags"]) == ["Oakland;Group Violence Intervention",
                                   "Chicago;Oakland;Street Outreach"]
    assert items["summary"].iloc[0] == "Two paragraphs.\n\nSecond one."
    assert list(items["line"]) == [2, 9]
    rejected = {p.row: p for p in parsed.rejected}
    assert sorted(rejected) == [5, 6, 7, 8]
    assert rejected[5].column == "date" and "2018-13" in rejected[5].message
    assert rejected[6].column == "title"
    assert "expected 6 fields, got 7" in rejected[7].message
    assert rejected[8].column == "url" and "javascript:" in rejected[8].message
    assert [(w.row, "Street Outreach" in w.message) for w in parsed.warnings] == [(9, True)]
    assert set(NEWS_COLUMNS) <= set(items.columns)


def test_csv_that_is_really_html_is_an_error(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text("<!DOCTYPE html>\n<html><body>Not found</body></html>\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        parse_news_csv(path)
    assert info.value.problems[0].row == 1
    assert "missing column(s) date, title, outlet, tags" in str(info.value)


def test_parse_news_json_items_object(vocab):
    parsed = parse_news_json(FIXTURES / "items.json", vocab)
    assert list(parsed.items["title"]) == ["Pittsburgh news", "Cure Violence in New York"]
    assert list(parsed.items["tags"]) == [
        "Pittsburgh;National Initiative for Building Community Trust and Justice",
        "Cure Violence;New York"]
    assert list(parsed.items["line"]) == [3, 8]
    rejected = {p.row: p.message for p in parsed.rejected}
    assert sorted(rejected) == [5, 6, 7]
    assert "title" in rejected[5] and "must be text" in rejected[5]
    assert "not a real date" in rejected[6]
    assert "got str" in rejected[7]


def test_parse_news_json_plain_list_and_errors(tmp_path):
    path = tmp_path / "n.json"
    path.write_text('[{"date": "2020-01", "title": "T", "outlet": "O"}]', encoding="utf-8")
    parsed = parse_news_json(path)
    assert list(parsed.items["title"]) == ["T"] and parsed.items["tags"].iloc[0] == ""
    path.write_text('[\n{"date": "2020-01",\n "title": }\n]', encoding="utf-8")
    with pytest.raises(DataError) as info:
        parse_news_json(path)
    assert info.value.problems[0].row == 3
    path.write_text('{"news": []}', encoding="utf-8")
    with pytest.raises(DataError, match='"items"'):
        parse_news_json(path)


# --------------------------------------------------------------------------- import


def test_import_seed_then_again_adds_nothing(workbook):
    report = import_news(workbook, SEED, "nnsc-page")
    assert (report.new, report.duplicates, report.rejected, report.warnings) == (6, 0, (), ())
    stored = read_news(workbook)
    assert list(stored.columns) == list(NEWS_COLUMNS)
    assert list(stored["date"]) == ["2017-11", "2017-10", "2017-10", "2017-10",
                                    "2017-09", "2017-09"]
    assert stored["tags"].iloc[2] == ("Chicago;Oakland;Group Violence Intervention;"
                                      "Support and Outreach")
    before = (workbook / "news.csv").read_bytes()
    assert report.summary_lines()[0].startswith("6 new item(s) added to")

    again = import_news(workbook, SEED, "nnsc-page")
    assert (again.new, again.duplicates) == (0, 6)
    assert (workbook / "news.csv").read_bytes() == before


def test_duplicates_ignore_case_space_quotes_and_day(workbook):
    import_news(workbook, SEED, "nnsc-page")
    path = workbook.parent / "more.csv"
    path.write_text(
        "date,title,outlet,tags\n"
        "2017-10-12,HERE'S WHAT  ACTUALLY reduces gun violence,buzzfeed,\n"  # duplicate
        "2017-11,Here's What Actually Reduces Gun Violence,Buzzfeed,\n"      # other month: new
        "2017-10,Here's What Actually Reduces Gun Violence,Vox,\n"            # other outlet: new
        "2017-10,Here's What Actually Reduces Gun Violence,Vox,\n",           # repeat in file
        encoding="utf-8")
    report = import_news(workbook, path, "csv")
    assert (report.new, report.duplicates) == (2, 2)
    assert len(read_news(workbook)) == 8


def test_duplicate_key():
    assert duplicate_key(" A  Title ", "The Hill", "2017-10-03") == \
        duplicate_key("a title", "the hill", "2017-10")


def test_import_keeps_existing_rows_byte_for_byte(workbook):
    existing = ('date,title,outlet,tags,url,summary\r\n'
                '2016-01,"Old, item",Old Paper,Chicago,,"keep\r\nme"\r\n')
    (workbook / "news.csv").write_bytes(existing.encode("utf-8"))
    report = import_news(workbook, SEED, "nnsc-page")
    assert report.new == 6
    written = (workbook / "news.csv").read_bytes()
    assert written.startswith(existing.encode("utf-8"))
    assert len(read_news(workbook)) == 7


def test_import_adds_missing_optional_columns(workbook):
    (workbook / "news.csv").write_text("date,title,outlet,tags\n2016-01,Old,Paper,Chicago\n",
                                       encoding="utf-8")
    import_news(workbook, SEED, "nnsc-page")
    stored = read_news(workbook)
    assert list(stored.columns) == list(NEWS_COLUMNS)
    assert stored.iloc[0].tolist() == ["2016-01", "Old", "Paper", "Chicago", "", ""]
    assert len(stored) == 7


def test_import_reports_rejected_and_unknown_tags(workbook):
    report = import_news(workbook, FIXTURES / "items.csv", "csv")
    assert report.new == 2
    assert [p.row for p in report.rejected] == [5, 6, 7, 8]
    assert not report.ok
    assert [w.row for w in report.warnings] == [9]
    lines = report.summary_lines()
    assert len(lines) == 1 + 4 + 1
    assert lines[1].startswith("rejected: ") and ", row 5, column 'date'" in lines[1]
    assert lines[-1].startswith("warning: ") and "Street Outreach" in lines[-1]
    # The unknown tag is kept on the stored item, never dropped.
    assert read_news(workbook)["tags"].iloc[1] == "Chicago;Oakland;Street Outreach"


def test_import_json(workbook):
    report = import_news(workbook, FIXTURES / "items.json", "json")
    assert report.new == 2 and len(report.rejected) == 3


def test_failure_mid_write_leaves_news_csv_unchanged(workbook, monkeypatch):
    import_news(workbook, SEED, "nnsc-page")
    before = (workbook / "news.csv").read_bytes()
    real_format_row = news_mod._format_row
    calls = {"n": 0}

    def failing_format_row(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_format_row(*args, **kwargs)

    monkeypatch.setattr(news_mod, "_format_row", failing_format_row)
    with pytest.raises(OSError, match="disk full"):
        import_news(workbook, FIXTURES / "items.json", "json")
    assert calls["n"] == 2  # one row was written to the temporary file before the failure
    assert (workbook / "news.csv").read_bytes() == before
    # No temporary file is left; the workbook's lock file stays (see impactbook.locks).
    assert sorted(p.name for p in workbook.iterdir()) == [".impactbook.lock", "news.csv",
                                                          "tags.csv"]


def test_failure_on_first_import_creates_no_file(workbook, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(news_mod, "_format_row", fail)
    with pytest.raises(OSError):
        import_news(workbook, SEED, "nnsc-page")
    assert not (workbook / "news.csv").exists()


def test_import_refuses_broken_news_csv_and_leaves_it(workbook):
    (workbook / "news.csv").write_text("<html>oops</html>\n", encoding="utf-8")
    with pytest.raises(DataError, match="news.csv, row 1: this is an HTML"):
        import_news(workbook, SEED, "nnsc-page")
    assert (workbook / "news.csv").read_text(encoding="utf-8") == "<html>oops</html>\n"


def test_import_needs_tags_csv_and_a_known_format(tmp_path, workbook):
    with pytest.raises(DataError, match="tags.csv"):
        import_news(tmp_path, SEED, "nnsc-page")
    with pytest.raises(ParameterError):
        import_news(workbook, SEED, "html")
    with pytest.raises(DataError, match="file not found"):
        import_news(workbook, workbook / "missing.txt", "nnsc-page")


def test_dry_run_writes_nothing(workbook):
    report = import_news(workbook, SEED, "nnsc-page", dry_run=True)
    assert report.new == 6
    assert not (workbook / "news.csv").exists()


# --------------------------------------------------------------------------- linking


@pytest.fixture
def seed_news(vocab):
    return parse_nnsc_page(SEED.read_text(encoding="utf-8"), "seed", vocab).items.drop(
        columns="line")


@pytest.fixture
def tags_frame():
    return read_tags_csv(FIXTURES / "tags.csv")


def test_news_for_city_by_city_tag_and_interventions(seed_news, tags_frame):
    interventions = pd.DataFrame({
        "city": ["pittsburgh", "Oakland", "Chicago"],
        "intervention": ["Intimate Partner Violence Intervention", "Group Violence Intervention",
                         "Cure Violence"],
        "programme": ["Pittsburgh IPVI", "Oakland Ceasefire", "CeaseFire Chicago"],
    })
    pittsburgh = news_for_city(seed_news, tags_frame, interventions, "Pittsburgh")
    assert list(pittsburgh["date"]) == ["2017-09", "2017-10", "2017-11"]  # sorted by date
    assert list(pittsburgh["matched_by"]) == [
        "Intimate Partner Violence Intervention", "city",
        "Intimate Partner Violence Intervention"]
    oakland = news_for_city(seed_news, tags_frame, interventions, "Oakland")
    assert len(oakland) == 3
    assert "city; Group Violence Intervention" in set(oakland["matched_by"])
    chicago = news_for_city(seed_news, tags_frame, interventions, "Chicago")
    assert list(chicago["title"]) == ["Why Do We Ignore Initiatives That Reduce Gun Violence?"]
    assert news_for_city(seed_news, tags_frame, interventions, "Seattle").empty


def test_news_for_city_links_programme_names_known_as_initiatives(tags_frame):
    news = pd.DataFrame({"date": ["2018-01"], "title": ["T"], "outlet": ["O"],
                         "tags": ["Oakland Ceasefire"], "url": [""], "summary": [""]})
    interventions = pd.DataFrame({"city": ["Oakland"], "intervention": ["Cure Violence"],
                                  "programme": ["Oakland Ceasefire"]})
    linked = news_for_city(news, tags_frame, interventions, "Oakland")
    assert list(linked["matched_by"]) == ["Oakland Ceasefire"]


def test_news_for_intervention(seed_news):
    gvi = news_for_intervention(seed_news, "group violence intervention")
    assert list(gvi["date"]) == ["2017-09", "2017-10", "2017-10"]
    # "Violence Intervention" is its own tag; it does not match longer tags containing it.
    assert news_for_intervention(seed_news, "Violence Intervention").empty


def test_count_tags_by_period(seed_news):
    yearly = count_tags_by_period(seed_news, "Y")
    assert list(yearly.index) == ["2017"]
    assert yearly.loc["2017", "Group Violence Intervention"] == 3
    assert yearly.loc["2017", "Chicago"] == 1
    extra = pd.DataFrame({"date": ["2018-05-02"], "title": ["x"], "outlet": ["o"],
                          "tags": ["Group Violence Intervention"], "url": [""], "summary": [""]})
    quarterly = count_tags_by_period(pd.concat([seed_news, extra]), "Q",
                                     tags=["Group Violence Intervention", "Cure Violence"])
    assert list(quarterly.columns) == ["Group Violence Intervention", "Cure Violence"]
    assert list(quarterly.index) == ["2017-Q3", "2017-Q4", "2018-Q1", "2018-Q2"]
    assert quarterly["Group Violence Intervention"].tolist() == [1, 2, 0, 1]
    assert quarterly["Cure Violence"].tolist() == [0, 0, 0, 0]


def test_count_tags_by_period_checks_freq_and_empty(seed_news):
    with pytest.raises(ParameterError):
        count_tags_by_period(seed_news, "W")
    assert count_tags_by_period(seed_news.iloc[0:0], "Y").empty


# --------------------------------------------------------------------------- rendering


def test_render_escapes_everything_and_links_only_http():
    items = pd.DataFrame({
        "date": ["2018-02", "2018-01"],
        "title": ["<b>Bold</b> & co", "Evil link"],
        "outlet": ["Paper <i>", "Outlet"],
        "tags": ["Chicago", ""],
        "url": ["https://example.org/a?x=1&y=<2>'", "javascript:alert(1)"],
        "summary": ["<script>alert('x')</script>", ""],
    })
    page = render_news_html(items)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in page and "Paper &lt;i&gt;" in page
    assert "javascript:" not in page and "<a " not in page  # no link for either URL
    items.loc[0, "url"] = "https://example.org/a?x=1&y=2"
    assert 'href="https://example.org/a?x=1&amp;y=2"' in render_news_html(items)
    # Sorted by date: January's item comes first.
    assert page.index("Evil link") < page.index("Bold")


@pytest.mark.parametrize("url", ["JaVaScRiPt:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>", "//evil.example/x",
                                 "http://ok.example/\"onmouseover=alert(1)"])
def test_render_never_links_unsafe_urls(url):
    items = pd.DataFrame({"date": ["2018-01"], "title": ["T"], "outlet": ["O"], "tags": [""],
                          "url": [url], "summary": [""]})
    assert "<a " not in render_news_html(items)


def test_render_seed_and_empty(seed_news):
    page = render_news_html(seed_news)
    assert page.count('<li class="impactbook-news-item">') == 6
    assert "Here\u2019s What Actually Reduces Gun Violence" in page
    assert render_news_html(seed_news.iloc[0:0]) == \
        '<p class="impactbook-news-empty">No news items.</p>'


def test_dash_lines_in_a_summary_do_not_start_items(vocab):
    text = ("News & Updates\n  • Title\n  May 2018 | Paper\n  - first point\n  - second point\n"
            "  Tags: Chicago\n")
    parsed = parse_nnsc_page(text, "page", vocab)
    assert parsed.rejected == []
    assert parsed.items["summary"].iloc[0] == "- first point - second point"
