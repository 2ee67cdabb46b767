"""Property-based tests (Hypothesis): whatever the input, the project's own error or a valid result.

Budgets stay small (``max_examples`` 50-100, no deadline) so the suite stays fast; Hypothesis
keeps the failing examples it finds in its database and replays them first.
"""

from __future__ import annotations

import math
import string
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from impactbook.effects import estimate_its, estimate_prepost
from impactbook.errors import DataError, EstimationError, ImpactbookError, ParameterError
from impactbook.fsutil import safe_join, slugify
from impactbook.news.tags import SEPARATORS, normalise_space, split_tags
from impactbook.workbook import REQUIRED, load_workbook, validate_workbook
from impactbook.workbook.periods import (
    format_period,
    frequency_of,
    parse_date_or_month,
    parse_period,
)

from .fixtures.bad.make_cases import BASE

FAST = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# --- the period parser -----------------------------------------------------------------------

near_periods = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A\s?[0-9]{1,5}-(Q[0-9]|[0-9]{1,3})\s?\Z"),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}(-[0-9]{2})?\Z"),
    st.builds(lambda y, m: f"{y}-{m}", st.integers(-10, 99999), st.integers(-5, 99)),
    # Unicode digits: '２０１５-01' must not pass for 2015-01.
    st.text(alphabet="0123456789-Q\uff10\uff11\uff12\u0661\u0967 ", max_size=9),
)


@FAST
@given(near_periods)
@example("\uff12\uff10\uff11\uff15-01")
@example("2015-01\n")
def test_period_parses_and_round_trips_or_raises_value_error(text):
    try:
        period = parse_period(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(period, pd.Period)
    assert format_period(period) == text.strip()
    assert frequency_of(period) in ("M", "Q")
    assert parse_period(format_period(period)) == period


@FAST
@given(st.one_of(near_periods, st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
                                         st.integers(1890, 2110), st.integers(0, 13),
                                         st.integers(0, 32))))
@example("2015-02-30")
@example("2016-02-29")
def test_news_date_is_a_month_or_raises_value_error(text):
    try:
        month = parse_date_or_month(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert frequency_of(month) == "M"
    assert format_period(month) == text.strip()[:7]


# --- the loaders -----------------------------------------------------------------------------

CELL_CHARS = string.ascii_letters[:8] + string.digits + ' ,;"-.Q\n\r\t<>/\\' + "é\u00a0\ufeff"
cells = st.one_of(
    st.text(alphabet=CELL_CHARS, max_size=8),
    st.sampled_from(["", "NA", "-1", "2.5", "1e400", "nan", "inf", "0", "7", "2016-03",
                     "2017-01", "2016-Q1", "Springfield", "citywide", "District 1",
                     "shootings", "Group Violence Intervention", "intervention", "city",
                     "x@example.org", "*", "https://example.org", "javascript:x"]),
)


@st.composite
def csv_tables(draw, file: str) -> bytes:
    """Small CSV-ish bytes for ``file``: a plausible header, ragged rows, odd bytes."""
    columns = list(REQUIRED[file])
    header = draw(st.one_of(
        st.just(columns),
        st.permutations(columns),
        st.lists(st.sampled_from([*columns, "population", "extra", "", "Count"]), max_size=7),
    ))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 2), max_size=6))
    text = "\n".join(",".join(row) for row in [header, *rows])
    newline = draw(st.sampled_from(["", "\n", "\r\n"]))
    data = (text + newline).encode("utf-8")
    mangle = draw(st.sampled_from(["none", "bom", "latin1", "nul", "prefix"]))
    if mangle == "bom":
        data = b"\xef\xbb\xbf" + data
    elif mangle == "latin1":
        data = data.replace(b"\xc3\xa9", b"\xe9")
    elif mangle == "nul":
        data = data[:5] + b"\x00" + data[5:]
    elif mangle == "prefix":
        data = draw(st.binary(max_size=12)) + data
    return data


def _workbook_with(folder: Path, file: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in BASE.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / file).write_bytes(data)
    return folder


def _check_typed(wb) -> None:
    outcomes = wb.outcomes
    assert str(outcomes["count"].dtype) == "int64"
    assert (outcomes["count"] >= 0).all()
    assert outcomes["population"].dtype == float
    assert set(outcomes["freq"]) <= {"M", "Q"}
    assert all(format_period(parse_period(p)) == p for p in outcomes["period"])
    assert not outcomes.duplicated(["city", "area", "outcome", "period"]).any()
    assert outcomes.groupby("city")["freq"].nunique().max() == 1
    for column in ("city", "area", "outcome"):
        assert (outcomes[column] == outcomes[column].str.strip()).all()
        assert (outcomes[column] != "").all()
    assert set(wb.interventions["city"]) <= set(outcomes["city"])


@pytest.mark.parametrize("file", list(REQUIRED))
def test_any_table_loads_typed_or_raises_data_error(file):
    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(csv_tables(file))
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = _workbook_with(Path(tmp) / "wb", file, data)
            try:
                wb = load_workbook(folder, require=tuple(REQUIRED))
            except DataError as exc:
                assert exc.problems
                for problem in exc.problems:
                    assert problem.file in REQUIRED
                    assert "\n" not in str(problem) and "\r" not in str(problem)
                loaded_lines = exc.lines
            else:
                _check_typed(wb)
                loaded_lines = None
            # The streaming validator and the loader agree, line for line.
            try:
                validate_workbook(folder)
            except DataError as exc:
                assert exc.lines == loaded_lines
            else:
                assert loaded_lines is None

    check()


