"""The official BRF code's trained networks and result files: where they are and how to get them.

``python -m resonet.data fetch official-models`` downloads them from the official repository
(github.com/AdaptiveAILab/brf-neurons, MIT licence) at the commit the BRF paper's results were
published with (:data:`COMMIT`), each file from its raw URL
``https://raw.githubusercontent.com/AdaptiveAILab/brf-neurons/<commit>/experiments/<path>``
(the path URL-quoted: names hold commas and parentheses), into ``<data dir>/official-models/
experiments/<path>``, the repository's layout:

- every trained checkpoint (``.pt``, read without PyTorch by :mod:`resonet.official`): SHD,
  ECG, S-MNIST and PS-MNIST, BRF, RF and ALIF, and the PS-MNIST permutations;
- the result arrays behind the paper's Fig. 12 (robustness on S-MNIST: bit precision, input
  noise, spike deletion, synaptic noise) and Fig. 13 (loss-landscape statistics), ``.npy``.

Every file has a recorded MD5 and size (:data:`FILES`); a download is kept only when both
match, and written atomically (:func:`resonet.data.download.download`). **Resumable:** files
already there are checked (MD5), never trusted or fetched again, so an interrupted fetch run
again downloads only what is missing or wrong. The project does not ship these files (as with
the data sets).

Keys name each file by what it is: ``<task>/<model>`` (a checkpoint), ``psmnist/<model>/
permutation``, ``robustness/<kind>/<model>`` (kind: bits, input_noise, deletion, synaptic;
the official arrays' suffix ``_rf`` is BRF, ``_vanilla_rf`` RF) and ``landscape/<model>``.
"""

from __future__ import annotations

import functools
import logging
import os
import urllib.parse
from pathlib import Path
from typing import NamedTuple

from ..errors import DataError
from .download import base_urls, download_first, file_hash
from .paths import resolve_data_dir

log = logging.getLogger("resonet.data")

REPO = "AdaptiveAILab/brf-neurons"
COMMIT = "5d45b0e7d545f09b79d029bb40573200fde57fd7"
BASE_URL = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}"
ENV_URL = "RESONET_OFFICIAL_URL"
FOLDER = "official-models"  # inside the data directory
PREFIX = "experiments"  # the repository folder the paths below are in
PERM_SUFFIX = "_permuted_idx.pt"  # a PS-MNIST run's permutation (a bare tensor)


class OfficialFile(NamedTuple):
    key: str
    path: str  # under experiments/ of the official repository
    md5: str
    size: int


