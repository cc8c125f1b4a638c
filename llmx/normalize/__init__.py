"""Deterministic normalisers: the model reads, code computes.

Pure functions with no I/O beyond the packaged gazetteer; any schema can use them in
Pydantic validators (see ``schemas/investment.py``).

* :mod:`llmx.normalize.money`: ``parse_money``, ``find_money_spans``, ``reconcile_money``
* :mod:`llmx.normalize.dates`: ``resolve_date``, ``resolve_period``
* :mod:`llmx.normalize.places`: ``Gazetteer``, ``Place``, ``resolve_location``,
  ``home_region``, ``to_simplified``
* :mod:`llmx.normalize.context`: ``DocumentContext``, ``get_context``
"""

from llmx.normalize.context import CONTEXT_KEY, DocumentContext, get_context
from llmx.normalize.dates import date_supported, resolve_date, resolve_period
from llmx.normalize.money import (
    ParsedMoney,
    find_money_spans,
    parse_chinese_number,
    parse_money,
    parse_number,
    reconcile_money,
)
from llmx.normalize.places import (
    Gazetteer,
    Place,
    home_region,
    official_name,
    resolve_location,
    to_simplified,
)

__all__ = [
    "CONTEXT_KEY",
    "DocumentContext",
    "Gazetteer",
    "ParsedMoney",
    "Place",
    "date_supported",
    "find_money_spans",
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
