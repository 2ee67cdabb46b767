"""The run's ``index.html``: every report, its key figure, links, failures and an Impact panel.

The Impact panel echoes the NNSC home page's impact box ("37% reduction in homicides through
Project Safe Neighborhoods"), but every figure on it is a headline computed by the workbook for
this run, from the strongest design its data support (named), shown with its 95% interval (or
permutation p) and its caveats, and linked to the report it comes from; a change that is not
clear reads "No clear change", a programme with several outcomes shows every one, and the
panel says how each headline is chosen. All text is
escaped; the page has inline CSS only and opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from impactbook import __version__
from impactbook.contracts import Manifest, ReportKind, parse
from impactbook.defaults import HEADLINE_RULE
from impactbook.designs import finite_number
from impactbook.fsutil import atomic_path
from impactbook.report.format import (
    count_changes,
    describe_change_pct,
    format_pct,
    headline_line,
    is_clear_item,
    item_certainty,
    join_words,
    outcome_figure,
)
from impactbook.report.tables import programme_label
from impactbook.workbook.digest import shown_digest

_CSS = """
body{margin:0;font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;color:#1d2329;
 line-height:1.45;background:#fff}
main{max-width:64rem;margin:0 auto;padding:2rem 1.5rem 3rem}
h1{font-size:1.8rem;border-bottom:3px solid #1f5f8b;padding-bottom:.3em;margin-top:0}
h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #d5dbe1;padding-bottom:.2em}
.meta{color:#5b6670;font-size:.85rem}
.impact{background:#1f5f8b;color:#fff;padding:1.2rem 1.5rem;border-radius:4px;margin:1.5rem 0}
.impact h2{color:#fff;border-color:rgba(255,255,255,.4);margin-top:0}
.impact ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:1rem}
.impact li{flex:1 1 15rem;background:rgba(255,255,255,.1);padding:.8rem 1rem;border-radius:3px}
.impact .figure{font-size:2rem;font-weight:700;display:block}
.impact .ci{font-size:.85rem;opacity:.9;display:block}
.impact a{color:#fff}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #d5dbe1;padding:.4em .6em;text-align:left;vertical-align:top}
th{background:#f3f6f9}
.failed{color:#9b1c1c}
.note{color:#5b6670;font-size:.85rem}
@media print{.impact{background:none;color:#1d2329;border:2px solid #1f5f8b}
 .impact h2,.impact a{color:#1d2329}}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _href(path: str) -> str:
    return _e(quote(path, safe="/"))


def _impact_item(report: dict) -> str | None:
    """One Impact figure. A change that is not clear (its interval includes no change, or its
    permutation p is above the one significance level) is shown as "No clear change" with its
    figure, never as "x% reduction through ..."; every figure names the design it comes from,
    a programme with several outcomes shows them all (or says how many fell), and the
    headline's caveats follow in a few words. Every number is written by
    :mod:`impactbook.report.format`, as in the report."""
    headline = report.get("headline") or {}
    change = finite_number(headline.get("percent_change"))
    if change is None:
        return None
    is_city = report.get("kind") == ReportKind.CITY
    items = headline.get("outcomes") or [headline]
    if is_city:
        where = headline.get("area")
        places = f" ({_e(where)})" if where and where != "citywide" else ""
        programme, kind = headline.get("programme"), headline.get("intervention")
        programmes = (programme_label(programme, kind) if programme and kind
                      else programme or kind or "the programme")
        context = f"{places} after {_e(programmes)} began"
    else:
        places = headline.get("places")
        context = (f" across {_e(places)} of {_e(report.get('name'))} (pooled)" if places
                   else f" across the programmes of {_e(report.get('name'))} (pooled)")
    if len(items) > 1:
        figure = count_changes(items)
        names = [str(i.get("outcome")) for i in items]
        lead = f" in {_e(join_words(names))}" if figure == "No clear change" else ""
        extras = [outcome_figure(i, is_compact=True) for i in items]
        unclear = [str(i.get("outcome")) for i in items if not is_clear_item(i)]
        if lead == "" and unclear:  # "3 of 4 outcomes fell": name the ones that did not
            extras.insert(0, f"{join_words(unclear)}: no clear change")
    else:
        item = items[0]
        is_clear = is_clear_item(item)
        figure = describe_change_pct(change) if is_clear else "No clear change"
        outcome = item.get("outcome") or "the outcome"
        lead = f" in {_e(outcome)}{' than expected' if is_clear else ''}"
        certainty = item_certainty(item)
        why_not = (": not set apart from the placebos" if certainty.startswith("permutation")
                   else ": includes no change")
        extras = [certainty if is_clear
                  else f"estimate {format_pct(change)}, {certainty}{why_not}"]
        if item.get("design") or headline.get("design"):
            extras.append(f"design: {item.get('design') or headline.get('design')}")
    if headline.get("designs_disagree"):
        extras.append("designs disagree (see the report)")
    caveats = headline.get("caveats") or []
    if caveats:
        extras.append("caveats: " + "; ".join(caveats))
    place = report.get("name") if is_city else f"{report.get('name')} summary"
    link = (report.get("files") or {}).get("html")
    source = (f'<a href="{_href(link)}">{_e(place)} report</a>' if link else _e(place))
    # The report's page-one value-for-money lines, word for word (as the emails say them).
    values = "".join(f"<span class=\"ci value\">{_e(line)}</span>"
                     for line in headline.get("value_for_money") or [] if isinstance(line, str))
    return (f"<li><span class=\"figure\">{_e(figure)}</span>{lead}{context}"
            f"<span class=\"ci\">{' &middot; '.join(_e(x) for x in extras)} &middot; "
            f"{source}</span>{values}</li>")


def _report_row(report: dict) -> str:
    files = report.get("files") or {}
    links = " ".join(f'<a href="{_href(files[fmt])}">{fmt.upper()}</a>'
                     for fmt in ("html", "pdf", "ipynb") if fmt in files)
    headline = report.get("headline") or {}
    if report.get("kind") == ReportKind.CITY and headline:
        figure = headline_line(headline)  # the line the funders' emails can use too
    else:
        figure = (headline.get("text")
                  or (report.get("key_findings") or ["no headline estimate"])[0])
    kind = "City report" if report.get("kind") == ReportKind.CITY else "Intervention summary"
    return (f"<tr><td>{_e(report.get('name'))}</td><td>{_e(kind)}</td>"
            f"<td>{_e(', '.join(report.get('interventions') or []))}</td>"
            f"<td>{_e(figure)}</td><td>{links}</td></tr>")


def render_index(manifest: Manifest | Mapping) -> str:
    """The index page's HTML for ``manifest`` (pure: no file access), read through
    :class:`~impactbook.contracts.Manifest` (a malformed one raises DataError)."""
    if not isinstance(manifest, Manifest):
        manifest = parse(Manifest, manifest, "manifest.json")
    manifest = manifest.model_dump(mode="json")
    reports = manifest["reports"]
    good = [r for r in reports if r.get("status") == "ok"]
    failed = [r for r in reports if r.get("status") != "ok"]
    impact = [item for item in (_impact_item(r) for r in good) if item]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>impactbook run {_e(manifest.get('run'))}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Community violence intervention reports: {_e(manifest.get('run'))}</h1>",
        f'<p class="meta">Generated {_e(manifest.get("created"))} by impactbook '
        f"{_e(manifest.get('impactbook_version') or __version__)}; input data hash "
        f"<code>{_e(shown_digest(manifest.get('data_hash') or ''))}</code>. {len(good)} report(s) "
        f"ready, {len(failed)} failed.</p>",
    ]
    if impact:
        parts += ['<section class="impact"><h2>Impact</h2><ul>', *impact, "</ul>",
                  '<p class="ci">Each figure is the headline estimate of the linked report: '
                  f"the change against what its design expected without the programme, with "
                  f"the 95% interval. How it is chosen: {_e(HEADLINE_RULE)}. Summaries pool "
                  "one outcome over at least three programmes. &ldquo;No clear change&rdquo; "
                  "means the interval includes no change; it is not evidence of no effect."
                  "</p></section>"]
    parts.append("<h2>Reports</h2>")
    if good:
        parts += ["<table><thead><tr><th>Report</th><th>Kind</th><th>Interventions</th>"
                  "<th>Key figure</th><th>Files</th></tr></thead><tbody>",
                  *(_report_row(r) for r in good), "</tbody></table>"]
    else:
        parts.append('<p class="note">No report rendered successfully.</p>')
    if failed:
        parts += ['<h2 class="failed">Failed reports</h2><table><thead><tr><th>Report</th>'
                  "<th>Reason</th><th>Executed notebook</th></tr></thead><tbody>"]
        for r in failed:
            notebook = (r.get("files") or {}).get("ipynb")
            link = f'<a href="{_href(notebook)}">notebook</a>' if notebook else "not kept"
            parts.append(f'<tr><td class="failed">{_e(r.get("name"))}</td>'
                         f"<td>{_e(r.get('error'))}</td><td>{link}</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_index(run_dir: Path, manifest: Manifest | Mapping) -> Path:
    """Write ``run_dir/index.html`` atomically and return its path."""
    path = Path(run_dir) / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text(render_index(manifest), encoding="utf-8")
    return path
