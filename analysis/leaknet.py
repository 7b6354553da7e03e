"""The leak paper's network measurements on trained ECG networks (Chowdhury, Lee & Roy 2020,
sections 3 and 4.2–4.5): noisy inputs in two scenarios, the output spectrum's critical
frequency, generalisation and sparsity, per model (mean ± sd over seeds).

**Noise** (the paper's Algorithm 1; its two sources follow Hendrycks & Dietterich's
ImageNet-C, the paper's ref. [24]). Models are trained clean and tested noisy. Four kinds:

- ``gauss-signal``, ``impulse-signal`` (the paper's scenario 1, noise before the spike
  encoder): the ECG's analog signal is perturbed, then level-crossing encoded. The published
  files hold only the spikes, so the signal is reconstructed from them, in units of the level
  L (:func:`decode_levels`, :func:`reconstruct`): the encoder's reference

      c_t = Σ_{s ≤ t} (up_s − down_s)        (r_t = r_0 + L·c_t, within L of the signal z_t),

  and, as the signal, v_t = c_t + ½(up_t − down_t): the staircase with each crossed level
  overshot by half a level at its spike step. (The staircase c itself sits exactly on the
  threshold at every spike, so any noise, however small, would delay about half the spikes by
  a step; v keeps a margin of ½ level at spikes and 1 level elsewhere, the largest the
  encoder's constraints allow between spikes.) Re-encoding v (or c) with the encoder of
  :func:`resonet.data.ecg.level_crossing` (level 1 in these units; multiples of ½, so exact
  in floating point) gives back the published spikes (tested on every segment). Gaussian:
  ṽ_t = v_t + σ·ε_t, σ in units of the level L (the one scale the published files fix: their
  segments are not z-scored per segment, a lead's sd ranges over 0.5–34 levels, median 6.7 on
  the test set). Impulse (salt and pepper): each step of each lead is, with probability p,
  replaced by the segment lead's maximum or its minimum (equally likely).
- ``gauss-spikes``, ``impulse-spikes`` (the paper's scenario 2, noise on the spikes):
  x̃ = x + σ·ε on every element (Algorithm 1: O = 1 + ξ or ξ; σ in units of one spike, no
  clipping), and salt and pepper on the binary spike tensor: each element is, with probability
  p, set to 1 or to 0 (equally likely): a silent step gains a spike at rate p/2, a spike is
  lost at rate p/2.

Each kind's draw has the seed ``[seed, kind, repeat]``: every model sees the same draws
(common random numbers), and the levels of a kind scale one draw (Gaussian: the same ε;
impulse: the same uniforms against p, so a larger p perturbs a superset of the steps).
Level 0 is the clean input exactly.

**Critical frequency** (section 4.3). For each test sample the power spectrum
P(f_k) = |Σ_t (v_t − v̄) e^{−2πi k t / T}|², f_k = k/T cycles per step, k = 0 … T/2, of an
output signal v; f_c is the smallest f_k with Σ_{j ≤ k} P(f_j) ≥ 0.7 Σ_j P(f_j), reported
normalised to the Nyquist frequency (f_c / 0.5, in [0, 1]: a sinusoid of frequency f gives
f / 0.5, white noise 0.7). Signals, per sample: ``hidden``, the hidden layer's spike trains
(each neuron's spectrum, averaged over the neurons that fire); ``target``, the readout's
output for the true class of each step (unlabelled steps: class 0, as scored), the analogue of
the paper's target output neuron; ``input``, the input channels (averaged like ``hidden``).
Measured clean and at the severity ``--spectrum-severity`` (default 5, the paper's) of each
kind, on the first noise draw.

**Generalisation** (section 4.4): train and test loss (mean NLL per step) from each run's
``metrics.jsonl``, averaged over the last ``--last-epochs`` (20) epochs, and the test loss
against the train loss over training (the paper's Fig. 5(d, e)).

**Sparsity** (section 4.5, Table 1): on the clean test set, the spike rate (% of hidden
neuron-steps with a spike), the SOPs of resonet (hidden spikes per sample) and the synaptic
operations weighted by fan-out (input spikes × H + hidden spikes × (H + C)).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from resonet.cli import run_main
from resonet.data.ecg import level_crossing
from resonet.errors import CheckpointError, ConfigError, DataError
from resonet.evaluation import official_targets

from .common import (
    EvalData,
    add_backend_arg,
    check_data,
    evaluate,
    float_list,
    free_stem,
    int_list,
    load_eval_data,
    load_run,
    make_parser,
    out_dir,
    parse_kinds,
    progress,
    pyplot,
    save_figure,
    select_runs,
    to_jsonable,
)

KINDS = ("gauss_signal", "impulse_signal", "gauss_spikes", "impulse_spikes")
LEVEL_NAMES = {
    "gauss_signal": "Gaussian, before encoding: σ (levels L)",
    "impulse_signal": "impulse, before encoding: rate p",
    "gauss_spikes": "Gaussian, on the spikes: σ (× one spike)",
    "impulse_spikes": "impulse, on the spikes: rate p",
}
# 8 severities per kind (plus 0 = clean), from a pilot on the fixed-τ ECG networks
# (docs/analysis.md, section 9b): severity 1 costs at most about a point, severity 8 brings every
# model near the majority-class share.
DEFAULT_LEVELS = {
    "gauss_signal": [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.5],
    "impulse_signal": [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.3],
    "gauss_spikes": [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0],
    "impulse_spikes": [0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3],
}
CRITICAL_FRACTION = 0.7
SPECTRUM_SIGNALS = ("hidden", "target", "input")
DEFAULT_REPEATS = 5
LAST_EPOCHS = 20
STEM = "leaknet"


# -- the analog signal behind the spikes -----------------------------------------------------------
def decode_levels(x) -> np.ndarray:
    """Level-crossing decoding: ``x`` (T, N, 2·leads) spikes [up, down] per lead, time-major →
    the staircase c (T, N, leads), int64, in units of the level L: c_t = Σ_{s≤t}(up_s − down_s).
    The encoder's reference is r_t = z_0 + L·c_t, within L of the signal z_t (the encoder never
    fires at step 0, so c_0 = 0 and z_0 = r_0)."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] % 2:
        raise DataError(f"level-crossing spikes must be (T, N, 2·leads), got shape {x.shape}")
    up = np.rint(x[:, :, 0::2]).astype(np.int64)
    down = np.rint(x[:, :, 1::2]).astype(np.int64)
    return np.cumsum(up - down, axis=0)


