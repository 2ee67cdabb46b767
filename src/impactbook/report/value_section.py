"""The "Value for money" part of a report: a programme's section and its one-line summary.

Both take the :class:`~impactbook.effects.value.ValueForMoney` of
:func:`impactbook.analysis.value.value_for`; a programme without costs has none, and then
there is no line and no section (both functions return an empty string for None). Every
figure is shown with its interval, the reason when there is none, what the total covers, the
unit cost's source and confidence, and what the figures leave out.
"""

from __future__ import annotations

import html
import math

from impactbook.designs import finite_number
from impactbook.effects.value import ValueForMoney
from impactbook.report.format import MINUS, MISSING

TITLE = "Value for money"
_SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3"}
_CONFIDENCE = {"V": "verified", "P": "partly verified", "U": "unverified"}


def format_money(amount: object, currency: str) -> str:
    """``$12.7 million``, ``$45,210``, ``950 CHF``: whole units, millions above ten million."""
    value = finite_number(amount)
    if value is None:
        return MISSING
    text = (f"{value / 1e6:,.1f} million" if abs(value) >= 1e7 else f"{value:,.0f}")
    text = text.replace("-", MINUS)
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _events(value: object) -> str:
    number = finite_number(value)
    if number is None:
        return MISSING
    return f"{number:,.0f}" if abs(number) >= 10 else f"{number:,.1f}"


def _ratio(value: object) -> str:
    number = finite_number(value)
    return MISSING if number is None else f"{number:,.2f}"


def break_even_verdict(value: ValueForMoney) -> str | None:
    """Whether the events averted reach the break-even point, judged on their interval."""
    if value.break_even_events is None:
        return None
    _, low, high = value.events_averted
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    need = _events(value.break_even_events)
    if low >= value.break_even_events:
        return (f"even the low end of the interval ({_events(low)}) reaches the {need} events "
                "at which the programme pays for itself")
    if high < value.break_even_events:
        return (f"even the high end of the interval ({_events(high)}) falls short of the {need} "
                "events at which the programme would pay for itself")
    return (f"the interval ({_events(low)} to {_events(high)}) includes the {need} events at "
            "which the programme pays for itself: these data do not settle whether it did")


def value_summary_line(value: ValueForMoney | None) -> str:
    """One line for the page-one summary, the index and the email ("" without costs)."""
    if value is None:
        return ""
    where = f"{value.window_first} to {value.window_last}"
    if value.total_cost is None:
        return f"{TITLE}: not computed ({value.reason})."
    money = f"{value.price_year} {value.currency}"
    parts = [f"cost {format_money(value.total_cost, value.currency)} ({money}) over {where}"]
    if value.has_figures:
        low, high = (format_money(v, value.currency) for v in (
            value.cost_per_event_averted_low, value.cost_per_event_averted_high))
        parts.append(f"{format_money(value.cost_per_event_averted, value.currency)} per event "
                     f"averted ({value.outcome}; 95% CI {low} to {high})")
    else:
        parts.append(f"no cost per event averted: {value.reason}")
    if value.benefit_cost_ratio is not None:
        parts.append(f"benefit-cost ratio {_ratio(value.benefit_cost_ratio)} (95% CI "
                     f"{_ratio(value.benefit_cost_ratio_low)} to "
                     f"{_ratio(value.benefit_cost_ratio_high)})")
    if value.break_even_events is not None:
        parts.append(f"it pays for itself at {_events(value.break_even_events)} "
                     f"{value.outcome} averted")
    return f"{TITLE}: " + "; ".join(parts) + "."


def _row(label: str, text: str) -> str:
    return f"<tr><th scope=\"row\">{html.escape(label)}</th><td>{html.escape(text)}</td></tr>"


