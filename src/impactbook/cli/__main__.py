"""``python -m impactbook.cli``: the ``impactbook`` command (as ``python -m impactbook``)."""

import sys

from impactbook.cli.run import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
