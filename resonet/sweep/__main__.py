"""``python -m resonet.sweep run SWEEP.toml ...`` and ``python -m resonet.sweep report DIR``."""

from __future__ import annotations

import argparse
import sys

from ..cli import run_main


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.sweep",
        description="Grids of resonet.train runs (models x seeds x settings): resumable, on local "
                    "processes, a Dask cluster or SLURM; reports beside the paper's tables.")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run", help="run (or continue) the trials of a sweep file",
        description="Run every trial of SWEEP.toml. Re-running the same command skips finished "
                    "trials, resumes interrupted ones and starts the rest. Exit code: the number of "
                    "failed trials (at most 125), 2 for a bad sweep file, 130 if interrupted.")
    r.add_argument("sweep", help="the sweep file (TOML; see docs/sweep.md)")
    r.add_argument("--out", help="sweep directory (default runs/<name>, name from [sweep] or the file name)")
    r.add_argument("--workers", type=int,
                   help="trials at once (local default: cores // threads per trial)")
    r.add_argument("--threads-per-trial", type=int,
                   help="CPU threads of each trial: NUMBA_NUM_THREADS and --threads (default 1)")
    r.add_argument("--executor", choices=["local", "dask", "slurm"],
                   help="local processes (default), a Dask cluster, or SLURM via dask-jobqueue")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --executor dask: attach to this scheduler (tcp://host:8786) instead of "
                        "starting a LocalCluster")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a base setting or axis of the file (repeatable), e.g. "
                        "--set data_dir=data/ecg --set 'seed=[0, 1]'")
    r.add_argument("--dry-run", action="store_true", help="list the trials and what a run would do")
    p = sub.add_parser(
        "report", help="tables (Table 1 / Table 2 style) and figures of a sweep's results",
        description="Per group of trials (all axes but the seed): final and best-validation test "
                    "accuracy, SOPs, epochs to 95/98/100 %% of the final accuracy, wall time; mean "
                    "± sd over seeds. Writes DIR/report.md, DIR/report.csv and two figures, and "
                    "prints the tables.")
    p.add_argument("dir", help="the sweep directory (or a folder of run directories)")
    p.add_argument("--paper", action="store_true",
                   help="put the BRF paper's Table 1 and Table 2 values beside the measured ones")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        from .grid import load_sweep, parse_set
        from .run import run_sweep

        sweep = load_sweep(args.sweep, parse_set(args.set))
        return run_sweep(sweep, args.out, executor=args.executor, workers=args.workers,
                         threads=args.threads_per_trial, scheduler=args.scheduler,
                         dry_run=args.dry_run)
    from .report import make_report

    rep = make_report(args.dir, paper=args.paper, figures=not args.no_figures)
    print(rep["markdown"].split("\n## Figures", 1)[0].rstrip())
    for note in rep["notes"]:
        print(f"note: {note}")
    print("\nwritten: " + ", ".join(str(p) for p in rep["written"]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
