"""Writes of the monitoring area."""
