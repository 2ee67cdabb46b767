"""Notebook parameters from the command line: ``-p NAME VALUE`` and ``--template``, checked
against the notebook's parameters cell before any kernel starts."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from impactbook.cli import main
from impactbook.errors import ParameterError
from impactbook.render.parameters import (
    NO_LITERAL,
    cli_parameters,
    parameter_defaults,
    parse_cli_value,
)
from impactbook.render.plan import CITY, INTERVENTION, plan_batch

from .conftest import FIXTURES, ROOT

DATA = ROOT / "data"
CITY_NOTEBOOK = ROOT / "notebooks" / "city_report.ipynb"


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if anything tries to start a kernel."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr("impactbook.render.kernel.KernelSession.__init__", refuse)


def _notebook(source: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})]
    return nb


def test_values_parse_as_papermill_parses_them():
    assert parse_cli_value("36") == 36 and isinstance(parse_cli_value("36"), int)
    assert parse_cli_value("0.5") == 0.5
    assert parse_cli_value("True") is True and parse_cli_value("False") is False
    assert parse_cli_value("None") is None
    assert parse_cli_value("New York") == "New York"


def test_defaults_and_types_come_from_the_parameters_cell():
    nb = _notebook('city = "X"\nn: int = 3\nrate = 0.5\nflag = False\nitems = None\n'
                   'where = make()\na, b = 1, 2\n')
    defaults = parameter_defaults(nb)
    assert defaults == {"city": "X", "n": 3, "rate": 0.5, "flag": False, "items": None,
                        "where": NO_LITERAL, "a": NO_LITERAL, "b": NO_LITERAL}
    typed = cli_parameters(nb, [("city", "1999"), ("n", "36"), ("rate", "2"), ("flag", "True"),
                                ("items", "a;b"), ("where", "7")])
    # Text parameters keep what was typed; the others are parsed, a whole number is a decimal.
    assert typed == {"city": "1999", "n": 36, "rate": 2.0, "flag": True, "items": "a;b",
                     "where": 7}
    assert isinstance(typed["rate"], float)


@pytest.mark.parametrize("pair, expected", [
    (("n", "many"), "a whole number"),
    (("n", "3.5"), "a whole number"),
    (("n", "True"), "a whole number"),
    (("flag", "yes"), "True or False"),
    (("town", "X"), "one of the notebook's parameters: flag, n"),
])
def test_wrong_names_and_types_name_the_option(pair, expected):
    nb = _notebook("n = 3\nflag = False\n")
    with pytest.raises(ParameterError) as info:
        cli_parameters(nb, [pair])
    assert info.value.parameter == f"-p {pair[0]}" and expected in info.value.expected


def test_cli_refuses_bad_parameters_before_any_kernel_starts(tmp_path, capsys, no_kernel):
    out = tmp_path / "run"
    cases = [
        (["render", "--city", "Chicago", "-p", "post_period", "36"], "'-p post_period'"),
        (["render", "--city", "Chicago", "-p", "post_periods", "x"], "a whole number"),
        (["render", "--city", "Chicago", "-p", "city", "Boston"], "use --city"),
        (["summarize", "--intervention", "Cure Violence", "-p", "method", "its"],
         "'-p method'"),
        (["batch", "-p", "nothing", "1"], "'-p nothing'"),
        (["render", "--city", "Chicago", "--template",
          str(ROOT / "notebooks" / "intervention_summary.ipynb")], "a city report notebook"),
        (["render", "--city", "Chicago", "--template", str(tmp_path / "missing.ipynb")],
         "does not exist"),
    ]
    for argv, message in cases:
        assert main([*argv, "--data", str(DATA), "--out", str(out)]) == 1, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()


def test_a_template_with_a_bad_parameters_cell_is_refused(tmp_path, capsys, no_kernel):
    nb = nbformat.read(str(CITY_NOTEBOOK), as_version=4)
    nb.cells[1].source = 'city = "X"\ndata_dir = "."\n'  # no post_periods any more
    template = tmp_path / "mine.ipynb"
    nbformat.write(nb, str(template))
    argv = ["render", "--city", "Chicago", "--data", str(DATA), "--out", str(tmp_path / "run"),
            "--template", str(template), "-p", "post_periods", "36"]
    assert main(argv) == 1
    assert "'-p post_periods'" in capsys.readouterr().err


def test_batch_parameters_and_templates_are_in_the_reuse_key(tmp_path):
    plain = {job.id: job for job in plan_batch(DATA, tmp_path)}
    longer = {job.id: job for job in plan_batch(
        DATA, tmp_path, parameters={CITY: {"post_periods": 36},
                                    INTERVENTION: {"post_periods": 36}})}
    assert plain.keys() == longer.keys()
    for job_id, job in longer.items():
        assert job.parameters["post_periods"] == 36
        assert job.key != plain[job_id].key
    edited = tmp_path / "edited.ipynb"
    shutil.copy(CITY_NOTEBOOK, edited)
    nb = json.loads(edited.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "Our own note."})
    edited.write_text(json.dumps(nb))
    mine = {job.id: job for job in plan_batch(DATA, tmp_path, templates={CITY: edited})}
    for job_id, job in mine.items():
        changed = job.kind == CITY
        assert (job.key != plain[job_id].key) == changed
        assert (job.notebook == str(edited.resolve())) == changed


def test_plan_refuses_a_parameter_of_the_wrong_type(tmp_path):
    with pytest.raises(ParameterError) as info:
        plan_batch(DATA, tmp_path, parameters={CITY: {"post_periods": "36"}})
    assert info.value.parameter == "post_periods"


def test_fixture_notebooks_still_declare_their_parameters():
    nb = nbformat.read(str(FIXTURES / "notebooks" / "good.ipynb"), as_version=4)
    assert parameter_defaults(nb)["n_periods"] == 12


def test_batch_templates_are_told_apart_by_their_parameters(tmp_path, capsys, no_kernel):
    neither = tmp_path / "neither.ipynb"
    nbformat.write(_notebook("x = 1\n"), str(neither))
    out = tmp_path / "run"
    base = ["batch", "--data", str(DATA), "--out", str(out)]
    assert main([*base, "--template", str(neither)]) == 1
    assert "either 'city'" in capsys.readouterr().err
    assert main([*base, "--template", str(CITY_NOTEBOOK), "--template", str(CITY_NOTEBOOK)]) == 1
    assert "one city notebook" in capsys.readouterr().err
    assert not out.exists()
