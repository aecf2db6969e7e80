"""Kanta: customer-base analytics for CRM teams.

Load a validated data source, build the customer table on DuckDB, and run the
analyses (clv, survival, segments, experiments) that the monthly report renders.
"""
from analysis.errors import KantaError, DataError

__version__ = "0.3.0"  # the same as pyproject.toml (tests/test_layers.py checks)
__all__ = ["KantaError", "DataError", "__version__"]
