"""Analyses of resonet networks (docs/analysis.md): ``python -m analysis.<name> --help``.

- :mod:`analysis.divergence`   p(ω), the exact BRF/BHRF/RF stability regions, parameter checks (Fig. 9)
- :mod:`analysis.spectral`     spectral radius of neuron and network Jacobians (A.11)
- :mod:`analysis.freqresp`     frequency response of resonators to in-phase spike trains (A.4)
- :mod:`analysis.leak`         IF vs LIF: spectral coherence, closed forms vs simulation (the leak paper)
- :mod:`analysis.robustness`   bit precision, input noise, spike deletion, synaptic noise (A.10)
- :mod:`analysis.pruning`      accuracy vs removed recurrent weights (Fig. 7)
- :mod:`analysis.landscape`    2-D loss surface along filter-normalised directions (Fig. 13)
- :mod:`analysis.quantisation` the leaky Alexiewicz norm and LIF as a quantiser (Moser & Lunglmayr)
- :mod:`analysis.toy`          a tiny toy task and checkpoint for tests and demos
- :mod:`analysis.common`       checkpoints, evaluation data, output files, CLI helpers
"""