FILES: tuple[OfficialFile, ...] = (
    OfficialFile("shd/rf",
                 "SHD/models/05-23_21-36-09_2069_Adam(0.075),NLL,LinLR,LL(False,no_gc),700,128,20,bs_32,ep_20,VRF(omega5.0,10.0b2.0,3.0,Nr)LI(20.0,5.0).pt",
                 "43d2ab40eb9742136242c0fbce05f1ff", 1316235),
    OfficialFile("shd/brf",
                 "SHD/models/09-25_21-35-30_Adam(0.075),NLL,LinearLR,LabelLast(False,no_gc),RFSNN(700,128,20,sub_seq_length_0,bs_32,ep_20),RF(abs_omega_uni_5.0_10.0,abs_b_offset_uni_2.0,3.0-q,linearMask(0.0))LI(norm(20.0,5.0)).pt",
                 "c1e88cb99c3faafb55c1be0686dbf8ef", 1744120),
    OfficialFile("shd/alif",
                 "SHD/models/10-05_00-18-24_Adam(0.075),NLL,LinearLR,LabelLast(False),no_gc,RSNN(700,128,20,sub_seq(10),bs_32,ep_20_no_bias),ALIF(tau_m(20.0,5.0),tau_a(150.0,10.0),linearMask_0.0)LI(tau_m(20.0,5.0)).pt",
                 "1834e2e355ef020be553a2b962c62210", 1743524),
    OfficialFile("ecg/rf",
                 "ecg/models/05-21_13-51-07_217_Adam(0.1),NLL,LinearLR,no_gc,4,36,6,bs=16,ep=400,VRF(omega3.0,5.0,b0.1,1.0,NoR)LI(20.0,1.0).pt",
                 "fd9bdb16d57240b5a7060e8694918784", 30659),
    OfficialFile("ecg/brf",
                 "ecg/models/09-25_23-50-01_Adam(0.1),NLL,LinearLR,no_gc,RFSNN(4,36,6,sub_seq_length=0,bs=16,ep=400),RF(thres(0),abs(omega_uni(3.0,5.0)),sust_osc,abs(b_offset(uni(0.1,1.0))-q,theta(1),LinearMask(0.0))LI(20.0,1.0).pt",
                 "6607385ffd733350138485c48b1b0d75", 41510),
    OfficialFile("ecg/alif",
                 "ecg/models/10-06_14-07-40_Adam(0.05),NLL,LinearLR,no_gc,RSNN(4,36,6,sub_seq_10,bs_64,ep_400,h_o_bias(False)),ALIF(tau_m(20.0,0.5),tau_a(7.0,0.2),linearMask_0.0)LI(tau_m(20.0,0.5)).pt",
                 "1bcdd28e6630f0ad6307d10e0cc6d3ff", 39709),
    OfficialFile("landscape/alif",
                 "smnist/loss_landscape/stats/best_alif_tbptt_model_50_1_10000.npy",
                 "e183731f872b1e25e62d7f241b27a293", 20128),
    OfficialFile("landscape/brf",
                 "smnist/loss_landscape/stats/best_brf_model_50_1_10000.npy",
                 "89178d65ae0b72403c6a1d4951e48afe", 20128),
    OfficialFile("landscape/rf",
                 "smnist/loss_landscape/stats/best_rf_model_50_1_10000.npy",
                 "41191d34c7b09a6be9b716faa66a85c2", 20128),
    OfficialFile("smnist/brf",
                 "smnist/models/09-29_22-56-26_Adam(0.1),NLL,LinearLR,LabelLast(True),PERMUTED(False),RFSNN(1,256,10,bs=256,ep=300),RF(abs(omega_uni(15.0,50.0)),sust_osc,abs(b_offset(uni(0.1,1.0))-q,theta(1),linearMask(0.0))LI(norm_20.0,5.0).pt",
                 "f2e4053f2c1065927d92cb7f1cb19e84", 1105100),
    OfficialFile("psmnist/brf/permutation",
                 "smnist/models/10-08_12-39-46Adam(0.1),NLL,LinearLR,LabelLast(False),PERMUTED(True),RFSNN(1,256,10,bs=256,ep=300),RF(abs(omega_uni(15.0,85.0)),sust_osc,abs(b_offset(uni(0.1,1.0))-q,theta(1),linearMask(0.0))LI(norm_20.0,1.0)_permuted_idx.pt",
                 "05579a18e7df61bb51744cd8212d2c3b", 8301),
    OfficialFile("psmnist/brf",
                 "smnist/models/10-08_12-39-46_Adam(0.1),NLL,LinearLR,LabelLast(False),PERMUTED(True),RFSNN(1,256,10,bs=256,ep=300),RF(abs(omega_uni(15.0,85.0)),sust_osc,abs(b_offset(uni(0.1,1.0))-q,theta(1),linearMask(0.0))LI(norm_20.0,1.0).pt",
                 "da35a6f2d1fda91daa3b95f5c63796d5", 1105100),
    OfficialFile("psmnist/alif/permutation",
                 "smnist/models/10-09_13-58-21Adam(0.001),PERMUTED(True),LinearLR,NLL,LabelLast(False),TBPTT(50),RSNN(1,256,10,bs_256,ep_300,no_bias),ALIF(tau_m(20.0,5.0),tau_a(200.0,50.0),linearMask(0.0))LI(tau_m(20.0,5.0))_permuted_idx.pt",
                 "048d271a06721be499f92f92982b647d", 8189),
    OfficialFile("psmnist/alif",
                 "smnist/models/10-09_13-58-21_Adam(0.001),PERMUTED(True),LinearLR,NLL,LabelLast(False),TBPTT(50),RSNN(1,256,10,bs_256,ep_300,no_bias),ALIF(tau_m(20.0,5.0),tau_a(200.0,50.0),linearMask(0.0))LI(tau_m(20.0,5.0)).pt",
                 "e05318de23e20cff660fbe11223e01e0", 1103580),
    OfficialFile("smnist/alif",
                 "smnist/models/10-10_18-33-56_Adam(0.001),PERMUTED(False),LinearLR,NLL,LabelLast(True),TBPTT(50),RSNN(1,256,10,bs_256,ep_300,no_bias),ALIF(tau_m(20.0,5.0),tau_a(200.0,50.0),linearMask(0.0))LI(tau_m(20.0,5.0)).pt",
                 "cd2066a37fde14ad222e4677e6f68b65", 1103580),
    OfficialFile("smnist/rf",
                 "smnist/models/12-15_00-43-36__2337_Adam(0.1),NLL,LinearLR,LabelLast(True),PERMUTED(False),RFSNN(1,256,10,bs=256,ep=300),RF(abs(omega_uni(15.0,50.0)),no_sust_osc,-abs(b(uni(0.1,1.0)),linearMask(0.0))LI(norm_20.0,5.0).pt",
                 "387890e219483548e511445ef6b46860", 1104916),
    OfficialFile("psmnist/rf",
                 "smnist/models/12-16_00-55-23__1334_Adam(0.1),NLL,LinearLR,LabelLast(False),PERMUTED(True),RFSNN(1,256,10,bs=256,ep=300),RF(abs(omega_uni(15.0,85.0)),nothing,abs(b(uni(0.1,1.0)),linearMask(0.0))LI(norm_20.0,1.0).pt",
                 "b9780427ecd2d64c8bb4af4433d5d97e", 544063),
    OfficialFile("robustness/bits/alif",
                 "smnist/noise_robustness/bit_precision/smnist_bit_precision_strict_alif.npy",
                 "dbd3f0b49ce68a4f58c2b922a967d439", 968),
    OfficialFile("robustness/bits/brf",
                 "smnist/noise_robustness/bit_precision/smnist_bit_precision_strict_rf.npy",
                 "48a693442b70c767160781f0da5f532a", 968),
    OfficialFile("robustness/bits/rf",
                 "smnist/noise_robustness/bit_precision/smnist_bit_precision_strict_vanilla_rf.npy",
                 "9a2f0b4073dc8bf7690e315decc56da3", 968),
    OfficialFile("robustness/input_noise/alif",
                 "smnist/noise_robustness/noisy_input/smnist_noise_input_5reps_alif.npy",
                 "3fe0c63f055dac16226c69afd2e6b6b7", 4928),
    OfficialFile("robustness/input_noise/brf",
                 "smnist/noise_robustness/noisy_input/smnist_noise_input_5reps_rf.npy",
                 "76be2af8edbd242dde5e27f2b00a4d2a", 4928),
    OfficialFile("robustness/input_noise/rf",
                 "smnist/noise_robustness/noisy_input/smnist_noise_input_5reps_vanilla_rf.npy",
                 "e28f6eb8b544541d66572b7e46285adb", 4928),
    OfficialFile("robustness/deletion/alif",
                 "smnist/noise_robustness/spike_deletion/smnist_spike_deletion_5reps_alif.npy",
                 "57b0dc152bac3f8a8158380038467d95", 6128),
    OfficialFile("robustness/deletion/brf",
                 "smnist/noise_robustness/spike_deletion/smnist_spike_deletion_5reps_rf.npy",
                 "4a640c2205cc3b26f7273bc9eb9ad52b", 6128),
    OfficialFile("robustness/deletion/rf",
                 "smnist/noise_robustness/spike_deletion/smnist_spike_deletion_5reps_vanilla_rf.npy",
                 "a6be28f9d085b9cb004c173830e9febf", 6128),
    OfficialFile("robustness/synaptic/alif",
                 "smnist/noise_robustness/synaptic_noise/smnist_noise_weights_5reps_alif.npy",
                 "45e0c54e1a4b7e60bc4a1836692091cf", 6728),
    OfficialFile("robustness/synaptic/brf",
                 "smnist/noise_robustness/synaptic_noise/smnist_noise_weights_5reps_rf.npy",
                 "f00c6c4e39bbb087a841c3522419d823", 6728),
    OfficialFile("robustness/synaptic/rf",
                 "smnist/noise_robustness/synaptic_noise/smnist_noise_weights_5reps_vanilla_rf.npy",
                 "5830eb81cfad95985aea8e31d9dc11f9", 6728),
)
BY_KEY = {f.key: f for f in FILES}


