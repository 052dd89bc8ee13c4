"""Where the project's files live."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_WEIGHTS = REPO_ROOT / "model" / "weights" / "reader.npz"
CACHE_HOME = Path.home() / ".cache" / "scangrade"


def default_mnist_dir() -> Path | None:
    """`../shared/mnist` beside the checkout (or the working directory) when it exists."""
    for candidate in (REPO_ROOT.parent / "shared" / "mnist", Path.cwd().parent / "shared" / "mnist"):
        if (candidate / "train-images-idx3-ubyte.gz").exists():
            return candidate
    return None
