"""``python -m colbert_viz``: see ``colbert_viz.cli``."""

import sys

from colbert_viz.cli import main

sys.exit(main())
