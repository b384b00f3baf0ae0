"""Tests of the reports area (import of reference logs, tables, plots, CLI)."""
