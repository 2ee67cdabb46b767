"""``python -m impactbook``: the ``impactbook`` command (for an environment without the
script on ``PATH``, e.g. ``python -m impactbook render --city Chicago``)."""

import sys

from impactbook.cli import main

if __name__ == "__main__":
    sys.exit(main())
