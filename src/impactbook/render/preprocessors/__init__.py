"""nbconvert preprocessors of a report notebook, one per module (the report exporters in
:mod:`impactbook.render.exporters` enable them).

- :mod:`.machine_outputs` drops the outputs meant for the renderer, not for readers.
- :mod:`.figures` tags chart cells and their neighbours so print CSS keeps them together.
"""
