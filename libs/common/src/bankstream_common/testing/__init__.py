"""Helpers for the tests of the services built on this library (imported by tests only)."""
