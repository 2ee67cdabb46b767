"""``-p NAME VALUE`` and ``--template NOTEBOOK`` for a kind of report (city or summary).

The options are typed against the parameters cell of the notebook the report renders, so a
wrong name or type is refused before any kernel starts; :mod:`.parameters` reads the cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from impactbook.errors import ParameterError
from impactbook.render.plan import CITY, INTERVENTION, default_notebooks_dir, notebook_and_hash

#: The parameters each kind of report gets from its own options, never from ``-p``.
RESERVED = {CITY: {"city": "--city", "data_dir": "--data"},
            INTERVENTION: {"intervention": "--intervention", "data_dir": "--data"}}


def template_kind(path: Path) -> str:
    """Which kind of report a notebook is, from its parameters: ``city`` or ``intervention``."""
    from impactbook.render.parameters import parameter_defaults, read_notebook_json

    names = set(parameter_defaults(read_notebook_json(path)))
    kinds = [kind for kind in (CITY, INTERVENTION) if kind in names]
    if len(kinds) != 1:
        raise ParameterError("template", str(path), "a report notebook whose parameters cell "
                             "assigns either 'city' (a city report) or 'intervention' (a "
                             "summary)")
    return kinds[0]


def typed_parameters(kind: str, pairs: Sequence[Sequence[str]], *,
                     template: Path | None = None, notebooks_dir: Path | None = None,
                     ignore_unknown: bool = False) -> dict:
    """``-p NAME VALUE`` pairs typed for the notebook a ``kind`` report renders."""
    from impactbook.render.parameters import cli_parameters, read_notebook_json

    folder = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebook, _ = notebook_and_hash(folder, kind, template)
    if template is not None and template_kind(Path(notebook)) != kind:
        what = "a city report" if kind == CITY else "an intervention summary"
        raise ParameterError("template", str(template), f"{what} notebook (its parameters "
                             f"cell assigns {kind!r})")
    return cli_parameters(read_notebook_json(Path(notebook)), pairs, reserved=RESERVED[kind],
                          ignore_unknown=ignore_unknown)


def batch_parameters(pairs: Sequence[Sequence[str]], *, templates: Mapping[str, Path],
                     notebooks_dir: Path | None = None) -> dict[str, dict]:
    """Each ``-p`` typed for every batch notebook that declares it; a name no notebook declares
    is an error."""
    typed = {kind: typed_parameters(kind, pairs, template=templates.get(kind),
                                    notebooks_dir=notebooks_dir, ignore_unknown=True)
             for kind in (CITY, INTERVENTION)}
    for name, value in pairs:
        if not any(name in params for params in typed.values()):
            typed_parameters(CITY, [(name, value)], template=templates.get(CITY),
                             notebooks_dir=notebooks_dir)  # raises, naming the option
    return typed
