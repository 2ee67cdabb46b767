"""A report notebook's parameters: what its ``parameters`` cell declares, and values checked
against it.

The cell is the one place a report's parameters are declared (papermill's convention): a name
it assigns is a parameter, and the literal it assigns is the default whose type a value must
have. Values typed on the command line (``-p NAME VALUE``) are parsed as papermill's own ``-p``
parses them (``True``/``False``, ``None``, integers, decimals, else text), except that a
parameter whose default is text keeps the value as typed (``-p city 1999`` is the text
``"1999"``). A number must also lie in the range the estimate request states for a field of
the same name (``placebos``, ``post_periods``). Everything here runs before a kernel starts.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook.errors import ParameterError, RenderError

if TYPE_CHECKING:
    from nbformat import NotebookNode

#: A default that is not a literal (``Path("..")``, a call) accepts any plain value.
NO_LITERAL = object()


def parameters_cell(nb: NotebookNode | Mapping) -> Mapping | None:
    """The code cell tagged ``parameters`` (of an nbformat node or the notebook's plain JSON)."""
    for cell in nb.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and "parameters" in tags:
            return cell
    return None


def _source(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _parse_cell(nb: NotebookNode | Mapping) -> list[ast.stmt]:
    cell = parameters_cell(nb)
    if cell is None:
        return []
    source = _source(cell)
    try:
        return ast.parse(source).body
    except SyntaxError as exc:
        raise ParameterError("parameters cell", source[:60], f"valid Python ({exc})") from None


def read_notebook_json(path: Path) -> dict:
    """A notebook file as plain JSON: enough to read its parameters without importing nbformat
    (planning a batch stays quick)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RenderError(Path(path).stem, f"notebook {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise RenderError(Path(path).stem, f"{path} is not a notebook ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise RenderError(Path(path).stem, f"{path} is not a notebook (no list of cells)")
    return nb


def parameter_defaults(nb: NotebookNode | Mapping) -> dict[str, object]:
    """Each name the parameters cell assigns at top level, with its literal default value
    (:data:`NO_LITERAL` when the value is an expression)."""
    defaults: dict[str, object] = {}
    for node in _parse_cell(nb):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        try:
            default = ast.literal_eval(value) if value is not None else NO_LITERAL
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default = NO_LITERAL
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    # A tuple target (a, b = 1, 2) gives no per-name literal.
                    defaults[sub.id] = default if isinstance(target, ast.Name) else NO_LITERAL
    return defaults


def _type_name(default: object) -> str:
    if isinstance(default, bool):
        return "True or False"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "text"
    return "a list"


def check_type(name: str, value: object, default: object, option: str | None = None) -> None:
    """Raise :class:`ParameterError` when ``value`` does not have the default's type.

    A default of ``None`` or a non-literal accepts any value; a decimal default accepts a whole
    number; a list default accepts a list.
    """
    if default is None or default is NO_LITERAL:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        return
    if not ok:
        raise ParameterError(option or name, value,
                             f"{_type_name(default)}, like the notebook's default {default!r}")


def _bounds(name: str) -> tuple[float | None, float | None]:
    """The inclusive bounds :class:`~impactbook.analysis.EstimateRequest` states for the field
    of the same name (``placebos``, ``post_periods``, ...): a notebook hands these values to
    the estimate, so they have one range, stated there."""
    # Imported here: the estimators (statsmodels) load only when a number is to be checked.
    from impactbook.analysis import EstimateRequest

    field = EstimateRequest.model_fields.get(name)
    low = high = None
    for rule in field.metadata if field is not None else ():
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def check_range(name: str, value: object, option: str | None = None) -> None:
    """Raise :class:`ParameterError` when a number is outside the range the estimate accepts.

    An out-of-range value would not fail at once: the report's design falls back (an
    impossible number of placebo groups moves the headline to another design), so it is
    refused here, before any kernel starts, as a wrongly typed value is.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high = _bounds(name)
    if (low is not None and value < low) or (high is not None and value > high):
        whole = "a whole number" if isinstance(value, int) else "a number"
        span = (f"from {low} to {high}" if low is not None and high is not None else
                f"at least {low}" if low is not None else f"at most {high}")
        raise ParameterError(option or name, value, f"{whole} {span}")


def check_value(name: str, value: object, default: object, option: str | None = None) -> None:
    """:func:`check_type` against the notebook's default, then :func:`check_range`."""
    check_type(name, value, default, option)
    check_range(name, value, option)


def parse_cli_value(text: str) -> object:
    """A ``-p`` value as papermill's command line parses it."""
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def cli_parameters(nb: NotebookNode | Mapping, pairs: Iterable[Sequence[str]], *,
                   reserved: Mapping[str, str] | None = None,
                   ignore_unknown: bool = False) -> dict[str, object]:
    """``-p NAME VALUE`` pairs as typed values for ``nb``; every error names the option.

    ``reserved`` maps names that another option sets (``city`` -> ``--city``) to that option.
    With ``ignore_unknown`` a name the notebook does not declare is skipped (a batch applies
    each ``-p`` to the notebooks that declare it).
    """
    defaults = parameter_defaults(nb)
    reserved = reserved or {}
    typed: dict[str, object] = {}
    for name, text in pairs:
        option = f"-p {name}"
        if name in reserved:
            raise ParameterError(option, text, f"no -p for {name!r}: use {reserved[name]}")
        if name not in defaults:
            if ignore_unknown:
                continue
            raise ParameterError(option, text, "one of the notebook's parameters: "
                                               + ", ".join(sorted(defaults)))
        default = defaults[name]
        value = text if isinstance(default, str) else parse_cli_value(text)
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        check_value(name, value, default, option)
        typed[name] = value
    return typed


def _is_json_scalar(value: object) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def validate_parameters(nb: NotebookNode, parameters: Mapping[str, object]) -> dict:
    """Check parameters before papermill sees them; return a plain-JSON copy.

    Only identifiers that the ``parameters`` cell assigns are accepted, with the type of the
    default it assigns, and only JSON scalars or lists of scalars: anything else could smuggle
    code into the injected cell.
    """
    defaults = parameter_defaults(nb)
    known = set(defaults)
    if parameters and parameters_cell(nb) is None:
        raise ParameterError("parameters", sorted(parameters), "a notebook with a cell tagged "
                             "'parameters'")
    clean: dict = {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ParameterError(str(name), value, "a parameter name that is a Python identifier")
        if name not in known:
            raise ParameterError(name, value, f"one of the notebook's parameters {sorted(known)}")
        check_value(name, value, defaults[name])
        if isinstance(value, (list, tuple)):
            if not all(_is_json_scalar(v) for v in value):
                raise ParameterError(name, value, "a list of strings, numbers, booleans or null")
            clean[name] = list(value)
        elif _is_json_scalar(value):
            clean[name] = value
        else:
            raise ParameterError(name, value, "a string, number, boolean, null or list of those")
    return clean
