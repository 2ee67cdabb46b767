"""Check the small tables: tags.csv, interventions.csv, news.csv and funders.csv.

References to other tables are checked only against tables that loaded.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from impactbook.choices import did_you_mean, list_choices
from impactbook.defaults import MIN_PRE_OBSERVED
from impactbook.workbook.cells import (
    CONTROL_PROBLEM,
    ENCODED_WORD_PROBLEM,
    address_problem,
    check_list_items,
    check_names,
    check_slugs,
    has_control_chars,
    has_encoded_word,
    is_http_url,
    parse_periods,
    require_text,
    split_list,
    strip_columns,
)
from impactbook.workbook.csvread import read_csv_text
from impactbook.workbook.periods import format_period, frequency_of, parse_date_or_month
from impactbook.workbook.problems import Problems, shorten
from impactbook.workbook.schema import (
    ALL,
    CONFIDENCE_LEVELS,
    FUNDERS,
    INTERVENTIONS,
    NEWS,
    OPTIONAL,
    REQUIRED,
    ROLLOUT_AREA,
    TAG_KINDS,
    TAGS,
)


def load_tags(path: Path, problems: Problems) -> pd.DataFrame:
    frame = strip_columns(read_csv_text(path, REQUIRED[TAGS], label=TAGS), ["tag", "kind"])
    require_text(frame, ["tag"], TAGS, problems)
    check_names(frame, ["tag"], TAGS, problems)
    problems.add_rows(TAGS, frame, ~frame["kind"].isin(TAG_KINDS), "kind",
                      "unknown kind {value!r}; expected one of " + ", ".join(TAG_KINDS))
    lowered = frame["tag"].str.lower()
    problems.add_rows(TAGS, frame, lowered.duplicated() & (lowered != ""), "tag",
                      "tag {value!r} is listed twice (tags are matched case-insensitively)")
    types = frame.loc[(frame["kind"] == "intervention") & (frame["tag"] != "")]
    check_slugs(types.drop_duplicates("tag").set_index("tag")["line"], TAGS, "tag",
                 "intervention type", problems)
    return frame


def read_tags(path: Path | str) -> pd.DataFrame:
    """One ``tags.csv`` alone (for news imports), checked by the same rules as a workbook's."""
    problems = Problems()
    frame = load_tags(Path(path), problems)
    problems.raise_if_any()
    return frame[["tag", "kind"]].reset_index(drop=True)


def read_news(path: Path | str, tags: pd.DataFrame | None = None) -> pd.DataFrame:
    """One ``news.csv`` alone, checked by the same rules as a workbook's (news import checks
    the file it is about to write); raises :class:`DataError` listing every problem."""
    problems = Problems()
    frame = load_news(Path(path), tags, problems, [])
    problems.raise_if_any()
    return frame


def _intervention_types(tags: pd.DataFrame) -> set[str]:
    return set(tags.loc[tags["kind"] == "intervention", "tag"])


def _series_keys(series: pd.DataFrame) -> dict[str, dict[str, set[str]]]:
    """city -> {"areas": {...}, "outcomes": {...}} of what has data."""
    keys: dict[str, dict[str, set[str]]] = {}
    for city, group in series.groupby("city"):
        keys[str(city)] = {"areas": set(group["area"]), "outcomes": set(group["outcome"])}
    return keys


def _period_bounds(series: pd.DataFrame) -> dict[str, tuple[pd.Period, pd.Period]]:
    """city -> (first, last) period of its (dominant, first-seen) frequency."""
    bounds = {}
    for city, group in series.sort_values("line").groupby("city", sort=False):
        group = group[group["freq"] == group["freq"].iloc[0]]
        bounds[str(city)] = (min(group["first"]), max(group["last"]))
    return bounds


def _pair_bounds(series: pd.DataFrame) -> dict[tuple[str, str, str], tuple[pd.Period, pd.Period]]:
    """(city, area, outcome) -> (first, last) period with data."""
    return {(str(c), str(a), str(o)): (first, last) for c, a, o, first, last in
            series[["city", "area", "outcome", "first", "last"]].itertuples(index=False)}


def _hint(name: str, known) -> str:
    """``"; did you mean 'Precinct 77'?"`` when a known name is close, as the CLI suggests."""
    hint = did_you_mean(name, known)
    return f"; {hint}" if hint else ""


