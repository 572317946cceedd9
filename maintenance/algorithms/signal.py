"""Vibration features of fixed-length sample windows (pure, Django-free).

Shared by the MES health service and the simulator's edge agent. Every function works on a
2-D batch of windows, shape ``[n_windows, n_samples]`` (a 1-D array is one window), and is
vectorised over the batch: one FFT call and a handful of numpy reductions per batch.

Features of one window ``x`` (samples in the sensor's unit, e.g. mm/s or g):

===============  ===========================================================================
feature          definition
===============  ===========================================================================
rms              sqrt(mean(x²)) of the samples as given (send AC-coupled, zero-mean signals)
peak_to_peak     max(x) − min(x)
kurtosis         Pearson kurtosis m4 / m2² about the window mean (Gaussian noise → 3,
                 a pure sine → 1.5, impulsive bearing-fault signals → ≫ 3)
crest_factor     max(|x|) / rms
band_energy_*    mean-square content of a frequency band (unit²), see below
===============  ===========================================================================

Spectrum. The window is multiplied by a periodic Hann or Hamming taper and transformed with a
real FFT (``numpy.fft.rfft``); bin ``k`` lies at ``k · sample_rate_hz / n_samples``. The
magnitude spectrum is amplitude-corrected and single-sided, ``|X_k| · 2 / Σw`` (DC and Nyquist
bins not doubled), so a sine of amplitude A centred on a bin shows a peak of A.

Band energies. Energy of band ``[low_hz, high_hz)`` is ``Σ_k c_k |X_k|² / (n · Σw²)`` over the
bins in the band, with ``c_k = 2`` except at DC and Nyquist (``c_k = 1``). By Parseval's
theorem, bands that tile 0 … Nyquist add up exactly to ``Σ(w·x)² / Σw²``, the window-power
weighted mean square of the samples, which for a stationary signal estimates ``rms²``. A band
whose ``high_hz`` equals the Nyquist frequency includes the Nyquist bin.

Bad input is refused with a :class:`SignalError` (a ``ValueError``) naming the windows at
fault: non-finite samples (:class:`NonFiniteSampleError`), a window length other than the
configured one (:class:`WindowLengthError`) and a constant window, whose kurtosis and crest
factor are undefined (:class:`ConstantSignalError`). No made-up number is ever returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_BANDS",
    "ConstantSignalError",
    "FeatureBatch",
    "FeatureSettings",
    "FrequencyBand",
    "MagnitudeSpectrum",
    "NonFiniteSampleError",
    "SignalError",
    "VibrationFeatures",
    "WindowFunction",
    "WindowLengthError",
    "band_energies",
    "crest_factor",
    "extract_features",
    "extract_window_features",
    "kurtosis",
    "magnitude_spectrum",
    "peak_to_peak",
    "rms",
    "window_coefficients",
]

WindowFunction = Literal["hann", "hamming"]
_WINDOW_FUNCTIONS: tuple[str, ...] = ("hann", "hamming")

# A window whose standard deviation is below this share of its largest absolute sample is
# constant up to float round-off (e.g. 1024 × 0.1 does not sum exactly): its fourth-moment
# ratio would be noise, so it is refused instead of reported.
CONSTANT_RELATIVE_STD = 1e-10
# Shortest window accepted: kurtosis and a spectrum with at least a few bins need this many.
MINIMUM_WINDOW_LENGTH = 8

TIME_FEATURE_NAMES: tuple[str, ...] = ("rms", "peak_to_peak", "kurtosis", "crest_factor")


class SignalError(ValueError):
    """Invalid vibration input; the message says which windows and why."""


class NonFiniteSampleError(SignalError):
    """A window holds NaN or ±inf samples (a sensor dropout or a decoding error)."""


class ConstantSignalError(SignalError):
    """A window has zero variance: kurtosis and crest factor are undefined."""


class WindowLengthError(SignalError):
    """A window does not have the configured number of samples."""


@dataclass(frozen=True)
class FrequencyBand:
    """A half-open frequency band ``[low_hz, high_hz)``."""

    low_hz: float
    high_hz: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low_hz) and np.isfinite(self.high_hz)):
            raise ValueError(f"band limits must be finite, got {self.low_hz}–{self.high_hz} Hz")
        if self.low_hz < 0:
            raise ValueError(f"band low_hz must be ≥ 0, got {self.low_hz}")
        if self.high_hz <= self.low_hz:
            raise ValueError(
                f"band high_hz must exceed low_hz, got {self.low_hz}–{self.high_hz} Hz"
            )

    @property
    def name(self) -> str:
        """Feature name, e.g. ``band_energy_500_1000_hz``."""
        return f"band_energy_{_format_hz(self.low_hz)}_{_format_hz(self.high_hz)}_hz"


def _format_hz(value_hz: float) -> str:
    return f"{value_hz:g}".replace(".", "p")


# For 10 kHz sampling: shaft harmonics, gear/blade-pass region, and the structural resonance
# region where bearing-fault impacts ring.
DEFAULT_BANDS: tuple[FrequencyBand, ...] = (
    FrequencyBand(0.0, 500.0),
    FrequencyBand(500.0, 1000.0),
    FrequencyBand(1000.0, 2500.0),
    FrequencyBand(2500.0, 5000.0),
)


@dataclass(frozen=True)
class FeatureSettings:
    """How windows are sampled and which bands are measured."""

    sample_rate_hz: float = 10_000.0
    window_length: int = 1024
    window_function: WindowFunction = "hann"
    bands: tuple[FrequencyBand, ...] = DEFAULT_BANDS

    def __post_init__(self) -> None:
        if not (np.isfinite(self.sample_rate_hz) and self.sample_rate_hz > 0):
            raise ValueError(f"sample_rate_hz must be a positive number, got {self.sample_rate_hz}")
        if isinstance(self.window_length, bool) or not isinstance(self.window_length, int):
            raise ValueError(f"window_length must be an int, got {self.window_length!r}")
        if self.window_length < MINIMUM_WINDOW_LENGTH:
            raise ValueError(
                f"window_length must be ≥ {MINIMUM_WINDOW_LENGTH} samples, got {self.window_length}"
            )
        if self.window_function not in _WINDOW_FUNCTIONS:
            raise ValueError(
                f"window_function must be one of {_WINDOW_FUNCTIONS}, got {self.window_function!r}"
            )
        nyquist_hz = self.sample_rate_hz / 2
        for band in self.bands:
            if band.high_hz > nyquist_hz:
                raise ValueError(
                    f"band {band.low_hz:g}–{band.high_hz:g} Hz exceeds the Nyquist frequency "
                    f"{nyquist_hz:g} Hz of {self.sample_rate_hz:g} Hz sampling"
                )
        names = [band.name for band in self.bands]
        if len(set(names)) != len(names):
            raise ValueError(f"bands must be distinct, got {names}")

    @property
    def nyquist_hz(self) -> float:
        return self.sample_rate_hz / 2

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the columns of :meth:`FeatureBatch.as_array`, in order."""
        return TIME_FEATURE_NAMES + tuple(band.name for band in self.bands)