def reconstruct(x) -> np.ndarray:
    """The analog signal behind level-crossing spikes ``x`` (T, N, 2·leads), in units of the
    level: v_t = c_t + ½(up_t − down_t) (T, N, leads) float64, c = :func:`decode_levels` (x).
    Every value is a multiple of ½, so :func:`encode_levels` (v) = x exactly."""
    x = np.asarray(x)
    c = decode_levels(x)
    return c + 0.5 * (np.rint(x[:, :, 0::2]) - np.rint(x[:, :, 1::2]))


def encode_levels(c) -> np.ndarray:
    """Level-crossing encoding of signals in units of the level: ``c`` (T, N, leads) → (T, N,
    2·leads) float64 spikes [up, down] per lead (:func:`resonet.data.ecg.level_crossing` with
    L = 1: a signal in units of L is encoded exactly as z with L)."""
    c = np.asarray(c, dtype=np.float64)
    T, N, leads = c.shape
    out = np.zeros((T, N, 2 * leads))
    for n in range(N):
        for lead in range(leads):
            out[:, n, 2 * lead], out[:, n, 2 * lead + 1] = level_crossing(c[:, n, lead], 1.0)
    return out


# -- noise -----------------------------------------------------------------------------------------
def _check_level(kind: str, level: float) -> None:
    if kind.startswith("impulse") and not 0.0 <= level <= 1.0:
        raise ConfigError(f"{kind.replace('_', '-')}: the impulse rate must lie in [0, 1], got {level}")
    if kind.startswith("gauss") and level < 0:
        raise ConfigError(f"{kind.replace('_', '-')}: σ must be >= 0, got {level}")


def gaussian_signal(v, sigma: float, eps) -> np.ndarray:
    """v + σ·ε: the signal ``v`` (T, N, leads) in units of the level, σ in levels."""
    return np.asarray(v, dtype=np.float64) + sigma * eps


def impulse_signal(c, p: float, u, u_salt) -> np.ndarray:
    """Salt and pepper on the signal: where ``u`` < p the step takes its segment lead's maximum
    (``u_salt`` < 0.5) or minimum."""
    c = np.asarray(c, dtype=np.float64)
    hit = u < p
    salt = np.broadcast_to(c.max(axis=0, keepdims=True), c.shape)
    pepper = np.broadcast_to(c.min(axis=0, keepdims=True), c.shape)
    return np.where(hit, np.where(u_salt < 0.5, salt, pepper), c)


def gaussian_spikes(x, sigma: float, eps) -> np.ndarray:
    """x + σ·ε on every element (the paper's scenario 2; section 4's input noise)."""
    return np.asarray(x, dtype=np.float64) + sigma * eps