def _check_pairs(city: str, lists: list[str], start: pd.Period | None,
                 pairs: dict[tuple[str, str, str], tuple[pd.Period, pd.Period]], line: int,
                 problems: Problems) -> None:
    """Every (area, outcome) a programme's report estimates has data, with enough periods
    before and after the start: an area and an outcome that each exist, but not together,
    would otherwise pass here and fail inside the funder's report."""
    outcomes = split_list(lists[2])
    for column, value in zip(("area", "comparison_areas"), lists[:2], strict=True):
        for area in split_list(value):
            has = sorted(o for (c, a, o) in pairs if c == city and a == area)
            for outcome in outcomes:
                span = pairs.get((city, area, outcome))
                if span is None:
                    if has and any(c == city and o == outcome for (c, _, o) in pairs):
                        problems.add(INTERVENTIONS, f"area {shorten(area)!r} has no "
                                     f"{shorten(outcome)!r} data for {city} in outcomes.csv "
                                     f"(its outcomes: {list_choices(has)})", line, column)
                    continue
                if start is None or frequency_of(start) != frequency_of(span[0]):
                    continue  # no start, or one the city-wide check already refuses
                before, after = (start - span[0]).n, (span[1] - start).n + 1
                if before < MIN_PRE_OBSERVED or after < 1:
                    problems.add(INTERVENTIONS, f"{shorten(area)} / {shorten(outcome)} has data "
                                 f"{format_period(span[0])} to {format_period(span[1])}: "
                                 f"{max(before, 0)} period(s) before the start and "
                                 f"{max(after, 0)} from it; an estimate needs at least "
                                 f"{MIN_PRE_OBSERVED} before and 1 after", line, column)


def load_interventions(path: Path, series: pd.DataFrame | None, tags: pd.DataFrame | None,
                        problems: Problems, warnings: list[str]) -> pd.DataFrame:
    """Check interventions.csv; references are checked only against tables that loaded."""
    file = INTERVENTIONS
    frame = read_csv_text(path, REQUIRED[INTERVENTIONS], label=file)
    for column in OPTIONAL[INTERVENTIONS]:
        if column not in frame:
            frame[column] = ""
    frame = strip_columns(frame, frame.columns.drop("line"))
    require_text(frame, ["id", "city", "intervention", "programme", "area", "start", "outcomes"],
                  file, problems)
    check_names(frame, ["city", "intervention"], file, problems)
    check_names(frame, ["id", "programme", "target_area"], file, problems, allow_semicolon=True)
    check_list_items(frame, ["area", "outcomes", "comparison_areas"], file, problems, warnings)
    for column in ("area", "outcomes"):
        no_items = (frame[column] != "") & (frame[column].map(split_list).map(len) == 0)
        problems.add_rows(file, frame, no_items, column,
                          "{value!r} lists nothing; expected ';'-separated names")
    problems.add_rows(file, frame, frame["id"].duplicated() & (frame["id"] != ""), "id",
                      "id {value!r} is used by an earlier row; ids must be unique")
    if tags is not None:
        types = _intervention_types(tags)
        unknown_type = ~frame["intervention"].isin(types) & (frame["intervention"] != "")
        for line, kind in frame.loc[unknown_type, ["line", "intervention"]].itertuples(
                index=False):
            hint = did_you_mean(kind, types)
            problems.add(file, f"intervention type {shorten(kind)!r} is not a tag of kind "
                         "'intervention' in tags.csv; expected one of "
                         + ", ".join(sorted(types)) + (f"; {hint}" if hint else "")
                         + f" (a new type needs a tags.csv row '{shorten(kind)},intervention')",
                         int(line), "intervention", check="unknown intervention type")
    bad_conf = ~frame["confidence"].isin(("", *CONFIDENCE_LEVELS))
    problems.add_rows(file, frame, bad_conf, "confidence",
                      "confidence {value!r}; expected V (verified), P (partly) or U (unverified)")
    starts = parse_periods(frame, "start", file, problems, allow_blank=True)
    ends = parse_periods(frame, "end", file, problems, allow_blank=True)
    if series is None:
        return frame
    keys = _series_keys(series)
    bounds = _period_bounds(series)
    pairs = _pair_bounds(series)
    for idx, line, city, start_label, end_label, *lists in frame[
            ["line", "city", "start", "end", "area", "comparison_areas", "outcomes"]
    ].itertuples(name=None):
        line = int(line)
        if city == "":
            continue
        if city not in keys:
            problems.add(file, f"city {shorten(city)!r} has no rows in outcomes.csv"
                         + _hint(city, keys), line, "city")
            continue
        for column, value in zip(("area", "comparison_areas"), lists[:2], strict=True):
            for area in split_list(value):
                # A rollout's units and their data are checked with rollouts.csv.
                if area not in keys[city]["areas"] and area != ROLLOUT_AREA:
                    problems.add(file, f"area {shorten(area)!r} has no data for {city} in "
                                 "outcomes.csv" + _hint(area, keys[city]["areas"]), line,
                                 column)
        for outcome in split_list(lists[2]):
            if outcome not in keys[city]["outcomes"]:
                problems.add(file, f"outcome {shorten(outcome)!r} has no data for {city} in "
                             "outcomes.csv" + _hint(outcome, keys[city]["outcomes"]), line,
                             "outcomes")
        start = starts[idx]
        in_city_data = start is not None and frequency_of(start) == frequency_of(
            bounds[city][0]) and bounds[city][0] < start <= bounds[city][1]
        _check_pairs(city, lists, start if in_city_data else None, pairs, line, problems)
        if start is None:
            continue
        first, last = bounds[city]
        if frequency_of(start) != frequency_of(first):
            problems.add(file, f"start {start_label!r} is not of the city's period frequency "
                         f"(data run {format_period(first)} to {format_period(last)})",
                         line, "start")
        elif not first < start <= last:
            problems.add(file, f"start {start_label!r} is outside the data for {city} "
                         f"({format_period(first)} to {format_period(last)}); a programme "
                         "needs periods before and after its start", line, "start")
        end = ends[idx]
        if end is not None and frequency_of(end) == frequency_of(start) and end < start:
            problems.add(file, f"end {end_label!r} is before start {start_label!r}", line,
                         "end")
    return frame


