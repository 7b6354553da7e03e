"""Synthetic SHD-format data: the offline stand-in for the Spiking Heidelberg Digits.

**This is not SHD.** Results on it say nothing about the paper's SHD numbers. It exists so that
``python -m resonet.train shd`` runs, and learns something non-trivial, on machines that cannot
download SHD. Every dataset built from it carries ``synthetic=True``, its ``source`` says so, the
h5 files carry the root attribute ``synthetic = True`` (and ``extra/synthetic``), and
:func:`resonet.data.load_task` logs a loud warning.

**Generator v2** (``GENERATOR_VERSION``; the cache folder ``v<version>-seed…`` changes with it, so
v1 files are never reused). v1 was solved at once (BRF preset: 99 % test after one epoch, 100 %
after two); v2 is built to be learned gradually. All randomness comes from
``numpy.random.default_rng`` streams derived from ``seed``; the settings are in :data:`KNOBS`.

*Words.* 20 classes = 5 groups × 4 orders. A group owns two consonants of the same manner (both
fricatives, both plosives or both nasals; groups g and g + 3 share theirs) and a vowel with its
near "twin"; a word is C V C V, and the 4 classes of a group are the orders a·A·b·B, b·A·a·B,
a·B·b·A, b·B·a·A (which consonant comes first × which vowel comes first). The expected
per-channel spike counts of a word do not depend on the order: **counts identify at best the
group (≤ 5/20 classes); the order of two similar phonemes, i.e. the timing, identifies the
class.** Softmax regression on per-channel counts stays near 25 % on held-out data (chance 5 %);
the same classifier on 8 coarse time bins × 35 channel groups reaches ~72 % (48 % with the
1,000/400 samples of ``tests/test_data_synthetic.py``; v1 reached ~94 % there).

*Phonemes* are bands on the 700-channel cochlear axis (channel ∝ log frequency, low channels = low
frequencies): a Gaussian profile (width σ_c channels) around a centre that glides linearly from
c₀ to c₁ during the phoneme, emitting spikes at a density ρ (spikes/s) with a Beta(2, 2)
rise-and-fall envelope in time. Inventory (17 phonemes):

- 5 vowels: formants F1 (c ≈ 70–190, ρ 1500–2200), F2 (≈ 240–440, ρ 1100–1700), F3 (≈ 470–600,
  ρ 550–1000), gliding by up to ±30/±70/±40 channels in half of them (diphthongs), plus a voicing
  band (σ_c = 3, ρ 400–700) at the speaker's pitch channel; 110–200 ms. Each has a **twin**: the
  same glide and duration (±10 %), F1 moved by 8–14 channels and F2 by 10–20 (about one formant
  width, less than the speaker shifts), F3 by ≤ 8;
- 2 fricatives: a broad band (σ_c 25–45, ρ 1800–2600) at 490–560 channels and one 35–60 channels
  higher; 80–140 ms;
- 2 plosives: a silent closure (30–60 ms) and a broadband burst (σ_c 80–140, ρ 6500, 25–45 ms)
  centred at 260–360 resp. 380–480;
- 2 nasals: a low murmur (≈ 45–70 and 18–30 channels higher, ρ 2500), a weak F2 (ρ 500) and
  voicing; 60–110 ms;
- a schwa (central formants, weak, 50 ms) that is never part of a word but may be slipped in.

*Speakers.* 12 speakers, each with a rate (0.85–1.15), a channel shift, a pitch channel (15–70),
a gain (0.75–1.25) and an **accent**: its own offset N(0, 10 channels) of every band of every
phoneme and its own duration factor (log-normal, σ 0.12) per phoneme. Train uses speakers 0–9
(shifts U(−25, 25)), test all 12: speakers 10 and 11 are unseen in training (shifts +12…22 and
−12…22, new accents), as SHD's test set holds unseen speakers.

*Samples.* Speaking rate r = speaker rate × U(0.75, 1.3); per-phoneme duration × U(0.65, 1.5) ×
accent; in each of the 3 gaps a schwa with probability 0.2; each vowel reduced (duration × 0.55,
density × 0.6) with probability 0.1; onset U(20, 150) ms; a smooth monotone time warp
t ↦ t + W/π·(a₁ sin(πt/W) + a₂/2 · sin(2πt/W)) over the word length W with |a₁| ≤ 0.5, |a₂| ≤ 0.35;
a channel shift = speaker shift + U(−12, 12) + accent + a per-phoneme, per-band jitter N(0, 5)
(formants and nasals shift fully, fricatives and bursts by half); pitch ± 5; a gain (speaker gain
× log-uniform in [0.7, 1.4]); spike-time jitter N(0, σ_j), σ_j ∈ [1, 4] ms; spike dropout with
probability U(0, 0.25); Poisson(1) distractors per sample at random times (clicks: 10–25 ms
broadband; breaths: 40–120 ms high band); background noise spikes uniform over 700 channels ×
[0, 1.2 s] at 0.3–1 Hz per channel. Samples have ≈ 2,730 spikes on average (≈ 900–7,600; SHD:
thousands per sample), ~4 % of them at t ≥ 1 s (dropped by the 250 × 4 ms binning).

Times are stored as float16 and units as uint16, as in the published SHD files.

**Measured difficulty** (default data, seed 0; ``python -m resonet.train shd``, BRF preset
700-128-20, Adam lr 0.075, batch 32, 20 epochs, seed 0; test accuracy % by epoch):
61.8, 83.4, 87.2, 89.8, 88.4, 91.1, 90.8, 90.7, 90.6, 89.4 (epochs 1–10), 90.0, 89.5, 89.0, 87.9,
87.8, 87.9, 87.6, 87.5, 86.9, 86.8 (11–20); the best-validation checkpoint (epoch 4) scores
89.8 %. The network fits the training set (100 %) and slowly over-fits after epoch ~6; almost
all errors are order errors within a group (vowel order more than consonant order). RF: 75.2 %
after epoch 1, 88.1 % after 20 (best checkpoint 90.3 %); ALIF: 18.6 % and 85.6 %. (Real SHD,
official BRF: 84.9 % at epoch 2, 91.4 % at 20; the resemblance comes from tuning the generator
and says nothing about SHD.) docs/data.md has the table and the run of an earlier kernel version.

**Size and speed.** The default is SHD's own size, 8,156 train / 2,264 test samples, so splits
(7,341/815) and batches per epoch (230 at batch 32) match the paper's SHD runs. It generates in
~10 s on one core; the files take 92 MB + 25 MB (4 bytes per spike; HDF5 cannot compress
variable-length data). The generator is size-parameterised (``n_train``, ``n_test``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .shd import N_CHANNELS, N_CLASSES, N_TEST, N_TRAIN, read_shd, write_shd_h5

log = logging.getLogger("resonet.data")

GENERATOR_VERSION = 2
N_GROUPS, N_ORDERS, N_PHON_PER_WORD = 5, 4, 4
N_VOWEL_PAIRS = 5  # 5 vowels + 5 near "twins" of them
N_VOWELS = 2 * N_VOWEL_PAIRS
N_CONSONANTS = 6  # 2 fricatives, 2 plosives, 2 nasals
N_PHONEMES = N_VOWELS + N_CONSONANTS + 1  # + a neutral vowel (schwa), never part of a word
SCHWA = N_PHONEMES - 1
# a group is (consonant a, consonant b, vowel a, vowel b); a word is C V C V and its 4 orders swap
# the consonants and/or the vowels: a·A·b·B, b·A·a·B, a·B·b·A, b·B·a·A
ORDERS = ((0, 2, 1, 3), (1, 2, 0, 3), (0, 3, 1, 2), (1, 3, 0, 2))
N_SPEAKERS, N_TRAIN_SPEAKERS = 12, 10
MAX_BANDS = 4
# the difficulty settings of generator v2 (read-only; changing them changes the data, so it needs
# a new GENERATOR_VERSION). Channel values are on the 700-channel axis; ranges are U(lo, hi).
KNOBS: Mapping[str, Any] = MappingProxyType(
    {
        "twin_f1": (8.0, 14.0),  # |F1 offset| between a vowel and its twin, channels
        "twin_f2": (10.0, 20.0),  # |F2 offset|
        "formant_jitter": 5.0,  # σ of a per-sample, per-phoneme, per-band centre offset
        "spk_shift": 25.0,  # training speakers' channel shift U(-x, x)
        "spk_shift_unseen": (12.0, 22.0),  # |shift| of the two test-only speakers (+ and −)
        "spk_rate": (0.85, 1.15),
        "spk_gain": (0.75, 1.25),
        "accent_ch": 10.0,  # σ of a speaker's per-phoneme, per-band formant offset
        "accent_dur": 0.12,  # σ of the log of a speaker's per-phoneme duration factor
        "rate": (0.75, 1.3),  # per-sample speaking-rate factor
        "phon_dur": (0.65, 1.5),  # per-phoneme duration factor
        "onset": (0.02, 0.15),  # s
        "shift": 12.0,  # per-sample channel shift U(-x, x) on top of the speaker's
        "gain": (0.7, 1.4),  # per-sample gain factor, log-uniform
        "warp1": 0.5,  # |a1| of the time warp
        "warp2": 0.35,  # |a2| (|a1| + |a2| < 1 keeps the warp monotone)
        "jitter": (1e-3, 4e-3),  # σ of the spike-time jitter, s
        "drop": (0.0, 0.25),  # spike dropout probability
        "noise": (0.3, 1.0),  # background rate, Hz per channel
        "distractors": 1.0,  # mean number of clicks/breaths per sample
        "schwa": 0.2,  # probability of a schwa in each of the 3 gaps between phonemes
        "reduce": 0.1,  # probability that a vowel is reduced (× 0.55 duration, × 0.6 density)
    }
)
SYNTHETIC_WARNING = (
    "SYNTHETIC DATA: this run uses resonet's generated SHD-format stand-in, NOT the real Spiking "
    "Heidelberg Digits; its accuracies are not comparable with the paper. Put shd_train.h5 and "
    "shd_test.h5 in the data directory (python -m resonet.data fetch shd) to use the real data."
)


@dataclass(frozen=True)
class Phonemes:
    """The phoneme inventory: per phoneme up to MAX_BANDS bands (density 0 = unused band)."""

    dur: np.ndarray  # (P,) nominal duration, s
    closure: np.ndarray  # (P,) silent lead-in, s (plosives)
    c0: np.ndarray  # (P, MAX_BANDS) band centre at the start, channels
    c1: np.ndarray  # (P, MAX_BANDS) band centre at the end
    width: np.ndarray  # (P, MAX_BANDS) σ_c, channels
    density: np.ndarray  # (P, MAX_BANDS) spikes per second
    shift: np.ndarray  # (P, MAX_BANDS) how much of the speaker's channel shift applies
    pitch: np.ndarray  # (P, MAX_BANDS) 1 for the voicing band (centre = speaker pitch)


def _design(seed: int) -> tuple[Phonemes, np.ndarray]:
    """Phoneme inventory and words (classes × 4 phoneme ids), fixed by ``seed``."""
    rng: Any = np.random.default_rng([seed, 0xD6])  # Any: uniform(*KNOBS[...]) has no overload
    n_phon = N_PHONEMES
    z = np.zeros((n_phon, MAX_BANDS))
    dur, closure = np.zeros(n_phon), np.zeros(n_phon)
    c0, c1, width, density, shift, pitch = z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy()
    # vowels 0..4 and their twins 5..9: same glide, F1/F2 moved by about one formant width
    for p in range(N_VOWEL_PAIRS):
        a = rng.uniform([70, 240, 470], [190, 440, 600])
        glide = rng.uniform(-1, 1, 3) * np.array([30, 70, 40]) * (rng.random() < 0.5)
        off = np.array(
            [
                rng.choice([-1, 1]) * rng.uniform(*KNOBS["twin_f1"]),
                rng.choice([-1, 1]) * rng.uniform(*KNOBS["twin_f2"]),
                rng.uniform(-8, 8),
            ]
        )
        d = rng.uniform(0.11, 0.2)
        for q, base in ((p, a), (p + N_VOWEL_PAIRS, a + off)):
            dur[q] = d * rng.uniform(0.9, 1.1)
            c0[q, :3], c1[q, :3] = base, np.clip(base + glide, 20, 680)
            width[q, :3] = rng.uniform([6, 8, 10], [12, 16, 18])
            density[q, :3] = rng.uniform([1500, 1100, 550], [2200, 1700, 1000])
            shift[q, :3] = 1.0
            width[q, 3], density[q, 3], pitch[q, 3] = 3.0, rng.uniform(400, 700), 1.0
    p = N_VOWELS
    # two fricatives: broad high bands, close to each other
    a_fric = rng.uniform(490, 560)
    for q, centre in ((p, a_fric), (p + 1, a_fric + rng.uniform(35, 60))):
        dur[q] = rng.uniform(0.08, 0.14)
        c0[q, 0], c1[q, 0] = centre, centre + rng.uniform(-20, 20)
        width[q, 0], density[q, 0], shift[q, 0] = rng.uniform(25, 45), rng.uniform(1800, 2600), 0.5
    # two plosives: closure + broadband burst, bursts at different heights
    for q, lo, hi in ((p + 2, 260, 360), (p + 3, 380, 480)):
        closure[q] = rng.uniform(0.03, 0.06)
        dur[q] = closure[q] + rng.uniform(0.025, 0.045)
        c0[q, 0] = c1[q, 0] = rng.uniform(lo, hi)
        width[q, 0], density[q, 0], shift[q, 0] = rng.uniform(80, 140), 6500.0, 0.5
    # two nasals: low murmur + weak F2 + voicing, close to each other
    a_nasal = rng.uniform(45, 70)
    nasals = ((p + 4, a_nasal, rng.uniform(260, 320)),
              (p + 5, a_nasal + rng.uniform(18, 30), rng.uniform(330, 400)))
    for q, centre, f2 in nasals:
        dur[q] = rng.uniform(0.06, 0.11)
        c0[q, 0], c1[q, 0] = centre, centre + rng.uniform(-10, 10)
        width[q, 0], density[q, 0], shift[q, 0] = rng.uniform(8, 14), 2500.0, 1.0
        c0[q, 1] = c1[q, 1] = f2
        width[q, 1], density[q, 1], shift[q, 1] = 12.0, 500.0, 1.0
        width[q, 3], density[q, 3], pitch[q, 3] = 3.0, rng.uniform(400, 700), 1.0
    # the schwa: a short, weak, central vowel that may be slipped in between phonemes
    q = SCHWA
    dur[q] = 0.05
    c0[q, :3] = c1[q, :3] = rng.uniform([110, 300, 500], [150, 360, 560])
    width[q, :3], density[q, :3], shift[q, :3] = [10, 14, 16], [1000, 700, 400], 1.0
    width[q, 3], density[q, 3], pitch[q, 3] = 3.0, 400.0, 1.0
    ph = Phonemes(dur, closure, c0, c1, width, density, shift, pitch)
    # groups: a vowel and its twin (in random order) and two consonants of the same manner (both
    # fricatives, both plosives or both nasals; groups g and g + 3 share their consonants)
    groups: list[tuple[int, int, int, int]] = []
    twins = rng.permutation(N_VOWEL_PAIRS)
    manners = rng.permutation(3)
    for g in range(N_GROUPS):
        v = int(twins[g])
        va, vb = (v, v + N_VOWEL_PAIRS) if rng.random() < 0.5 else (v + N_VOWEL_PAIRS, v)
        ca, cb = (int(c) for c in N_VOWELS + 2 * manners[g % 3] + rng.permutation(2))
        groups.append((ca, cb, va, vb))
    words = np.array([[groups[g][i] for i in ORDERS[o]] for g in range(N_GROUPS) for o in range(N_ORDERS)])
    return ph, words  # (20, 4): class = 4·group + order


def _speakers(seed: int) -> dict[str, np.ndarray]:
    rng: Any = np.random.default_rng([seed, 0x5F])  # as above
    n_unseen = N_SPEAKERS - N_TRAIN_SPEAKERS
    shift = rng.uniform(-KNOBS["spk_shift"], KNOBS["spk_shift"], N_SPEAKERS)
    # the test-only speakers: one shifted up, one down (inside the training speakers' range)
    sign = np.resize([1.0, -1.0], n_unseen)
    shift[N_TRAIN_SPEAKERS:] = sign * rng.uniform(*KNOBS["spk_shift_unseen"], n_unseen)
    return {
        "rate": rng.uniform(*KNOBS["spk_rate"], N_SPEAKERS),
        "shift": shift,
        "pitch": rng.uniform(15, 70, N_SPEAKERS),
        "gain": rng.uniform(*KNOBS["spk_gain"], N_SPEAKERS),
        "accent": rng.normal(0.0, KNOBS["accent_ch"], (N_SPEAKERS, N_PHONEMES, MAX_BANDS)),
        "accent_dur": np.exp(rng.normal(0.0, KNOBS["accent_dur"], (N_SPEAKERS, N_PHONEMES))),
    }


def generate_samples(
    n: int, *, seed: int, split: str = "train", design_seed: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Generate ``n`` samples: ``(times, units, labels, speakers)``.

    ``times[k]`` float16 (sorted, seconds) and ``units[k]`` uint16 are the spikes of sample k.
    Classes are balanced (``labels = arange(n) % 20`` shuffled). The class design depends on
    ``design_seed`` (default ``seed``), the samples on ``(seed, split)``.
    """
    if n < 0:
        raise ConfigError(f"number of samples must be >= 0, got {n}")
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    ph, words = _design(seed if design_seed is None else design_seed)
    spk = _speakers(seed if design_seed is None else design_seed)
    rng = np.random.default_rng([seed, 1 if split == "train" else 2])
    labels = rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    n_spk = N_TRAIN_SPEAKERS if split == "train" else N_SPEAKERS
    speakers = rng.integers(0, n_spk, n)
    times: list[np.ndarray] = []
    units: list[np.ndarray] = []
    chunk = 256
    for a in range(0, n, chunk):
        t, u = _generate_chunk(rng, ph, words, spk, labels[a : a + chunk], speakers[a : a + chunk])
        times += t
        units += u
    return times, units, labels, speakers


