"""Helpers shared by the test suites (see server.py)."""
