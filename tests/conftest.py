"""Shared fixtures. Layer-specific fixtures live in conftest.py files beside the tests."""