def official_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/official-models`` (the data directory: argument > ``$RESONET_DATA`` > the
    user cache)."""
    return resolve_data_dir(data_dir) / FOLDER


def local_path(root: str | os.PathLike, key: str) -> Path:
    """Where the file ``key`` lies under ``root`` (a folder holding ``experiments/``)."""
    try:
        f = BY_KEY[key]
    except KeyError:
        raise DataError(f"unknown official file {key!r}; known: {', '.join(sorted(BY_KEY))}") from None
    return Path(root) / PREFIX / f.path


def find_official(root: str | os.PathLike, key: str, *, verify: bool = False) -> Path:
    """The file ``key`` under ``root``; DataError naming it and the fix when it is missing (or,
    with ``verify``, not the published file)."""
    p = local_path(root, key)
    if not p.is_file():
        raise DataError(f"{p}: not found (official file {key}); run python -m resonet.data fetch "
                        f"official-models --data-dir DIR, or pass the folder that holds "
                        f"{PREFIX}/ (--models)")
    if verify:
        _check(p, BY_KEY[key])
    return p


def _check(p: Path, f: OfficialFile) -> None:
    size = p.stat().st_size
    if size != f.size:
        raise DataError(f"{p}: {size} bytes, expected {f.size}; not the published file, delete it and "
                        "fetch again")
    got = file_hash(p, "md5")
    if got != f.md5:
        raise DataError(f"{p}: checksum mismatch (md5 {got}, expected {f.md5}); not the published "
                        "file, delete it and fetch again")


def url_of(base: str, f: OfficialFile) -> str:
    return f"{base.rstrip('/')}/{PREFIX}/{urllib.parse.quote(f.path)}"


def fetch_official_models(data_dir: str | os.PathLike | None = None, *,
                          base_url: str | list[str] | None = None, keys=None,
                          timeout: float = 60.0) -> dict[str, str]:
    """Download the official files (all, or ``keys``) into ``<data dir>/official-models``;
    files already there are MD5-checked and kept. Returns ``{key: path}``. ``base_url``: one
    or more mirrors of the repository at :data:`COMMIT` (default: ``$RESONET_OFFICIAL_URL``,
    else GitHub's raw URLs). A file that is there but wrong is an error (it is not replaced
    silently): delete it and fetch again."""
    root = official_dir(data_dir)
    bases = base_urls(base_url, ENV_URL, (BASE_URL,))
    chosen = FILES if keys is None else tuple(BY_KEY[k] if k in BY_KEY else _unknown(k) for k in keys)
    out, fetched = {}, 0
    for f in chosen:
        dest = root / PREFIX / f.path
        if dest.is_file():
            _check(dest, f)
        else:
            download_first([url_of(b, f) for b in bases], dest, md5=f.md5, timeout=timeout,
                           check=functools.partial(_check_size, f=f))
            fetched += 1
        out[f.key] = str(dest)
    log.info("official models: %d fetched, %d already there (checked) in %s", fetched,
             len(chosen) - fetched, root)
    return out


def _check_size(tmp: Path, f: OfficialFile) -> None:
    if tmp.stat().st_size != f.size:
        raise DataError(f"{tmp.stat().st_size} bytes, expected {f.size}")


def _unknown(key: str):
    raise DataError(f"unknown official file {key!r}; known: {', '.join(sorted(BY_KEY))}")
