"""The workbook's tables: file names, columns, and the limits every table is checked against."""

OUTCOMES = "outcomes.csv"
INTERVENTIONS = "interventions.csv"
NEWS = "news.csv"
TAGS = "tags.csv"
FUNDERS = "funders.csv"
# Optional: attributes of areas (population, covariates, the larger area each lies in), and the
# outcome series of small units (census blocks) that only micro-synthetic control reads.
AREAS = "areas.csv"
UNIT_OUTCOMES = "unit_outcomes.csv"
# Optional: what a programme cost, by period, and the social cost of one event of an outcome
# (value for money; the package ships defaults for outcomes with a published estimate).
COSTS = "costs.csv"
UNIT_COSTS = "unit_costs.csv"
# Optional: the units (areas or groups) of a staggered rollout and when each started.
ROLLOUTS = "rollouts.csv"
# The `area` of an interventions.csv row whose units and starts are in rollouts.csv.
ROLLOUT_AREA = "rollout"
ROLLOUT_REQUIRED = ("programme", "unit", "start")
ROLLOUT_OPTIONAL = ("end", "announced", "source", "confidence", "notes")

REQUIRED = {
    OUTCOMES: ("city", "area", "outcome", "period", "count"),
    INTERVENTIONS: ("id", "city", "intervention", "programme", "area", "start", "outcomes"),
    NEWS: ("date", "title", "outlet", "tags"),
    TAGS: ("tag", "kind"),
    FUNDERS: ("funder", "email", "cities", "interventions"),
}
#: The optional tables beyond the five; each is checked when present.
EXTRA_TABLES = (AREAS, UNIT_OUTCOMES, COSTS, UNIT_COSTS, ROLLOUTS)
EXTRA_REQUIRED = {AREAS: ("city", "area"), UNIT_OUTCOMES: REQUIRED[OUTCOMES],
                  COSTS: ("programme", "start", "end", "amount", "currency", "price_year"),
                  UNIT_COSTS: ("outcome", "cost_per_event", "currency", "price_year"),
                  ROLLOUTS: ROLLOUT_REQUIRED}
EXTRA_OPTIONAL = {COSTS: ("source", "confidence", "notes"),
                  UNIT_COSTS: ("what", "source", "confidence"), ROLLOUTS: ROLLOUT_OPTIONAL}
# areas.csv: every column after these is a numeric covariate (blank = not known).
AREA_COLUMNS = ("city", "area", "population", "within")
OPTIONAL = {
    OUTCOMES: ("population",),
    # target_area: where the programme actually ran when the analysed `area` is larger (text).
    INTERVENTIONS: ("end", "comparison_areas", "confidence", "source", "notes", "target_area"),
    NEWS: ("url", "summary"),
    TAGS: (),
    FUNDERS: (),
}
TAG_KINDS = ("city", "intervention", "initiative", "topic")
CONFIDENCE_LEVELS = ("V", "P", "U")
CITYWIDE = "citywide"
ALL = "*"
# A per-period count above this is a unit or typing error, not a city's violence.
MAX_COUNT = 10_000_000
# Stop listing one kind of problem after this many; a 200 MB file can hold millions.
MAX_PROBLEMS_PER_CHECK = 20

# Names longer than this are pasted paragraphs, not names (report folders cut slugs at 60).
MAX_NAME_CHARS = 200
MAX_POPULATION = 2_000_000_000