@dataclass(frozen=True)
class VibrationFeatures:
    """Features of one window (see the module docstring for definitions)."""

    rms: float
    peak_to_peak: float
    kurtosis: float
    crest_factor: float
    band_energies: tuple[float, ...]
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.feature_names) != len(TIME_FEATURE_NAMES) + len(self.band_energies):
            raise ValueError(
                f"{len(self.feature_names)} feature names for "
                f"{len(TIME_FEATURE_NAMES) + len(self.band_energies)} features"
            )

    def as_array(self) -> NDArray[np.float64]:
        """``[rms, peak_to_peak, kurtosis, crest_factor, *band_energies]``."""
        return np.array(
            [self.rms, self.peak_to_peak, self.kurtosis, self.crest_factor, *self.band_energies],
            dtype=np.float64,
        )

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.feature_names, self.as_array().tolist(), strict=True))


def _read_only(array: NDArray[np.float64]) -> NDArray[np.float64]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class FeatureBatch:
    """Features of a batch of windows; each field has one entry per window (read-only)."""

    rms: NDArray[np.float64]
    peak_to_peak: NDArray[np.float64]
    kurtosis: NDArray[np.float64]
    crest_factor: NDArray[np.float64]
    band_energies: NDArray[np.float64]  # shape [n_windows, n_bands]
    feature_names: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.rms.shape[0])

    def __getitem__(self, index: int) -> VibrationFeatures:
        return VibrationFeatures(
            rms=float(self.rms[index]),
            peak_to_peak=float(self.peak_to_peak[index]),
            kurtosis=float(self.kurtosis[index]),
            crest_factor=float(self.crest_factor[index]),
            band_energies=tuple(float(value) for value in self.band_energies[index]),
            feature_names=self.feature_names,
        )

    def as_array(self) -> NDArray[np.float64]:
        """Matrix ``[n_windows, n_features]`` with columns in :attr:`feature_names` order."""
        return np.column_stack(
            [self.rms, self.peak_to_peak, self.kurtosis, self.crest_factor, self.band_energies]
        )


@dataclass(frozen=True)
class MagnitudeSpectrum:
    """Single-sided, amplitude-corrected magnitude spectrum of a batch of windows."""

    frequencies_hz: NDArray[np.float64]  # shape [n_bins]
    magnitudes: NDArray[np.float64]  # shape [n_windows, n_bins], signal unit