def load_news(path: Path, tags: pd.DataFrame | None, problems: Problems,
               warnings: list[str]) -> pd.DataFrame:
    file = NEWS
    frame = read_csv_text(path, REQUIRED[NEWS], label=file)
    for column in OPTIONAL[NEWS]:
        if column not in frame:
            frame[column] = ""
    frame = strip_columns(frame, ["date", "title", "outlet", "tags", "url"])
    # A news item says who published it: news import refuses an item without an outlet too.
    require_text(frame, ["title", "outlet"], file, problems)
    months = []
    for line, label in frame[["line", "date"]].itertuples(index=False):
        try:
            months.append(format_period(parse_date_or_month(label)))
        except ValueError as exc:
            problems.add(file, str(exc), int(line), "date", check="bad date")
            months.append("")
    frame["month"] = months
    bad_url = (frame["url"] != "") & ~frame["url"].map(is_http_url)
    problems.add_rows(file, frame, bad_url, "url",
                      "url {value!r} is not an http(s) address (no spaces, quotes, backslashes "
                      "or <>)")
    known = {t.lower() for t in tags["tag"]} if tags is not None else set()
    for line, value in frame[["line", "tags"]].itertuples(index=False):
        if tags is None:
            break
        unknown = [t for t in split_list(value) if t.lower() not in known]
        if unknown:
            warnings.append(f"{file}, row {line}, column 'tags': unknown tag(s) "
                            f"{', '.join(map(repr, unknown))} (kept; add them to tags.csv)")
    return frame


def load_funders(path: Path, series: pd.DataFrame | None, tags: pd.DataFrame | None,
                  problems: Problems, warnings: list[str]) -> pd.DataFrame:
    file = FUNDERS
    frame = strip_columns(read_csv_text(path, REQUIRED[FUNDERS], label=file),
                   ["funder", "email", "cities", "interventions"])
    require_text(frame, ["funder", "email"], file, problems)
    # The mailer's rule for a display name: no control, format or separator character.
    problems.add_rows(file, frame, frame["funder"].map(has_control_chars), "funder",
                      "funder name {value!r} " + CONTROL_PROBLEM)
    problems.add_rows(file, frame, frame["funder"].map(has_encoded_word), "funder",
                      "funder name {value!r} " + ENCODED_WORD_PROBLEM)
    folded = frame["funder"].map(lambda name: " ".join(name.split()).casefold())
    problems.add_rows(file, frame, folded.duplicated() & (folded != ""), "funder",
                      "funder {value!r} is already listed on an earlier row")
    named = frame.loc[(frame["funder"] != "")].drop_duplicates("funder")
    check_slugs(named.set_index("funder")["line"], file, "funder", "funder", problems,
                place="outbox file")
    # One funder may have several addresses, ';'-separated; every one must be safe for a header.
    for line, value in frame[["line", "email"]].itertuples(index=False):
        if value == "":
            continue
        addresses = split_list(value)
        if not addresses:
            problems.add(file, f"{shorten(value)!r} lists no address", int(line), "email")
        for address in addresses:
            reason = address_problem(address)
            if reason:
                problems.add(file, f"email {shorten(address)!r} is not a plain address like "
                             f"name@example.org ({reason})", int(line), "email",
                             check="bad address")
    check_list_items(frame, ["cities", "interventions"], file, problems, warnings)
    cities = set(series["city"]) if series is not None else None
    types = _intervention_types(tags) if tags is not None else None
    for line, listed_cities, listed_types in frame[["line", "cities", "interventions"]].itertuples(
            index=False):
        for city in split_list(listed_cities):
            if cities is not None and city != ALL and city not in cities:
                problems.add(file, f"city {shorten(city)!r} is not in outcomes.csv", int(line),
                             "cities")
        for kind in split_list(listed_types):
            if types is not None and kind != ALL and kind not in types:
                problems.add(file, f"intervention {shorten(kind)!r} is not an intervention tag",
                             int(line), "interventions")
    return frame
