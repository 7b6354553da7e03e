"""Shared fixtures: the shipped golden vectors and the optional real data sets.

Golden vectors (outputs of the official PyTorch code) ship with the project in ``tests/golden``.

Real-data tests need files that are not part of the repository. Each data set is looked up in
this order; without it the tests skip with a reason that says how to enable them:

- ECG: ``$RESONET_DATA_ECG`` (a folder holding ``QTDB_train.mat`` and ``QTDB_test.mat``), else
  ``$RESONET_SHARED/data/ecg``, else resonet's data directory (where
  ``python -m resonet.data fetch ecg`` puts them);
- MNIST: ``$RESONET_DATA_MNIST`` (a folder holding the four IDX files), else
  ``$RESONET_SHARED/data/mnist``, else resonet's data directory (``fetch mnist``).

- the official BRF code's trained networks and result files: ``$RESONET_OFFICIAL_MODELS`` (a
  folder holding ``experiments/``), else ``$RESONET_SHARED/official-models``, else resonet's data
  directory (where ``python -m resonet.data fetch official-models`` puts them).

``$RESONET_SHARED`` defaults to a folder named ``shared`` beside the checkout; it also holds the
master copy of the golden vectors, which ``tests/test_golden.py`` compares byte for byte.

With ``RESONET_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``) a skipped real-data test (marker
``real_data``) counts as a failure, so CI cannot pass without running them. Likewise
``RESONET_REQUIRE_CUDA_TOOLKIT=1`` for the tests that compile CUDA kernels to PTX (marker
``cuda_toolkit``; they need NVRTC/NVVM, ``pip install -e ".[cuda]"``, but no GPU).

Tests marked ``tonic`` (tests/test_tonic.py) need tonic (``pip install -e ".[tonic]"``); with
``RESONET_REQUIRE_TONIC=1`` (set by ``.ci/run``) their skip counts as a failure.

Tests marked ``slurm`` (tests/test_sweep_slurm.py) need a running SLURM cluster (``sinfo`` and
``sbatch`` that reach it; ``bash .ci/slurm.sh start DIR`` starts a one-node one as root). Without
it they skip with the reason; with ``RESONET_REQUIRE_CLUSTER=1`` (set by ``.ci/run``, which
starts that cluster) such a skip counts as a failure.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# A test run started in the background of a non-interactive shell (``cmd &`` in a script, CI
# runners) inherits SIGINT ignored, and every process it starts would too: the tests that stop a
# training or a sweep with Ctrl-C need it delivered, so the run takes Python's default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
GOLDEN_DIR = ROOT / "tests" / "golden"
SHARED = Path(os.environ.get("RESONET_SHARED") or ROOT.parent / "shared")
SHARED_GOLDEN_DIR = SHARED / "golden"
# golden vectors of features added after the first set (stacked layers with biases: alif2_*);
# a file moves into tests/golden when resonet implements its feature
SHARED_GOLDEN_NEXT_DIR = SHARED / "golden-next"
REQUIRE_REAL_DATA = os.environ.get("RESONET_REQUIRE_REAL_DATA", "") not in ("", "0")
REQUIRE_CUDA_TOOLKIT = os.environ.get("RESONET_REQUIRE_CUDA_TOOLKIT", "") not in ("", "0")
REQUIRE_CLUSTER = os.environ.get("RESONET_REQUIRE_CLUSTER", "") not in ("", "0")
REQUIRE_TONIC = os.environ.get("RESONET_REQUIRE_TONIC", "") not in ("", "0")

# MD5 of the published ECG files (also what the downloader checks: resonet.data.ecg.MAT_MD5)
ECG_MD5 = {
    "QTDB_train.mat": "39790ebc28587c94a2245fae7475e6f2",
    "QTDB_test.mat": "4deb6d02f9dae171ad99f2b372926cc0",
}


# Input-weight factor that makes a small random network of each model spike: the resonators
# integrate I·δ (δ = 0.01), the leaky cells (1 − α)·I (α ≈ 0.95), IF the whole current I.
SPIKE_SCALE = {"brf": 150.0, "bhrf": 150.0, "rf": 150.0, "alif": 2.0, "lif": 8.0, "if": 1.0}
RESONATORS = ("brf", "bhrf", "rf")


def _golden_model(path: Path) -> str:
    import json

    import numpy as np

    with np.load(path, allow_pickle=False) as d:
        return json.loads(str(d["meta_json"]))["model"]


def golden_files() -> list[Path]:
    """Golden files of the models resonet implements (a file may arrive before its model)."""
    from resonet.neurons import NEURONS

    return [p for p in sorted(GOLDEN_DIR.glob("*.npz")) if _golden_model(p) in NEURONS]


def pending_golden_files() -> list[Path]:
    """Golden files of models resonet does not implement yet."""
    from resonet.neurons import NEURONS

    return [p for p in sorted(GOLDEN_DIR.glob("*.npz")) if _golden_model(p) not in NEURONS]


@pytest.fixture
def require_golden():
    files = golden_files()
    if not files:
        pytest.fail(f"no golden files in {GOLDEN_DIR}: the checkout is incomplete")
    return files


# ------------------------------------------------------------------------------- real data
def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _candidates(env: str, sub: str) -> list[Path]:
    from resonet.data.paths import resolve_data_dir

    given = os.environ.get(env, "").strip()
    if given:  # an explicit folder is the only place looked at
        return [Path(given).expanduser()]
    return [SHARED / "data" / sub, resolve_data_dir(None)]


def _find_ecg() -> tuple[Path | None, str]:
    from resonet.data.ecg import find_mat_files

    how = ("set RESONET_DATA_ECG=DIR (a folder with QTDB_train.mat and QTDB_test.mat) or run "
           "python -m resonet.data fetch ecg")
    tried = []
    for d in _candidates("RESONET_DATA_ECG", "ecg"):
        files = find_mat_files(d)
        if files is None:
            tried.append(str(d))
            continue
        bad = [p.name for p in files.values() if _md5(p) != ECG_MD5[p.name]]
        if bad:
            return None, (f"real ECG data: {', '.join(bad)} in {files['train'].parent} are not the "
                          f"published files (MD5 differs); {how}")
        return files["train"].parent, ""
    return None, f"real ECG data not found (looked in {', '.join(tried)}); {how}"


def _find_mnist() -> tuple[Path | None, str]:
    from resonet.data.mnist import find_mnist

    how = ("set RESONET_DATA_MNIST=DIR (a folder with the four MNIST IDX files) or run "
           "python -m resonet.data fetch mnist")
    tried = []
    for d in _candidates("RESONET_DATA_MNIST", "mnist"):
        files = find_mnist(d)
        if files is None:
            tried.append(str(d))
            continue
        return files["train_images"].parent, ""
    return None, f"real MNIST data not found (looked in {', '.join(tried)}); {how}"


def _find_official() -> tuple[Path | None, str]:
    from resonet.data.official_models import FILES, FOLDER, local_path

    how = ("set RESONET_OFFICIAL_MODELS=DIR (the folder holding experiments/) or run python -m "
           "resonet.data fetch official-models")
    from resonet.data.paths import resolve_data_dir

    given = os.environ.get("RESONET_OFFICIAL_MODELS", "").strip()
    dirs = [Path(given).expanduser()] if given else [SHARED / FOLDER, resolve_data_dir(None) / FOLDER]
    tried = []
    for d in dirs:
        missing = [f.key for f in FILES if not local_path(d, f.key).is_file()]
        if missing:
            tried.append(str(d))
            continue
        return d, ""
    return None, f"official models not found (looked in {', '.join(tried)}); {how}"


ECG_DIR, ECG_SKIP = _find_ecg()
MNIST_DIR, MNIST_SKIP = _find_mnist()
OFFICIAL_DIR, OFFICIAL_SKIP = _find_official()
if ECG_DIR is None:  # keeps `--data-dir ECG_DIR` in parametrisations valid; those tests skip
    ECG_DIR = ROOT / "tests" / "no-ecg-data"
if MNIST_DIR is None:
    MNIST_DIR = ROOT / "tests" / "no-mnist-data"


def _real_data(skip_reason: str):
    """Decorator: mark a test as a real-data test, skipped (with ``skip_reason``) if it is set."""

    def deco(obj):
        obj = pytest.mark.real_data(obj)
        return pytest.mark.skip(reason=skip_reason)(obj) if skip_reason else obj

    return deco


GOLDEN_MASTER_SKIP = "" if SHARED_GOLDEN_DIR.is_dir() else (
    f"no master copy of the golden vectors at {SHARED_GOLDEN_DIR}; set RESONET_SHARED=DIR to the "
    "folder holding golden/ to compare tests/golden with it")

needs_ecg = _real_data(ECG_SKIP)
needs_mnist = _real_data(MNIST_SKIP)
needs_golden_master = _real_data(GOLDEN_MASTER_SKIP)
needs_official = _real_data(OFFICIAL_SKIP)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_data: needs data that is not in the repository (see tests/conftest.py); "
        "with RESONET_REQUIRE_REAL_DATA=1 a skip of such a test is a failure")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    for marker, required, var in (("real_data", REQUIRE_REAL_DATA, "RESONET_REQUIRE_REAL_DATA"),
                                  ("cuda_toolkit", REQUIRE_CUDA_TOOLKIT,
                                   "RESONET_REQUIRE_CUDA_TOOLKIT"),
                                  ("slurm", REQUIRE_CLUSTER, "RESONET_REQUIRE_CLUSTER"),
                                  ("tonic", REQUIRE_TONIC, "RESONET_REQUIRE_TONIC")):
        if required and report.skipped and item.get_closest_marker(marker) is not None:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            report.outcome = "failed"
            report.longrepr = f"{marker} test skipped although {var}=1: {reason}"


# The CUDA-simulator tests need NUMBA_ENABLE_CUDASIM=1 set before numba is imported, so they run
# in their own pytest process (tests/test_cudasim.py starts it); the main run does not collect them.
collect_ignore = [] if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else ["cudasim"]


@pytest.fixture(scope="session")
def sweep_reference(tmp_path_factory):
    """``ref(base, extra="")``: the sweep directory of that sweep file run by the local executor
    (one trial at a time, one thread), run once per distinct file in a session
    (tests/sweep_helpers.py)."""
    from tests.sweep_helpers import run_reference

    root = tmp_path_factory.mktemp("sweep-reference")
    return lambda base, extra="": run_reference(base, root, extra)


@pytest.fixture(scope="session")
def tiny_trial(tmp_path_factory):
    """Settings of a tiny but real training run (tests/sweep_helpers.py): ECG segments when the
    ECG files are here, else the synthetic SHD-format stand-in, generated once per session."""
    from tests.sweep_helpers import HAVE_ECG, tiny_base

    if HAVE_ECG:
        return tiny_base(None)
    from resonet.data import load_task

    d = tmp_path_factory.mktemp("synthetic-shd")
    load_task("shd", d, synthetic=True)
    return tiny_base(d)


def toy(rng, N, T=16, I=6, C=3):
    """A user's small data set: dense spikes (N, T, I), class k firing mostly on channels 2k and
    2k + 1; labels (N,)."""
    y = np.arange(N) % C
    rate = np.full((N, 1, I), 0.05)
    for k in range(C):
        rate[y == k, :, 2 * k:2 * k + 2] = 0.6
    return rng.random((N, T, I)) < rate, y
