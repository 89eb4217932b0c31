"""The explorer: every view of a Run as JSON-ready data (``payload``), which
columns and text pieces a view shows (``layout``, ``highlight``), the view
state an export or a notebook opens on, the tables (the CSV export, the
decision table), and the one renderer (``static/``) hosted in a notebook or a
standalone file (``html``: ``colbert_viz.show``).
"""

from __future__ import annotations
