"""Benchmarks that print figures as JSON lines; not part of the test run."""
