"""Telemetry store, dead letters and Sparkplug mappings (filled in by the ingest work)."""
