"""Mail headers: names written as RFC 2047 encoded words inject nothing.

Two layers, each tested alone: the workbook refuses encoded-word syntax in every name that can
reach a header, and the composer encodes names so that even one that got past validation reads
back as literal text (the .eml of a dry run and the bytes a real SMTP server on loopback got).
"""

from __future__ import annotations

import base64
import json
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impactbook.errors import DataError, MailError
from impactbook.mail.compose import SMTP_POLICY, compose_message
from impactbook.mail.funders import Funder
from impactbook.mail.headers import mailbox_list_value, subject_value
from impactbook.mail.plan import plan_messages
from impactbook.mail.run import run_email, write_outbox
from impactbook.mail.send import send_messages
from impactbook.mail.text import one_line
from impactbook.workbook import load_workbook

from .test_mail import smtp_server, workbook  # noqa: F401 - fixtures


def b_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


# Each decodes into header structure: a line break and a Bcc header, or a second address.
Q_FUNDER = "=?utf-8?q?Fund=0D=0ABcc:_attacker=40evil.example?="
B_FUNDER = b_word("Fund <attacker@evil.example>, Evil")
Q_CITY = "=?utf-8?q?New_York=0D=0ABcc:_attacker=40evil.example?="
B_CITY = b_word("New York\r\nBcc: attacker@evil.example")
ADDRESSES = ("grants@fund.example.org", "board@fund.example.org")


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def assert_headers_hold(msg: EmailMessage, funder_name: str, city: str) -> None:
    assert msg["Bcc"] is None and msg["Cc"] is None
    assert [a.addr_spec for a in msg["To"].addresses] == list(ADDRESSES)
    assert {a.display_name for a in msg["To"].addresses} == {funder_name}  # literal, not decoded
    subject = str(msg["Subject"])
    assert "\r" not in subject and "\n" not in subject
    assert city in subject


def unvalidated_funder(name: str) -> Funder:
    """A funder whose name skipped every rule: the composer must hold on its own."""
    funder = Funder("Placeholder Fund", ADDRESSES, ("*",))
    object.__setattr__(funder, "name", name)
    return funder


def name_city(run_dir, city: str) -> None:
    """Give the first report of the run's manifest ``city`` as its name, unvalidated."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["reports"][0]["name"] = city
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("funder_name, city", [(Q_FUNDER, Q_CITY), (B_FUNDER, B_CITY)],
                         ids=["q-encoded", "b-encoded"])
def test_composer_writes_encoded_names_as_literal_text(workbook, smtp_server, funder_name,  # noqa: F811
                                                       city):
    run_dir, _ = workbook
    handler, port = smtp_server
    name_city(run_dir, city)
    messages = [compose_message(p) for p in plan_messages(run_dir, [unvalidated_funder(
        funder_name)])]
    (eml,) = write_outbox(run_dir, messages)
    assert_headers_hold(parse(eml.read_bytes()), funder_name, city)

    report = send_messages(run_dir, messages, host="127.0.0.1", port=port, env={})
    assert report.ok, report.lines()
    ((_, envelope, data),) = handler.received
    assert envelope == list(ADDRESSES)
    assert_headers_hold(parse(data), funder_name, city)


# Encoded-word and header syntax, line breaks, non-ASCII: and any other character text read
# as UTF-8 can hold (no lone surrogates).
TRICKY = (st.sampled_from(list("=?_abQ \r\n\"<>,:;@\\()é字"))
          | st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=150, deadline=None)
@given(name=st.text(alphabet=TRICKY, min_size=1, max_size=120),
       subject=st.text(alphabet=TRICKY, max_size=200))
def test_any_text_reads_back_as_itself_and_nothing_else(name, subject):
    msg = EmailMessage(policy=SMTP_POLICY)
    msg.set_raw("To", mailbox_list_value(name, ADDRESSES))
    msg.set_raw("Subject", subject_value(subject))
    parsed = parse(msg.as_bytes())
    assert list(parsed.keys()) == ["To", "Subject"]
    # Names go out as one line (control characters become spaces): that line, nothing more.
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        (one_line(name), address) for address in ADDRESSES]
    assert str(parsed["Subject"]) == one_line(subject)


@pytest.mark.parametrize("payload", [Q_FUNDER, B_FUNDER])
def test_email_refuses_a_workbook_naming_a_funder_in_encoded_words(workbook, smtp_server,  # noqa: F811
                                                                    payload):
    run_dir, data_dir = workbook
    handler, port = smtp_server
    funders = (data_dir / "funders.csv").read_text()
    (data_dir / "funders.csv").write_text(funders.replace("Ford Foundation", payload))
    with pytest.raises(DataError) as info:
        run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=port, env={})
    (problem,) = info.value.problems
    assert (problem.file, problem.row, problem.column) == ("funders.csv", 2, "funder")
    assert "encoded word" in problem.message
    assert handler.received == [] and not (run_dir / "outbox").exists()


@pytest.mark.parametrize("payload", [Q_FUNDER, B_FUNDER])
def test_funder_built_in_code_refuses_encoded_words(payload):
    with pytest.raises(MailError, match="encoded word"):
        Funder(payload, ADDRESSES, ("*",))
    with pytest.raises(MailError, match="encoded word"):
        Funder(f"The {payload} Trust", ADDRESSES, ("*",))


def test_loader_refuses_encoded_words_in_every_name_that_reaches_a_header(tiny_workbook):
    funders = (tiny_workbook / "funders.csv").read_text()
    (tiny_workbook / "funders.csv").write_text(
        funders.replace("Example Fund", Q_FUNDER).replace(",Springfield,*", f",{B_CITY},*"))
    interventions = (tiny_workbook / "interventions.csv").read_text()
    (tiny_workbook / "interventions.csv").write_text(
        interventions.replace("Springfield GVI", B_FUNDER))
    outcomes = (tiny_workbook / "outcomes.csv").read_text()
    (tiny_workbook / "outcomes.csv").write_text(
        outcomes.replace("Springfield,District 1", f"{Q_CITY},District 1", 1))
    with pytest.raises(DataError) as info:
        load_workbook(tiny_workbook)
    found = {(p.file, p.row, p.column) for p in info.value.problems
             if "encoded word" in p.message}
    assert found == {("funders.csv", 2, "funder"), ("funders.csv", 2, "cities"),
                     ("interventions.csv", 2, "programme"), ("outcomes.csv", 50, "city")}
