"""Fixtures and helpers that start real services for the tests (see tests/conftest.py)."""
