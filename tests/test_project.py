"""The project's promises about itself: the README's two set-up commands are what CI runs, and no
deep-learning framework is among the dependencies or imported by the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow")


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up: two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_setup_commands_and_ci_runs_the_test_one():
    cmds = _setup_commands()
    assert len(cmds) == 2, cmds
    assert "pip install" in cmds[0] and "python -m resonet.train shd" in cmds[0]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == cmds[1] == "python -m pytest"
    # installs from scratch, with the test extra (and the CUDA toolkit's compiler for the PTX
    # tests, which skip with a reason after command 1 alone, like the real-data tests)
    assert any(re.search(r'pip install -e "\.\[test(,cuda)?(,tonic)?\]"', line) for line in ci), ci


def test_no_deep_learning_framework_in_dependencies():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        deps += extra
    names = {re.split(r"[ <>=!\[;~]", d, maxsplit=1)[0].lower() for d in deps}
    assert not names & set(FRAMEWORKS), names


def test_importing_the_package_imports_no_framework_and_no_cuda():
    """The CPU path must never import numba.cuda (nor any deep-learning framework)."""
    code = ("import sys, resonet.train, resonet.verify, resonet.gradcheck, resonet.kernels.cpu, "
            "analysis.common; "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r} "
            "or m.startswith('numba.cuda')]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ci_runs_the_real_data_tests_and_fails_if_one_skips(tmp_path):
    """.ci/run points the real-data tests at the shared folder and sets RESONET_REQUIRE_REAL_DATA=1,
    under which a skipped real-data test fails the run (tests/conftest.py)."""
    ci = (ROOT / ".ci" / "run").read_text()
    head = ci[: ci.rindex("python -m pytest")]
    for var in ("RESONET_SHARED", "RESONET_DATA_ECG", "RESONET_DATA_MNIST"):
        assert f"export {var}" in head, var
    assert "export RESONET_REQUIRE_REAL_DATA=1" in head
    test = "tests/test_golden.py::test_shipped_golden_files_equal_the_master_copies"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESONET_")}
    env["RESONET_SHARED"] = str(tmp_path / "absent")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(cmd, cwd=ROOT, env={**env, "RESONET_REQUIRE_REAL_DATA": "1"}, capture_output=True,
                       text=True)
    assert r.returncode == 1 and "skipped although RESONET_REQUIRE_REAL_DATA=1" in r.stdout, r.stdout