def impulse_spikes(x, p: float, u, u_salt) -> np.ndarray:
    """Salt and pepper on the spike tensor: where ``u`` < p the element becomes 1 (``u_salt`` <
    0.5) or 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(u < p, (u_salt < 0.5).astype(np.float64), x)


def noise_draw(kind: str, shape, seed: int, repeat: int) -> tuple[np.ndarray, ...]:
    """The random numbers of one draw of ``kind`` for inputs of ``shape`` (T, N, channels): the
    generator is seeded by ``[seed, kind index, repeat]``, so every model and every level of the
    kind see the same draw. Gaussian: (ε,); impulse: (u, u_salt)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown noise kind {kind!r}; choose from {', '.join(KINDS)}")
    T, N, ch = shape
    if kind.endswith("signal"):
        ch //= 2  # one analog signal per lead
    rng = np.random.default_rng([int(seed), KINDS.index(kind), int(repeat)])
    if kind.startswith("gauss"):
        return (rng.standard_normal((T, N, ch)),)
    return rng.random((T, N, ch)), rng.random((T, N, ch))


def noisy_input(kind: str, level: float, x, draw, v=None) -> np.ndarray:
    """The input ``x`` (T, N, 4) under noise ``kind`` at ``level`` with the random numbers
    ``draw`` (:func:`noise_draw`); ``v`` is :func:`reconstruct` (x) if already computed.
    Level 0 returns the clean input (for the signal kinds: re-encoded, which is exact)."""
    _check_level(kind, level)
    if kind == "gauss_spikes":
        return gaussian_spikes(x, level, draw[0])
    if kind == "impulse_spikes":
        return impulse_spikes(x, level, *draw)
    v = reconstruct(x) if v is None else v
    if kind == "gauss_signal":
        return encode_levels(gaussian_signal(v, level, draw[0]))
    if kind == "impulse_signal":
        return encode_levels(impulse_signal(v, level, *draw))
    raise ConfigError(f"unknown noise kind {kind!r}; choose from {', '.join(KINDS)}")


# -- critical frequency ------------------------------------------------------------------------------
def power_spectrum(v, axis: int = 0) -> np.ndarray:
    """|rfft(v − mean)|² along ``axis`` (the mean removed: the DC power of a positive spike
    train would otherwise dominate); bins k/T cycles per step, k = 0 … T//2."""
    v = np.asarray(v, dtype=np.float64)
    v = v - v.mean(axis=axis, keepdims=True)
    return np.abs(np.fft.rfft(v, axis=axis)) ** 2


