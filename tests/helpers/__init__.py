"""Helpers shared by tests of several areas (imported as `tests.helpers.<name>`)."""
