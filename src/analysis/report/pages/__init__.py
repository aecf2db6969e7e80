"""The report's pages: each builds its sections and figures from the month's results.

Labels on figures are data (a region called ``bonus_$10_$20``), never TeX: matplotlib's mathtext, which would
read ``$...$`` as a formula and fail the page, is off for every figure the pages draw.
"""
import matplotlib

matplotlib.rcParams["text.parse_math"] = False