def critical_frequency(power, T: int, fraction: float = CRITICAL_FRACTION) -> np.ndarray:
    """Normalised critical frequency of spectra ``power`` (bins on axis 0, from
    :func:`power_spectrum` of T steps): the smallest f_k = k/T with Σ_{j≤k} P_j ≥ fraction·Σ P,
    divided by the Nyquist frequency 0.5. NaN where the total power is 0."""
    p = np.asarray(power, dtype=np.float64)
    cum = np.cumsum(p, axis=0)
    total = cum[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.argmax(cum >= fraction * total * (1 - 1e-12), axis=0)
    fc = k / T / 0.5
    return np.where(total > 0, fc, np.nan)


def population_critical_frequency(z) -> np.ndarray:
    """(N,) critical frequency of the spike trains ``z`` (T, N, H): each unit's spectrum,
    averaged over the units with power (silent units are left out); NaN for a sample without
    any."""
    z = np.asarray(z, dtype=np.float64)
    p = power_spectrum(z, axis=0)  # (K, N, H)
    active = p.sum(axis=0) > 0  # (N, H)
    n_active = active.sum(axis=1)
    mean_p = p.sum(axis=2) / np.maximum(n_active, 1)
    return critical_frequency(mean_p, z.shape[0])


def target_trace(outputs, y) -> np.ndarray:
    """(T, N) readout output of each step's true class (unlabelled steps count as class 0)."""
    t = official_targets(np.asarray(y))
    return np.take_along_axis(np.asarray(outputs), t[:, :, None], axis=2)[:, :, 0]


def spectra(spec, params, x, y) -> dict:
    """Per sample the critical frequencies of the hidden spike trains, the target readout trace
    and the inputs, and the hidden spike counts (the float64 reference forward pass)."""
    from .robustness import perturbed_forward

    run = perturbed_forward(spec, params, x, return_states=True)
    z = (run.states or {})["z"]
    return {"hidden": population_critical_frequency(z),
            "target": critical_frequency(power_spectrum(target_trace(run.outputs, y)), x.shape[0]),
            "input": population_critical_frequency(x),
            "spike_rate": 100.0 * z.mean(axis=(0, 2)), "spikes": z.sum(axis=(0, 2))}


# -- one run ---------------------------------------------------------------------------------------
def _data_key(config: dict, data_dir, limit) -> tuple:
    st = config.get("settings") or {}
    return (config.get("task"), str(data_dir or st.get("data_dir")), st.get("split_seed"), limit)


def load_test_arrays(config: dict, data_dir=None, limit=None, cache: dict | None = None):
    """``(x (T, N, I) float64, y, label shares)`` of a run's test split (cached per data)."""
    from .robustness import _label_shares

    if data_dir is not None:
        config = {**config, "settings": {**(config.get("settings") or {}), "data_dir": str(data_dir)}}
    cache = {} if cache is None else cache
    key = _data_key(config, data_dir, limit)
    if key not in cache:
        if config.get("task") != "ecg":
            raise ConfigError(f"task {config.get('task')!r}: the leak-paper measurements need the "
                              "ECG task (level-crossing inputs)")
        data = load_eval_data(None, config, limit)
        x, y = data.take(np.arange(data.n))
        cache[key] = (x, y, _label_shares(data), data.source)
    return cache[key]


def load_train_data(config: dict, data_dir=None, cache: dict | None = None) -> EvalData:
    """A run's training split: the samples it trained on (its ``subset`` too), its validation
    split left out."""
    from resonet.rundata import task_data

    st = {**(config.get("settings") or {}), "task": config.get("task"), "download": False}
    if data_dir is not None:
        st["data_dir"] = str(data_dir)
    cache = {} if cache is None else cache
    key = ("train", st.get("task"), st.get("data_dir"), st.get("split_seed"), st.get("subset"))
    if key not in cache:
        td = task_data(st, options=config.get("task_options"))
        cache[key] = EvalData(dataset=td.train, source=f"task {st['task']} (train)")
    return cache[key]


def generalisation(run_dir, last: int = LAST_EPOCHS) -> dict:
    """Train, validation and test loss over training (``metrics.jsonl``) and their means over
    the last ``last`` epochs (the train loss is the running mean over the epoch's batches, as
    training logs it)."""
    from resonet.rundir import RunDir

    hist = [h for h in RunDir(run_dir).history() if h.get("train_loss") is not None]
    if not hist:
        raise CheckpointError(f"{Path(run_dir) / RunDir.METRICS_JSONL}: no epoch with a train loss")
    out: dict[str, Any] = {"epochs": [h["epoch"] for h in hist]}
    for k in ("train_loss", "val_loss", "test_loss"):
        out[k] = [h.get(k) for h in hist]
        tail = [v for v in out[k][-last:] if v is not None]
        out[f"{k}_last"] = float(np.mean(tail)) if tail else None
    out["last_epochs"] = [out["epochs"][max(0, len(hist) - last)], out["epochs"][-1]]
    tr, te = out["train_loss_last"], out["test_loss_last"]
    out["gap_last"] = None if tr is None or te is None else te - tr
    return out


def evaluate_run(run_dir, kinds, levels: dict, *, repeats: int = DEFAULT_REPEATS, seed: int = 0,
                 backend="cpu", data_dir=None, limit=None, data_cache: dict | None = None,
                 spectrum_severity: int = 5, last_epochs: int = LAST_EPOCHS,
                 verbose: bool = False) -> dict:
    """Everything measured on one run's best checkpoint: ``clean`` and ``results`` in the
    layout of :func:`analysis.robustness.evaluate_run` (per kind: accuracy, SOPs, loss as
    (levels, repeats)), ``spectrum`` (per condition, per signal: the per-sample critical
    frequencies), ``sparsity`` and ``generalisation``."""
    spec, params, config = load_run(run_dir)
    x, y, shares, source = load_test_arrays(config, data_dir, limit, data_cache)
    data = EvalData(x, y, source=source)
    check_data(spec, data)
    clean = evaluate(spec, params, data, backend=backend)
    gen = generalisation(run_dir, last_epochs)
    # the best checkpoint scored on its own training split: a gap free of the running mean
    train = evaluate(spec, params, load_train_data(config, data_dir, data_cache), backend=backend)
    gen.update(best_train_loss=train["loss"], best_test_loss=clean["loss"],
               best_gap=clean["loss"] - train["loss"], best_train_acc=train["accuracy"])
    v = reconstruct(x)
    results, spectrum = {}, {"clean": spectra(spec, params, x, y)}
    for kind in kinds:
        lv = list(levels[kind])
        keys = ("loss", "accuracy", "accuracy_labelled", "sops")
        arr = {k: np.zeros((len(lv), repeats)) for k in keys}
        for r in range(repeats):
            draw = noise_draw(kind, x.shape, seed, r)
            for i, level in enumerate(lv):
                if level == 0 and r > 0:  # the clean input: one evaluation serves every repeat
                    for k in keys:
                        arr[k][i, r] = arr[k][i, 0]
                    continue
                xn = noisy_input(kind, level, x, draw, v)
                m = evaluate(spec, params, EvalData(xn, y, source=source), backend=backend)
                for k in keys:
                    arr[k][i, r] = m[k]
                if r == 0 and i == spectrum_severity:
                    spectrum[kind] = spectra(spec, params, xn, y)
        if verbose:
            progress(f"  {kind}: " + ", ".join(f"{level:g}: {a:.1f} %" for level, a in
                                                 zip(lv, arr["accuracy"].mean(axis=1))))
        results[kind] = {"kind": kind, "levels": lv, "repeats": repeats, "seed": seed, **arr}
    H, C = spec.layers[-1], spec.n_out
    in_spikes = x.sum(axis=(0, 2))
    hid = spectrum["clean"]["spikes"]
    sparsity = {"spike_rate": float(np.mean(spectrum["clean"]["spike_rate"])),
                "sops": float(np.mean(hid)), "input_spikes": float(np.mean(in_spikes)),
                "synaptic_ops": float(np.mean(in_spikes * H + hid * (H + C))),
                "n_hidden": H, "n_out": C}
    return {"clean": clean, "results": results, "n_samples": data.n, "data": source,
            "label_shares": shares, "spectrum": spectrum, "sparsity": sparsity,
            "generalisation": gen, "spectrum_levels": {
                k: levels[k][spectrum_severity] for k in kinds if spectrum_severity < len(levels[k])}}


# -- aggregation -----------------------------------------------------------------------------------
def short_label(settings: dict) -> str:
    """``IF (τ_m = ∞)``, ``LIF τ_m = 30`` (a frozen τ_m), else the neuron's name."""
    neuron = str(settings.get("neuron", "?"))
    tau = _tau_m(settings)
    if neuron == "if":
        return "IF (τ_m = ∞)"
    if tau is not None:
        return f"{neuron.upper()} τ_m = {tau:g}"
    return neuron.upper()


def _tau_m(settings: dict) -> float | None:
    """The membrane time constant a run was trained with: ∞ for IF, the frozen τ_m of a LIF,
    None if it was trained."""
    if settings.get("neuron") == "if":
        return float("inf")
    frozen = settings.get("freeze")
    if isinstance(frozen, dict) and "tau_mem" in frozen:
        return float(frozen["tau_mem"])
    return None


# the paper's colours (its Fig. 3): IF green, τ_m = 100 red, τ_m = 30 blue
PAPER_COLOURS = {float("inf"): "tab:green", 100.0: "tab:red", 30.0: "tab:blue"}


def _colour(row: dict, i: int) -> str:
    tau = row.get("tau_m")
    return PAPER_COLOURS.get(float(tau), f"C{i + 4}") if tau is not None else f"C{i + 4}"


def _finite_mean(values) -> float | None:
    """Mean over the samples where it is defined (a silent network's spectrum is not)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def _stats(values) -> dict:
    from resonet.sweep.report import mean_sd

    m, sd, n = mean_sd(values)
    return {"mean": m, "sd": sd, "n": n}


def summarise(runs, evaluated: dict, kinds) -> list[dict]:
    """:func:`analysis.robustness.compare_table`'s rows (one per model), each with the spectrum,
    sparsity and generalisation statistics over its seeds added (mean, sd with ddof 1, n)."""
    from .robustness import compare_table

    rows = compare_table(runs, evaluated, kinds)
    by_id = {r.id: r for r in runs}
    for row in rows:
        ev = [evaluated[i] for i in row["runs"]]
        row["label"] = short_label(by_id[row["runs"][0]].settings)
        row["model_full"], row["model"] = row["model"], row["label"]
        # Hendrycks & Dietterich's summary of a corruption: the drop averaged over its severities
        row["mean_drop"] = {}
        for kind in kinds:
            k = row["kinds"][kind]
            noisy = [i for i, lv in enumerate(k["levels"]) if lv != 0]
            if noisy:
                row["mean_drop"][kind] = _stats(np.asarray(k["drop_runs"])[:, noisy].mean(axis=1))
        row["sparsity"] = {k: _stats([e["sparsity"][k] for e in ev])
                           for k in ("spike_rate", "sops", "synaptic_ops", "input_spikes")}
        row["generalisation"] = {k: _stats([e["generalisation"][k] for e in ev])
                                 for k in ("train_loss_last", "val_loss_last", "test_loss_last",
                                           "gap_last", "best_train_loss", "best_test_loss",
                                           "best_gap")}
        spec_rows = {}
        for cond in ["clean", *kinds]:
            if not all(cond in e["spectrum"] for e in ev):
                continue
            spec_rows[cond] = {sig: _stats([_finite_mean(e["spectrum"][cond][sig]) for e in ev])
                               for sig in SPECTRUM_SIGNALS}
        row["spectrum"] = spec_rows
        row["tau_m"] = _tau_m(by_id[row["runs"][0]].settings)
    # the paper's order: the least leak first (IF, τ_m = ∞), then decreasing τ_m
    return sorted(rows, key=lambda r: (r["task"], -r["tau_m"] if r["tau_m"] is not None else 0.0,
                                       r["label"]))


def _pm(s: dict, digits: int = 3) -> str:
    if s["mean"] is None:
        return "–"
    if s["sd"] is None:
        return f"{s['mean']:,.{digits}f}"
    return f"{s['mean']:,.{digits}f} ± {s['sd']:,.{digits}f}"


def markdown(rows, kinds, repeats: int, spectrum_levels: dict, last_epochs: int) -> str:
    """The robustness tables (:func:`analysis.robustness.compare_markdown`), then spectrum,
    generalisation and sparsity, one column per model."""
    from .robustness import compare_markdown

    out = [compare_markdown(rows, kinds, repeats, names=LEVEL_NAMES).rstrip("\n"), ""]
    head = "| | " + " | ".join(f"{r['label']} (n = {r['n']})" for r in rows) + " |"
    sep = "|" + "---|" * (len(rows) + 1)
    out += ["**Accuracy drop averaged over the noisy levels (points; per run, then mean ± sd over "
            "seeds)**", "", head, sep]
    for kind in kinds:
        if all(kind in r["mean_drop"] for r in rows):
            out.append(f"| {LEVEL_NAMES[kind]} | "
                       + " | ".join(_pm(r["mean_drop"][kind], 1) for r in rows) + " |")
    out += ["", "**Critical frequency (70 % of the power, normalised to Nyquist), mean over the test "
            "samples, then mean ± sd over seeds**", "", head, sep]
    conds = ["clean", *[k for k in kinds if k in spectrum_levels]]
    for cond in conds:
        for sig in SPECTRUM_SIGNALS:
            if not all(cond in r["spectrum"] for r in rows):
                continue
            where = "clean" if cond == "clean" else f"{cond.replace('_', '-')} {spectrum_levels[cond]:g}"
            out.append(f"| {sig}, {where} | " + " | ".join(_pm(r["spectrum"][cond][sig]) for r in rows)
                       + " |")
    out += ["", f"**Generalisation: loss (mean NLL per step) over the last {last_epochs} epochs**", "",
            head, sep]
    for k, name in (("train_loss_last", "train"), ("val_loss_last", "validation"),
                    ("test_loss_last", "test"), ("gap_last", "test − train"),
                    ("best_train_loss", "best checkpoint: train split"),
                    ("best_test_loss", "best checkpoint: test split"),
                    ("best_gap", "best checkpoint: test − train")):
        out.append(f"| {name} | " + " | ".join(_pm(r["generalisation"][k]) for r in rows) + " |")
    out += ["", "**Sparsity on the clean test set, per sample**", "", head, sep]
    for k, name, d in (("spike_rate", "hidden spike rate (% of neuron-steps)", 2),
                       ("sops", "SOPs (hidden spikes)", 0),
                       ("synaptic_ops", "synaptic ops (input × H + hidden × (H + C))", 0),
                       ("input_spikes", "input spikes", 0)):
        out.append(f"| {name} | " + " | ".join(_pm(r["sparsity"][k], d) for r in rows) + " |")
    return "\n".join(out) + "\n"


# -- figures ---------------------------------------------------------------------------------------
def plot_robustness(rows, kinds):
    """Accuracy against severity, one panel per kind, one line per model (mean, band ± 1 sd)."""
    plt = pyplot()
    ncol = 2 if len(kinds) > 1 else 1
    nrow = (len(kinds) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    share = max((r["majority_share"] or 0.0) for r in rows)
    for j, kind in enumerate(kinds):
        ax = axes[j // ncol][j % ncol]
        for mi, r in enumerate(rows):
            k = r["kinds"][kind]
            sev = np.arange(len(k["levels"]))
            y = np.array([np.nan if v is None else v for v in k["accuracy_mean"]], dtype=float)
            e = np.array([0.0 if v is None else v for v in k["accuracy_sd"]], dtype=float)
            ax.plot(sev, y, marker="os^Dv"[mi % 5], ms=4, color=_colour(r, mi),
                    label=f"{r['label']} (n = {r['n']})")
            ax.fill_between(sev, y - e, y + e, color=_colour(r, mi), alpha=0.2, linewidth=0)
        if share:
            ax.axhline(share, color="0.4", ls=":", lw=1, label="majority class")
        lv = r["kinds"][kind]["levels"]
        ax.set_xticks(range(len(lv)))
        ax.set_xticklabels([f"{i}\n{v:g}" for i, v in enumerate(lv)], fontsize=7)
        ax.set(title=LEVEL_NAMES[kind], ylim=(0, 100), ylabel="test accuracy (%)")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(fontsize=7, loc="lower left")
    for j in range(len(kinds), nrow * ncol):
        axes[j // ncol][j % ncol].axis("off")
    fig.supxlabel("severity (level)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_spectrum_generalisation(rows, evaluated, kinds):
    """Left: histograms of the per-sample critical frequency of the target readout trace,
    clean and at the spectrum severity of the first kind (the paper's Fig. 5(a-c)); middle: the
    same for the hidden spike trains; right: test loss against train loss over training (Fig.
    5(d, e)), one line per run."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    noisy = next((k for k in kinds if all(k in evaluated[i]["spectrum"] for row in rows
                                          for i in row["runs"])), None)
    bins = np.logspace(-3, 0, 61)  # the target trace's power sits far below the hidden layer's
    for ax, sig in ((axes[0], "target"), (axes[1], "hidden")):
        for mi, row in enumerate(rows):
            for cond, ls in (("clean", "-"), (noisy, "--")):
                if cond is None:
                    continue
                v = np.concatenate([evaluated[i]["spectrum"][cond][sig] for i in row["runs"]])
                v = v[np.isfinite(v)]
                if not v.size:
                    continue
                h, _ = np.histogram(v, bins=bins)
                h = h / max(h.sum(), 1)
                ax.step(bins[:-1], h, where="post", color=_colour(row, mi), ls=ls,
                        label=f"{row['label']}, {'clean' if cond == 'clean' else cond.replace('_', '-')}")
        ax.set(xscale="log", xlabel="critical frequency / Nyquist", ylabel="share of samples (log bins)",
               title=f"{sig}: {'readout of the true class' if sig == 'target' else 'hidden spike trains'}")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    ax = axes[2]
    for mi, row in enumerate(rows):
        for j, i in enumerate(row["runs"]):
            g = evaluated[i]["generalisation"]
            ax.plot(g["train_loss"], g["test_loss"], color=_colour(row, mi), lw=0.8, alpha=0.7,
                    label=row["label"] if j == 0 else None)
    lo = min(min(v for v in evaluated[i]["generalisation"][k] if v is not None)
             for row in rows for i in row["runs"] for k in ("train_loss", "test_loss"))
    ax.plot([lo, 1.8], [lo, 1.8], color="0.5", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="train loss", ylabel="test loss",
           title="test against train loss over training (each run)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# -- CLI -------------------------------------------------------------------------------------------
def _parse_kinds(text: str) -> list[str]:
    return parse_kinds(text, KINDS)


def build_parser():
    from resonet.neurons import neuron_names

    dflt = "\n".join(f"  {k.replace('_', '-')}: {','.join(f'{v:g}' for v in DEFAULT_LEVELS[k])}"
                     for k in KINDS)
    ap = make_parser("python -m analysis.leaknet", __doc__.split("\n\n")[0] + f"""

Reads every finished run (summary.json) of the DIRs (sweep directories, folders of run
directories, or run directories; ECG runs), and measures on each run's best checkpoint and
test split: accuracy under the four noise kinds at each level (the same draws for every run),
the critical frequency of the output spectrum (clean and at --spectrum-severity), the train and
test loss of its last epochs, and its spike rate and synaptic operations. Writes {STEM}.md,
{STEM}.json, {STEM}.png (accuracy against severity) and {STEM}_spectrum.png into --out (default:
the first DIR); existing files are never overwritten (-2, -3, ... suffixes).

Default levels (0 = clean, then severities 1-8):
{dflt}""")
    ap.add_argument("directories", nargs="+", metavar="DIR",
                    help="sweep directory, folder of run directories, or run directory")
    ap.add_argument("--kinds", default="all",
                    help="comma-separated noise kinds: gauss-signal, impulse-signal, gauss-spikes, "
                         "impulse-spikes, or all (default)")
    for k in KINDS:
        ap.add_argument(f"--{k.replace('_', '-')}-levels", type=float_list, default=None,
                        metavar="L,L,...", help=f"levels of {LEVEL_NAMES[k]} (first one 0 = clean)")
    ap.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                    help=f"noise draws per level (default {DEFAULT_REPEATS})")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the noise (default 0)")
    ap.add_argument("--spectrum-severity", type=int, default=5, metavar="I",
                    help="index into the levels of the noisy spectrum (default 5, the paper's)")
    ap.add_argument("--last-epochs", type=int, default=LAST_EPOCHS, metavar="K",
                    help=f"epochs averaged for the train/test loss (default {LAST_EPOCHS})")
    ap.add_argument("--neurons", default=None, metavar="N,N,...",
                    help=f"only these neuron models (of {', '.join(neuron_names())}; default: all found)")
    ap.add_argument("--seeds", type=int_list, default=None, metavar="S,S,...",
                    help="only the runs of these training seeds (default: all found)")
    ap.add_argument("--data-dir", metavar="PATH", default=None,
                    help="load each run's test split from PATH instead of the data_dir in its config.json")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="evaluate on the first N test segments only (default: all)")
    add_backend_arg(ap)
    ap.add_argument("--out", metavar="DIR", default=None, help="output directory (default: the first DIR)")
    ap.add_argument("--no-figure", action="store_true", help="only the tables and the JSON")
    return ap


