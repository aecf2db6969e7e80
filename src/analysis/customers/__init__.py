"""The customer table and the monthly flows: one row per customer, and per month, computed in SQL where the data is.

Layer 2: may import ``data`` and the root modules (errors, units, findings); never ``stats``, the models or above.

- :mod:`~analysis.customers.table`: the customer table (RFM in lifetimes' conventions, value, rhythm, breadth,
  channel), lifetimes' calibration/holdout split and the SQL dialect map shared with Spark.
- :mod:`~analysis.customers.activity`: the monthly flows (active, new, lost, returned) and sales.
- :mod:`~analysis.customers.spark`: the same tables on Spark (the ``spark`` extra), with
  :mod:`~analysis.customers.spark_contract` finding and checking the tables there. Not re-exported here: its
  ``customer_table`` and ``monthly_activity`` are the Spark engine's (``from analysis.customers import spark``).
"""
from analysis.customers.activity import monthly_activity, monthly_activity_sql, monthly_flows_frame
from analysis.customers.table import (DIALECTS, FREQ_DAYS, PURCHASE_DAY_RULE, calibration_holdout, customer_columns,
                                      customer_table, customer_table_sql, has_margin, is_purchase_sql, level_columns,
                                      purchase_days_sql, write_customer_table)

__all__ = [
    # the customer table
    "DIALECTS", "FREQ_DAYS", "PURCHASE_DAY_RULE", "calibration_holdout", "customer_columns", "customer_table",
    "customer_table_sql", "has_margin", "is_purchase_sql", "level_columns", "purchase_days_sql",
    "write_customer_table",
    # the monthly flows
    "monthly_activity", "monthly_activity_sql", "monthly_flows_frame",
]
