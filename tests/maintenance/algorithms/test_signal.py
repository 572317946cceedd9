"""Vibration features against analytic signals, properties and bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maintenance.algorithms.signal import (
    ConstantSignalError,
    FeatureSettings,
    FrequencyBand,
    NonFiniteSampleError,
    SignalError,
    WindowLengthError,
    band_energies,
    crest_factor,
    extract_features,
    extract_window_features,
    kurtosis,
    magnitude_spectrum,
    peak_to_peak,
    rms,
    window_coefficients,
)

SAMPLE_RATE_HZ = 10_000.0
WINDOW_LENGTH = 1024
SETTINGS = FeatureSettings(sample_rate_hz=SAMPLE_RATE_HZ, window_length=WINDOW_LENGTH)
TIME_S = np.arange(WINDOW_LENGTH) / SAMPLE_RATE_HZ
BIN_WIDTH_HZ = SAMPLE_RATE_HZ / WINDOW_LENGTH


def sine_on_bin(bin_index: int, amplitude: float, phase_rad: float = 0.3) -> np.ndarray:
    """A sine with exactly ``bin_index`` periods in the window."""
    return amplitude * np.sin(2 * np.pi * bin_index * BIN_WIDTH_HZ * TIME_S + phase_rad)


# --- analytic signals ---------------------------------------------------------------------


def test_sine_rms_is_amplitude_over_root_two_on_whole_periods() -> None:
    signal = sine_on_bin(50, amplitude=3.0)

    assert rms(signal)[0] == pytest.approx(3.0 / math.sqrt(2), rel=1e-12)


def test_sine_peak_to_peak_is_twice_the_amplitude() -> None:
    # Phase π/2 puts samples exactly on the crest and trough (bin 64 → 16 samples per period).
    signal = sine_on_bin(64, amplitude=2.5, phase_rad=math.pi / 2)

    assert peak_to_peak(signal)[0] == pytest.approx(5.0, rel=1e-12)


def test_sine_kurtosis_is_one_and_a_half_and_crest_factor_root_two() -> None:
    signal = sine_on_bin(64, amplitude=1.7, phase_rad=math.pi / 2)

    assert kurtosis(signal)[0] == pytest.approx(1.5, rel=1e-9)
    assert crest_factor(signal)[0] == pytest.approx(math.sqrt(2), rel=1e-12)


def test_gaussian_noise_kurtosis_is_three_within_its_standard_error() -> None:
    # The sample kurtosis of n Gaussian samples has standard error ≈ sqrt(24 / n) = 0.153 for
    # n = 1024; the mean of 64 windows has 0.153 / 8 ≈ 0.019. A tolerance of 0.1 is > 5 σ.
    noise = np.random.default_rng(7).normal(0.0, 2.0, size=(64, WINDOW_LENGTH))

    per_window = kurtosis(noise)

    assert per_window.shape == (64,)
    assert abs(float(np.mean(per_window)) - 3.0) < 0.1
    assert np.all(np.abs(per_window - 3.0) < 6 * math.sqrt(24 / WINDOW_LENGTH))


def test_impulse_train_kurtosis_matches_the_bernoulli_formula_and_is_far_above_three() -> None:
    # 10 unit impulses in 1000 samples: a Bernoulli(p = 0.01) sequence whose Pearson kurtosis
    # is (1 − 3p(1 − p)) / (p(1 − p)) = 98.0101…
    train = np.zeros(1000)
    train[::100] = 1.0
    p = 0.01

    value = kurtosis(train)[0]

    assert value == pytest.approx((1 - 3 * p * (1 - p)) / (p * (1 - p)), rel=1e-12)
    assert value > 90


def test_fft_peak_is_at_the_sine_frequency_with_the_sine_amplitude() -> None:
    signal = sine_on_bin(80, amplitude=0.8)

    spectrum = magnitude_spectrum(signal, sample_rate_hz=SAMPLE_RATE_HZ)

    peak_bin = int(np.argmax(spectrum.magnitudes[0]))
    assert peak_bin == 80
    assert spectrum.frequencies_hz[peak_bin] == pytest.approx(80 * BIN_WIDTH_HZ)
    assert spectrum.magnitudes[0, peak_bin] == pytest.approx(0.8, rel=1e-12)
    # The Hann window leaks only into the two neighbouring bins, each with half the amplitude.
    assert spectrum.magnitudes[0, 79] == pytest.approx(0.4, rel=1e-9)
    assert spectrum.magnitudes[0, 81] == pytest.approx(0.4, rel=1e-9)
    assert np.max(np.delete(spectrum.magnitudes[0], [79, 80, 81])) < 1e-9


def test_frequency_axis_runs_from_zero_to_nyquist_in_bin_steps() -> None:
    spectrum = magnitude_spectrum(
        np.random.default_rng(1).normal(size=WINDOW_LENGTH), sample_rate_hz=SAMPLE_RATE_HZ
    )

    assert spectrum.frequencies_hz.shape == (WINDOW_LENGTH // 2 + 1,)
    assert spectrum.frequencies_hz[0] == 0.0
    assert spectrum.frequencies_hz[1] == pytest.approx(BIN_WIDTH_HZ)
    assert spectrum.frequencies_hz[-1] == pytest.approx(SAMPLE_RATE_HZ / 2)
    assert spectrum.magnitudes.shape == (1, WINDOW_LENGTH // 2 + 1)


def test_hamming_spectrum_also_recovers_an_on_bin_amplitude() -> None:
    spectrum = magnitude_spectrum(
        sine_on_bin(40, amplitude=1.25), sample_rate_hz=SAMPLE_RATE_HZ, window_function="hamming"
    )

    assert int(np.argmax(spectrum.magnitudes[0])) == 40
    assert spectrum.magnitudes[0, 40] == pytest.approx(1.25, rel=1e-12)


def test_window_coefficients_follow_the_periodic_hann_and_hamming_formulas() -> None:
    index = np.arange(16)

    hann = window_coefficients("hann", 16)
    hamming = window_coefficients("hamming", 16)

    np.testing.assert_allclose(hann, 0.5 - 0.5 * np.cos(2 * np.pi * index / 16), atol=1e-15)
    np.testing.assert_allclose(hamming, 0.54 - 0.46 * np.cos(2 * np.pi * index / 16), atol=1e-15)
    assert not hann.flags.writeable


def test_band_energies_that_tile_the_spectrum_add_up_to_the_windowed_mean_square() -> None:
    noise = np.random.default_rng(3).normal(0.0, 1.5, size=(5, WINDOW_LENGTH))
    bands = (
        FrequencyBand(0.0, 1000.0),
        FrequencyBand(1000.0, 3000.0),
        FrequencyBand(3000.0, 5000.0),
    )
    taper = window_coefficients("hann", WINDOW_LENGTH)

    energies = band_energies(noise, sample_rate_hz=SAMPLE_RATE_HZ, bands=bands)

    assert energies.shape == (5, 3)
    expected = np.sum(np.square(noise * taper), axis=1) / np.sum(np.square(taper))
    np.testing.assert_allclose(energies.sum(axis=1), expected, rtol=1e-10)
    # For white noise that mean square estimates rms² (here within 10 %: 1024 samples).
    np.testing.assert_allclose(energies.sum(axis=1), rms(noise) ** 2, rtol=0.1)


def test_a_sine_puts_its_mean_square_into_its_own_band_only() -> None:
    signal = sine_on_bin(100, amplitude=2.0)  # 976.6 Hz, in the 500–1000 Hz default band

    features = extract_window_features(signal, SETTINGS)

    assert features.band_energies[1] == pytest.approx(2.0**2 / 2, rel=1e-12)
    assert features.band_energies[0] < 1e-20
    assert features.band_energies[2] < 1e-20
    assert features.band_energies[3] < 1e-20


def test_nyquist_bin_belongs_to_a_band_that_ends_at_nyquist() -> None:
    alternating = np.tile([1.0, -1.0], WINDOW_LENGTH // 2)  # all energy at 5000 Hz

    energies = band_energies(
        alternating, sample_rate_hz=SAMPLE_RATE_HZ, bands=(FrequencyBand(2500.0, 5000.0),)
    )

    assert energies[0, 0] == pytest.approx(1.0, rel=1e-12)


# --- feature vectors ----------------------------------------------------------------------


def test_batch_features_equal_single_window_features() -> None:
    batch = np.random.default_rng(11).normal(size=(4, WINDOW_LENGTH))

    features = extract_features(batch, SETTINGS)

    assert len(features) == 4
    for index in range(4):
        single = extract_window_features(batch[index], SETTINGS)
        np.testing.assert_allclose(features[index].as_array(), single.as_array(), rtol=1e-12)


def test_feature_vector_as_array_follows_the_named_order() -> None:
    signal = sine_on_bin(100, amplitude=2.0, phase_rad=math.pi / 2)

    features = extract_window_features(signal, SETTINGS)
    vector = features.as_array()

    assert features.feature_names == (
        "rms",
        "peak_to_peak",
        "kurtosis",
        "crest_factor",
        "band_energy_0_500_hz",
        "band_energy_500_1000_hz",
        "band_energy_1000_2500_hz",
        "band_energy_2500_5000_hz",
    )
    assert vector.shape == (8,)
    assert vector[0] == features.rms
    assert vector[2] == features.kurtosis
    assert vector[5] == features.band_energies[1]
    assert features.as_dict()["crest_factor"] == features.crest_factor


def test_feature_batch_matrix_has_one_row_per_window_and_is_read_only() -> None:
    batch = np.random.default_rng(5).normal(size=(3, WINDOW_LENGTH))

    features = extract_features(batch, SETTINGS)

    assert features.as_array().shape == (3, 8)
    assert features.feature_names == SETTINGS.feature_names
    with pytest.raises(ValueError, match="read-only"):
        features.rms[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        features.rms = np.zeros(3)  # type: ignore[misc]


# --- properties ---------------------------------------------------------------------------

_windows = arrays(
    np.float64,
    64,
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False),
)
_scales = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)


def _varied(window: np.ndarray) -> bool:
    return bool(np.std(window) > 1e-6 * np.max(np.abs(window)) and np.max(np.abs(window)) > 1e-6)


@settings(max_examples=60, deadline=None)
@given(window=_windows, scale=_scales, negate=st.booleans())
def test_kurtosis_and_crest_factor_do_not_change_with_scale(
    window: np.ndarray, scale: float, negate: bool
) -> None:
    assume(_varied(window))
    factor = -scale if negate else scale

    assert kurtosis(factor * window)[0] == pytest.approx(kurtosis(window)[0], rel=1e-9)
    assert crest_factor(factor * window)[0] == pytest.approx(crest_factor(window)[0], rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(window=_windows, scale=_scales)
def test_rms_and_peak_to_peak_scale_linearly(window: np.ndarray, scale: float) -> None:
    assert rms(scale * window)[0] == pytest.approx(scale * rms(window)[0], rel=1e-9, abs=1e-12)
    assert peak_to_peak(scale * window)[0] == pytest.approx(
        scale * peak_to_peak(window)[0], rel=1e-9, abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(window=_windows)
def test_crest_factor_is_at_least_one_and_kurtosis_at_least_one(window: np.ndarray) -> None:
    # Pearson kurtosis ≥ 1 for any distribution (m4 ≥ m2²); peak ≥ rms by definition.
    assume(_varied(window))

    assert kurtosis(window)[0] >= 1.0 - 1e-9
    assert crest_factor(window)[0] >= 1.0 - 1e-12


# --- bad input ----------------------------------------------------------------------------


def test_nan_sample_is_refused_naming_the_window() -> None:
    batch = np.random.default_rng(2).normal(size=(4, WINDOW_LENGTH))
    batch[2, 17] = np.nan

    with pytest.raises(NonFiniteSampleError, match=r"window\(s\) 2 of 4"):
        extract_features(batch, SETTINGS)


def test_infinite_sample_is_refused() -> None:
    window = np.random.default_rng(2).normal(size=WINDOW_LENGTH)
    window[0] = np.inf

    with pytest.raises(NonFiniteSampleError):
        rms(window)


def test_wrong_window_length_is_refused_with_both_lengths_in_the_message() -> None:
    with pytest.raises(WindowLengthError, match="1024 samples as configured, got 1000"):
        extract_features(np.ones((2, 1000)), SETTINGS)


def test_constant_window_is_refused_instead_of_reporting_a_kurtosis() -> None:
    batch = np.random.default_rng(4).normal(size=(3, WINDOW_LENGTH))
    batch[1] = 0.1  # 1024 × 0.1 does not sum exactly: round-off must not pass as variance

    with pytest.raises(ConstantSignalError, match=r"window\(s\) 1 of 3 are constant"):
        extract_features(batch, SETTINGS)
    with pytest.raises(ConstantSignalError):
        kurtosis(np.zeros(WINDOW_LENGTH))
    with pytest.raises(ConstantSignalError):
        crest_factor(np.zeros(WINDOW_LENGTH))


def test_every_signal_error_is_a_value_error() -> None:
    for error_type in (NonFiniteSampleError, ConstantSignalError, WindowLengthError):
        assert issubclass(error_type, SignalError)
        assert issubclass(error_type, ValueError)


def test_three_dimensional_or_empty_input_is_refused() -> None:
    with pytest.raises(SignalError, match="shape"):
        rms(np.ones((2, 2, 16)))
    with pytest.raises(SignalError, match="no window"):
        rms(np.ones((0, 16)))
    with pytest.raises(SignalError, match="numeric"):
        rms(["a"] * 16)


def test_extract_window_features_refuses_a_batch() -> None:
    with pytest.raises(SignalError, match="1-D"):
        extract_window_features(np.ones((2, WINDOW_LENGTH)), SETTINGS)


def test_settings_refuse_bands_above_nyquist_and_bad_lengths() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        FeatureSettings(sample_rate_hz=1000.0, bands=(FrequencyBand(0.0, 600.0),))
    with pytest.raises(ValueError, match="window_length"):
        FeatureSettings(window_length=4)
    with pytest.raises(ValueError, match="window_function"):
        FeatureSettings(window_function="boxcar")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="high_hz must exceed low_hz"):
        FrequencyBand(500.0, 500.0)