def _options(args) -> tuple[list[str], dict, list[str] | None]:
    from resonet.neurons import neuron_names

    kinds = _parse_kinds(args.kinds)
    levels = {}
    for k in kinds:
        lv = getattr(args, f"{k}_levels") or DEFAULT_LEVELS[k]
        for v in lv:
            _check_level(k, v)
        levels[k] = list(lv)
    if args.repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {args.repeats}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.last_epochs < 1:
        raise ConfigError(f"--last-epochs must be >= 1, got {args.last_epochs}")
    if args.spectrum_severity < 0:
        raise ConfigError(f"--spectrum-severity must be >= 0, got {args.spectrum_severity}")
    neurons = None
    if args.neurons:
        neurons = [n.strip().lower() for n in args.neurons.split(",") if n.strip()]
        bad = [n for n in neurons if n not in neuron_names()]
        if bad or not neurons:
            raise ConfigError(f"--neurons: unknown {bad}; choose from {', '.join(neuron_names())}")
    return kinds, levels, neurons


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    kinds, levels, neurons = _options(args)
    runs, skipped = select_runs(args.directories, neurons, args.seeds)
    out = out_dir(args.out or args.directories[0], "leaknet")
    n_eval = 1 + sum((len(levels[k]) - (1 if 0 in levels[k] else 0)) * args.repeats
                     + (1 if 0 in levels[k] else 0) for k in kinds)
    progress(f"{len(runs)} finished run(s), {n_eval} evaluations of the test set each, backend "
             f"{args.backend}")
    evaluated: dict[str, dict] = {}
    cache: dict = {}
    t0 = time.perf_counter()
    for i, r in enumerate(runs, 1):
        tag = f"[{i}/{len(runs)}] {r.id}"
        progress(f"{tag} ({short_label(r.settings)}, seed {r.seed}) ...")
        t1 = time.perf_counter()
        try:
            ev = evaluate_run(r.run_dir, kinds, levels, repeats=args.repeats, seed=args.seed,
                              backend=args.backend, data_dir=args.data_dir, limit=args.limit,
                              data_cache=cache, spectrum_severity=args.spectrum_severity,
                              last_epochs=args.last_epochs, verbose=True)
        except (CheckpointError, DataError, ConfigError) as exc:  # one bad run does not sink the rest
            skipped.append((r.id, str(exc)))
            progress(f"{tag}: skipped, {exc}")
            continue
        evaluated[r.id] = ev
        el = time.perf_counter() - t0
        progress(f"{tag}: clean {ev['clean']['accuracy']:.1f} % (summary.json "
                 f"{r.summary.get('test_acc', float('nan')):.1f} %), {time.perf_counter() - t1:.0f} s"
                 + (f"; about {el / i * (len(runs) - i):.0f} s left" if i < len(runs) else ""))
    if not evaluated:
        raise ConfigError("no run could be evaluated: " + "; ".join(f"{i}: {w}" for i, w in skipped))
    spectrum_levels = {k: levels[k][args.spectrum_severity] for k in kinds
                       if args.spectrum_severity < len(levels[k])}
    rows = summarise(runs, evaluated, kinds)
    md = markdown(rows, kinds, args.repeats, spectrum_levels, args.last_epochs)
    print(md, end="")
    from resonet.runlog import unique_path, write_json

    stem = free_stem(out, STEM, (".md", ".json", ".png", "_spectrum.png"))
    title = ", ".join(Path(d).name for d in args.directories)
    md_path = unique_path(out / f"{stem}.md")
    md_path.write_text(f"# The leak paper's measurements: {title}\n\n{md}")
    print(f"wrote {md_path}")
    data = {"directories": [str(d) for d in args.directories], "kinds": kinds, "levels": levels,
            "repeats": args.repeats, "seed": args.seed, "backend": args.backend,
            "data_dir": args.data_dir, "limit": args.limit, "spectrum_levels": spectrum_levels,
            "last_epochs": args.last_epochs, "rows": rows, "skipped": skipped,
            "wall_s": time.perf_counter() - t0,
            "runs": [{"id": r.id, "dir": str(r.run_dir), "neuron": r.neuron, "seed": r.seed,
                      "label": short_label(r.settings), "summary_test_acc": r.summary.get("test_acc"),
                      **evaluated[r.id]} for r in runs if r.id in evaluated]}
    print(f"wrote {write_json(out / f'{stem}.json', to_jsonable(data), unique=True)}")
    if not args.no_figure:
        print(f"wrote {save_figure(plot_robustness(rows, kinds), out / f'{stem}.png')}")
        fig = plot_spectrum_generalisation(rows, evaluated, kinds)
        print(f"wrote {save_figure(fig, out / f'{stem}_spectrum.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
