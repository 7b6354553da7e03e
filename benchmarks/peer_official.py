"""Peer benchmark: one SHD training step of the official PyTorch code (Higuchi et al., ICML 2024),
for the width table of benchmarks/README.md. Run it with a Python that has torch (a separate
benchmark environment: torch is no dependency of resonet) and the official code's ``snn``
package::

    <bench venv>/bin/python benchmarks/peer_official.py --src DIR --hidden 1024 --json out.json

``DIR`` is a checkout of the official repository (the folder holding ``snn/``; or set
REF_BRF_SRC). The network is the official ``snn.models.SimpleResRNN`` (700-H-20 BRF, the SHD
script's initial ranges: ω U(5, 10), b′ U(2, 3), τ_o N(20, 5)) compiled with ``torch.jit.script`` as
experiments/SHD/shd_train.py does; the input binary spikes at 4 % density, T = 250, float32. One
step is what the SHD script's training loop does per batch: ``zero_grad``, forward, log-softmax
and the NLL loss summed over every step, ``backward``, an Adam step (lr 0.075) and
``loss.item()``. Its dense products do not depend on the spike rate (every product is dense),
so the official initialisation is timed as it is.

BPTT memory: the bytes of the distinct tensors that autograd saves for the backward during one
forward and loss (``torch.autograd.graph.saved_tensors_hooks``; parameters excluded), per sample.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=os.environ.get("REF_BRF_SRC"),
                    help="the official repository's folder that holds snn/ (or $REF_BRF_SRC)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--T", type=int, default=250)
    ap.add_argument("--density", type=float, default=0.04)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not args.src or not os.path.isdir(os.path.join(args.src, "snn")):
        print("error: give --src (or REF_BRF_SRC): the official code's folder holding snn/",
              file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, args.src)
    import snn

    torch.manual_seed(0)
    I, H, C, T, B = 700, args.hidden, 20, args.T, args.batch
    model = snn.models.SimpleResRNN(
        input_size=I, hidden_size=H, output_size=C, adaptive_omega_a=5.0, adaptive_omega_b=10.0,
        adaptive_b_offset_a=2.0, adaptive_b_offset_b=3.0, out_adaptive_tau_mem_mean=20.0,
        out_adaptive_tau_mem_std=5.0, label_last=False, sub_seq_length=0, mask_prob=0.0,
        output_bias=False, dt=0.01)
    model = torch.jit.script(model)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(T, B, I, generator=gen) < args.density).float()
    y = torch.randint(0, C, (B,), generator=gen)
    nll = torch.nn.NLLLoss()
    opt = torch.optim.Adam(model.parameters(), lr=0.075)

    def loss_of(outputs):
        logp = torch.log_softmax(outputs, dim=2)
        loss = 0
        for t in range(outputs.shape[0]):  # summed over the steps, as the official loss
            loss = loss + nll(logp[t], y)
        return loss

    def step():
        opt.zero_grad()
        outputs, _, _ = model(x)
        loss = loss_of(outputs)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    for _ in range(max(1, args.warmup)):
        step()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)

    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outputs, _, _ = model(x)
        loss_of(outputs)
    tape = sum(seen.values()) / B
    out = {"impl": "official PyTorch (TorchScript)", "network": f"{I}-{H}-{C}", "batch": B, "T": T,
           "threads": args.threads, "torch": torch.__version__, "python": platform.python_version(),
           "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
           "times_s": times, "warmup_s": warm, "autograd_saved_bytes_per_sample": tape}
    print(f"official {I}-{H}-{C} B={B} T={T} threads={args.threads}: median "
          f"{out['median_s'] * 1e3:.1f} ms (min {out['min_s'] * 1e3:.1f}, max "
          f"{out['max_s'] * 1e3:.1f}); autograd saves {tape / 1e6:.2f} MB per sample")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
