"""``python -m resonet.sweep``: grids of training runs (models x seeds x settings), resumable, on
a local process pool, a Dask cluster or SLURM, and reports beside the paper's tables.

- :mod:`.grid`: sweep files (TOML) -> trials with stable IDs, validated by resonet.train's rules;
- :mod:`.trial`: one trial (skip / resume / start ``python -m resonet.train``);
- :mod:`.executors`: local pool, Dask, SLURM (dask-jobqueue);
- :mod:`.run`: the driver and the sweep state (``sweep.json``);

User guide: docs/sweep.md.
"""

from .grid import Sweep, Trial, load_sweep, trial_id
from .run import run_sweep

__all__ = ["Sweep", "Trial", "load_sweep", "run_sweep", "trial_id"]
