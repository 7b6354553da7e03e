"""Print the markdown table of benchmarks/README.md from the JSON files of train_step.py.

    python benchmarks/table.py benchmarks/results/*.json
"""

from __future__ import annotations

import json
import sys


def ms(x: float) -> str:
    return f"{x * 1e3:.1f}" if x < 10 else f"{x:.2f} s"


def main(paths: list[str]) -> int:
    rows = []
    for p in paths:
        d = json.load(open(p))
        if "task" not in d:
            continue
        cfg = f"{d['task'].upper()} {d['neuron'].upper()} {d['network']}, T={d['T']}"
        common = f"{d['backend']} {d['dtype']}"
        if "train" in d:
            t = d["train"]
            rows.append(f"| {cfg} | {common} | train | {d['batch']} | {ms(t['median_s'])} | "
                        f"{ms(t['min_s'])}–{ms(t['max_s'])} | {t['samples_per_s']:,.0f} | "
                        f"{t['peak_rss_mb']:.0f} | {d['hidden_spike_rate']:.1%} |")
        i = d["infer"]
        rows.append(f"| {cfg} | {common} | infer | {i['batch']} | {ms(i['median_s'])} | "
                    f"{ms(i['min_s'])}–{ms(i['max_s'])} | {i['samples_per_s']:,.0f} | "
                    f"{i['peak_rss_mb']:.0f} | {d['hidden_spike_rate']:.1%} |")
    print("| network | backend | pass | batch | median ms | min–max ms | samples/s | peak RSS MB "
          "| hidden rate |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
