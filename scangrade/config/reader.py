"""Settings of the digit reader (model/)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from scangrade.config.paths import (
    CACHE_HOME,
    PACKAGE_SCREEN_WEIGHTS,
    PACKAGE_SECOND_WEIGHTS,
    PACKAGE_WEIGHTS,
    default_mnist_dir,
)

ReaderStage = Literal["screen", "full"]  # the reader cascade's stages (model/inference/reader.py)


class ReaderSettings(BaseSettings):
    mnist_dir: Path | None = Field(
        default_factory=default_mnist_dir,
        description="Folder with the raw MNIST IDX .gz files; None downloads them through TFDS.",
    )
    tfds_data_dir: Path = Field(
        default=CACHE_HOME / "tensorflow_datasets",
        description="Where TFDS keeps the prepared array_record MNIST.",
    )
    weights_path: Path = Field(default=PACKAGE_WEIGHTS, description="Reader weights (.npz).")
    screen_weights_path: Path | None = Field(
        default=PACKAGE_SCREEN_WEIGHTS,
        description="Weights of the small, fast screening CNN that reads every crop first; "
        "None reads every crop with the full model alone.",
    )
    ensemble_weights_paths: tuple[Path, ...] = Field(
        default=(PACKAGE_SECOND_WEIGHTS,),
        description="More full CNNs, averaged with the one at weights_path wherever the full "
        "model reads (the shipped second one: the same architecture from another training "
        "run). Measured against the first alone: continental 1s 99.3% instead of 98.9%, the "
        "stress scan path 99.31% instead of 99.25%, at twice the cost of the full stage.",
    )
    screen_threshold: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description="A screening read at or above this confidence stands; the full models "
        "read the other crops instead. None: confidence_threshold, so every digit that is "
        "not sure is read by the full models (measured at 0.998: 12.5% of scan-path digits "
        "go to them; accuracy as with the full models alone). Lower reads faster and leaves "
        "more digits to the less accurate screen.",
    )
    cpu_library_fusions: tuple[ReaderStage, ...] = Field(
        default=("screen",),
        description="The reader stages that XLA may compile with YNNPACK library fusions on "
        "a CPU. Measured on 2 cores (jaxlib 0.10.2): the full CNN runs 2.5-3x slower with them "
        "at 16 and 32 rows and no faster at 64 or more; the screening CNN 1.2-1.5x faster "
        "from 64 rows up.",
    )
    jax_cache_dir: Path | None = Field(
        default=CACHE_HOME / "jax",
        description="JAX persistent compilation cache; None disables it.",
    )
    reader_batch_sizes: tuple[int, ...] = Field(
        default=(8, 16, 64, 256),
        description="Fixed padded batch shapes: a warm worker never compiles a new one. The "
        "smallest serves the crops the screen is unsure of (about 1 in 8 of a batch).",
    )
    preprocess_threads: int = Field(
        default=0, ge=0,
        description="Threads that clean crops (compiled, GIL-free); 0 uses every CPU.",
    )
    preprocess_faint_pass: bool = Field(
        default=False,
        description="Look at boxes without ink once more for very faint strokes (light "
        "pencil; PreprocessConfig.faint_pass). Only for CNNs trained with it (`scangrade train "
        "--recipe styles`): with the shipped ones it makes faint marks in empty boxes digits.",
    )
    reader_pipeline_crops: int = Field(
        default=256, ge=1,
        description="Crops per step of a large read: one step is cleaned while the CNN reads "
        "the one before, so preprocessing and inference overlap.",
    )
    no_ink_digit_probability: float = Field(
        default=0.0005, ge=0, lt=1,
        description="How likely a box that preprocessing finds empty held a digit after all "
        "(a stroke too faint or small to keep): the reader's probabilities of such a box. "
        "From `scangrade eval reader`: written digits called blank on the scan path (0.05%).",
    )
    confidence_threshold: float = Field(
        default=0.998,
        description="A digit read at or above this confidence counts as sure: what `scangrade "
        "eval reader` and `eval pipeline` measure accepted digits against, and where the "
        "cascade's screen stops (see screen_threshold). Grading decides review per grade "
        "(review_risk). Chosen with `scangrade eval reader`: the lowest threshold at which "
        "accepted digits on the scan path are wrong at most 0.1% of the time.",
    )
