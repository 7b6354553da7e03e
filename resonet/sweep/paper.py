"""The BRF paper's Table 1 and Table 2, transcribed for ``python -m resonet.sweep report --paper``.

Source: Higuchi, Kairat, Bohté, Otte, "Balanced Resonate-and-Fire Neurons", ICML 2024.

- Table 1 ("Results between vanilla RF, BRF, BHRF, ALIF ..."): test accuracy (mean ± sd over five
  runs for RF, BRF and BHRF; one number for ALIF and for PS-MNIST BHRF), SOPs (average hidden
  spikes per test sample, eq. 41) and SOPs per step. The accuracy is that of the saved "best
  model": the checkpoint with the lowest validation loss ("early stopping on the validation
  loss", Appendix A.6); the SOPs are computed on the same saved models (eq. 41). The ALIF rows marked
  ALIF* in the paper (S-MNIST, PS-MNIST, ECG) are the RSNN state of the art of Yin et al. (2021),
  for (P)S-MNIST with a larger two-layer architecture (4, 64, 256, 256, 10); the paper's SHD ALIF
  has two hidden layers of 128. RF rows are RF without reset.
- Table 2 ("Quantitative convergence results"): "the average number of epochs after which 95 %,
  98 %, and 100 % of the final test accuracy on the learning curve was reached". There is no
  PS-MNIST RF row (that network diverges).
"""

from __future__ import annotations

from typing import NamedTuple


class Table1Row(NamedTuple):
    acc: float  # test accuracy, %
    acc_sd: float | None  # None where the paper gives one number
    sops: float  # per test sample
    sops_per_step: float


class Table2Row(NamedTuple):
    e95: int
    e98: int
    e100: int


TABLE1 = {  # (task, neuron) -> row
    ("smnist", "alif"): Table1Row(98.7, None, 70810.8, 90.32),
    ("smnist", "rf"): Table1Row(98.0, 0.4, 29034.8, 37.03),
    ("smnist", "brf"): Table1Row(99.0, 0.1, 15462.6, 19.72),
    ("smnist", "bhrf"): Table1Row(99.1, 0.1, 21565.7, 25.51),
    ("psmnist", "alif"): Table1Row(94.3, None, 59772.1, 76.24),
    ("psmnist", "rf"): Table1Row(9.9, 0.8, 66474.2, 84.79),
    ("psmnist", "brf"): Table1Row(95.0, 0.2, 27839.7, 35.51),
    ("psmnist", "bhrf"): Table1Row(95.2, None, 24564.2, 33.33),
    ("ecg", "alif"): Table1Row(85.9, None, 35011.2, 26.93),
    ("ecg", "rf"): Table1Row(85.5, 0.7, 11981.9, 9.22),
    ("ecg", "brf"): Table1Row(85.8, 0.7, 6307.7, 4.85),
    ("ecg", "bhrf"): Table1Row(87.0, 0.4, 6233.8, 4.80),
    ("shd", "alif"): Table1Row(90.4, None, 24690.0, 98.76),
    ("shd", "rf"): Table1Row(89.2, 0.6, 4750.2, 19.00),
    ("shd", "brf"): Table1Row(91.7, 0.8, 3502.6, 14.01),
    ("shd", "bhrf"): Table1Row(92.7, 0.7, 4139.5, 16.56),
}

TABLE2 = {  # (task, neuron) -> epochs to 95 / 98 / 100 % of the final test accuracy
    ("smnist", "alif"): Table2Row(105, 162, 276),
    ("smnist", "rf"): Table2Row(134, 172, 263),
    ("smnist", "brf"): Table2Row(3, 29, 246),
    ("smnist", "bhrf"): Table2Row(5, 12, 119),
    ("psmnist", "alif"): Table2Row(143, 200, 265),
    ("psmnist", "brf"): Table2Row(10, 39, 282),
    ("psmnist", "bhrf"): Table2Row(6, 19, 123),
    ("ecg", "alif"): Table2Row(51, 157, 282),
    ("ecg", "rf"): Table2Row(8, 29, 112),
    ("ecg", "brf"): Table2Row(6, 32, 75),
    ("ecg", "bhrf"): Table2Row(15, 38, 109),
    ("shd", "alif"): Table2Row(14, 15, 16),
    ("shd", "rf"): Table2Row(2, 4, 5),
    ("shd", "brf"): Table2Row(2, 3, 7),
    ("shd", "bhrf"): Table2Row(3, 5, 8),
}


def paper_rows(task: str, neuron: str, reset: str = "none") -> tuple[Table1Row | None, Table2Row | None]:
    """The paper's rows for a group of trials, or None where the paper has none (every row of the
    paper is a model without a reset variant, so an RF with a reset has no row)."""
    if reset != "none":
        return None, None
    return TABLE1.get((task, neuron)), TABLE2.get((task, neuron))
