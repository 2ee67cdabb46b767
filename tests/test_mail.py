"""Mail: planning, composing, outbox, and delivery against a real SMTP server on loopback."""

from __future__ import annotations

import email
import json
import logging
import socket
import ssl
from email import policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from impactbook.errors import DataError, MailError, UnsafePathError
from impactbook.mail.compose import compose_message
from impactbook.mail.funders import Funder, load_funders
from impactbook.mail.ledger import MailLedger
from impactbook.mail.manifest import load_manifest
from impactbook.mail.plan import plan_messages
from impactbook.mail.run import run_email, write_outbox
from impactbook.mail.send import send_messages

PASSWORD = "s3cret-Pa55word-never-logged"
USER = "impactbook-sender"


def pdf_bytes(title: str) -> bytes:
    """A small but real one-page PDF (valid xref offsets), distinct per title."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
    ]
    stream = f"BT /F1 12 Tf 20 100 Td ({title}) Tj ET".encode()
    objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def report(kind, name, slug, *, status="ok", interventions=(), findings=(), pdf=True):
    folder = slug
    return {
        "id": f"{kind}/{slug}", "kind": kind, "name": name, "slug": slug,
        "interventions": list(interventions), "parameters": {}, "input_hash": f"sha256-{slug}",
        "status": status,
        "files": {"ipynb": f"{folder}/{slug}.ipynb", "html": f"{folder}/{slug}.html",
                  **({"pdf": f"{folder}/{slug}.pdf"} if pdf else {})},
        "timings": {}, "error": None if status == "ok" else "estimation failed",
        "key_findings": list(findings),
    }


REPORTS = [
    report("city", "New York", "new-york",
           interventions=["Cure Violence", "Group Violence Intervention"],
           findings=["Shootings fell 18% (95% CI -30% to -4%) after Cure Violence started."]),
    report("city", "Philadelphia", "philadelphia", interventions=["Focused Deterrence"],
           findings=["Shooting victims changed by -5% (95% CI -20% to +12%); not conclusive."]),
    report("city", "Chicago", "chicago", status="failed", interventions=["Cure Violence"],
           pdf=False),
    report("intervention", "Group Violence Intervention", "group-violence-intervention",
           findings=["Pooled across 4 cities, homicides fell 12% (95% CI -20% to -3%)."]),
]

FUNDERS_CSV = """funder,email,cities,interventions
Ford Foundation,ford@example.org,New York,
Arnold Ventures,arnold@example.org;grants@arnold.example.org,Chicago;Philadelphia,
GVI Fund,gvi@example.org,,Group Violence Intervention
Small Trust,small@example.org,Boston,
"""


@pytest.fixture
def workbook(tmp_path):
    """(run_dir, data_dir) with a manifest, real PDFs and funders.csv."""
    run_dir = tmp_path / "reports" / "2026-11-25"
    for entry in REPORTS:
        if entry["status"] == "ok":
            path = run_dir / entry["files"]["pdf"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pdf_bytes(entry["name"]))
    manifest = {"run": "2026-11-25", "created": "2026-11-25T10:00:00Z",
                "impactbook_version": "0.1.0", "data_hash": "sha256-data", "reports": REPORTS}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "funders.csv").write_text(FUNDERS_CSV, encoding="utf-8")
    return run_dir, data_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    """Records every accepted message; can refuse recipients and drop connections."""

    def __init__(self):
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.drop_at_mail = 0  # close the connection on the next N MAIL commands
        self.drop_after_data = 0  # accept the data, then close before answering (N times)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.drop_at_mail:
            self.drop_at_mail -= 1
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.drop_after_data:
            self.drop_after_data -= 1
            server.transport.close()  # the server has the message, the client never hears
            return "250 OK"
        return "250 Message accepted for delivery"

    def messages(self):
        return [(rcpts, email.message_from_bytes(data, policy=policy.default))
                for _, rcpts, data in self.received]


@pytest.fixture
def smtp_server():
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def tls_server():
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        # handled=False: let aiosmtpd answer 535 itself on failure
        return AuthResult(success=ok, handled=False)

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            tls_context=server_ctx, require_starttls=True,
                            auth_require_tls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    try:
        yield handler, controller.port, client_ctx
    finally:
        controller.stop()


def attachments(msg):
    return {part.get_filename(): part.get_content() for part in msg.iter_attachments()}


def by_funder(planned):
    return {p.funder.name: p for p in planned}


# --------------------------------------------------------------------------- planning


def test_plan_matches_funders_to_reports(workbook):
    run_dir, data_dir = workbook
    planned = by_funder(plan_messages(run_dir, load_funders(data_dir)))
    assert set(planned) == {"Ford Foundation", "Arnold Ventures", "GVI Fund"}
    assert [r.report.name for r in planned["Ford Foundation"].attached] == ["New York"]
    arnold = planned["Arnold Ventures"]
    assert [r.report.name for r in arnold.attached] == ["Philadelphia"]
    assert [r.report.name for r in arnold.missing] == ["Chicago"]
    assert arnold.recipients == ("arnold@example.org", "grants@arnold.example.org")
    # GVI funds the intervention: its summary plus the city report of a city running it
    assert sorted(r.report.name for r in planned["GVI Fund"].attached) == [
        "Group Violence Intervention", "New York"]


def test_star_means_all_and_message_ids_are_deterministic(workbook):
    run_dir, _ = workbook
    funder = Funder("Everything Trust", ("all@example.org",), ("*",), ("*",))
    first = plan_messages(run_dir, [funder])[0]
    assert {r.report.name for r in first.reports} == {r["name"] for r in REPORTS}
    again = plan_messages(run_dir, [funder])[0]
    assert first.message_id == again.message_id
    assert first.message_id.startswith("<") and first.message_id.endswith("@impactbook.invalid>")
    other = plan_messages(run_dir, [Funder("Other", ("o@example.org",), ("*",))])[0]
    assert other.message_id != first.message_id


def test_message_id_changes_with_report_hash(workbook):
    run_dir, data_dir = workbook
    funders = load_funders(data_dir)
    before = by_funder(plan_messages(run_dir, funders))["Ford Foundation"].message_id
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["reports"][0]["input_hash"] = "sha256-new-data"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    after = by_funder(plan_messages(run_dir, funders))["Ford Foundation"].message_id
    assert before != after


def test_incomplete_pdf_is_treated_as_missing(workbook):
    run_dir, _ = workbook
    pdf = run_dir / "new-york" / "new-york.pdf"
    pdf.write_bytes(pdf.read_bytes()[:60])  # half-written: no %%EOF
    planned = plan_messages(run_dir, [Funder("F", ("f@example.org",), ("New York",
                                                                         "Philadelphia"))])[0]
    assert [r.report.name for r in planned.attached] == ["Philadelphia"]
    assert "incomplete" in planned.missing[0].missing_reason


def test_pdf_path_outside_run_folder_is_never_attached(workbook, tmp_path):
    run_dir, _ = workbook
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(pdf_bytes("secret"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["reports"][1]["files"]["pdf"] = "../../secret.pdf"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    planned = plan_messages(run_dir, [Funder("F", ("f@example.org",), ("*",))])[0]
    assert "Philadelphia" not in [r.report.name for r in planned.attached]
    assert "outside the run folder" in {r.report.name: r.missing_reason
                                        for r in planned.missing}["Philadelphia"]


# --------------------------------------------------------------------------- funders.csv


@pytest.mark.parametrize(("row", "column", "needle"), [
    ('Bad,not-an-address,New York,', "email", "not-an-address"),
    ('Bad,"ok@example.org\r\nBcc: evil@example.org",New York,', "email", "Bcc"),
    ('"Evil\r\nBcc: evil@example.org",ok@example.org,New York,', "funder", "line break"),
    (',ok@example.org,New York,', "funder", "empty value"),
    ('Ford Foundation,dup@example.org,*,', "funder", "already listed"),
])
def test_bad_funder_rows_name_file_row_and_column(tmp_path, row, column, needle):
    path = tmp_path / "funders.csv"
    path.write_text("funder,email,cities,interventions\n"
                    "Ford Foundation,ford@example.org,New York,\n" + row + "\n", newline="")
    with pytest.raises(DataError) as info:
        load_funders(tmp_path)
    problem = info.value.problems[0]
    assert problem.file == "funders.csv" and problem.row == 3 and problem.column == column
    assert needle in str(info.value)


def test_funders_missing_column_or_file(tmp_path):
    path = tmp_path / "funders.csv"
    path.write_text("<html><body>not a csv</body></html>\n")
    with pytest.raises(DataError, match="HTML"):
        load_funders(tmp_path)
    path.write_text("funder,email\nFord Foundation,ford@example.org\n")
    with pytest.raises(DataError, match="missing"):
        load_funders(tmp_path)
    path.unlink()
    with pytest.raises(DataError, match="file not found"):
        load_funders(tmp_path)


# --------------------------------------------------------------------------- composing


def test_composed_message_has_text_html_findings_and_pdfs(workbook):
    run_dir, data_dir = workbook
    planned = by_funder(plan_messages(run_dir, load_funders(data_dir)))
    msg = compose_message(planned["GVI Fund"])
    assert msg["Subject"] == "Evaluation reports: New York, Group Violence Intervention"
    assert msg["From"].addresses[0].addr_spec == "impactbook@localhost"
    assert msg["Message-ID"] == planned["GVI Fund"].message_id
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html_part = parsed.get_body(("html",)).get_content()
    assert "Shootings fell 18% (95% CI -30% to -4%)" in text
    assert "Pooled across 4 cities" in html_part
    assert attachments(parsed) == {
        "new-york.pdf": (run_dir / "new-york" / "new-york.pdf").read_bytes(),
        "group-violence-intervention.pdf": (run_dir / "group-violence-intervention" /
                                            "group-violence-intervention.pdf").read_bytes(),
    }


def test_email_speaks_of_the_programmes_and_their_headlines(workbook):
    """Per report: its city and programmes or its intervention type, then the headline its
    findings gave (from the manifest); a summary with nothing pooled is described by what it
    holds; no run id anywhere a funder reads."""
    run_dir, _ = workbook
    manifest = json.loads((run_dir / "manifest.json").read_text())
    new_york, summary = manifest["reports"][0], manifest["reports"][3]
    headline = "In Precinct 77 (New York), shootings were 18% lower than expected."
    new_york["headline"] = {"text": headline, "outcome": "shootings"}
    new_york["key_findings"].append(headline)
    summary["key_findings"] = ["shootings: too few programmes to pool (estimates from 2 "
                               "programmes in 2 cities (Chicago, New York); at least 3 needed)"]
    summary["estimates"] = [
        {"city": "Chicago", "programme": "Chicago GVI", "outcome": "shootings",
         "rate_ratio": 0.9, "in_pooled": False},
        {"city": "New York", "programme": "NYC GVI", "outcome": "shootings",
         "rate_ratio": 0.8, "in_pooled": False},
        {"city": "Boston", "programme": "Boston GVI", "outcome": "shootings",
         "rate_ratio": None, "in_pooled": False}]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    planned = plan_messages(run_dir, [Funder("GVI Fund", ("gvi@example.org",), ("*",),
                                             ("Group Violence Intervention",))])
    parsed = email.message_from_bytes(compose_message(planned[0]).as_bytes(),
                                      policy=policy.default)
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html_part = parsed.get_body(("html",)).get_content()
    for said in (text, html_part, str(parsed["Subject"])):
        assert "2026-11-25" not in said and " run " not in said
    lines = text.split("\n")
    city = lines.index("New York: Cure Violence and Group Violence Intervention (city report), "
                       "attached as new-york.pdf")
    assert lines[city + 1:city + 3] == [f"  {headline}", "  The report has 1 more key finding."]
    pooled = lines.index("Group Violence Intervention across its programmes (summary), "
                         "attached as group-violence-intervention.pdf")
    assert lines[pooled + 1] == ("  The summary sets out each programme's own estimate side "
                                 "by side (2 programmes in Chicago and New York); they are not "
                                 "pooled into one overall figure.")
    assert "too few programmes to pool" not in text
    assert f"<p><strong>{headline}</strong></p>" in html_part

    summary["estimates"] = summary["estimates"][1:2]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    planned = plan_messages(run_dir, [Funder("GVI Fund", ("gvi@example.org",), (),
                                             ("Group Violence Intervention",))])
    text = email.message_from_bytes(compose_message(planned[0]).as_bytes(),
                                    policy=policy.default).get_body(("plain",)).get_content()
    assert ("  The summary sets out the estimates of its one programme (NYC GVI, New York); "
            "with a single programme there is nothing to pool.") in text.replace("\r\n", "\n")


def test_summary_pooling_some_outcomes_leads_with_its_headline(workbook):
    run_dir, _ = workbook
    manifest = json.loads((run_dir / "manifest.json").read_text())
    summary = manifest["reports"][3]
    pooled = summary["key_findings"][0]
    summary["headline"] = {"text": pooled}
    summary["key_findings"].append("shootings: too few programmes to pool (estimates from 2 "
                                   "programmes; at least 3 needed)")
    summary["estimates"] = [
        {"city": c, "programme": f"{c} GVI", "outcome": outcome, "rate_ratio": 0.9,
         "in_pooled": outcome == "homicides"}
        for c in ("Boston", "Chicago", "New York", "Oakland") for outcome in ("homicides",)
    ] + [{"city": c, "programme": f"{c} GVI", "outcome": "shootings", "rate_ratio": 0.8,
          "in_pooled": False} for c in ("Boston", "Chicago")]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    planned = plan_messages(run_dir, [Funder("GVI Fund", ("gvi@example.org",), (),
                                             ("Group Violence Intervention",))])
    parsed = email.message_from_bytes(compose_message(planned[0]).as_bytes(),
                                      policy=policy.default)
    lines = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n")
    title = lines.index("Group Violence Intervention across its programmes (summary), "
                        "attached as group-violence-intervention.pdf")
    assert lines[title + 1:title + 4] == [
        f"  {pooled}", "  Shown programme by programme, without a pooled figure: shootings.", ""]
    assert not any("too few programmes to pool" in line for line in lines)


def test_failed_report_named_as_missing_not_attached(workbook):
    run_dir, data_dir = workbook
    planned = by_funder(plan_messages(run_dir, load_funders(data_dir)))
    parsed = email.message_from_bytes(compose_message(planned["Arnold Ventures"]).as_bytes(),
                                      policy=policy.default)
    assert set(attachments(parsed)) == {"philadelphia.pdf"}
    text = parsed.get_body(("plain",)).get_content()
    assert "Missing from this message" in text
    assert "Chicago (city report): it could not be completed this time" in text
    assert "Chicago" not in parsed["Subject"]


def test_sender_from_environment(workbook, monkeypatch):
    run_dir, _ = workbook
    monkeypatch.setenv("IMPACTBOOK_MAIL_FROM", "reports@funders.example.org")
    planned = plan_messages(run_dir, [Funder("F", ("f@example.org",), ("*",))])[0]
    assert compose_message(planned)["From"].addresses[0].addr_spec == \
        "reports@funders.example.org"
    monkeypatch.setenv("IMPACTBOOK_MAIL_FROM", "bad\r\nBcc: x@example.org")
    with pytest.raises(Exception, match="email address"):
        plan_messages(run_dir, [Funder("F", ("f@example.org",), ("*",))])


def test_header_injection_fails_safely(workbook):
    run_dir, _ = workbook
    with pytest.raises(MailError):
        Funder("Evil\r\nBcc: evil@example.org", ("ok@example.org",), ("*",))
    with pytest.raises(MailError):
        Funder("Evil", ("ok@example.org\nBcc: evil@example.org",), ("*",))
    # A report name in the manifest carrying a header line ends up folded into the subject.
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["reports"][0]["name"] = "New York\r\nBcc: evil@example.org"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    funder = Funder('Quote "Fund", <Inc>', ("ok@example.org",), ("*",))
    msg = compose_message(plan_messages(run_dir, [funder])[0])
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ok@example.org"]
    assert parsed["To"].addresses[0].display_name == 'Quote "Fund", <Inc>'
    assert "Bcc: evil@example.org" in parsed["Subject"]  # as text, on the one subject line


def test_size_limit_names_the_funder(workbook):
    run_dir, data_dir = workbook
    planned = by_funder(plan_messages(run_dir, load_funders(data_dir)))
    with pytest.raises(MailError, match="over the limit") as info:
        compose_message(planned["Ford Foundation"], max_bytes=2000)
    assert info.value.funder == "Ford Foundation"
    report = run_email(run_dir, data_dir, max_bytes=2000)
    assert not report.ok and len(report.errors) == 3
    assert any("'Ford Foundation'" in line for line in report.summary_lines())


# --------------------------------------------------------------------------- outbox


def test_dry_run_writes_one_eml_per_funder_and_sends_nothing(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, _ = smtp_server
    report = run_email(run_dir, data_dir)
    names = sorted(p.name for p in report.outbox)
    assert names == ["arnold-ventures.eml", "ford-foundation.eml", "gvi-fund.eml"]
    assert handler.received == []
    assert not (run_dir / "mail-ledger.sqlite").exists()
    eml = email.message_from_bytes((run_dir / "outbox" / "ford-foundation.eml").read_bytes(),
                                   policy=policy.default)
    assert set(attachments(eml)) == {"new-york.pdf"}
    lines = report.summary_lines()
    assert any(line.startswith("Ford Foundation <ford@example.org>: 1 report(s)")
               for line in lines)
    assert any(line.startswith("Small Trust: no message") for line in lines)
    assert any("dry run" in line and str(run_dir / "outbox") in line for line in lines)
    assert report.ok


def test_outbox_removes_stale_messages(workbook):
    run_dir, data_dir = workbook
    stale = run_dir / "outbox" / "old-funder.eml"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    planned = plan_messages(run_dir, load_funders(data_dir))
    paths = write_outbox(run_dir, [compose_message(p) for p in planned])
    assert not stale.exists() and len(paths) == 3


# --------------------------------------------------------------------------- sending


def test_send_delivers_right_pdfs_to_right_funder_once(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert report.ok, report.summary_lines()
    assert report.send_report.count("sent") == 3
    received = {tuple(rcpts): msg for rcpts, msg in handler.messages()}
    assert set(received) == {("ford@example.org",),
                             ("arnold@example.org", "grants@arnold.example.org"),
                             ("gvi@example.org",)}
    assert set(attachments(received[("ford@example.org",)])) == {"new-york.pdf"}
    assert attachments(received[("arnold@example.org", "grants@arnold.example.org")]) == {
        "philadelphia.pdf": (run_dir / "philadelphia" / "philadelphia.pdf").read_bytes()}
    assert set(attachments(received[("gvi@example.org",)])) == {
        "new-york.pdf", "group-violence-intervention.pdf"}
    with MailLedger.for_run(run_dir) as ledger:
        assert [e.state for e in ledger.entries()] == ["sent"] * 3

    again = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert again.ok and again.send_report.count("already-sent") == 3
    assert len(handler.received) == 3


def test_connection_dropped_after_data_is_unknown_until_resend(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    handler.drop_after_data = 1
    funders = [f for f in load_funders(data_dir) if f.name == "Ford Foundation"]
    messages = [compose_message(p) for p in plan_messages(run_dir, funders)]
    message_id = messages[0]["Message-ID"]

    first = send_messages(run_dir, messages, host="127.0.0.1", port=port, backoff_s=0, env={})
    assert [r.outcome for r in first.results] == ["unknown"] and not first.ok
    with MailLedger.for_run(run_dir) as ledger:
        entry = ledger.get(message_id)
        assert entry.state == "unknown" and "may have accepted" in entry.error
        assert [s for s, _ in ledger.events(message_id)] == ["sending", "unknown"]

    second = send_messages(run_dir, messages, host="127.0.0.1", port=port, env={})
    assert [r.outcome for r in second.results] == ["needs-resend"]
    assert len(handler.received) == 1  # not retried on its own

    third = send_messages(run_dir, messages, host="127.0.0.1", port=port, resend=True, env={})
    assert [r.outcome for r in third.results] == ["sent"]
    assert len(handler.received) == 2
    with MailLedger.for_run(run_dir) as ledger:
        assert ledger.get(message_id).state == "sent"


def test_connection_dropped_before_data_is_retried_with_backoff(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    handler.drop_at_mail = 2
    funders = [f for f in load_funders(data_dir) if f.name == "Ford Foundation"]
    messages = [compose_message(p) for p in plan_messages(run_dir, funders)]
    waits = []
    report = send_messages(run_dir, messages, host="127.0.0.1", port=port, backoff_s=0.5,
                           sleep=waits.append, env={})
    assert [(r.outcome, r.attempts) for r in report.results] == [("sent", 3)]
    assert waits == [0.5, 1.0]
    assert len(handler.received) == 1


def test_unreachable_server_fails_after_retries(workbook):
    run_dir, data_dir = workbook
    funders = load_funders(data_dir)[:1]
    messages = [compose_message(p) for p in plan_messages(run_dir, funders)]
    waits = []
    report = send_messages(run_dir, messages, host="127.0.0.1", port=free_port(), retries=2,
                           backoff_s=1, sleep=waits.append, env={})
    result = report.results[0]
    assert result.outcome == "failed" and result.attempts == 3
    assert "cannot connect" in result.error and waits == [1, 2]
    with MailLedger.for_run(run_dir) as ledger:
        assert ledger.get(result.message_id).state == "failed"


def test_refused_recipient_is_an_error_and_nobody_gets_a_partial_copy(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    handler.refuse = {"grants@arnold.example.org"}
    report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert not report.ok
    outcomes = {r.funder: r for r in report.send_report.results}
    arnold = outcomes["Arnold Ventures"]
    assert arnold.outcome == "failed"
    assert "grants@arnold.example.org" in arnold.error and "550" in arnold.error
    assert outcomes["Ford Foundation"].outcome == "sent"
    assert all("arnold@example.org" not in rcpts for _, rcpts, _ in handler.received)
    assert any("FAILED for Arnold Ventures" in line for line in report.summary_lines())


def test_interrupted_send_is_read_as_unknown(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    funders = load_funders(data_dir)[:1]
    messages = [compose_message(p) for p in plan_messages(run_dir, funders)]
    with MailLedger.for_run(run_dir) as ledger:  # a process that died mid-send
        assert ledger.claim(messages[0]["Message-ID"], "Ford Foundation", ["ford@example.org"])
    report = send_messages(run_dir, messages, host="127.0.0.1", port=port, env={})
    assert report.results[0].outcome == "needs-resend" and handler.received == []


def test_starttls_with_auth_and_password_never_leaks(workbook, tls_server, caplog):
    caplog.set_level(logging.DEBUG)
    run_dir, data_dir = workbook
    handler, port, client_ctx = tls_server
    env = {"IMPACTBOOK_SMTP_USER": USER, "IMPACTBOOK_SMTP_PASSWORD": PASSWORD}
    report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port,
                       starttls=True, ssl_context=client_ctx, env=env)
    assert report.ok, report.summary_lines()
    assert len(handler.received) == 3

    leaks = [p for p in run_dir.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
    assert (run_dir / "mail-ledger.sqlite").exists()
    assert PASSWORD not in caplog.text
    assert PASSWORD not in "\n".join(report.summary_lines()) + repr(report)


def test_auth_failure_and_plaintext_credentials_are_refused(workbook, tls_server, caplog):
    caplog.set_level(logging.DEBUG)
    run_dir, data_dir = workbook
    handler, port, client_ctx = tls_server
    wrong = {"IMPACTBOOK_SMTP_USER": USER, "IMPACTBOOK_SMTP_PASSWORD": PASSWORD + "x"}
    report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port,
                       starttls=True, ssl_context=client_ctx, env=wrong, retries=0)
    errors = [r.error for r in report.send_report.results]
    assert all("authentication failed" in e for e in errors) and handler.received == []
    plain = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port,
                      env={"IMPACTBOOK_SMTP_USER": USER, "IMPACTBOOK_SMTP_PASSWORD": PASSWORD})
    assert all("unencrypted" in r.error for r in plain.send_report.results)
    assert PASSWORD not in caplog.text + "\n".join(plain.summary_lines())
    ledger_bytes = (run_dir / "mail-ledger.sqlite").read_bytes()
    assert PASSWORD.encode() not in ledger_bytes


def test_untrusted_certificate_is_a_permanent_failure(workbook, tls_server):
    run_dir, data_dir = workbook
    _, port, _ = tls_server
    waits = []
    funders = load_funders(data_dir)[:1]
    messages = [compose_message(p) for p in plan_messages(run_dir, funders)]
    report = send_messages(run_dir, messages, host="127.0.0.1", port=port, starttls=True,
                           sleep=waits.append, env={})
    assert report.results[0].outcome == "failed" and "not trusted" in report.results[0].error
    assert waits == []


def test_half_set_credentials_rejected(workbook):
    run_dir, data_dir = workbook
    with pytest.raises(MailError, match="IMPACTBOOK_SMTP_PASSWORD is not set"):
        run_email(run_dir, data_dir, send=True, env={"IMPACTBOOK_SMTP_USER": USER})


def test_manifest_problems_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no manifest.json"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"reports": [{"id": "x"}]}')
    with pytest.raises(DataError, match=r"reports\[0\]: missing kind, name, status"):
        load_manifest(tmp_path)


def test_reprs_hide_the_password():
    from impactbook.mail.send import SmtpCredentials, credentials_from_env

    creds = credentials_from_env({"IMPACTBOOK_SMTP_USER": USER,
                                  "IMPACTBOOK_SMTP_PASSWORD": PASSWORD})
    assert isinstance(creds, SmtpCredentials)
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds)
    assert creds.redact(f"server said {PASSWORD}") == "server said ***"


def test_pdf_fixture_is_a_real_pdf():
    pypdf = pytest.importorskip("pypdf")
    import io

    assert len(pypdf.PdfReader(io.BytesIO(pdf_bytes("x"))).pages) == 1


def test_ledger_survives_reopen(tmp_path):
    path = tmp_path / "mail-ledger.sqlite"
    with MailLedger(path) as ledger:
        assert ledger.claim("<a@x>", "F", ["f@example.org"])
        assert not ledger.claim("<a@x>", "F", ["f@example.org"])  # already sending
        ledger.record("<a@x>", "sent")
    with MailLedger(path) as ledger:
        assert ledger.get("<a@x>").state == "sent"
        assert not ledger.claim("<a@x>", "F", ["f@example.org"], from_states=("failed",
                                                                             "unknown"))
        assert ledger.recover_interrupted() == []


def test_rerendered_failed_report_goes_as_follow_up_without_repeats(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    first = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert first.send_report.count("sent") == 3
    # The batch re-renders Chicago successfully in the same run folder.
    manifest = json.loads((run_dir / "manifest.json").read_text())
    chicago = manifest["reports"][2]
    chicago.update(status="ok", error=None, files={"pdf": "chicago/chicago.pdf"})
    (run_dir / "chicago").mkdir()
    (run_dir / "chicago" / "chicago.pdf").write_bytes(pdf_bytes("Chicago"))
    (run_dir / "manifest.json").write_text(json.dumps(manifest))

    second = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert second.ok, second.summary_lines()
    outcomes = {r.funder: r.outcome for r in second.send_report.results}
    assert outcomes == {"Ford Foundation": "already-sent", "Arnold Ventures": "sent",
                        "GVI Fund": "already-sent"}
    follow_up = handler.messages()[-1][1]
    assert set(attachments(follow_up)) == {"chicago.pdf"}  # Philadelphia not sent again
    assert follow_up["Subject"] == "Evaluation report: Chicago"

    third = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert third.ok and third.send_report.count("sent") == 0 and len(handler.received) == 4


def test_unconfirmed_report_held_back_from_follow_up_until_resend(workbook, smtp_server):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    only_arnold = "funder,email,cities,interventions\n" \
                  "Arnold Ventures,arnold@example.org,Chicago;Philadelphia,\n"
    (data_dir / "funders.csv").write_text(only_arnold)
    handler.drop_after_data = 1
    first = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert [r.outcome for r in first.send_report.results] == ["unknown"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["reports"][2].update(status="ok", files={"pdf": "chicago/chicago.pdf"})
    (run_dir / "chicago").mkdir()
    (run_dir / "chicago" / "chicago.pdf").write_bytes(pdf_bytes("Chicago"))
    (run_dir / "manifest.json").write_text(json.dumps(manifest))

    second = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert set(attachments(handler.messages()[-1][1])) == {"chicago.pdf"}
    assert not second.ok  # the unconfirmed Philadelphia message is still reported
    assert any("unconfirmed" in line and "--resend" in line for line in second.summary_lines())

    third = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={},
                      resend=True)
    assert set(attachments(handler.messages()[-1][1])) == {"philadelphia.pdf"}
    assert third.send_report.count("sent") == 1
    fourth = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert fourth.ok and fourth.send_report.results == () and len(handler.received) == 3
    assert fourth.skipped_funders[0][0] == "Arnold Ventures"


@pytest.mark.parametrize("cities, interventions, expected", [
    (("New York",), (), {"new-york"}),
    ((), ("Cure Violence",), {"new-york", "cure-violence"}),
    (("*",), ("Group Violence Intervention",), {"new-york", "chicago",
                                                "group-violence-intervention"}),
    (("New York", "Chicago"), ("Cure Violence",), {"new-york", "cure-violence"}),
    (("*",), ("*",), {"new-york", "chicago", "cure-violence", "group-violence-intervention"}),
])
def test_funder_selection_uses_both_lists(cities, interventions, expected):
    from impactbook.mail.manifest import ReportEntry

    reports = [
        ReportEntry("city/new-york", "city", "New York", "new-york", "ok",
                    interventions=("Cure Violence", "Group Violence Intervention")),
        ReportEntry("city/chicago", "city", "Chicago", "chicago", "ok",
                    interventions=("Group Violence Intervention",)),
        ReportEntry("intervention/cv", "intervention", "Cure Violence", "cure-violence", "ok"),
        ReportEntry("intervention/gvi", "intervention", "Group Violence Intervention",
                    "group-violence-intervention", "ok"),
    ]
    funder = Funder("F", ("f@example.org",), cities, interventions)
    assert {r.slug for r in reports if funder.wants(r)} == expected


def test_corrected_report_goes_again_as_a_replacement_and_unchanged_ones_do_not(
        workbook, smtp_server):
    """A report re-rendered with other content after it was sent (a code or notebook change
    keeps its input data hash) reaches the funder in a new message that names the one it
    replaces; unchanged reports stay exactly-once."""
    run_dir, data_dir = workbook
    handler, port = smtp_server
    first = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert first.send_report.count("sent") == 3
    first_ids = {r.funder: r.message_id for r in first.send_report.results}
    (run_dir / "new-york" / "new-york.pdf").write_bytes(pdf_bytes("New York corrected"))

    second = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert second.ok, second.summary_lines()
    outcomes = {r.funder: r.outcome for r in second.send_report.results}
    assert outcomes == {"Ford Foundation": "sent", "Arnold Ventures": "already-sent",
                        "GVI Fund": "sent"}
    received = {rcpts[0]: msg for rcpts, msg in handler.messages()[3:]}
    ford = received["ford@example.org"]
    assert ford["Message-ID"] != first_ids["Ford Foundation"]
    assert ford["Supersedes"] == ford["In-Reply-To"] == first_ids["Ford Foundation"]
    assert attachments(ford) == {"new-york.pdf": pdf_bytes("New York corrected")}
    body = ford.get_body(("plain",)).get_content()
    assert f"replaces the earlier message {first_ids['Ford Foundation']}" in body
    assert "New York (city report) changed" in body
    gvi = received["gvi@example.org"]  # the unchanged summary is not sent again
    assert set(attachments(gvi)) == {"new-york.pdf"}
    assert gvi["References"] == first_ids["GVI Fund"]

    third = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    assert third.ok and third.send_report.count("sent") == 0 and len(handler.received) == 5


def test_outbox_link_out_of_the_run_folder_is_refused(workbook, tmp_path):
    run_dir, data_dir = workbook
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.eml").write_text("not ours")
    (run_dir / "outbox").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outbox: is a symbolic link to"):
        run_email(run_dir, data_dir, env={})
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.eml"]
    ledger = run_dir / "mail-ledger.sqlite"
    (run_dir / "outbox").unlink()
    ledger.symlink_to(tmp_path / "elsewhere" / "ledger.sqlite")
    with pytest.raises(UnsafePathError, match="mail-ledger.sqlite: is a symbolic link"):
        run_email(run_dir, data_dir, env={})
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.eml"]
