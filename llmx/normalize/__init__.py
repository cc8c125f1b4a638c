"""Deterministic normalisers: the model reads, code computes.

Pure functions with no I/O beyond the packaged gazetteer; any schema can use them in
Pydantic validators (see ``schemas/investment/__init__.py``).

* money: ``parse_money``, ``find_money_spans``, ``reconcile_money``, ``parse_number``
* dates: ``resolve_date``, ``resolve_period``, ``date_supported``
* places: ``Gazetteer``, ``Place``, ``resolve_location``, ``home_region``, ``official_name``,
  ``to_simplified``
* figures (finders for candidate readers, each returning :class:`Figure` spans):
  ``find_project_counts``, ``find_yoy``, ``find_periods``, ``find_dates``, ``find_places``
* the document a validator runs for: ``DocumentContext``, ``get_context``

The modules behind these names are private; import from ``llmx.normalize``.
"""

from llmx.normalize._chinese import to_simplified
from llmx.normalize._context import CONTEXT_KEY, DocumentContext, get_context
from llmx.normalize._dates import date_supported, resolve_date, resolve_period
from llmx.normalize._figures import (
    Figure,
    find_dates,
    find_periods,
    find_places,
    find_project_counts,
    find_yoy,
)
from llmx.normalize._gazetteer import Gazetteer, Place
from llmx.normalize._money import (
    ParsedMoney,
    find_money_spans,
    parse_chinese_number,
    parse_money,
    parse_number,
    reconcile_money,
)
from llmx.normalize._places import home_region, official_name, resolve_location

__all__ = [
    "CONTEXT_KEY",
    "DocumentContext",
    "Figure",
    "Gazetteer",
    "ParsedMoney",
    "Place",
    "date_supported",
    "find_dates",
    "find_money_spans",
    "find_periods",
    "find_places",
    "find_project_counts",
    "find_yoy",
    "get_context",
    "home_region",
    "official_name",
    "parse_chinese_number",
    "parse_money",
    "parse_number",
    "reconcile_money",
    "resolve_date",
    "resolve_location",
    "resolve_period",
    "to_simplified",
]
