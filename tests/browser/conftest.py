"""What every browser test module shares: Playwright with Debian's Chromium (``serving``)."""

from __future__ import annotations

import pytest
from serving import playwright_or_skip


@pytest.fixture(scope="module")
def sync_playwright():
    """Playwright's ``sync_playwright``, or the module's tests skipped (no Chromium, no playwright)."""
    return playwright_or_skip()
