"""Write trace.csv: one June day of the bundled typical-year PV of two sites, 0..1 of peak.

Run from the repository root: python examples/own-trainer/make_trace.py
"""

from pathlib import Path

from greenhop.energy.traces import write_trace
from greenhop.scenario import load_scenario

generation = load_scenario("live-demo").generation_w()[["amsterdam", "nw-colorado"]]
fraction = (generation / generation.max()).round(4)
fraction.columns = ["amsterdam", "colorado"]
write_trace(fraction, Path(__file__).with_name("trace.csv"))
