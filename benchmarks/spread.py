"""Run-to-run spread of repeated train_step.py runs: the median of their medians and the range.

One run's median hides how much a shared machine moves between runs; the targets are judged on
the median over separate runs of the same command (benchmarks/README.md).

    python benchmarks/spread.py benchmarks/results/spread/*.json
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def main(paths: list[str]) -> int:
    groups: dict[tuple, list[float]] = defaultdict(list)
    for p in paths:
        d = json.load(open(p))
        name = f"{d['task'].upper()} {d['neuron'].upper()} {d['backend']} {d['dtype']}"
        for kind in ("train", "infer"):
            if kind in d:
                groups[(name, kind, d[kind].get("batch", d["batch"]))].append(d[kind]["median_s"])
    print("| network | pass | batch | runs | median of medians ms | min–max of medians ms | "
          "samples/s at the median |")
    print("|---|---|---|---|---|---|---|")
    for (name, kind, batch), meds in sorted(groups.items()):
        m = statistics.median(meds)
        print(f"| {name} | {kind} | {batch} | {len(meds)} | {m * 1e3:.1f} | "
              f"{min(meds) * 1e3:.1f}–{max(meds) * 1e3:.1f} | {batch / m:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
