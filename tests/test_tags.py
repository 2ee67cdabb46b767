from pathlib import Path

import pytest

from impactbook.errors import DataError
from impactbook.news.tags import TagSplit, read_tags_csv, split_tags

FIXTURES = Path(__file__).parent / "fixtures" / "news"

SEED_VOCAB = ["Chicago", "Oakland", "Pittsburgh", "Group Violence Intervention",
              "Violence Intervention", "Support and Outreach",
              "Intimate Partner Violence Intervention",
              "National Initiative for Building Community Trust and Justice"]


def test_concatenated_seed_line_splits_into_four_tags():
    result = split_tags("ChicagoOakland Group Violence Intervention Support and Outreach",
                        SEED_VOCAB)
    assert result == TagSplit(
        ("Chicago", "Oakland", "Group Violence Intervention", "Support and Outreach"), ())


def test_two_long_tags_joined_by_a_space():
    result = split_tags("National Initiative for Building Community Trust and Justice "
                        "Intimate Partner Violence Intervention", SEED_VOCAB)
    assert result.tags == ("National Initiative for Building Community Trust and Justice",
                           "Intimate Partner Violence Intervention")
    assert result.unknown == ()


@pytest.mark.parametrize("text, expected", [
    ("New York", ("New York",)),
    ("York", ("York",)),
    ("New York; York", ("New York", "York")),
    ("New YorkYork", ("New York", "York")),
    ("new york city", ("New York",)),
])
def test_longest_match_wins_over_nested_tag(text, expected):
    assert split_tags(text, ["York", "New York"]).tags == expected


def test_overlapping_tags_prefer_longest_cover():
    vocab = ["Violence Intervention", "Group Violence Intervention"]
    assert split_tags("Group Violence Intervention", vocab) == TagSplit(
        ("Group Violence Intervention",), ())
    assert split_tags("Violence Intervention", vocab).tags == ("Violence Intervention",)


def test_more_coverage_beats_an_early_long_match():
    # "A B" + unknown "C" covers less than "A" + "B C", so the second reading wins.
    split = split_tags("Alpha Beta Gamma", ["Alpha Beta", "Alpha", "Beta Gamma"])
    assert split == TagSplit(("Alpha", "Beta Gamma"), ())


def test_fewer_tags_preferred_when_coverage_ties():
    split = split_tags("Support and Outreach", ["Support", "and Outreach",
                                                "Support and Outreach"])
    assert split.tags == ("Support and Outreach",)


def test_case_insensitive_and_normalised_to_vocabulary_spelling():
    split = split_tags("CHICAGO;  group   violence\u00a0intervention", SEED_VOCAB)
    assert split.tags == ("Chicago", "Group Violence Intervention")


def test_separators_and_whitespace_at_boundaries():
    split = split_tags(" Chicago ,Oakland|Pittsburgh\n Support and Outreach ;", SEED_VOCAB)
    assert split.tags == ("Chicago", "Oakland", "Pittsburgh", "Support and Outreach")
    assert split.unknown == ()


def test_unknown_runs_are_kept_as_written():
    split = split_tags("ChicagoOakland Street Outreach; Ceasefire 2.0", SEED_VOCAB)
    assert split.tags == ("Chicago", "Oakland")
    assert split.unknown == ("Street Outreach", "Ceasefire 2.0")
    assert split.all_tags == ("Chicago", "Oakland", "Street Outreach", "Ceasefire 2.0")


def test_unknown_runs_between_known_tags():
    split = split_tags("Chicago Street Outreach Oakland", SEED_VOCAB)
    assert split.tags == ("Chicago", "Oakland")
    assert split.unknown == ("Street Outreach",)


def test_tags_do_not_match_inside_a_word():
    # "Chicagoland" is not Chicago plus "land"; it is reported whole.
    assert split_tags("Chicagoland", ["Chicago"]) == TagSplit((), ("Chicagoland",))
    assert split_tags("Oakland", ["Oak"]) == TagSplit((), ("Oakland",))


def test_acronym_glued_to_a_word():
    assert split_tags("NNSCChicago", ["NNSC", "Chicago"]).tags == ("NNSC", "Chicago")


def test_repeats_reported_once_and_punctuation_only_runs_dropped():
    split = split_tags("Chicago; chicago & Oakland.", SEED_VOCAB)
    assert split == TagSplit(("Chicago", "Oakland"), ())


def test_empty_text_and_empty_vocabulary():
    assert split_tags("", SEED_VOCAB) == TagSplit((), ())
    assert split_tags("Chicago; Oakland", []) == TagSplit((), ("Chicago", "Oakland"))


def test_tag_containing_a_separator_still_matches():
    split = split_tags("Washington, D.C.; Chicago", ["Washington, D.C.", "Chicago"])
    assert split.tags == ("Washington, D.C.", "Chicago")


def test_read_tags_csv_fixture():
    tags = read_tags_csv(FIXTURES / "tags.csv")
    assert list(tags.columns) == ["tag", "kind"]
    assert ("Chicago", "city") in set(zip(tags["tag"], tags["kind"]))


def test_read_tags_csv_reports_bad_rows_with_lines(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("tag,kind\nChicago,city\nchicago,city\nFoo,place\n,topic\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_tags_csv(path)
    rows = sorted((p.row, p.column) for p in info.value.problems)
    assert rows == [(3, "tag"), (4, "kind"), (5, "tag")]


def test_read_tags_csv_missing_file_and_columns(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_tags_csv(tmp_path / "tags.csv")
    (tmp_path / "tags.csv").write_text("<html><body>oops</body></html>\n", encoding="utf-8")
    with pytest.raises(DataError, match="HTML"):
        read_tags_csv(tmp_path / "tags.csv")
    (tmp_path / "tags.csv").write_text("name,type\nChicago,city\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing required column"):
        read_tags_csv(tmp_path / "tags.csv")
