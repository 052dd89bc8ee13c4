"""Where the project's files live."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_WEIGHTS = REPO_ROOT / "model" / "weights" / "reader.npz"
PACKAGE_SCREEN_WEIGHTS = REPO_ROOT / "model" / "weights" / "screen.npz"
PACKAGE_SECOND_WEIGHTS = REPO_ROOT / "model" / "weights" / "reader_second.npz"
CACHE_HOME = Path.home() / ".cache" / "scangrade"


def default_mnist_dir() -> Path | None:
    """`../shared/mnist` beside the checkout (or the working directory) when it exists."""
    beside = (REPO_ROOT.parent, Path.cwd().parent)
    for candidate in (folder / "shared" / "mnist" for folder in beside):
        if (candidate / "train-images-idx3-ubyte.gz").exists():
            return candidate
    return None