@lru_cache(maxsize=32)
def _cached_window(window_function: str, length: int) -> NDArray[np.float64]:
    coefficients = np.asarray(
        scipy.signal.get_window(window_function, length, fftbins=True), dtype=np.float64
    )
    return _read_only(coefficients)


def window_coefficients(window_function: WindowFunction, length: int) -> NDArray[np.float64]:
    """Periodic (DFT-even) Hann or Hamming taper of ``length`` samples (read-only array).

    Hann: ``0.5 − 0.5·cos(2πn/N)``; Hamming: ``0.54 − 0.46·cos(2πn/N)``, ``n = 0 … N−1``.
    """
    if window_function not in _WINDOW_FUNCTIONS:
        raise ValueError(
            f"window_function must be one of {_WINDOW_FUNCTIONS}, got {window_function!r}"
        )
    if length < MINIMUM_WINDOW_LENGTH:
        raise ValueError(f"window length must be ≥ {MINIMUM_WINDOW_LENGTH}, got {length}")
    return _cached_window(window_function, length)


def _describe_indices(indices: NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(index)) for index in indices[:10])
    more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
    return f"{shown}{more}"


def _as_batch(samples: ArrayLike, expected_length: int | None = None) -> NDArray[np.float64]:
    """Validate and return a float64 array of shape ``[n_windows, n_samples]``."""
    try:
        array = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise SignalError(f"samples must be numeric: {error}") from error
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise SignalError(
            f"samples must be one window (1-D) or a batch [n_windows, n_samples] (2-D), "
            f"got an array of shape {array.shape}"
        )
    n_windows, n_samples = array.shape
    if n_windows == 0:
        raise SignalError("samples hold no window")
    if expected_length is not None and n_samples != expected_length:
        raise WindowLengthError(
            f"each window must have {expected_length} samples as configured, got {n_samples}"
        )
    if n_samples < MINIMUM_WINDOW_LENGTH:
        raise WindowLengthError(
            f"each window needs at least {MINIMUM_WINDOW_LENGTH} samples, got {n_samples}"
        )
    finite = np.isfinite(array)
    if not finite.all():
        bad_windows = np.flatnonzero(~finite.all(axis=1))
        raise NonFiniteSampleError(
            f"NaN or infinite samples in window(s) {_describe_indices(bad_windows)} "
            f"of {n_windows}; drop or repair those windows before computing features"
        )
    return array


def _check_not_constant(
    centred_mean_square: NDArray[np.float64], batch: NDArray[np.float64]
) -> None:
    scale = np.max(np.abs(batch), axis=1)
    constant = np.sqrt(centred_mean_square) <= CONSTANT_RELATIVE_STD * scale
    if constant.any():
        bad_windows = np.flatnonzero(constant)
        raise ConstantSignalError(
            f"window(s) {_describe_indices(bad_windows)} of {batch.shape[0]} are constant "
            f"(zero variance): kurtosis and crest factor are undefined — check the sensor"
        )


def rms(samples: ArrayLike) -> NDArray[np.float64]:
    """Root mean square of each window, shape ``[n_windows]``."""
    batch = _as_batch(samples)
    return np.sqrt(np.mean(np.square(batch), axis=1))


def peak_to_peak(samples: ArrayLike) -> NDArray[np.float64]:
    """``max − min`` of each window, shape ``[n_windows]``."""
    batch = _as_batch(samples)
    return np.ptp(batch, axis=1)


def _kurtosis_of_batch(batch: NDArray[np.float64]) -> NDArray[np.float64]:
    centred = batch - np.mean(batch, axis=1, keepdims=True)
    squared = np.square(centred)
    second_moment = np.mean(squared, axis=1)
    _check_not_constant(second_moment, batch)
    fourth_moment = np.mean(np.square(squared), axis=1)
    return fourth_moment / np.square(second_moment)


def kurtosis(samples: ArrayLike) -> NDArray[np.float64]:
    """Pearson kurtosis ``m4 / m2²`` of each window (Gaussian → 3), shape ``[n_windows]``.

    Raises :class:`ConstantSignalError` for a window with zero variance.
    """
    return _kurtosis_of_batch(_as_batch(samples))


def crest_factor(samples: ArrayLike) -> NDArray[np.float64]:
    """``max(|x|) / rms`` of each window, shape ``[n_windows]``.

    Raises :class:`ConstantSignalError` for a constant window (including all zeros).
    """
    batch = _as_batch(samples)
    centred = batch - np.mean(batch, axis=1, keepdims=True)
    _check_not_constant(np.mean(np.square(centred), axis=1), batch)
    return np.max(np.abs(batch), axis=1) / np.sqrt(np.mean(np.square(batch), axis=1))


def _spectrum_of_batch(
    batch: NDArray[np.float64], window_function: WindowFunction
) -> tuple[NDArray[np.complex128], NDArray[np.float64]]:
    taper = window_coefficients(window_function, batch.shape[1])
    return np.fft.rfft(batch * taper, axis=1), taper


