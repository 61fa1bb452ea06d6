"""``python -m recyclable``: the ``recyclable`` command."""

import sys

from recyclable.cli import main

sys.exit(main())
