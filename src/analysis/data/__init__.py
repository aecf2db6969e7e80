"""Layer 1, data: load a source, check it against the data contract, and write outputs.

A source (a folder of CSV/Parquet files, a DuckDB file, a ``.sql`` source definition or a PostgreSQL
URL) becomes a validated :class:`Source` of DuckDB views; bad input raises one :class:`~analysis.errors.DataError`
sentence. Also personal data (:mod:`analysis.data.privacy`) and the seeded demo base (:mod:`analysis.data.demo`).

May import only the root modules ``analysis.errors``, ``analysis.units`` and ``analysis.findings``.
"""
from analysis.data import privacy
from analysis.data.contract import (CAMPAIGN_NUMBERS, CONTACT_COLUMNS, CONTACT_DIRECTIONS, CONTACT_TYPES,
                                    PERMISSION_NO, PERMISSION_YES, PII_COLUMNS, REQUIRED, SATISFACTION_SCALES, TABLES,
                                    permission_values)
from analysis.data.databases import load_database
from analysis.data.dates import (BUSINESS_TIMEZONE, TIMEZONE_VARIABLE, business_timezone, month_end, parse_date,
                                 period_end, previous_month_end)
from analysis.data.demo import make_demo_data, write_demo_data
from analysis.data.engine import (DEFAULT_MEMORY_CEILING, MONEY_LIMIT, MONEY_TYPE, default_memory_limit, duckdb_connection,
                                  machine_memory, money_sql, quote_ident, quote_literal)
from analysis.data.loading import data_end, load_source, reopen_source
from analysis.data.locations import DatabaseURL, child_environment, is_database_url, location
from analysis.data.privacy import MIN_GROUP_SIZE, pseudonym_key_kind, pseudonymize, suppress_small_groups
from analysis.data.source import Source
from analysis.data.table_checks import near_miss_error
from analysis.data.validation import validate_tables
from analysis.data.writing import (FORMULA_STARTS, atomic_write, check_output_path, spreadsheet_safe, spreadsheet_safe_sql,
                                   write_bytes, write_json, write_table, write_text)

__all__ = [
    # loading and the validated source
    "Source", "load_source", "reopen_source", "data_end", "validate_tables", "load_database", "near_miss_error",
    # the data contract
    "TABLES", "REQUIRED", "CAMPAIGN_NUMBERS", "PII_COLUMNS", "CONTACT_DIRECTIONS", "CONTACT_TYPES",
    "CONTACT_COLUMNS", "SATISFACTION_SCALES", "PERMISSION_YES", "PERMISSION_NO", "permission_values",
    # dates and the business time zone
    "parse_date", "month_end", "previous_month_end", "period_end", "business_timezone", "BUSINESS_TIMEZONE",
    "TIMEZONE_VARIABLE",
    # the DuckDB engine
    "duckdb_connection", "default_memory_limit", "machine_memory", "DEFAULT_MEMORY_CEILING", "quote_ident",
    "quote_literal", "money_sql", "MONEY_TYPE", "MONEY_LIMIT",
    # where a source is
    "DatabaseURL", "is_database_url", "location", "child_environment",
    # writing outputs
    "check_output_path", "atomic_write", "write_table", "spreadsheet_safe", "spreadsheet_safe_sql", "FORMULA_STARTS", "write_bytes", "write_text", "write_json",
    # personal data
    "privacy", "pseudonymize", "pseudonym_key_kind", "suppress_small_groups", "MIN_GROUP_SIZE",
    # the demo base
    "make_demo_data", "write_demo_data",
]