def value_section_html(value: ValueForMoney | None) -> str:
    """The programme's "Value for money" section as HTML ("" without costs)."""
    if value is None:
        return ""
    currency = value.currency
    money = f"{value.price_year} {currency}" if value.price_year else currency
    rows = [
        _row("Window", f"{value.window_first} to {value.window_last} "
                       f"({value.window_months} months)"),
        _row("Cost of the window", f"{format_money(value.total_cost, currency)} ({money})"),
        _row("What the cost covers", value.covers),
        _row("Events averted (95% CI)",
             f"{_events(value.events_averted[0])} ({_events(value.events_averted[1])} to "
             f"{_events(value.events_averted[2])}) {value.outcome}"),
    ]
    if value.has_figures:
        rows.append(_row("Cost per event averted (95% CI)",
                         f"{format_money(value.cost_per_event_averted, currency)} "
                         f"({format_money(value.cost_per_event_averted_low, currency)} to "
                         f"{format_money(value.cost_per_event_averted_high, currency)})"))
    else:
        rows.append(_row("Cost per event averted", f"not given: {value.reason}"))
    if value.break_even_events is not None:
        rows.append(_row("Break-even", f"{_events(value.break_even_events)} {value.outcome} "
                                       "averted"))
    if value.benefit_cost_ratio is not None:
        rows.append(_row("Benefit-cost ratio (95% CI)",
                         f"{_ratio(value.benefit_cost_ratio)} "
                         f"({_ratio(value.benefit_cost_ratio_low)} to "
                         f"{_ratio(value.benefit_cost_ratio_high)})"))
    elif value.benefit_cost_reason:
        rows.append(_row("Benefit-cost ratio", f"not given: {value.benefit_cost_reason}"))
    notes = []
    verdict = break_even_verdict(value)
    if verdict:
        notes.append(f"Break-even: {verdict}.")
    unit = value.unit_cost
    if unit is not None:
        confidence = _CONFIDENCE.get(unit.confidence, "confidence not stated")
        notes.append(
            f"Social cost of one event: {format_money(unit.cost_per_event, unit.currency)} "
            f"({unit.price_year} {unit.currency}"
            + (f", {format_money(value.unit_cost_converted, currency)} in {money}"
               if value.unit_cost_converted is not None and unit.price_year != value.price_year
               else "")
            + f"), {unit.what or 'what it counts is not stated'}; source: "
            f"{unit.source or 'not stated'} ({confidence}, {unit.origin}).")
    notes.append("The figures leave out " + "; ".join(value.leaves_out) + ".")
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (f"<section class=\"value-for-money\"><h3>{TITLE}: {html.escape(value.shown_name)}, "
            f"{html.escape(value.outcome)}</h3><table class=\"value-table\">{''.join(rows)}"
            f"</table><ul class=\"value-notes\">{items}</ul></section>")


def report_values(workbook, programmes, results) -> tuple[ValueForMoney, ...]:
    """Value for money of each result of a city report whose programme has costs, computed
    from the design the report leads with (its headline); empty without costs."""
    from impactbook.analysis.value import value_for
    from impactbook.workbook import split_list

    if workbook.costs.empty:
        return ()
    rows = {row["id"]: row for row in programmes.to_dict("records")}
    values = []
    for result in results:
        programme, headline = rows.get(result.programme_id), result.headline
        if programme is None or headline is None:
            continue
        value = value_for(workbook, programme, tuple(split_list(programme["area"])), headline)
        if value is not None:
            values.append(value)
    return tuple(values)


def value_lines(report) -> list[str]:
    """One summary line per programme x outcome with costs (page one, index, email)."""
    return [value_summary_line(value) for value in getattr(report, "values", ())]


def show_value_for_money(report) -> None:
    """The report's "Value for money" section: nothing at all (no heading) without costs."""
    if not getattr(report, "values", ()):
        return
    _show_values(report)


def _show_values(report) -> None:
    from impactbook.report.blocks import section, show_html
    from impactbook.report.headlines import value_caveat

    def part(value: ValueForMoney) -> str:
        # A figure resting on a design that is not the headline says so above its table.
        caveat = value_caveat(report, value)
        note = f"<p class='ib-caveats'>{html.escape(caveat)}</p>" if caveat else ""
        return note + value_section_html(value)

    @section(TITLE)
    def show() -> None:
        show_html("".join(part(value) for value in report.values))

    show()
