"""Settings of grading and reports (worker/grading/).

The digit confidence threshold that sends a box to review is `confidence_threshold` in the
reader's section: it is chosen from the reader's eval, not here.
"""

from pydantic import Field
from pydantic_settings import BaseSettings


class GradingSettings(BaseSettings):
    id_match_min_probability: float = Field(
        default=0.01,
        description=(
            "A sheet matched to a roster student whose ID is less probable than this under the"
            " per-digit reads is flagged as matching nobody well. A confidently misread or"
            " wrongly written digit puts the true ID far below it (~1e-3 or less); six merely"
            " unsure digits stay well above it."
        ),
    )
    id_match_min_ratio: float = Field(
        default=1000.0,
        description=(
            "The roster ID a sheet is matched to must be at least this many times more probable"
            " than any other roster ID, or the match is flagged as ambiguous: with calibrated"
            " digit probabilities an accepted match is then wrong at most ~0.1% of the time,"
            " the same target as the per-digit confidence threshold."
        ),
    )
    id_probability_floor: float = Field(
        default=1e-6,
        description=(
            "Per-digit probabilities are clipped to at least this before taking logs, so one"
            " overconfident box cannot rule out a roster ID on its own (log(0) = -inf)."
        ),
    )
    discrimination_group_share: float = Field(
        default=0.27,
        description="Share of students in the upper and lower groups of the discrimination index"
        " (Kelley's classic 27%).",
    )
    discrimination_min_students: int = Field(
        default=5,
        description="Fewer graded students than this and the discrimination index is left empty"
        " (groups of one student say nothing).",
    )
    review_dpi: int = Field(
        default=100, description="Resolution the pages of review.pdf are re-rasterized at."
    )
    review_jpeg_quality: int = Field(
        default=75, description="JPEG quality of the page images in review.pdf."
    )
    review_workers: int = Field(
        default=2,
        description="Threads that rasterize and draw review.pdf pages (pdftoppm subprocesses).",
    )
