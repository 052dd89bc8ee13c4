"""Synthetic class sets: printed sheets filled in with MNIST test digits, then scanned."""
