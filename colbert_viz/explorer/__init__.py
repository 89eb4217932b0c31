"""The explorer: every view of a Run as JSON-ready data (``payload``), which
columns and text pieces a view shows (``layout``, ``highlight``), the view
state an export or a notebook opens on, and the one renderer (``static/``)
hosted in a notebook or a standalone file (``html``).
"""

from __future__ import annotations
