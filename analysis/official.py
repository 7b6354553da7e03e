"""The BRF paper's Table 1, Fig. 12 and Fig. 13 from the authors' own trained networks.

The official repository ships its trained checkpoints and the result arrays behind Fig. 12 and
Fig. 13 (``python -m resonet.data fetch official-models``; :mod:`resonet.data.official_models`).
This module runs resonet's engine on those networks and puts the results beside the official
ones:

``table1``      every ECG, S-MNIST and PS-MNIST checkpoint on its full test set (cpu, float32 and
                float64): accuracy, loss, SOPs, beside Table 1's row (:data:`PAPER_TABLE1`)
``robustness``  :mod:`analysis.robustness` on the S-MNIST BRF, RF and ALIF checkpoints with the
                official protocols and levels (reference-spec §9.1–9.4; 5 repetitions), each
                curve beside the shipped ``noise_robustness/*/*.npy``
``landscape``   :mod:`analysis.landscape` (Li et al.'s filter-normalised directions, as the
                official script) around the S-MNIST checkpoints, and the statistics the figure
                shows beside the shipped ``loss_landscape/stats/*.npy``
``params``      the learned ω and b′ of every BRF/RF checkpoint (and of resonet's own runs given
                with ``--runs``) against what the paper says of them
``curves``      the official ECG learning curves (the repository's ``experiments/ecg/csv_files``,
                5 runs per model): final-epoch and best-validation test accuracy with ddof 0 and
                1, and the epochs to 95 % of the final accuracy, per run

Long jobs are split into work units (one model, perturbation and level; one row of a landscape
grid) written to ``--out`` as they finish: ``--jobs N`` runs N processes, a killed job run again
continues, and each subcommand ends by writing its table (``.md``), data (``.json``) and figure
(``.png``) from all the units. Units written with other settings are refused, never mixed.

The official arrays hold (loss, accuracy, SOPs) × levels × 5 trained models × 5 repetitions;
the published checkpoint is one of the 5 models, identified by its clean accuracy
(:func:`matching_model`).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError, DataError

from .common import EvalData, make_parser, progress, pyplot, save_figure, to_jsonable

# Table 1 of the paper (accuracy %, SOPs per sample, SOPs per step) for the rows whose networks
# the official repository ships. RF PS-MNIST's 9.9 % is the untrained network (reference-spec
# §10.14).
PAPER_TABLE1 = {
    ("smnist", "rf"): (98.0, 29034.8, 37.03), ("smnist", "brf"): (99.0, 15462.6, 19.72),
    ("psmnist", "rf"): (9.9, 66474.2, 84.79), ("psmnist", "brf"): (95.0, 27839.7, 35.51),
    ("ecg", "rf"): (85.5, 11981.9, 9.22), ("ecg", "brf"): (85.8, 6307.7, 4.85),
    ("ecg", "alif"): (85.9, 35011.2, 26.93),
    ("smnist", "alif"): (98.7, 70810.8, 90.32), ("psmnist", "alif"): (94.3, 59772.1, 76.24),
}
# The paper's ALIF rows are Yin et al.'s multi-layer networks (ALIF*), not these one-layer ones.
PAPER_ALIF_STAR = {"smnist", "psmnist", "ecg"}
TABLE1_KEYS = ("ecg/brf", "ecg/rf", "ecg/alif", "smnist/brf", "smnist/rf", "smnist/alif",
               "psmnist/brf", "psmnist/rf", "psmnist/alif")
MODELS = ("brf", "rf", "alif")
MODEL_LABEL = {"brf": "BRF", "rf": "RF", "alif": "ALIF"}
KINDS = ("bits", "input_noise", "deletion", "synaptic")
# The official levels (reference-spec §9). The bit-precision arrays hold 7 levels where the
# script lists 6 (1, 2, 4, 8, 16, 32); their 7th equals the 6th in every model, i.e. it leaves
# float32 unchanged like f = 32 does: any f >= 24 does, and 64 is used here.
LEVELS: dict[str, list[float]] = {
    "bits": [1, 2, 4, 8, 16, 32, 64],
    "input_noise": [round(v, 10) for v in np.arange(0, 0.4, 0.05)],
    "deletion": [round(v, 10) for v in np.arange(0, 1, 0.1)],
    "synaptic": [round(v, 10) for v in np.arange(0, 1.1, 0.1)],
}
REPEATS = 5


# -- files ------------------------------------------------------------------------------------
def models_dir(given: str | None) -> Path:
    from resonet.data.official_models import official_dir

    return Path(given) if given else official_dir()


def checkpoint(root: Path, key: str) -> Path:
    from resonet.data.official_models import find_official

    return find_official(root, key)


def official_array(root: Path, key: str) -> np.ndarray:
    """A shipped result array (loss, accuracy, SOPs) × levels × models [× repeats]."""
    p = checkpoint(root, key)
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable .npy array ({exc})") from None


def matching_model(official_acc0: np.ndarray, clean_acc: float, tol: float = 0.05,
                   official_sops0: np.ndarray | None = None, clean_sops: float | None = None,
                   sops_rtol: float = 0.005) -> int | None:
    """The index of the official model whose clean accuracy (level 0, mean over repetitions) is
    within ``tol`` points of ``clean_acc`` (the published checkpoint among the 5), else None.
    Where several are (a small evaluation set gives every model the same accuracy), the clean
    SOPs decide when given: the model within ``sops_rtol`` (relative) of ``clean_sops``, the
    closest if several, else None."""
    d = np.abs(np.asarray(official_acc0, dtype=float) - clean_acc)
    cand = np.flatnonzero(d <= tol)
    if len(cand) <= 1 or official_sops0 is None or clean_sops is None:
        k = int(np.argmin(d))
        return k if d[k] <= tol else None
    rel = np.abs(np.asarray(official_sops0, dtype=float)[cand] - clean_sops) / max(abs(clean_sops), 1e-12)
    j = int(np.argmin(rel))
    return int(cand[j]) if rel[j] <= sops_rtol else None


# -- work units -------------------------------------------------------------------------------
def _unit_path(out: Path, name: str) -> Path:
    return out / "units" / f"{name}.json"


def _read_unit(path: Path, settings: dict) -> Any:
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a unit is written atomically; an unreadable one is redone
    if d.get("settings") != json.loads(json.dumps(settings)):
        raise ConfigError(f"{path}: written with other settings ({d.get('settings')}); use another "
                          f"--out for these ({settings})")
    return d


def _write_unit(path: Path, settings: dict, result: dict) -> None:
    from resonet.runlog import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, to_jsonable({"settings": settings, **result}))


def _run_units(units: list, fn, jobs: int) -> None:
    """Run ``fn(unit)`` for every unit, in ``jobs`` processes (1: here)."""
    if not units:
        return
    t0 = time.perf_counter()
    if jobs <= 1:
        for i, u in enumerate(units, 1):
            fn(u)
            progress(f"  [{i}/{len(units)}] {u[0]} done, {time.perf_counter() - t0:.0f} s")
        return
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        for i, u in enumerate(ex.map(fn, units), 1):
            progress(f"  [{i}/{len(units)}] {u} done, {time.perf_counter() - t0:.0f} s")


def _single_thread() -> None:
    import numba

    numba.set_num_threads(1)


# -- data -------------------------------------------------------------------------------------
_DATA: dict = {}


def smnist_test(data_dir: str | None, limit: int | None) -> EvalData:
    """The S-MNIST test set (pixel/255, row-major), its first ``limit`` images."""
    key = (data_dir, limit)
    if key not in _DATA:
        from resonet.data import load_task

        td = load_task("smnist", data_dir)
        _DATA[key] = EvalData(dataset=td.test, source="S-MNIST test set", limit=limit)
    return _DATA[key]


# -- robustness -------------------------------------------------------------------------------
def _robust_unit(unit) -> str:
    """One evaluation: model ``key`` under ``kind`` at level ``i``, repetition ``r`` (the noise
    of ``default_rng([seed, i, r])``, as :func:`analysis.robustness.sweep` draws it)."""
    name, key, root, kind, i, r, level, cfg = unit
    _single_thread()
    from resonet.official import read_official

    from .robustness import evaluate_level

    net = read_official(checkpoint(Path(root), key))
    data = smnist_test(cfg["data_dir"], cfg["limit"])
    m = evaluate_level(kind, level, net.spec, net.params, data,
                       rng=np.random.default_rng([cfg["seed"], i, r]), backend=cfg["backend"],
                       batch_size=cfg["batch"], loop_dtype=np.dtype(cfg["loop_dtype"]).type)
    _write_unit(_unit_path(Path(cfg["out"]), name), _robust_settings(cfg, kind, level),
                {"model": key, "kind": kind, "level": level, "repeat": r,
                 **{k: m[k] for k in ("loss", "accuracy", "sops")}, "n_samples": data.n})
    return name


def _robust_settings(cfg: dict, kind: str, level) -> dict:
    """What a unit's result depends on: input and synaptic noise run on the backend (float64),
    bit precision and deletion on the loop of analysis.robustness in ``loop_dtype``."""
    s = {"kind": kind, "level": level, "seed": cfg["seed"], "limit": cfg["limit"]}
    if kind in ("input_noise", "synaptic"):
        s["backend"] = cfg["backend"]
    else:
        s["loop_dtype"] = cfg["loop_dtype"]
    return s


def _reps(kind: str, cfg: dict) -> int:
    if kind == "bits":  # bit precision is deterministic
        return 1
    if kind == "deletion" and cfg.get("deletion_repeats"):
        return cfg["deletion_repeats"]
    return cfg["repeats"]


def robustness(args) -> int:
    root = models_dir(args.models)
    out = Path(args.out)
    models = _list(args.model_set, MODELS, "--models-of")
    kinds = _list(args.kinds, KINDS, "--kinds")
    if args.repeats < 1 or (args.deletion_repeats is not None and args.deletion_repeats < 1):
        raise ConfigError("--repeats and --deletion-repeats must be >= 1")
    cfg = {"data_dir": args.data_dir, "limit": args.limit, "repeats": args.repeats,
           "deletion_repeats": args.deletion_repeats, "seed": args.seed, "backend": args.backend,
           "loop_dtype": args.loop_dtype, "batch": args.batch_size, "out": str(out)}
    for m in models:  # every file is there before hours of work start
        checkpoint(root, f"smnist/{m}")
        for k in kinds:
            checkpoint(root, f"robustness/{k}/{m}")
    smnist_test(args.data_dir, args.limit)
    units = []
    for m in models:
        for k in kinds:
            for i, lv in enumerate(LEVELS[k]):
                for r in range(_reps(k, cfg)):
                    name = f"robustness_{m}_{k}_{i}_{r}"
                    if _read_unit(_unit_path(out, name), _robust_settings(cfg, k, lv)) is None:
                        units.append((name, f"smnist/{m}", str(root), k, i, r, lv, cfg))
    # repetition-major: a job stopped early leaves whole repetitions of every curve behind
    units.sort(key=lambda u: u[5])
    progress(f"robustness: {len(units)} work unit(s) to run, {args.jobs} process(es)")
    _run_units(units, _robust_unit, args.jobs)
    res = collect_robustness(out, root, models, kinds, cfg)
    write_robustness_report(out, res, kinds, cfg)
    return 0


def _clean_level(kind: str) -> int:
    """The index of the unperturbed level of a kind: level 0 (σ = 0, p = 0), and for bit
    precision its next-to-last (f = 32, float32 itself)."""
    return -2 if kind == "bits" else 0


def collect_robustness(out: Path, root: Path, models, kinds, cfg: dict) -> dict:
    """Ours and the official arrays per model and kind: levels, accuracy and SOPs, each
    (levels, repeats), and the official model matching the published checkpoint."""
    res: dict = {}
    for m in models:
        res[m] = {}
        for k in kinds:
            units = [[_read_unit(_unit_path(out, f"robustness_{m}_{k}_{i}_{r}"),
                                 _robust_settings(cfg, k, lv)) for r in range(_reps(k, cfg))]
                     for i, lv in enumerate(LEVELS[k])]
            if any(u is None for row in units for u in row):
                raise ConfigError(f"{out}: robustness {m} {k} is incomplete; run the command again")
            acc = np.array([[u["accuracy"] for u in row] for row in units])  # (levels, repeats)
            sops = np.array([[u["sops"] for u in row] for row in units])
            off = official_array(root, f"robustness/{k}/{m}")
            off_acc = off[1] if off.ndim == 4 else off[1][..., None]  # (levels, models, reps)
            off_sops = off[2] if off.ndim == 4 else off[2][..., None]
            res[m][k] = {"levels": LEVELS[k], "acc": acc, "sops": sops, "off_acc": off_acc,
                         "off_sops": off_sops, "n_samples": units[0][0]["n_samples"]}
        # the clean network: the first kind's unperturbed level
        first = res[m][kinds[0]]
        clean = float(first["acc"][_clean_level(kinds[0])].mean())
        clean_sops = float(first["sops"][_clean_level(kinds[0])].mean())
        for k in kinds:
            r = res[m][k]
            lv0 = _clean_level(k)
            r["match"] = matching_model(r["off_acc"][lv0].mean(axis=-1), clean,
                                        official_sops0=r["off_sops"][lv0].mean(axis=-1),
                                        clean_sops=clean_sops)
            r["clean"] = clean
    return res


def agreement(r: dict) -> list[dict]:
    """Per level: ours (mean, sd over repetitions), the matching official model's (or the mean
    of the 5 models when none matches), the difference and its standard error
    √((sd₁² + sd₂²)/n); ``ok`` when |difference| ≤ 3 standard errors + 0.05 points (the
    float32 vs float64 rounding and the 1-image resolution of the deterministic levels)."""
    rows = []
    n = r["acc"].shape[1]
    for i, lv in enumerate(r["levels"]):
        ours = r["acc"][i]
        off = r["off_acc"][i, r["match"]] if r["match"] is not None else r["off_acc"][i].mean(axis=0)
        d = float(ours.mean() - off.mean())
        se = float(np.sqrt((ours.var() + off.var()) / max(n, 1)))
        rows.append({"level": lv, "ours": float(ours.mean()), "ours_sd": float(ours.std()),
                     "official": float(off.mean()), "official_sd": float(off.std()),
                     "official_5_models": float(r["off_acc"][i].mean()), "diff": d, "se": se,
                     "ok": abs(d) <= 3 * se + 0.05,
                     "sops": float(r["sops"][i].mean()),
                     "official_sops": float((r["off_sops"][i, r["match"]] if r["match"] is not None
                                             else r["off_sops"][i]).mean())})
    return rows


def write_robustness_report(out: Path, res: dict, kinds, cfg: dict) -> None:
    from resonet.runlog import unique_path, write_json

    reps = ", ".join(f"{k.replace('_', ' ')} {_reps(k, cfg)}" for k in kinds)
    n = next(iter(next(iter(res.values())).values()))["n_samples"]
    lines = [f"Robustness of the official S-MNIST networks (resonet's engine: input and synaptic "
             f"noise on the {cfg['backend']} backend in float64, bit precision and deletion on the "
             f"analysis.robustness loop in {cfg['loop_dtype']}; {n} test images; seed "
             f"{cfg['seed']}; repetitions: {reps}) beside the shipped arrays (5 repetitions).", ""]
    data = {"settings": cfg, "models": {}}
    for m, byk in res.items():
        data["models"][m] = {}
        for k in kinds:
            r = byk[k]
            rows = agreement(r)
            data["models"][m][k] = {"match": r["match"], "rows": rows}
            which = (f"official model {r['match']} of 5 (clean accuracy matches)"
                     if r["match"] is not None else "mean of the 5 official models (none matches "
                     f"the clean accuracy {r['clean']:.2f} %)")
            lines += [f"**{MODEL_LABEL[m]}, {k.replace('_', ' ')}** (against {which})", "",
                      "| level | ours % | official % | difference | 3 se | agree | SOPs ours | "
                      "SOPs official |", "|---|---|---|---|---|---|---|---|"]
            for row in rows:
                lines.append(f"| {row['level']:g} | {row['ours']:.2f} ± {row['ours_sd']:.2f} | "
                             f"{row['official']:.2f} ± {row['official_sd']:.2f} | "
                             f"{row['diff']:+.2f} | {3 * row['se']:.2f} | "
                             f"{'yes' if row['ok'] else '**no**'} | {row['sops']:,.0f} | "
                             f"{row['official_sops']:,.0f} |")
            lines.append("")
    md = unique_path(out / "robustness_official.md")
    md.write_text("\n".join(lines) + "\n")
    js = write_json(out / "robustness_official.json", to_jsonable(data), unique=True)
    png = save_figure(plot_robustness(res, kinds), out / "robustness_official.png")
    print(f"wrote {md}\nwrote {js}\nwrote {png}")


def plot_robustness(res: dict, kinds):
    """Fig. 12's four panels: accuracy (solid) and SOPs (dotted, right axis) per level, ours
    (markers, ± sd over repetitions) beside the official arrays (lines: the matching model's
    mean; band: the range of the 5 official models' means)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.6 * len(kinds), 4.2), squeeze=False)
    for ax, k in zip(axes[0], kinds):
        ax2 = ax.twinx()
        for j, (m, byk) in enumerate(res.items()):
            r = byk[k]
            x = np.arange(len(r["levels"])) if k == "bits" else np.asarray(r["levels"], float)
            c = f"C{j}"
            per_model = r["off_acc"].mean(axis=-1)  # (levels, models)
            ref = per_model[:, r["match"]] if r["match"] is not None else per_model.mean(axis=1)
            ax.fill_between(x, per_model.min(axis=1), per_model.max(axis=1), color=c, alpha=0.15,
                            linewidth=0)
            ax.plot(x, ref, "-", color=c, lw=1.5, label=f"{MODEL_LABEL[m]} official")
            ax.errorbar(x, r["acc"].mean(axis=1), yerr=r["acc"].std(axis=1), fmt="o", ms=4,
                        color=c, mfc="white", label=f"{MODEL_LABEL[m]} resonet")
            osops = r["off_sops"].mean(axis=-1)
            osops = osops[:, r["match"]] if r["match"] is not None else osops.mean(axis=1)
            ax2.plot(x, osops, ":", color=c, lw=1.2)
            ax2.plot(x, r["sops"].mean(axis=1), "x", color=c, ms=4)
        if k == "bits":
            ax.set_xticks(np.arange(len(LEVELS[k])), [str(v) for v in LEVELS[k]])
        ax.set(xlabel={"bits": "fractional bits f", "input_noise": "input noise σ",
                       "deletion": "spike deletion p", "synaptic": "synaptic noise σ_rel"}[k],
               ylabel="test accuracy (%)", ylim=(0, 101))
        ax2.set_ylabel("SOPs per sample (dotted: official, x: resonet)")
        ax2.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("S-MNIST robustness of the official networks: resonet (markers, ± sd over "
                 "repetitions) and the official arrays (lines; band: range of the 5 official models)",
                 fontsize=9)
    fig.tight_layout()
    return fig


# -- loss landscape ---------------------------------------------------------------------------
LANDSCAPE_N = 50  # the official grid: linspace(-1, 1, 50) in α and β (no point at 0)


def _land_settings(cfg: dict) -> dict:
    return {"n": cfg["n"], "seed": cfg["seed"], "limit": cfg["limit"], "backend": cfg["backend"]}


def _land_unit(unit) -> str:
    """One row of the grid: loss and accuracy at W* + α_a·d₁ + β·d₂ for every β."""
    name, key, root, a, cfg = unit
    _single_thread()
    from resonet.official import read_official

    from .common import evaluate
    from .landscape import W_KEY, directions

    net = read_official(checkpoint(Path(root), key))
    data = smnist_test(cfg["data_dir"], cfg["limit"])
    d1, d2 = directions(net.spec, net.params, np.random.default_rng(cfg["seed"]))
    grid = np.linspace(-1.0, 1.0, cfg["n"])
    W0 = net.params[W_KEY]
    loss, acc = [], []
    for b in grid:
        p = {**net.params, W_KEY: W0 + grid[a] * d1 + b * d2}
        m = evaluate(net.spec, p, data, backend=cfg["backend"], batch_size=cfg["batch"])
        loss.append(m["loss"])
        acc.append(m["accuracy"])
    _write_unit(_unit_path(Path(cfg["out"]), name), _land_settings(cfg),
                {"model": key, "row": a, "loss": loss, "accuracy": acc, "n_samples": data.n})
    return name


def surface_stats(loss: np.ndarray) -> dict:
    """What the loss-landscape figure shows, as numbers comparable between grids of the same
    size: the minimum, the maximum, the range, where the minimum lies (grid steps from the
    centre), the number of strict local minima (8 neighbours), the roughness (mean |discrete
    Laplacian| of the interior over the range: 0 for a plane, larger for a bumpy surface), the
    convex fraction (interior points whose discrete Hessian is positive definite) and the basin
    (the share of the grid within 10 % of the range above the minimum: wide for a broad valley,
    small for a narrow well)."""
    L = np.asarray(loss, dtype=float)
    n = L.shape[0]
    rng_ = float(L.max() - L.min())
    c = L[1:-1, 1:-1]
    nb = [L[1 + i:n - 1 + i, 1 + j:n - 1 + j] for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j]
    minima = int(np.sum(np.all([c < q for q in nb], axis=0)))
    dxx = L[2:, 1:-1] - 2 * c + L[:-2, 1:-1]
    dyy = L[1:-1, 2:] - 2 * c + L[1:-1, :-2]
    dxy = (L[2:, 2:] - L[2:, :-2] - L[:-2, 2:] + L[:-2, :-2]) / 4
    convex = (dxx > 0) & (dxx * dyy - dxy * dxy > 0)
    i, j = np.unravel_index(np.argmin(L), L.shape)
    centre = (n - 1) / 2
    return {"min": float(L.min()), "max": float(L.max()), "range": rng_,
            "argmin_from_centre": float(np.hypot(i - centre, j - centre)),
            "local_minima": minima,
            "roughness": float(np.mean(np.abs(dxx + dyy)) / rng_) if rng_ > 0 else 0.0,
            "convex_fraction": float(convex.mean()),
            "basin": float(np.mean(L <= L.min() + 0.1 * rng_))}


def landscape(args) -> int:
    root = models_dir(args.models)
    out = Path(args.out)
    models = _list(args.model_set, MODELS, "--models-of")
    cfg = {"n": args.n, "seed": args.seed, "limit": args.limit, "backend": args.backend,
           "batch": args.batch_size, "data_dir": args.data_dir, "out": str(out)}
    for m in models:
        checkpoint(root, f"smnist/{m}")
        checkpoint(root, f"landscape/{m}")
    smnist_test(args.data_dir, args.limit)
    units = [(f"landscape_{m}_{a}", f"smnist/{m}", str(root), a, cfg) for m in models
             for a in range(args.n)
             if _read_unit(_unit_path(out, f"landscape_{m}_{a}"), _land_settings(cfg)) is None]
    progress(f"landscape: {len(units)} row(s) of {args.n} evaluations to run, {args.jobs} process(es)")
    _run_units(units, _land_unit, args.jobs)
    res = {}
    for m in models:
        rows = [_read_unit(_unit_path(out, f"landscape_{m}_{a}"), _land_settings(cfg))
                for a in range(args.n)]
        if any(r is None for r in rows):
            raise ConfigError(f"{out}: landscape {m} is incomplete; run the command again")
        off = official_array(root, f"landscape/{m}")
        res[m] = {"loss": np.array([r["loss"] for r in rows]),
                  "accuracy": np.array([r["accuracy"] for r in rows]),
                  "official": off, "n_samples": rows[0]["n_samples"]}
    write_landscape_report(out, res, cfg)
    return 0


def write_landscape_report(out: Path, res: dict, cfg: dict) -> None:
    from resonet.runlog import unique_path, write_json

    keys = ("min", "max", "range", "argmin_from_centre", "local_minima", "roughness",
            "convex_fraction", "basin")
    lines = [f"Loss landscape (label-last NLL) of the official S-MNIST networks on a {cfg['n']}×"
             f"{cfg['n']} grid, α, β ∈ [−1, 1], directions seed {cfg['seed']}, "
             f"{next(iter(res.values()))['n_samples']} test images; beside the shipped "
             "statistics (50×50, 10,000 images, around other checkpoints: see the text).", "",
             "| network | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    data = {"settings": cfg, "models": {}}
    for m, r in res.items():
        surfaces = [("official", r["official"])]
        step = max(1, round((r["official"].shape[0] - 1) / max(cfg["n"] - 1, 1)))
        if step > 1:  # the official grid at about our spacing, for the spacing-dependent numbers
            surfaces.append((f"official, every {step}nd point" if step == 2 else
                             f"official, every {step}th point", r["official"][::step, ::step]))
        surfaces.append(("resonet", r["loss"]))
        for who, L in surfaces:
            st = surface_stats(L)
            data["models"].setdefault(m, {})[who] = st
            lines.append(f"| {MODEL_LABEL[m]} {who} | " + " | ".join(
                f"{st[k]:.3g}" if isinstance(st[k], float) else str(st[k]) for k in keys) + " |")
        data["models"][m]["loss"] = r["loss"]
        data["models"][m]["accuracy"] = r["accuracy"]
    md = unique_path(out / "landscape_official.md")
    md.write_text("\n".join(lines) + "\n")
    js = write_json(out / "landscape_official.json", to_jsonable(data), unique=True)
    png = save_figure(plot_landscapes(res), out / "landscape_official.png")
    print(f"wrote {md}\nwrote {js}\nwrote {png}")


def plot_landscapes(res: dict):
    """Contours of the shipped statistics (top) and of resonet's surfaces around the published
    checkpoints (bottom), each with its own colour range, as the paper's figure."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(res), figsize=(4.6 * len(res), 8), squeeze=False)
    for j, (m, r) in enumerate(res.items()):
        for i, (L, title) in enumerate(((r["official"], "official stats (early checkpoint)"),
                                        (r["loss"], "resonet, published checkpoint"))):
            n = L.shape[0]
            g = np.linspace(-1, 1, n)
            ax = axes[i][j]
            cs = ax.contourf(g, g, L.T, levels=25, cmap="viridis")
            fig.colorbar(cs, ax=ax, label="loss")
            ax.set(xlabel="α", ylabel="β", title=f"{MODEL_LABEL[m]}: {title}", aspect="equal")
    fig.tight_layout()
    return fig


# -- Table 1 ----------------------------------------------------------------------------------
# The official code's own score of each published network where it is known without running it
# (reference-spec §8.3: the ECG golden float32 numbers; the statistics scripts' printed
# accuracies), and the source; S-MNIST BRF and RF come from the robustness arrays instead.
OFFICIAL_SCORES = {
    "ecg/brf": (86.1986, "official code, float32 (reference-spec §8.3)"),
    "ecg/rf": (85.1140, "official code, float32 (reference-spec §8.3)"),
    "ecg/alif": (70.7598, "official code, float32 (reference-spec §8.3)"),
    "psmnist/brf": (95.22, "statistics script (reference-spec §8.3)"),
    "psmnist/rf": (9.8, "statistics script, identity order, NaN outputs -> class 0"),
    "smnist/alif": (92.44, "statistics script (reference-spec §8.3)"),
    "psmnist/alif": (83.8, "statistics script (reference-spec §8.3)"),
}


def _t1_settings(cfg: dict, dtype: str) -> dict:
    return {"dtype": dtype, "limit": cfg["limit"], "backend": cfg["backend"]}


def _t1_unit(unit) -> str:
    name, key, root, dtype, cfg = unit
    _single_thread()
    from resonet.api import Run
    from resonet.data import load_task

    # the official statistics script feeds the PS-MNIST RF (which has no saved permutation) the
    # pixels in their natural order
    perm = "identity" if key == "psmnist/rf" else None
    run = Run(checkpoint(Path(root), key), backend=cfg["backend"], dtype=np.dtype(dtype).type,
              permutation=perm)
    task = str(run.task)
    test = load_task(task, cfg["data_dir_" + task], **run.config["task_options"]).test
    if cfg["limit"]:
        test = test.subset(np.arange(min(cfg["limit"], len(test))))
    t0 = time.perf_counter()
    r = run.evaluate(test, batch=cfg["batch"])
    o = run.official
    assert o is not None  # an official checkpoint
    _write_unit(_unit_path(Path(cfg["out"]), name), _t1_settings(cfg, dtype),
                {"key": key, "task": run.task, "neuron": run.spec.neuron, "epoch": o.epoch,
                 "n_params": run.spec.n_params(), "n_samples": len(test), "T": test.T,
                 "md5": o.md5, "permutation": o.permutation_source, **r,
                 "seconds": time.perf_counter() - t0})
    return name


def table1(args) -> int:
    root = models_dir(args.models)
    out = Path(args.out)
    cfg = {"limit": args.limit, "backend": args.backend, "batch": args.batch_size, "out": str(out),
           "data_dir_ecg": args.ecg_dir or args.data_dir, "data_dir_smnist": args.data_dir,
           "data_dir_psmnist": args.data_dir}
    keys = [k for k in TABLE1_KEYS if args.only is None or k in args.only.split(",")]
    for k in keys:
        checkpoint(root, k)
    dtypes = ("float32", "float64")
    units = [(f"table1_{k.replace('/', '_')}_{d}", k, str(root), d, cfg) for k in keys for d in dtypes
             if _read_unit(_unit_path(out, f"table1_{k.replace('/', '_')}_{d}"),
                           _t1_settings(cfg, d)) is None]
    progress(f"table1: {len(units)} evaluation(s) to run, {args.jobs} process(es)")
    _run_units(units, _t1_unit, args.jobs)
    rows = []
    for k in keys:
        r = {d: _read_unit(_unit_path(out, f"table1_{k.replace('/', '_')}_{d}"), _t1_settings(cfg, d))
             for d in dtypes}
        task, model = k.split("/")
        off = OFFICIAL_SCORES.get(k)
        if k in ("smnist/brf", "smnist/rf"):  # the robustness arrays' clean scores of this network
            a = official_array(root, f"robustness/input_noise/{model}")
            m = matching_model(a[1][0].mean(axis=-1), r["float32"]["acc"])
            if m is not None:
                off = (float(a[1][0, m].mean()), f"noise_robustness arrays, model {m} of 5; "
                       f"{float(a[2][0, m].mean()):,.2f} SOPs")
        rows.append({"key": k, "task": task, "model": model, **{d: r[d] for d in dtypes},
                     "paper": PAPER_TABLE1.get((task, model)), "official": off})
    write_table1(out, rows)
    return 0


def write_table1(out: Path, rows: list[dict]) -> None:
    from resonet.runlog import unique_path, write_json

    lines = ["| task | model | epoch | params | test samples | acc % float32 | acc % float64 | "
             "official code's | paper | SOPs float32 | SOPs float64 | paper SOPs | SOPs/step | "
             "paper |", "|---" * 14 + "|"]
    for r in rows:
        a, b = r["float32"], r["float64"]
        paper = r["paper"] or (None, None, None)
        star = "*" if r["model"] == "alif" and r["task"] in PAPER_ALIF_STAR else ""
        off = f"{r['official'][0]:.2f}" if r["official"] else "–"
        lines.append(
            f"| {r['task']} | {MODEL_LABEL[r['model']]} | {a['epoch']} | {a['n_params']:,} | "
            f"{a['n_samples']:,} | {a['acc']:.2f} | {b['acc']:.2f} | {off} | "
            f"{paper[0]}{star} | {a['sops']:,.1f} | {b['sops']:,.1f} | {paper[1]:,}{star} | "
            f"{b['sops'] / b['T']:.2f} | {paper[2]}{star} |")
    notes = [f"- {r['task']} {MODEL_LABEL[r['model']]}: official code's number from "
             f"{r['official'][1]}" for r in rows if r["official"]]
    md = unique_path(out / "table1_official.md")
    md.write_text("\n".join(lines + [""] + notes) + "\n")
    js = write_json(out / "table1_official.json", to_jsonable(rows), unique=True)
    print("\n".join(lines))
    print(f"wrote {md}\nwrote {js}")


# -- learned frequencies ----------------------------------------------------------------------
PARAM_KEYS = ("smnist/brf", "smnist/rf", "psmnist/brf", "psmnist/rf", "ecg/brf", "ecg/rf",
              "shd/brf", "shd/rf")
# What the paper says of the learned parameters (Section 6, Fig. 5).
PAPER_PEAKS = {"smnist": [(23.3, 25.3), (40.8, 42.8)]}
# ω histogram bins (rad/s): the paper's 2 rad/s for (P)S-MNIST; finer for the slow ECG and SHD
BIN_WIDTH = {"smnist": 2.0, "psmnist": 2.0, "ecg": 0.5, "shd": 0.5}


def resonator_stats(omega_raw, b_offset_raw, neuron: str, dt: float = 0.01,
                    width: float = 2.0) -> dict:
    """ω = |ω_raw|, b′ = |b′_raw| and the damping at rest b_c = p(ω) − b′ (BRF) or −b′ (RF):
    quantiles, the two highest peaks of the ω histogram (bins of ``width`` rad/s from 0), and the
    spectral radius |1 + δ(b_c + iω)| of the free oscillation (> 1: diverging)."""
    from resonet.neurons.brf import boundary

    w = np.abs(np.asarray(omega_raw, dtype=float))
    b = np.abs(np.asarray(b_offset_raw, dtype=float))
    bc = boundary(w, dt) - b if neuron == "brf" else -b
    radius = np.hypot(1 + dt * bc, dt * w)
    h, e = np.histogram(w, bins=np.arange(0.0, w.max() + width, width))
    peaks = [i for i in range(len(h)) if h[i] > 0 and (i == 0 or h[i] >= h[i - 1])
             and (i == len(h) - 1 or h[i] > h[i + 1])]
    peaks = sorted(peaks, key=lambda i: -h[i])[:2]
    q = (0.1, 0.5, 0.9)
    return {"n": int(w.size), "omega_q10_50_90": np.quantile(w, q), "b_offset_q10_50_90": np.quantile(b, q),
            "b_c_q10_50_90": np.quantile(bc, q),
            "omega_peaks": [(float(e[i]), float(e[i + 1]), int(h[i])) for i in peaks],
            # at b′ = 0 a BRF neuron sits on the boundary, radius 1 up to rounding
            "radius_max": float(radius.max()), "diverging": int(np.sum(radius > 1 + 1e-12)),
            "omega": w, "b_offset": b, "b_c": bc}


def _outside_init(st: dict, task: str, neuron: str) -> dict:
    """The share of ω and b′ that left the preset's initial range (the official ones)."""
    from resonet.presets import get_preset

    init = get_preset(task, neuron).init
    out: dict[str, Any] = {}
    for name, v in (("omega", st["omega"]), ("b_offset", st["b_offset"])):
        lo, hi = init[name]
        out[f"{name}_init"] = (lo, hi)
        out[f"{name}_outside_init"] = float(np.mean((v < lo) | (v > hi)))
    return out


def params(args) -> int:
    from resonet.api import read_run
    from resonet.official import read_official

    root = models_dir(args.models)
    out = Path(args.out)
    rows = []
    for k in PARAM_KEYS:
        perm = "identity" if k == "psmnist/rf" else None
        net = read_official(checkpoint(root, k), permutation=perm)
        st = resonator_stats(net.params["hidden.omega"], net.params["hidden.b_offset"],
                             net.spec.neuron, net.spec.p_dt, BIN_WIDTH[net.task])
        rows.append({"who": "official", "key": k, "task": net.task, "neuron": net.spec.neuron,
                     "epoch": net.epoch, **st, **_outside_init(st, net.task, net.spec.neuron)})
    if args.runs:
        from .common import collect_finished_runs

        runs, skipped = collect_finished_runs(args.runs, keep=lambda s: s.get("neuron") in ("brf", "rf"))
        for rid, why in skipped:
            progress(f"skipping {rid}: {why}")
        for r in runs:
            spec, prm, cfg = read_run(r.run_dir)
            st = resonator_stats(prm["hidden.omega"], prm["hidden.b_offset"], spec.neuron, spec.p_dt,
                                 BIN_WIDTH.get(r.task, 2.0))
            rows.append({"who": "resonet", "key": f"{r.task}/{spec.neuron}", "task": r.task,
                         "neuron": spec.neuron, "seed": r.seed, "run": r.id, **st,
                         **_outside_init(st, r.task, spec.neuron)})
    write_params_report(out, rows)
    return 0


def write_params_report(out: Path, rows: list[dict]) -> None:
    from resonet.runlog import unique_path, write_json

    lines = ["| network | ω 10/50/90 % | b′ 10/50/90 % | b_c 10/50/90 % | ω peaks (bin: neurons; "
             "2 rad/s bins for (P)S-MNIST, 0.5 for ECG, SHD) | ω, b′ outside their initial "
             "range | max radius | diverging |", "|---" * 8 + "|"]

    def q(v):
        return " / ".join(f"{x:.2f}" for x in v)

    for r in rows:
        who = "official" if r["who"] == "official" else f"resonet seed {r.get('seed')}"
        pk = ", ".join(f"{a:g}–{b:g}: {n}" for a, b, n in r["omega_peaks"])
        lines.append(f"| {r['task']} {MODEL_LABEL[r['neuron']]} {who} | {q(r['omega_q10_50_90'])} | "
                     f"{q(r['b_offset_q10_50_90'])} | {q(r['b_c_q10_50_90'])} | {pk} | "
                     f"{100 * r['omega_outside_init']:.0f} %, {100 * r['b_offset_outside_init']:.0f} % | "
                     f"{r['radius_max']:.4f} | {r['diverging']} of {r['n']} |")
    md = unique_path(out / "params_official.md")
    md.write_text("\n".join(lines) + "\n")
    js = write_json(out / "params_official.json", to_jsonable(rows), unique=True)
    png = save_figure(plot_params(rows), out / "params_official.png")
    print("\n".join(lines))
    print(f"wrote {md}\nwrote {js}\nwrote {png}")


def plot_params(rows: list[dict]):
    """Per task: the ω–b_c plane (official BRF and RF; resonet's seeds where given) with the
    divergence boundary p(ω), and the ω histograms (with the paper's S-MNIST peaks)."""
    from resonet.neurons.brf import boundary

    plt = pyplot()
    tasks = [t for t in ("smnist", "psmnist", "ecg", "shd") if any(r["task"] == t for r in rows)]
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.6 * len(tasks), 8), squeeze=False)
    style = {("official", "brf"): dict(c="k", marker="x", label="official BRF"),
             ("official", "rf"): dict(c="0.6", marker="+", label="official RF"),
             ("resonet", "brf"): dict(c="C0", marker=".", label="resonet BRF seeds"),
             ("resonet", "rf"): dict(c="C1", marker=".", label="resonet RF seeds")}
    for j, t in enumerate(tasks):
        ax, axh = axes[0][j], axes[1][j]
        wmax = 0.0
        seen = set()
        for r in (r for r in rows if r["task"] == t):
            sty = dict(style[(r["who"], r["neuron"])])
            lab = sty.pop("label")
            ax.scatter(r["omega"], r["b_c"], s=10, alpha=0.6, linewidths=0.8,
                       label=None if lab in seen else lab, **sty)
            if r["who"] == "official":
                wd = BIN_WIDTH.get(t, 2.0)
                axh.hist(r["omega"], bins=np.arange(0, r["omega"].max() + wd, wd), histtype="step",
                         color=sty["c"], label=f"official {MODEL_LABEL[r['neuron']]}")
            seen.add(lab)
            wmax = max(wmax, float(r["omega"].max()))
        w = np.linspace(0, min(wmax * 1.05, 99.9), 300)
        ax.plot(w, boundary(w), "--", c="C3", lw=1, label="p(ω), divergence boundary")
        ax.set(xlabel="ω (rad/s)", ylabel="b_c at rest", title=t)
        for a, b in PAPER_PEAKS.get(t, []):
            axh.axvspan(a, b, color="C2", alpha=0.25)
        axh.set(xlabel="ω (rad/s)", ylabel="neurons", title=f"{t}: ω (shaded: the paper's peaks)"
                if t in PAPER_PEAKS else f"{t}: ω")
        ax.legend(fontsize=7)
        axh.legend(fontsize=7)
    fig.tight_layout()
    return fig


