"""nbconvert exporters of a report, one per module, registered as nbconvert entry points
(``jupyter nbconvert --to impactbook_html`` / ``--to impactbook_pdf`` on an executed report
notebook); the batch renders with the same classes.

- :mod:`.html` :class:`~.html.ReportHTMLExporter`: no code, no scripts, images embedded,
  notebook HTML sanitised, the report template and stylesheet.
- :mod:`.pdf` :class:`~.pdf.ReportPDFExporter`: that HTML as a paged PDF (WeasyPrint).
- :mod:`.report` :class:`~.report.ReportExporter`: the pair a worker keeps, exporting one
  HTML and the PDF of that same HTML.
- :mod:`.sanitize` the ``clean_html`` filter; :mod:`.layout` the finishing of the HTML
  (wide tables, numbered captions, contents).
"""
