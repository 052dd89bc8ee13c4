"""Measurement: the `scangrade eval ...` (accuracy) and `scangrade bench ...` (speed) commands,
and the throwaway local cluster the service bench and tests run on."""