# -- command line -----------------------------------------------------------------------------
def _list(text: str, allowed, flag: str) -> list[str]:
    items = [t.strip().replace("-", "_") for t in text.split(",") if t.strip()]
    if items == ["all"]:
        return list(allowed)
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ConfigError(f"{flag}: unknown {bad}; choose from {', '.join(allowed)} or all")
    return items


def _common(ap) -> None:
    ap.add_argument("--models", metavar="DIR", default=None,
                    help="folder holding the official experiments/ folder (default: "
                         "<data dir>/official-models, where python -m resonet.data fetch "
                         "official-models puts it)")
    ap.add_argument("--data-dir", default=None, help="data directory of the data sets (default "
                                                     "$RESONET_DATA, else ~/.cache/resonet)")
    ap.add_argument("--out", required=True, metavar="DIR",
                    help="output folder (work units, tables, figures); a run again continues it")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="use the first N test samples only (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="processes (default 1; each single-threaded)")
    ap.add_argument("--batch-size", type=int, default=500, help="evaluation batch (default 500)")
    ap.add_argument("--backend", default="cpu", choices=("cpu", "reference"),
                    help="engine of the forward passes that need no special loop (default cpu)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the noise (default 0)")


# -- the official learning curves (experiments/ecg/csv_files) ---------------------------------
CURVE_FILES = {"brf": "ecg_best_model_run_*.csv", "rf": "ecg_vrf-NoR_model_run_*.csv",
               "alif": "ecg_alif_best_model_run_*.csv"}


