"""The vibration edge agent as a process: samples in, window features out at 1 Hz.

The feature extraction is the MES's own (``maintenance.algorithms.signal.extract_features``,
the one the simulator's edge agent uses): each report period (1 s) the period's samples are cut
into complete windows (10,000 samples at 10 kHz → 9 windows of 1024), the features of every
window are computed (Hann window, FFT band energies, RMS, peak-to-peak, kurtosis, crest factor)
and their mean is published on ``<root>/<equipment>/_features`` with the period's timestamp —
the same message the simulator sends, so the ingest stores them as the ``vibration_*`` signals
and the health service sees no difference. The raw samples never leave the gateway.

Timestamps come from the samples, not from the moment of sending: the first sample is at
``start_ms`` (the time the agent started, or ``--start``) and each period ends
``period × n`` later. For a live stream (a sound card or ADC piped to stdin) that is the wall
clock; for a recorded file it is the recording's own time line.

A period whose windows cannot give features (a disconnected sensor sends a constant signal,
a broken converter NaNs) is skipped and counted, never published as numbers.

Everything leaves through the store-and-forward buffer (``forwarder.StoreAndForward``); with
each report the agent also publishes the buffer's state as readings of the equipment:
``edge_buffer_messages`` (waiting), ``edge_buffer_age_s`` (age of the oldest) and
``edge_buffer_dropped`` (dropped since the start because the buffer was full or too old).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Final, Protocol

import numpy as np

from connectors.runtime.edge.buffer import DiskBuffer
from maintenance.algorithms.signal import FeatureSettings, SignalError, extract_features
from workers.mqtt.uns import FEATURES_SEGMENT, build_topic, encode_batch, encode_features

logger = logging.getLogger("connectors.edge")

SAMPLE_FORMATS: Final = ("text", "f32le", "s16le")
BUFFER_SIGNALS: Final = ("edge_buffer_messages", "edge_buffer_age_s", "edge_buffer_dropped")


@dataclass(frozen=True)
class FeatureReport:
    ts_ms: int
    window_count: int
    features: dict[str, float]


def _significant(value: float) -> float:
    """6 significant digits: plenty for features, and a compact JSON number."""
    return float(f"{value:.6g}")


class FeatureAccumulator:
    """Collects samples and reduces each complete report period to mean window features."""

    def __init__(
        self, settings: FeatureSettings, *, start_ms: int, report_period_s: float = 1.0
    ) -> None:
        self.settings = settings
        self.period_samples = round(report_period_s * settings.sample_rate_hz)
        self.window_count = self.period_samples // settings.window_length
        if self.window_count < 1:
            raise ValueError(
                f"a report period of {report_period_s} s holds no complete window of "
                f"{settings.window_length} samples at {settings.sample_rate_hz} Hz"
            )
        self.start_ms = start_ms
        self.periods = 0
        self.skipped = 0
        self._pending = np.empty(0, dtype=np.float64)

    def add(self, samples: np.ndarray) -> list[FeatureReport]:
        """Feed samples; the reports of the periods they completed."""
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64)])
        reports = []
        while len(self._pending) >= self.period_samples:
            period = self._pending[: self.period_samples]
            self._pending = self._pending[self.period_samples :]
            self.periods += 1
            end_ms = self.start_ms + round(
                self.periods * self.period_samples / self.settings.sample_rate_hz * 1000
            )
            used = self.window_count * self.settings.window_length
            windows = period[:used].reshape(self.window_count, self.settings.window_length)
            try:
                batch = extract_features(windows, self.settings)
            except SignalError as error:
                self.skipped += 1
                logger.warning("period ending %d skipped: %s", end_ms, error)
                continue
            means = batch.as_array().mean(axis=0)
            features = {
                name: _significant(float(value))
                for name, value in zip(batch.feature_names, means, strict=True)
            }
            reports.append(FeatureReport(end_ms, self.window_count, features))
        return reports


def read_samples(
    stream: BinaryIO, sample_format: str, *, chunk_samples: int = 1024
) -> Iterator[np.ndarray]:
    """Samples from ``stream``: ``text`` (numbers separated by white space or new lines; a
    line that is not numbers is skipped with a warning), ``f32le`` (raw little-endian float32,
    e.g. ``arecord -t raw -f FLOAT_LE``) or ``s16le`` (raw little-endian int16, scaled to
    ±1)."""
    if sample_format not in SAMPLE_FORMATS:
        raise ValueError(f"sample format {sample_format!r} is not one of {SAMPLE_FORMATS}")
    if sample_format == "text":
        values: list[float] = []
        for number, line in enumerate(stream, start=1):
            try:
                values.extend(float(item) for item in line.split())
            except ValueError:
                logger.warning("line %d is not numbers: %r", number, line[:80])
                continue
            if len(values) >= chunk_samples:
                yield np.asarray(values, dtype=np.float64)
                values = []
        if values:
            yield np.asarray(values, dtype=np.float64)
        return
    width = 4 if sample_format == "f32le" else 2
    dtype = "<f4" if sample_format == "f32le" else "<i2"
    remainder = b""
    while True:
        data = stream.read(chunk_samples * width)
        if not data:
            return
        data = remainder + data
        usable = len(data) - len(data) % width
        remainder = data[usable:]
        samples = np.frombuffer(data[:usable], dtype=dtype).astype(np.float64)
        if dtype == "<i2":
            samples /= 32768.0
        yield samples


class Outbox(Protocol):
    buffer: DiskBuffer

    def publish(self, topic: str, payload: bytes) -> None: ...

    def pump(self) -> None: ...


@dataclass
class EdgeAgent:
    """Turns samples into feature messages and hands them to the store-and-forward outbox."""

    outbox: Outbox
    accumulator: FeatureAccumulator
    equipment_path: str
    uns_root: str = ""
    publish_buffer_state: bool = True

    def __post_init__(self) -> None:
        self.features_topic = build_topic(self.uns_root, self.equipment_path, FEATURES_SEGMENT)
        self.equipment_topic = build_topic(self.uns_root, self.equipment_path)
        self.reports = 0

    def process(self, samples: np.ndarray) -> int:
        """Feed samples; publish the completed periods. Returns how many reports were made."""
        reports = self.accumulator.add(samples)
        for report in reports:
            ts = datetime.fromtimestamp(report.ts_ms / 1000, UTC)
            self.outbox.publish(self.features_topic, encode_features(ts, report.features))
            if self.publish_buffer_state:
                self.outbox.publish(self.equipment_topic, encode_batch(ts, self.buffer_state()))
        self.reports += len(reports)
        self.outbox.pump()
        return len(reports)

    def buffer_state(self) -> dict[str, float]:
        buffer = self.outbox.buffer
        return {
            "edge_buffer_messages": float(len(buffer)),
            "edge_buffer_age_s": round(buffer.oldest_age_s(), 3),
            "edge_buffer_dropped": float(buffer.dropped),
        }
