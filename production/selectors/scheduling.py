"""Reads of the scheduling area."""
