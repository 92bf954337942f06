"""Benchmarks of the helpdesk, each run as a script from the project root."""
