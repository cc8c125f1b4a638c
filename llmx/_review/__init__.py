"""Reviewing ``llmx run`` output over its source text, and turning corrections into fixtures.

:class:`ReviewIndex` reads an output file once; :func:`create_app` serves the
review app over it (Starlette, from the ``review`` extra) and
:func:`render_static` writes the same views as one read-only page.
"""

from llmx._review.app import ReviewSettings, create_app, render_page, render_static
from llmx._review.fixture import fixture_name, save_fixture
from llmx._review.index import FILTERS, DocSummary, ReviewIndex

__all__ = [
    "FILTERS",
    "DocSummary",
    "ReviewIndex",
    "ReviewSettings",
    "create_app",
    "fixture_name",
    "render_page",
    "render_static",
    "save_fixture",
]
