"""``python -m aiopyrq``: the ``aiopyrq`` command line."""

import sys

from aiopyrq.cli import main

sys.exit(main())