def _one_sided_weights(n_samples: int) -> NDArray[np.float64]:
    weights = np.full(n_samples // 2 + 1, 2.0)
    weights[0] = 1.0
    if n_samples % 2 == 0:
        weights[-1] = 1.0
    return weights


def magnitude_spectrum(
    samples: ArrayLike, *, sample_rate_hz: float, window_function: WindowFunction = "hann"
) -> MagnitudeSpectrum:
    """Amplitude-corrected single-sided magnitude spectrum of each window.

    ``magnitudes[i, k] = c_k/2 · |rfft(w·x_i)_k| · 2/Σw`` with ``c_k`` as in the module
    docstring, so a sine of amplitude A on bin k shows ``magnitudes[i, k] = A``.
    """
    if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise ValueError(f"sample_rate_hz must be a positive number, got {sample_rate_hz}")
    batch = _as_batch(samples)
    spectrum, taper = _spectrum_of_batch(batch, window_function)
    n_samples = batch.shape[1]
    scale = _one_sided_weights(n_samples) / np.sum(taper)
    frequencies_hz = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate_hz).astype(np.float64)
    return MagnitudeSpectrum(frequencies_hz=frequencies_hz, magnitudes=np.abs(spectrum) * scale)


def _band_masks(
    bands: Sequence[FrequencyBand], frequencies_hz: NDArray[np.float64], nyquist_hz: float
) -> NDArray[np.float64]:
    masks = np.zeros((len(bands), frequencies_hz.shape[0]))
    for row, band in enumerate(bands):
        inside = (frequencies_hz >= band.low_hz) & (frequencies_hz < band.high_hz)
        if band.high_hz >= nyquist_hz:
            inside |= frequencies_hz == nyquist_hz
        masks[row] = inside
    return masks


def _band_energies_of_spectrum(
    spectrum: NDArray[np.complex128],
    taper: NDArray[np.float64],
    bands: Sequence[FrequencyBand],
    sample_rate_hz: float,
) -> NDArray[np.float64]:
    n_samples = taper.shape[0]
    frequencies_hz = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate_hz).astype(np.float64)
    power = np.square(np.abs(spectrum)) * (
        _one_sided_weights(n_samples) / (n_samples * np.sum(np.square(taper)))
    )
    masks = _band_masks(bands, frequencies_hz, sample_rate_hz / 2)
    return power @ masks.T


def band_energies(
    samples: ArrayLike,
    *,
    sample_rate_hz: float,
    bands: Sequence[FrequencyBand],
    window_function: WindowFunction = "hann",
) -> NDArray[np.float64]:
    """Mean-square content (unit²) of each band, shape ``[n_windows, n_bands]``."""
    if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise ValueError(f"sample_rate_hz must be a positive number, got {sample_rate_hz}")
    for band in bands:
        if band.high_hz > sample_rate_hz / 2:
            raise ValueError(
                f"band {band.low_hz:g}–{band.high_hz:g} Hz exceeds the Nyquist frequency "
                f"{sample_rate_hz / 2:g} Hz"
            )
    batch = _as_batch(samples)
    spectrum, taper = _spectrum_of_batch(batch, window_function)
    return _band_energies_of_spectrum(spectrum, taper, bands, sample_rate_hz)


def extract_features(samples: ArrayLike, settings: FeatureSettings) -> FeatureBatch:
    """All features of a batch ``[n_windows, settings.window_length]`` (or one 1-D window).

    Raises :class:`WindowLengthError`, :class:`NonFiniteSampleError` or
    :class:`ConstantSignalError` (all ``ValueError``) for bad windows; nothing is computed then.
    """
    batch = _as_batch(samples, expected_length=settings.window_length)
    window_kurtosis = _kurtosis_of_batch(batch)
    window_rms = np.sqrt(np.mean(np.square(batch), axis=1))
    spectrum, taper = _spectrum_of_batch(batch, settings.window_function)
    energies = _band_energies_of_spectrum(spectrum, taper, settings.bands, settings.sample_rate_hz)
    return FeatureBatch(
        rms=_read_only(window_rms),
        peak_to_peak=_read_only(np.ptp(batch, axis=1)),
        kurtosis=_read_only(window_kurtosis),
        crest_factor=_read_only(np.max(np.abs(batch), axis=1) / window_rms),
        band_energies=_read_only(energies),
        feature_names=settings.feature_names,
    )


def extract_window_features(samples: ArrayLike, settings: FeatureSettings) -> VibrationFeatures:
    """Features of exactly one window (1-D, ``settings.window_length`` samples)."""
    array = np.asarray(samples)
    if array.ndim != 1:
        raise SignalError(f"one window must be a 1-D array, got shape {array.shape}")
    return extract_features(array, settings)[0]
