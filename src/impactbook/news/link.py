"""Which news items belong to which report, and tag counts over time."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from impactbook.errors import DataError, ParameterError, Problem
from impactbook.news.tags import normalise_space, tag_key
from impactbook.workbook.cells import split_list
from impactbook.workbook.periods import parse_date_or_month


def item_tags(tags: object) -> list[str]:
    """The tags of one item (its ``;``-separated ``tags`` field)."""
    return [t for t in map(normalise_space, split_list(tags)) if t]


def _has_any_tag(news: pd.DataFrame, wanted: Iterable[str]) -> pd.Series:
    if "tags" not in news.columns:
        return pd.Series(False, index=news.index)
    keys = {tag_key(t) for t in wanted if normalise_space(t)}
    return news["tags"].map(lambda v: any(tag_key(t) in keys for t in item_tags(v))
                            ).astype(bool)


def sort_news(items: pd.DataFrame, newest_first: bool = False) -> pd.DataFrame:
    """Items ordered by date (``YYYY-MM`` sorts before days of that month), then title."""
    if items.empty:
        return items.reset_index(drop=True)
    order = items.assign(_date=items["date"].astype(str), _title=items["title"].astype(str))
    order = order.sort_values(["_date", "_title"], ascending=[not newest_first, True],
                              kind="stable")
    return order.drop(columns=["_date", "_title"]).reset_index(drop=True)


def news_for_intervention(news: pd.DataFrame, intervention: str) -> pd.DataFrame:
    """Items tagged with the intervention type (case- and space-insensitively), by date."""
    return sort_news(news[_has_any_tag(news, [intervention])])


def news_for_city(news: pd.DataFrame, tags: pd.DataFrame, interventions: pd.DataFrame,
                  city: str) -> pd.DataFrame:
    """Items for a city's report, by date, with a ``matched_by`` column saying why.

    An item belongs to the city when it is tagged with the city, with an
    intervention type the city runs (``interventions.csv``), or with one of the
    city's programme names that the vocabulary (``tags``) knows as an initiative
    or intervention (``Oakland Ceasefire``).
    """
    city_key = tag_key(city)
    runs = interventions[interventions["city"].map(tag_key) == city_key]
    linked = [normalise_space(t) for t in runs["intervention"].dropna().astype(str)]
    if "programme" in runs.columns and not tags.empty:
        known = {tag_key(t): t for t, kind in zip(tags["tag"], tags["kind"], strict=True)
                 if str(kind) in ("initiative", "intervention")}
        linked += [known[tag_key(p)] for p in runs["programme"].dropna().astype(str)
                   if tag_key(p) in known]
    linked_keys = {tag_key(t): t for t in linked}

    def reason(value: object) -> str:
        keys = [tag_key(t) for t in item_tags(value)]
        found = (["city"] if city_key in keys else []) + [
            linked_keys[k] for k in dict.fromkeys(keys) if k in linked_keys]
        return "; ".join(found)

    if "tags" not in news.columns or news.empty:
        return sort_news(news.assign(matched_by=pd.Series(dtype=object)))
    matched = news.assign(matched_by=news["tags"].map(reason).astype(object))
    return sort_news(matched[matched["matched_by"] != ""])


def count_tags_by_period(news: pd.DataFrame, freq: str = "Y",
                         tags: Iterable[str] | None = None) -> pd.DataFrame:
    """Items per tag and period: rows are periods (``2017``, ``2017-Q4`` or ``2017-11``,
    every period from the first to the last item, zeros included), columns are tags.

    ``tags`` restricts (and orders) the columns; otherwise every tag that occurs.
    """
    freq = str(freq).upper()
    if freq not in ("Y", "Q", "M"):
        raise ParameterError("freq", freq, "Y (years), Q (quarters) or M (months)")
    pandas_freq = {"Y": "Y-DEC", "Q": "Q-DEC", "M": "M"}[freq]
    records = []
    for position, (date, value) in enumerate(zip(news["date"], news["tags"], strict=True)):
        try:
            month = parse_date_or_month(date)
        except ValueError as exc:
            raise DataError(Problem("news.csv", str(exc), row=position + 2,
                                    column="date")) from None
        period = month.asfreq(pandas_freq)
        records += [(period, t) for t in dict.fromkeys(item_tags(value))]
    wanted = [normalise_space(t) for t in tags] if tags is not None else None
    if wanted is not None:
        keys = {tag_key(t): t for t in wanted}
        records = [(p, keys[tag_key(t)]) for p, t in records if tag_key(t) in keys]
    columns = wanted if wanted is not None else sorted({t for _, t in records}, key=str.casefold)
    if not records:
        return pd.DataFrame(columns=columns, dtype="int64").rename_axis("period")
    long = pd.DataFrame(records, columns=["period", "tag"])
    table = pd.crosstab(long["period"], long["tag"])
    full = pd.period_range(long["period"].min(), long["period"].max(), freq=pandas_freq)
    table = table.reindex(index=full, columns=columns, fill_value=0).astype("int64")
    table.index = [_period_label(p, freq) for p in table.index]
    table.index.name = "period"
    table.columns.name = None
    return table


def _period_label(period: pd.Period, freq: str) -> str:
    if freq == "Y":
        return f"{period.year:04d}"
    if freq == "Q":
        return f"{period.year:04d}-Q{period.quarter}"
    return f"{period.year:04d}-{period.month:02d}"


# --------------------------------------------------------------------------- rendering
