"""Derive apparel_static_cbs.csv from CLVTools' apparelTrans.rda and apparelStaticCov.rda (one-off; see README.md).

Needs pyreadr (not a Kanta dependency). Follows CLVTools' clvdata(): time unit week, estimation
start = first transaction in the data, estimation.split = 104 weeks, same-day transactions merged,
x = repeat purchase days in the estimation period, t_x and T in weeks since the customer's first purchase.
"""
import sys
from pathlib import Path

import pandas as pd
import pyreadr

data = Path(sys.argv[1])  # CLVTools' data/ folder
trans = next(iter(pyreadr.read_r(str(data / "apparelTrans.rda")).values()))
cov = next(iter(pyreadr.read_r(str(data / "apparelStaticCov.rda")).values()))
trans["Date"] = pd.to_datetime(trans["Date"])
start = trans["Date"].min()
end = start + pd.Timedelta(weeks=104)
days = trans[trans["Date"] <= end].drop_duplicates(["Id", "Date"])
g = days.groupby("Id")["Date"]
first, last, n = g.min(), g.max(), g.size()
cbs = pd.DataFrame({"x": n - 1, "t_x": (last - first).dt.days / 7, "T": (end - first).dt.days / 7})
cbs = cbs.join(cov.set_index("Id")[["Gender", "Channel"]]).reset_index(drop=True)
cbs.to_csv(Path(__file__).with_name("apparel_static_cbs.csv"), index=False, float_format="%.10g")
print(len(cbs), "customers", int(cbs["x"].sum()), "repeat purchases")
