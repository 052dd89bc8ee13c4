"""Where the tests' data lives."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent
SAMPLES = REPO_ROOT / "samples"
FIXTURES = TESTS / "fixtures"
SNAPSHOTS = TESTS / "snapshots"
MNIST_TEST_SAMPLE = FIXTURES / "mnist_test_sample.npz"  # MNIST test digits