def _generate_chunk(
    rng: Any,  # a np.random.Generator (uniform(*KNOBS[...]) has no typed overload)
    ph: Phonemes,
    words: np.ndarray,
    spk: dict[str, np.ndarray],
    labels: np.ndarray,
    speakers: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Vectorised over the samples of one chunk (S samples, K = 7 phoneme slots, J = MAX_BANDS)."""
    kn = KNOBS
    S, J = labels.shape[0], MAX_BANDS
    # -- per sample (S,) ---------------------------------------------------------------------
    rate = spk["rate"][speakers] * rng.uniform(*kn["rate"], S)
    onset = rng.uniform(*kn["onset"], S)
    shift = spk["shift"][speakers] + rng.uniform(-kn["shift"], kn["shift"], S)
    pitch = spk["pitch"][speakers] + rng.uniform(-5, 5, S)
    lg = np.log(kn["gain"])
    gain = spk["gain"][speakers] * np.exp(rng.uniform(lg[0], lg[1], S))
    warp_a1 = rng.uniform(-kn["warp1"], kn["warp1"], S)
    warp_a2 = rng.uniform(-kn["warp2"], kn["warp2"], S)
    jitter = rng.uniform(*kn["jitter"], S)
    p_drop = rng.uniform(*kn["drop"], S)
    noise_rate = rng.uniform(*kn["noise"], S)  # Hz per channel
    # -- per phoneme slot (S, K): the word's 4 phonemes in slots 0, 2, 4, 6, optional schwas in
    # the slots between; a slot of duration 0 emits nothing ----------------------------------------
    K = 2 * N_PHON_PER_WORD - 1
    pid = np.full((S, K), SCHWA)
    pid[:, ::2] = words[labels]
    sp = speakers[:, None]
    d = ph.dur[pid] * spk["accent_dur"][sp, pid] * rate[:, None] * rng.uniform(*kn["phon_dur"], (S, K))
    d[:, 1::2] *= rng.random((S, N_PHON_PER_WORD - 1)) < kn["schwa"]
    # pronunciation variant: reduced vowels (slots 2, 6)
    reduce = rng.random((S, 2)) < kn["reduce"]
    d[:, 2::4] *= np.where(reduce, 0.55, 1.0)
    level = np.ones((S, K))
    level[:, 2::4] = np.where(reduce, 0.6, 1.0)
    start = onset[:, None] + np.cumsum(d, axis=1) - d
    closure = ph.closure[pid] / ph.dur[pid] * d  # the closure scales with the phoneme
    voiced_start = start + closure
    vdur = d - closure
    span = start[:, -1] + d[:, -1]  # (S,) end of the word, for the warp
    # -- per band (S, K, J): spike counts -------------------------------------------------------
    lam = ph.density[pid] * (vdur * level)[..., None] * gain[:, None, None]
    fj = rng.standard_normal((S, K, J)) * kn["formant_jitter"]
    cnt = rng.poisson(lam).ravel()  # (S*K*J,)
    band = np.repeat(np.arange(cnt.shape[0]), cnt)
    m = band.shape[0]
    s_of = band // (K * J)
    k_of = (band // J) % K
    j_of = band % J
    p_of = pid[s_of, k_of]
    # position within the phoneme: a rise-and-fall envelope (Beta(2, 2) density)
    x = rng.beta(2.0, 2.0, m)
    t = voiced_start[s_of, k_of] + x * vdur[s_of, k_of]
    centre = ph.c0[p_of, j_of] + (ph.c1[p_of, j_of] - ph.c0[p_of, j_of]) * x
    is_pitch = ph.pitch[p_of, j_of] > 0
    offset = ph.shift[p_of, j_of] * (
        shift[s_of] + spk["accent"][speakers[s_of], p_of, j_of] + fj[s_of, k_of, j_of]
    )
    centre = np.where(is_pitch, pitch[s_of], centre + offset)
    ch = np.rint(centre + rng.standard_normal(m) * ph.width[p_of, j_of])
    # smooth monotone warp over the word (|a1| + |a2| < 1), then spike-time jitter
    w = span[s_of]
    u = np.pi * np.clip(t, 0, None) / w
    t = t + w / np.pi * (warp_a1[s_of] * np.sin(u) + warp_a2[s_of] / 2 * np.sin(2 * u))
    t = t + rng.standard_normal(m) * jitter[s_of]
    keep = (ch >= 0) & (ch < N_CHANNELS) & (t >= 0) & (rng.random(m) >= p_drop[s_of])
    # -- distractors: short clicks and breaths at random times ---------------------------------
    n_d = rng.poisson(kn["distractors"], S)
    s_d = np.repeat(np.arange(S), n_d)
    nd = s_d.shape[0]
    click = rng.random(nd) < 0.5
    d_t0 = rng.uniform(0.0, 1.1, nd)
    d_dur = np.where(click, rng.uniform(0.01, 0.025, nd), rng.uniform(0.04, 0.12, nd))
    d_c = np.where(click, rng.uniform(150, 550, nd), rng.uniform(450, 680, nd))
    d_w = np.where(click, rng.uniform(60, 140, nd), rng.uniform(20, 60, nd))
    d_rho = np.where(click, rng.uniform(3000, 6000, nd), rng.uniform(800, 2000, nd))
    d_cnt = rng.poisson(d_rho * d_dur * gain[s_d])
    e = np.repeat(np.arange(nd), d_cnt)
    t_d = d_t0[e] + rng.random(e.shape[0]) * d_dur[e]
    c_d = np.rint(d_c[e] + rng.standard_normal(e.shape[0]) * d_w[e])
    ok_d = (c_d >= 0) & (c_d < N_CHANNELS)
    # -- background noise ----------------------------------------------------------------------
    n_noise = rng.poisson(noise_rate * N_CHANNELS * 1.2)
    s_noise = np.repeat(np.arange(S), n_noise)
    t_noise = rng.uniform(0, 1.2, s_noise.shape[0])
    c_noise = rng.integers(0, N_CHANNELS, s_noise.shape[0])
    s_all = np.concatenate([s_of[keep], s_d[e][ok_d], s_noise])
    t_all = np.concatenate([t[keep], t_d[ok_d], t_noise]).astype(np.float16)
    c_all = np.concatenate([ch[keep], c_d[ok_d], c_noise]).astype(np.uint16)
    order = np.lexsort((c_all, t_all, s_all))  # by sample, then time (as in SHD), then unit
    cuts = np.cumsum(np.bincount(s_all, minlength=S))[:-1]
    return np.split(t_all[order], cuts), np.split(c_all[order], cuts)


def write_synthetic_shd(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
) -> dict[str, Path]:
    """Generate both splits and write ``shd_{train,test}.h5`` (SHD layout) into ``out_dir``."""
    out_dir = Path(out_dir)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        times, units, labels, speakers = generate_samples(n, seed=seed, split=split)
        out[split] = _write_or_fail(
            out_dir,
            out_dir / f"shd_{split}.h5",
            times,
            units,
            labels,
            extra={
                "speaker": speakers.astype(np.uint16),
                "keys": np.array([f"synthetic-word-{c:02d}".encode() for c in range(N_CLASSES)]),
                "synthetic": np.array(True),
            },
            attrs={
                "synthetic": True,
                "warning": "NOT the real SHD: synthetic data generated by resonet.data.synthetic",
                "generator": f"resonet.data.synthetic v{GENERATOR_VERSION}",
                "seed": seed,
                "split": split,
            },
        )
    return out


def _write_or_fail(out_dir: Path, path: Path, *args: Any, **kwargs: Any) -> Path:
    try:
        return write_shd_h5(path, *args, **kwargs)
    except OSError as exc:
        raise DataError(
            f"{out_dir}: cannot write the synthetic SHD files ({exc}); pass a writable --data-dir "
            "(or --out) or set $RESONET_DATA"
        ) from exc


def synthetic_cache_dir(data_dir: Path, *, seed: int, n_train: int, n_test: int) -> Path:
    """``data_dir/shd-synthetic/v<version>-seed<seed>-<n_train>-<n_test>``."""
    return Path(data_dir) / "shd-synthetic" / f"v{GENERATOR_VERSION}-seed{seed}-{n_train}-{n_test}"


def ensure_synthetic_shd(
    data_dir: Path, *, seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST
) -> dict[str, Path]:
    """Cached synthetic files for (seed, sizes): generate on first use, reuse afterwards."""
    d = synthetic_cache_dir(data_dir, seed=seed, n_train=n_train, n_test=n_test)
    files = {"train": d / "shd_train.h5", "test": d / "shd_test.h5"}
    if all(p.is_file() for p in files.values()):
        return files
    log.warning(
        "generating synthetic SHD-format data (seed %d, %d/%d samples) in %s", seed, n_train, n_test, d
    )
    return write_synthetic_shd(d, seed=seed, n_train=n_train, n_test=n_test)


def is_synthetic_file(path: str | os.PathLike[str]) -> bool:
    """True if an SHD-layout file carries the synthetic marker (reads and validates it)."""
    return read_shd(path).synthetic
