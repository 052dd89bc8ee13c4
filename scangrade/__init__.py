"""scangrade: batch grading of scanned, hand-written digit answer sheets."""

__version__ = "0.1.0"
