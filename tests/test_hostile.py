"""Hostile text in a workbook stays inert: escaped in HTML, literal in PDF, never a path, never
code, never an email header."""

from __future__ import annotations

import ast
import csv
import email.parser
import email.policy
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from impactbook.errors import ParameterError
from impactbook.render.kernel import KernelSession
from impactbook.render.notebook import render_notebook, validate_parameters

from .conftest import ROOT
from .workbooks import build_workbook, monthly_rows

NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JS_LINK = "[link](javascript:alert(1))"
JINJA = "{{ jinja }}"
LONG = "L" * 150
# Names: no line breaks or semicolons and at most 200 characters (the validator's rules).
CITY = f"{SCRIPT} Bcc: evil@example.org \"Q\" 's {JINJA} City"
AREA = f"../../etc/passwd {IMG} {LONG}"
PROGRAMME = f"# heading {JS_LINK} **bold** \"quoted\" 'single' {JINJA} {SCRIPT}"
KIND = f"Cure {IMG} Violence"
FUNDER = f"Evil {SCRIPT} \"Fund\" Bcc: x@evil.org"
# Free text: longer, and summaries may hold line breaks.
TITLE = f"{SCRIPT} # heading {JS_LINK} **bold** \"q\" {JINJA} {LONG}"
OUTLET = f"{IMG} \"Outlet\" {LONG}"
SUMMARY = f"# heading\n\n{JS_LINK}\n**bold** {JINJA}\n{IMG}\n{SCRIPT}\n../../etc/passwd"
HOSTILE_TEXTS = (SCRIPT, IMG, JS_LINK, JINJA, "../../etc/passwd", LONG)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def hostile_workbook(folder: Path) -> Path:
    counts = [10 + (i % 5) for i in range(36)]
    outcomes = []
    for area, series in (("citywide", counts), (AREA, [c // 2 for c in counts])):
        for line in monthly_rows("C", "X", "shootings", 2016, series).splitlines():
            _, _, outcome, period, count = line.split(",")
            outcomes.append([CITY, area, outcome, period, count])
    # Every row through the csv module, which quotes the hostile values as a spreadsheet would.
    return build_workbook(
        folder, _csv(outcomes),
        _csv([["hostile-1", CITY, KIND, PROGRAMME, AREA, "2017-01", "shootings", "citywide", "V",
               SCRIPT]]),
        tags=_csv([[CITY, "city"], [KIND, "intervention"]]),
        news=_csv([["2017-03-02", TITLE, OUTLET, f"{CITY};{KIND}", "https://example.org/a",
                    SUMMARY]]),
        funders=_csv([[FUNDER, "grants@example.org", "*", "*"]]),
        columns={"interventions": "id,city,intervention,programme,area,start,outcomes,"
                                  "comparison_areas,confidence,source",
                 "news": "date,title,outlet,tags,url,summary"},
    )


class _Markup(HTMLParser):
    """Collects what a browser would treat as markup (tags, attributes) and as visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k.lower(): (v or "") for k, v in attrs}))
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def assert_inert_html(html_text: str, expect_visible: tuple[str, ...]) -> None:
    page = _Markup()
    page.feed(html_text)
    names = [tag for tag, _ in page.tags]
    assert "script" not in names and "iframe" not in names and "object" not in names
    for tag, attrs in page.tags:
        handlers = [a for a in attrs if a.startswith("on")]
        assert not handlers, (tag, attrs)
        for attr in ("href", "src", "action", "formaction", "xlink:href"):
            value = re.sub(r"\s", "", attrs.get(attr, "")).lower()
            assert not value.startswith(("javascript:", "vbscript:")), (tag, attrs)
        if tag == "img":  # only the report's own embedded charts
            assert attrs.get("src", "").startswith("data:image/"), attrs
    # Markdown in names is not interpreted: no link or heading made from it.
    assert not any(tag == "a" and "javascript" in attrs.get("href", "") for tag, attrs in page.tags)
    text = " ".join(" ".join(page.text).split())
    for needle in expect_visible:
        assert needle in text, f"{needle!r} is not visible as text"
    assert html_text.count("<script") == 0 and "onerror=alert" not in html_text.replace(
        "onerror=alert(1)&gt;", "")


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text() for page in PdfReader(str(path)).pages).split())


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    from impactbook.mail.run import run_email
    from impactbook.render.batch import render_city, summarize_intervention

    base = tmp_path_factory.mktemp("hostile")
    data = hostile_workbook(base / "wb")
    run = base / "run"
    city = render_city(data, CITY, run, formats=("html", "pdf"), timeout_s=300)
    summary = summarize_intervention(data, KIND, run, formats=("html", "pdf"), timeout_s=300)
    mail = run_email(run, data)
    return base, data, run, city, summary, mail


def test_hostile_workbook_is_accepted_by_the_validator(tmp_path):
    from impactbook.cli import main

    assert main(["validate", "--data", str(hostile_workbook(tmp_path / "wb"))]) == 0


@pytest.mark.slow
def test_hostile_city_report_is_inert_in_html(hostile_run):
    _, _, run, city, _, _ = hostile_run
    assert city["status"] == "ok", city["error"]
    html_text = (run / city["files"]["html"]).read_text(encoding="utf-8")
    assert_inert_html(html_text, (SCRIPT, IMG, JS_LINK, JINJA, CITY, PROGRAMME, AREA,
                                  " ".join(TITLE.split()), OUTLET))
    # The news summary keeps its words; its Markdown heading is not a heading.
    assert "**bold**" in html_text and not re.search(r"<h\d[^>]*>\s*heading", html_text)


@pytest.mark.slow
def test_hostile_intervention_summary_is_inert_in_html(hostile_run):
    _, _, run, _, summary, _ = hostile_run
    assert summary["status"] == "ok", summary["error"]
    html_text = (run / summary["files"]["html"]).read_text(encoding="utf-8")
    assert_inert_html(html_text, (KIND, IMG))


@pytest.mark.slow
def test_hostile_index_page_is_inert(hostile_run):
    _, _, run, _, _, _ = hostile_run
    assert_inert_html((run / "index.html").read_text(encoding="utf-8"), (CITY, KIND))


@pytest.mark.slow
def test_hostile_text_is_literal_in_the_pdfs(hostile_run):
    _, _, run, city, summary, _ = hostile_run
    city_text = _pdf_text(run / city["files"]["pdf"])
    for needle in (SCRIPT, IMG, JS_LINK, JINJA, "../../etc/passwd", CITY):
        assert needle in city_text, needle
    summary_text = _pdf_text(run / summary["files"]["pdf"])
    assert KIND in summary_text


@pytest.mark.slow
def test_hostile_names_never_steer_a_path(hostile_run):
    base, data, run, city, summary, mail = hostile_run
    everything = [p for p in base.rglob("*") if p.is_file()]
    for path in everything:
        assert path.resolve().is_relative_to(base.resolve())
    # The run's own bookkeeping (lock file, prepared workbook slices) has fixed names or
    # digests; every file whose name comes from the data must be a plain slug.
    written = [p.relative_to(run) for p in run.rglob("*") if p.is_file()
               and p.name != ".impactbook.lock" and "prepared" not in p.relative_to(run).parts]
    for rel in written:
        for part in rel.parts[:-1]:
            assert re.fullmatch(r"\.state|outbox|[a-z0-9-]+", part), rel
        assert re.fullmatch(r"[a-z0-9-]+\.(html|pdf|ipynb|json|eml)", rel.name), rel
    for entry in (city, summary):
        assert re.fullmatch(r"[a-z0-9-]+", entry["slug"])
        for rel in entry["files"].values():
            assert rel.startswith(entry["slug"] + "/")
    assert len(mail.outbox) == 1 and mail.outbox[0].parent == run / "outbox"
    assert not any("passwd" in p.name for p in everything if p.parent != data)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert {r["name"] for r in manifest["reports"]} == {CITY, KIND}  # names kept as data


@pytest.mark.slow
def test_hostile_names_inject_no_email_header(hostile_run):
    _, _, _, _, _, mail = hostile_run
    assert mail.errors == []
    raw = mail.outbox[0].read_bytes()
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert sorted(msg.keys()) == sorted(["From", "To", "Subject", "Date", "Message-ID",
                                         "Auto-Submitted", "X-Impactbook-Reports",
                                         "MIME-Version", "Content-Type"])
    assert msg["Bcc"] is None and msg["Cc"] is None
    assert [a.addr_spec for a in msg["To"].addresses] == ["grants@example.org"]
    assert msg["To"].addresses[0].display_name == FUNDER
    assert CITY in str(msg["Subject"]) and "\n" not in str(msg["Subject"])
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            assert_inert_html(part.get_content(), (CITY, FUNDER))
        if part.get_content_type() == "application/pdf":
            assert re.fullmatch(r"[a-z0-9-]+\.pdf", part.get_filename())


# --------------------------------------------------------------------------- parameters


PAYLOADS = [
    'x"\nimport os; os.system("touch {marker}")\n#',
    "x'''\nimport os; os.system('touch {marker}')\n'''",
    'x\\"; __import__("os").system("touch {marker}"); y = "',
    "{{ jinja }} </script><script>alert(1)</script> ${{HOME}} $(touch {marker})",
]


@pytest.fixture(scope="module")
def kernel():
    with KernelSession() as session:
        yield session


@pytest.mark.slow
@pytest.mark.parametrize("template", PAYLOADS)
def test_parameter_values_stay_string_literals(tmp_path, kernel, template):
    marker = tmp_path / "pwned"
    payload = template.format(marker=marker)
    result = render_notebook(NOTEBOOKS / "good.ipynb", {"city": payload,
                                                        "interventions": [payload, "b"]},
                             tmp_path / "out", "report", formats=("ipynb",), kernel=kernel)
    assert not marker.exists()
    nb = nbformat.read(str(result.notebook), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    tree = ast.parse(injected[0].source)
    values = {}
    for node in tree.body:  # nothing but `name = <literal>`
        assert isinstance(node, ast.Assign), ast.dump(node)
        assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values == {"city": payload, "interventions": [payload, "b"]}
    # The kernel saw the same string: the notebook's findings quote it back.
    assert result.findings["key_findings"][0].startswith(f"{payload}: shootings fell")


@pytest.mark.parametrize("name", ["town", "os", "city = 1\nimport os", "city;import os",
                                  "__builtins__", "_ib_reset"])
def test_parameter_names_not_in_the_parameters_cell_are_refused(tmp_path, name):
    nb = nbformat.read(str(NOTEBOOKS / "good.ipynb"), as_version=4)
    with pytest.raises(ParameterError):
        validate_parameters(nb, {name: "x"})
    with pytest.raises(ParameterError):
        render_notebook(NOTEBOOKS / "good.ipynb", {name: "x"}, tmp_path, "r",
                        formats=("ipynb",), kernel=None)
    assert list(tmp_path.iterdir()) == []


def test_real_city_report_accepts_only_its_own_parameters():
    nb = nbformat.read(str(ROOT / "notebooks" / "city_report.ipynb"), as_version=4)
    assert validate_parameters(nb, {"city": CITY}) == {"city": CITY}
    with pytest.raises(ParameterError):
        validate_parameters(nb, {"city": CITY, "exec": "x"})
    with pytest.raises(ParameterError):
        validate_parameters(nb, {"city": {"__class__": "x"}})
