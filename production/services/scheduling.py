"""Writes of the scheduling area."""
