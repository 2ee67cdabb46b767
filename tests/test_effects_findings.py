"""Plain-language sentences: direction, size, interval, verdict, design; no overclaiming."""

from __future__ import annotations

import dataclasses

import pandas as pd

from impactbook.effects import (
    describe_finding,
    describe_interval,
    describe_pooled,
    estimate_its,
    pool_random_effects,
)
from impactbook.effects.magnitude import events_averted
from tests.effects_sim import simulate_series

LABELS = {"city": "New York", "area": "Precinct 77", "outcome": "shootings"}


def make_estimate(rate_ratio: float, low: float, high: float, method: str = "its",
                  detectable: float = 0.55, **details):
    base = estimate_its(simulate_series(seed=2, start="2010-01"), "2010-01", labels=LABELS)
    observed = base.post_mean * base.post_periods
    return dataclasses.replace(
        base, rate_ratio=rate_ratio, ci_low=low, ci_high=high, method=method,
        details={**base.details, **details}, detectable_rate_ratio=detectable,
        events_averted=events_averted(observed, rate_ratio, low, high))


def test_interval_including_no_change_is_no_clear_change_with_its_interval():
    text = describe_finding(make_estimate(0.82, 0.69, 1.02))
    assert text == (
        "In Precinct 77 (New York), monthly shootings showed no clear change against what the "
        "pre-programme trend projected in the 24 months from January 2010 (18% lower, 95% "
        "interval 31% lower to 2% higher; interrupted time series). With counts this small "
        "only a fall of 45% or more could have been detected with 80% power (5% level), so "
        "this is not evidence of no effect."
    )
    assert "reduction" not in text and "evidence of a" not in text


def test_low_power_is_said_in_words():
    text = describe_finding(make_estimate(0.9, 0.5, 1.6, detectable=float("nan")))
    assert "no fall of any size could reliably have been detected" in text
    modest = describe_finding(make_estimate(0.97, 0.9, 1.05, detectable=0.88))
    assert "Only a fall of 12% or more could have been detected" in modest


def test_clear_change_is_said_in_events():
    est = make_estimate(0.75, 0.62, 0.90)
    text = describe_finding(est)
    averted, low, high = est.events_averted
    assert 100 < low < averted < high  # two significant figures above 100
    two = [f"{float(f'{v:.2g}'):.0f}" for v in (averted, low, high)]
    assert (f"about {two[0]} fewer shootings than expected (95% interval {two[1]} to "
            f"{two[2]})") in text
    rise = describe_finding(make_estimate(1.3, 1.1, 1.5))
    assert "more shootings than expected" in rise


def test_interval_excluding_no_change_is_evidence_without_causal_claim():
    text = describe_finding(make_estimate(0.75, 0.62, 0.90))
    assert "25% lower" in text and "95% interval 38% to 10% lower" in text
    assert "evidence of a fall" in text and "cannot rule out other causes" in text
    rise = describe_finding(make_estimate(1.3, 1.1, 1.5))
    assert "30% higher" in rise and "evidence of a rise" in rise
    assert "caused" not in text and "proves" not in text


def test_comparison_and_prepost_name_their_design():
    comparison = describe_finding(make_estimate(0.8, 0.6, 1.1, method="comparison",
                                                comparison_areas=["Precinct 71", "Precinct 73"]))
    assert "comparison areas (Precinct 71, Precinct 73)" in comparison
    assert "; comparison areas)" in comparison
    prepost = describe_finding(make_estimate(0.9, 0.8, 1.0, method="prepost"))
    assert "naive before/after comparison" in prepost and "no clear change" in prepost


def test_citywide_and_quarterly_wording():
    series = simulate_series(n_pre=24, n_post=8, start="2013-01", freq="Q-DEC", seed=3)
    est = estimate_its(series, "2013-Q1", labels={"city": "Seattle", "area": "citywide",
                                                  "outcome": "any crime"})
    text = describe_finding(est)
    assert text.startswith("In Seattle, quarterly counts of any crime ")
    assert "in the 8 quarters from Q1 2013" in text


def test_interval_words():
    assert describe_interval(0.5, 0.8) == "50% to 20% lower"
    assert describe_interval(1.1, 1.4) == "10% to 40% higher"
    # One rounding with the tables: what a table writes -0.1% the sentence calls 0.1% lower;
    # only what the table writes 0% is "about the same".
    assert describe_interval(0.999, 1.3) == "0.1% lower to 30% higher"
    assert describe_interval(0.9996, 1.3) == "about the same to 30% higher"


def test_describe_pooled():
    frame = pd.DataFrame({"log_rate_ratio": [-0.3, -0.25, -0.2], "se": [0.05, 0.05, 0.05],
                          "city": ["New York"] * 3})
    text = describe_pooled(pool_random_effects(frame), "Cure Violence", "shootings")
    assert text.startswith("Across 3 programmes, all in New York, with Cure Violence, "
                           "shootings were 22% lower overall")
    assert "REML" in text and "Hartung-Knapp" in text and "I-squared" in text
    assert "evidence of a fall" in text and "prediction interval" in text
    wide = frame.assign(log_rate_ratio=[-0.6, 0.1, -0.2], se=0.2)
    text = describe_pooled(pool_random_effects(wide), "Cure Violence", "shootings")
    assert "shootings showed no clear change overall (pooled" in text
    assert "evidence of" not in text


def test_caveats_name_each_guardrail_briefly():
    from impactbook.effects.findings import describe_caveats

    warnings = [
        "The window (2018-01 to 2023-12) overlaps March 2020 to December 2021, when violence "
        "shifted nationally with the pandemic: the change may reflect that shift.",
        "Counts are small (mean 4.3 a month, under 5): percent changes swing widely.",
        "Only 4 quarters from the start onwards are in the data (24 asked): the post-period is "
        "shorter than asked.",
        "Something new that has no short name.",
    ]
    assert describe_caveats(warnings) == (
        "the window overlaps the 2020-21 pandemic shift; small counts; a shorter follow-up than "
        "asked; other data warnings (see the notes)")
    assert describe_caveats([]) == ""


def test_a_second_warning_of_a_known_kind_adds_no_other_caveat():
    from impactbook.effects.findings import describe_caveats

    warnings = ["Counts are small (mean 4.3 a month, under 5): percent changes swing widely.",
                "Counts are small in the comparison areas too (mean 3.1 a month)."]
    assert describe_caveats(warnings) == "small counts"
