"""Peer check: does the official PyTorch ALIF network overflow in float32 where resonet does?

ECG ALIF in float32 stops on some seeds with a non-finite gradient of τ_m (docs/results.md). This
script compares, at one set of parameters (a run's ``last.npz``: with ``--save-every 0`` the
parameters just before the batch that overflowed) and on the same training batches, resonet's
gradients with those of the official ``snn.models.SimpleALIFRNN`` (float32 and float64, CPU).

Two steps, two environments (torch is no dependency of resonet)::

    python benchmarks/peer_alif_overflow.py dump RUN_DIR --out alif.npz [--batches 8]
    <bench venv>/bin/python benchmarks/peer_alif_overflow.py torch alif.npz --src DIR \\
        [--json out.json]

``dump`` takes the run's settings, data and batch order (``epoch_order`` of its seed and the
checkpoint's epoch) and writes the next ``--batches`` batches from the checkpoint's position with
resonet's gradients on each (cpu float32, reference float64), all at the checkpoint's
parameters (no update between batches). ``torch`` loads the official network (``DIR``: the
official repository's folder holding ``snn/``, or $REF_BRF_SRC) with the same parameters and
prints, per batch, the loss and max |∂L/∂τ_m| of each engine, and whether each gradient is finite.
The loss is the official ``apply_seq_loss``: Σ_t NLL(log_softmax(o_t)) over the recorded steps,
unlabelled steps as class 0, as resonet trains (docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

PARAMS = ("hidden.tau_mem", "hidden.tau_adp", "hidden.linear.weight", "out.tau_mem",
          "out.linear.weight")


def dump(args) -> int:
    from resonet.backends import get_backend
    from resonet.checkpoint import load_checkpoint
    from resonet.data import epoch_order
    from resonet.evaluation import official_targets
    from resonet.network import NetworkSpec
    from resonet.rundata import task_data

    ck = load_checkpoint(os.path.join(args.run, "last.npz"))
    s = ck.meta["settings"]
    spec = NetworkSpec(**s["spec"])
    params = {k: np.asarray(v, np.float64) for k, v in ck.params.items()}
    epoch, pos = int(ck.train["epoch"]), int(ck.train["batch"])
    data = task_data(s)
    bs = int(s["batch"])
    order = epoch_order(len(data.train), seed=int(s["seed"]), epoch=epoch)
    out = {f"param/{k}": v for k, v in params.items()}
    out["spec"] = np.array(json.dumps(s["spec"]))
    out["where"] = np.array(f"epoch {epoch + 1}, batches {pos + 1}..{pos + args.batches}")
    engines = {"cpu32": (get_backend("cpu"), np.float32),
               "ref64": (get_backend("reference"), np.float64)}
    for k in range(args.batches):
        idx = order[(pos + k) * bs:(pos + k + 1) * bs]
        if idx.size == 0:
            break
        x, y = data.train.batch(idx, dtype=np.float64)
        y = official_targets(y)
        out[f"b{k}/x"], out[f"b{k}/y"] = x, y
        for name, (be, dt) in engines.items():
            with np.errstate(all="ignore"):
                r = be.run(spec, params, x, y, dtype=dt)
            out[f"b{k}/{name}/loss"] = np.array(r.loss, np.float64)
            for p in PARAMS:
                out[f"b{k}/{name}/{p}"] = np.asarray(r.grads[p], np.float64)
        print(f"batch {pos + k + 1}: loss {float(out[f'b{k}/cpu32/loss']):.6g}, max |dL/dtau_m| "
              f"cpu32 {np.abs(out[f'b{k}/cpu32/hidden.tau_mem']).max():.3g}, ref64 "
              f"{np.abs(out[f'b{k}/ref64/hidden.tau_mem']).max():.3g}", flush=True)
    np.savez(args.out, **out)
    print(f"wrote {args.out} ({out['where']})")
    return 0


def torch_side(args) -> int:
    import torch

    if not args.src or not os.path.isdir(os.path.join(args.src, "snn")):
        print("error: give --src (or REF_BRF_SRC): the official code's folder holding snn/",
              file=sys.stderr)
        return 2
    sys.path.insert(0, args.src)
    import snn

    torch.set_num_threads(args.threads)
    z = np.load(args.file)
    spec = json.loads(str(z["spec"]))
    nb = len({k.split("/")[0] for k in z.files if k.startswith("b")})
    rows = []
    for dtype in (torch.float32, torch.float64):
        torch.set_default_dtype(dtype)  # the official forward makes its zero states in it
        model = snn.models.SimpleALIFRNN(
            input_size=spec["n_in"], hidden_size=spec["n_hidden"], output_size=spec["n_out"],
            sub_seq_length=spec["sub_seq_length"], hidden_bias=False, output_bias=False)
        model = model.to(dtype)
        # the official spike function returns float32 (x.gt(0).float()) whatever the dtype: cast
        # the spikes (exactly 0 or 1) where a layer reads them, for the float64 pass
        for lin in (model.hidden.linear, model.out.linear):
            lin.register_forward_pre_hook(lambda m, inp: tuple(a.to(m.weight.dtype) for a in inp))
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(z[f"param/{name}"]).to(dtype))
        for k in range(nb):
            x = torch.from_numpy(z[f"b{k}/x"]).to(dtype)
            y = torch.from_numpy(z[f"b{k}/y"]).long()[spec["sub_seq_length"]:]
            model.zero_grad()
            outputs = model(x)[0]
            logp = torch.nn.functional.log_softmax(outputs, dim=2)
            loss = sum(torch.nn.functional.nll_loss(logp[t], y[t]) for t in range(logp.shape[0]))
            loss.backward()
            g = {n: p.grad.detach().double().numpy() for n, p in model.named_parameters()}
            rows.append({"batch": k, "dtype": str(dtype).removeprefix("torch."),
                         "loss": float(loss), "max_dtau_m": float(np.abs(g["hidden.tau_mem"]).max()),
                         "finite": bool(all(np.all(np.isfinite(v)) for v in g.values())),
                         "grads": g})
    print(f"{z['where']}: resonet and the official SimpleALIFRNN at the same parameters")
    head = (f"{'batch':>5} | {'loss f32 r/t':>21} | {'max|dL/dtau_m| resonet f32':>27} "
            f"{'torch f32':>10} {'resonet f64':>11} {'torch f64':>10} | finite r32 t32 | "
            f"rel diff f64")
    print(head)
    report = []
    for k in range(nb):
        t32 = rows[k]
        t64 = rows[nb + k]
        r32 = {p: z[f"b{k}/cpu32/{p}"] for p in PARAMS}
        r64 = {p: z[f"b{k}/ref64/{p}"] for p in PARAMS}
        fin32 = all(np.all(np.isfinite(v)) for v in r32.values())
        rel64 = max(float(np.abs(r64[p] - t64["grads"][p]).max() / max(np.abs(t64["grads"][p]).max(), 1e-300))
                    for p in PARAMS)
        line = (f"{k + 1:>5} | {float(z[f'b{k}/cpu32/loss']):10.5g} {t32['loss']:10.5g} | "
                f"{np.abs(r32['hidden.tau_mem']).max():27.4g} {t32['max_dtau_m']:10.4g} "
                f"{np.abs(r64['hidden.tau_mem']).max():11.4g} {t64['max_dtau_m']:10.4g} | "
                f"{'yes' if fin32 else 'NO':>10} {'yes' if t32['finite'] else 'NO':>3} | {rel64:.2e}")
        print(line)
        report.append({"batch": k + 1, "loss_resonet_f32": float(z[f"b{k}/cpu32/loss"]),
                       "loss_torch_f32": t32["loss"],
                       "max_dtau_m_resonet_f32": float(np.abs(r32["hidden.tau_mem"]).max()),
                       "max_dtau_m_torch_f32": t32["max_dtau_m"],
                       "max_dtau_m_resonet_f64": float(np.abs(r64["hidden.tau_mem"]).max()),
                       "max_dtau_m_torch_f64": t64["max_dtau_m"],
                       "finite_resonet_f32": fin32, "finite_torch_f32": t32["finite"],
                       "rel_diff_f64": rel64})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"where": str(z["where"]), "torch": torch.__version__, "rows": report}, f,
                      indent=1)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="resonet's side: batches and gradients from a run's last.npz")
    d.add_argument("run", help="the run directory (its last.npz and config)")
    d.add_argument("--out", required=True)
    d.add_argument("--batches", type=int, default=8)
    t = sub.add_parser("torch", help="the official network's gradients on the dumped batches")
    t.add_argument("file")
    t.add_argument("--src", default=os.environ.get("REF_BRF_SRC"))
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    return dump(args) if args.cmd == "dump" else torch_side(args)


if __name__ == "__main__":
    sys.exit(main())
