"""Reads of the monitoring area."""