# --- names as paths --------------------------------------------------------------------------

HOSTILE = ['<script>alert("x")</script>', "../../etc/passwd", "..", "/abs/path", "a\r\nb",
           "C:\\Windows\\x", "x" * 500, "\u202eevil", "New York", "São Paulo", "Quote's \"x\"",
           "Москва", "北京" * 40, "Αθήνα", "नई दिल्ली", "CON.txt", "a\u0301\u0301"]


@FAST
@given(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=80)))
def test_slugs_are_plain_folder_names_inside_the_run(name):
    try:
        slug = slugify(name)
    except ParameterError:
        return
    assert slug and len(slug.encode("utf-8")) <= 60
    # Letters and digits of any script (with their marks), joined by single '-'.
    assert all(c == "-" or unicodedata.category(c)[0] in "LNM" for c in slug)
    assert "--" not in slug and not slug.startswith("-") and not slug.endswith("-")
    assert slug == unicodedata.normalize("NFC", slug)
    assert not set(slug) & set(string.ascii_uppercase)
    assert slug not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
    assert slugify(slug) == slug  # a folder name names itself
    run = Path(tempfile.gettempdir()) / "impactbook-run"
    assert safe_join(run, slug, f"{slug}.html").parent == run.resolve() / slug


@pytest.mark.parametrize("name", ["..", "../x", "/etc", "a/../../b"])
def test_safe_join_refuses_escapes(name, tmp_path):
    with pytest.raises(ParameterError):
        safe_join(tmp_path, name, "..", "..")


# --- the tag splitter ------------------------------------------------------------------------

VOCAB = ["Chicago", "Oakland", "New York", "York", "Group Violence Intervention",
         "Support and Outreach", "NNSC", "Cure Violence", "PSN"]
tag_text = st.lists(st.one_of(st.sampled_from(VOCAB), st.sampled_from([";", ",", " ", "|", "\n"]),
                              st.text(alphabet=string.ascii_letters + " &.-", max_size=6)),
                    max_size=8).map("".join)


@FAST
@given(tag_text, st.lists(st.sampled_from(VOCAB), max_size=6))
@example("ChicagoOakland Group Violence Intervention Support and Outreach", VOCAB)
@example("New York;York", ["New York", "York"])
def test_split_tags_covers_text_with_known_tags_and_unknown_runs(text, vocabulary):
    result = split_tags(text, vocabulary)
    spelled = {normalise_space(v) for v in vocabulary}
    assert set(result.tags) <= spelled
    assert len(set(result.tags)) == len(result.tags)
    assert not set(result.tags) & set(result.unknown)
    # Every letter or digit of the text is explained by a tag or an unknown run.
    explained = "".join(result.tags + result.unknown).casefold()
    flat = normalise_space(text)
    for ch in flat:
        if ch not in SEPARATORS and ch.isalnum():
            assert ch.casefold() in explained, (ch, result)


@FAST
@given(st.text(max_size=40), st.lists(st.text(max_size=12), max_size=5))
def test_split_tags_never_raises(text, vocabulary):
    result = split_tags(text, vocabulary)
    spelled = {normalise_space(v) for v in vocabulary}
    assert set(result.tags) <= spelled
    assert all(u and u == u.strip() for u in result.unknown)
    assert all(unicodedata.category(u[0])[0] in "LN" for u in result.unknown)


# --- the estimators --------------------------------------------------------------------------

@st.composite
def count_series(draw):
    """A small monthly or quarterly count series with gaps, and a start inside or near it."""
    freq = draw(st.sampled_from(["M", "Q-DEC"]))
    n = draw(st.integers(6, 48))
    counts = draw(st.lists(st.one_of(st.integers(0, 60), st.integers(0, 3), st.just(math.nan)),
                           min_size=n, max_size=n))
    index = pd.period_range(pd.Period("2014-01", freq="M").asfreq(freq), periods=n, freq=freq)
    with_population = draw(st.booleans())
    population = (np.full(n, 250_000.0) if with_population else np.full(n, np.nan))
    frame = pd.DataFrame({"count": np.array(counts, dtype=float), "population": population},
                         index=index)
    start = index[draw(st.integers(-2, n + 1)) % n]
    return frame, start


def _check_estimate(estimate) -> None:
    numbers = [estimate.rate_ratio, estimate.ci_low, estimate.ci_high, estimate.p_value,
               estimate.dispersion, estimate.pre_mean, estimate.post_mean]
    if not all(np.isfinite(x) for x in numbers):
        assert estimate.warnings, f"non-finite numbers without a warning: {estimate}"
    if np.isfinite(estimate.rate_ratio):
        assert estimate.rate_ratio > 0
    if all(np.isfinite([estimate.ci_low, estimate.rate_ratio, estimate.ci_high])):
        assert estimate.ci_low <= estimate.rate_ratio * (1 + 1e-9)
        assert estimate.rate_ratio <= estimate.ci_high * (1 + 1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_series())
def test_its_returns_finite_numbers_or_a_warning_or_estimation_error(data):
    series, start = data
    try:
        estimate = estimate_its(series, start, post_periods=None)
    except EstimationError as exc:
        assert str(exc)
        return
    _check_estimate(estimate)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_series())
def test_prepost_returns_finite_numbers_or_a_warning_or_estimation_error(data):
    series, start = data
    assume(True)
    try:
        estimate = estimate_prepost(series, start)
    except EstimationError as exc:
        assert str(exc)
        return
    _check_estimate(estimate)


def test_estimation_error_is_an_impactbook_error():
    assert issubclass(EstimationError, ImpactbookError)