def read_curve_csv(path: Path) -> dict[str, np.ndarray]:
    """One official run's TensorBoard export (``,metric,value,step`` rows): metric → values by
    step (epoch 0 = before training for the val/test metrics)."""
    import csv

    rows: dict[str, dict[int, float]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                rows.setdefault(r["metric"], {})[int(float(r["step"]))] = float(r["value"])
            except (KeyError, ValueError):
                raise DataError(f"{path}: not an official learning-curve CSV (columns metric, "
                                "value, step)") from None
    return {m: np.array([v[k] for k in sorted(v)]) for m, v in rows.items()}


def best_val_index(val_loss: np.ndarray, rule: str = "<=") -> int:
    """The epoch the official scripts save as the best model: the last minimum of the validation
    loss for ``if val_loss <= min_val_loss`` (both ECG scripts), the first for ``<``."""
    m = np.nanmin(val_loss)
    idx = np.nonzero(val_loss == m)[0]
    return int(idx[-1] if rule == "<=" else idx[0])


def epochs_to(acc: np.ndarray, frac: float) -> int:
    """The first epoch whose test accuracy reaches ``frac`` of the last epoch's (Table 2, as
    the sweep report counts it for resonet's runs)."""
    from resonet.sweep.report import epochs_to_fraction

    n = epochs_to_fraction([{"epoch": e, "test_acc": float(a)} for e, a in enumerate(acc)], frac)
    assert n is not None  # a curve of at least one epoch
    return n


def curve_stats(runs: list[dict[str, np.ndarray]]) -> dict:
    """Per run and over runs: final and best-validation test accuracy (%), the best epoch, the
    epochs to 95/98/100 %; mean with the sd at ddof 0 (numpy's default) and ddof 1."""
    per = []
    for r in runs:
        acc, val = r["accuracy/test"], r["Loss/val"]
        b = best_val_index(val)
        per.append({"final": float(acc[-1]), "best_val": float(acc[b]), "best_epoch": b,
                    "e95": epochs_to(acc, 0.95), "e98": epochs_to(acc, 0.98),
                    "e100": epochs_to(acc, 1.0)})
    out: dict[str, Any] = {"runs": per, "n": len(per)}
    for key in ("final", "best_val", "e95", "e98", "e100"):
        v = np.array([p[key] for p in per], dtype=np.float64)
        out[key] = {"mean": float(v.mean()), "sd0": float(v.std(ddof=0)),
                    "sd1": float(v.std(ddof=1)) if v.size > 1 else float("nan")}
    return out


def curves(args) -> int:
    src = Path(args.src) / "experiments" / "ecg" / "csv_files"
    if not src.is_dir():
        raise ConfigError(f"--src {args.src}: no experiments/ecg/csv_files there; give the official "
                          "repository's folder (a checkout of AdaptiveAILab/brf-neurons)")
    result = {}
    lines = ["| model | runs | final-epoch test acc % (ddof 0 / ddof 1) | best-val test acc % "
             "(ddof 1) | best-val epochs | epochs to 95 / 98 / 100 % |", "|---|---|---|---|---|---|"]
    for model, pattern in CURVE_FILES.items():
        files = sorted(src.glob(pattern))
        if not files:
            continue
        st = curve_stats([read_curve_csv(f) for f in files])
        result[model] = st
        f, b = st["final"], st["best_val"]
        lines.append(
            f"| {MODEL_LABEL[model]} | {st['n']} | {f['mean']:.1f} ± {f['sd0']:.1f} / ± {f['sd1']:.1f} "
            f"| {b['mean']:.1f} ± {b['sd1']:.1f} | {', '.join(str(r['best_epoch']) for r in st['runs'])} "
            f"| {st['e95']['mean']:.1f} / {st['e98']['mean']:.1f} / {st['e100']['mean']:.1f} |")
    if not result:
        raise DataError(f"{src}: none of {', '.join(CURVE_FILES.values())}")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    (out / "official_curves.md").write_text(text + "\n")
    (out / "official_curves.json").write_text(json.dumps(to_jsonable(result), indent=1))
    print(f"written: {out / 'official_curves.md'}, {out / 'official_curves.json'}")
    return 0


def build_parser():
    ap = make_parser("python -m analysis.official", __doc__.split("\n\n")[0] + "\n\n"
                     + __doc__.split("\n\n")[2])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("robustness", help="Fig. 12: the official S-MNIST networks under noise")
    _common(pr)
    pr.add_argument("--kinds", default="all", help="bits, input_noise, deletion, synaptic or all")
    pr.add_argument("--models-of", dest="model_set", default="all",
                    help="brf, rf, alif or all (default all)")
    pr.add_argument("--repeats", type=int, default=REPEATS, help="repetitions of each random level")
    pr.add_argument("--loop-dtype", choices=("float32", "float64"), default="float32",
                    help="precision of the loop that runs bit precision and spike deletion "
                         "(default float32, as the official runs; float64 takes twice as long)")
    pr.add_argument("--deletion-repeats", type=int, default=None,
                    help="repetitions of each spike-deletion level, the slowest perturbation "
                         "(default: --repeats)")
    pt = sub.add_parser("table1", help="Table 1: every ECG and (P)S-MNIST network on its test set")
    _common(pt)
    pt.add_argument("--ecg-dir", default=None, help="data directory of ECG if not --data-dir")
    pt.add_argument("--only", default=None, metavar="K,K", help=f"only these of {', '.join(TABLE1_KEYS)}")
    pp = sub.add_parser("params", help="the learned ω and b′ of the BRF/RF networks")
    pp.add_argument("--models", metavar="DIR", default=None, help="as for the other subcommands")
    pp.add_argument("--out", required=True, metavar="DIR", help="output folder")
    pp.add_argument("--runs", nargs="*", metavar="DIR", default=None,
                    help="resonet runs to set beside them (sweep directories, folders of run "
                         "directories or run directories)")
    pl = sub.add_parser("landscape", help="Fig. 13: loss surfaces around the S-MNIST networks")
    _common(pl)
    pl.add_argument("--models-of", dest="model_set", default="all",
                    help="brf, rf, alif or all (default all)")
    pl.add_argument("--n", type=int, default=LANDSCAPE_N,
                    help=f"grid points per axis (default {LANDSCAPE_N}, the official grid)")
    pc = sub.add_parser("curves", help="statistics of the official ECG learning curves (CSV)")
    pc.add_argument("--src", required=True, metavar="DIR",
                    help="the official repository's folder (holding experiments/ecg/csv_files)")
    pc.add_argument("--out", required=True, metavar="DIR", help="output folder")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "limit", None) is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if getattr(args, "jobs", 1) < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if getattr(args, "n", 2) < 2:
        raise ConfigError(f"--n must be >= 2, got {args.n}")
    return {"robustness": robustness, "landscape": landscape, "table1": table1,
            "params": params, "curves": curves}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(run_main(main))
