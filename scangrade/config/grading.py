"""Settings of grading and reports (worker/grading/).

Review is decided per grade, from the reader's calibrated probabilities and how the class
answered (the `prior_*` settings): `review_risk` and `review_read_doubt` for answers,
`id_review_risk` for student IDs, chosen with `scangrade eval grading`.
"""

from pydantic import Field
from pydantic_settings import BaseSettings


class GradingSettings(BaseSettings):
    review_risk: float = Field(
        default=0.02, gt=0, lt=1,
        description=(
            "An answer goes to review when the probability that its outcome (correct, wrong or"
            " blank) is not the one reported exceeds this; the probability combines the"
            " reader's per-box probabilities with how the class answered (see"
            " worker/grading/outcome.py). Chosen with `scangrade eval grading` on synthetic"
            " classes of MNIST test digits: no wrong outcome went unflagged at this value or"
            " at 0.03 (the first one did at 0.05)."
        ),
    )
    review_read_doubt: float = Field(
        default=0.3, gt=0, lt=1,
        description=(
            "An answer also goes to review when the reads alone, before weighing how the class"
            " answered, leave its outcome more in doubt than this: the class's answers may"
            " settle a small doubt about a digit, never a real one (a digit read 70/30)."
            " On `scangrade eval grading` it costs about 2 in 100 students more to review."
        ),
    )
    prior_strength: float = Field(
        default=4.0, ge=0,
        description=(
            "How many answers the default shares below count as when the class's own reads"
            " give each question's prior (right, blank, near-miss shares): a class of 30 is"
            " mostly its own evidence, a class of 3 leans on the defaults."
        ),
    )
    prior_correct_share: float = Field(
        default=0.5, gt=0, lt=1,
        description="Share of right answers assumed before a class's reads are seen.",
    )
    prior_blank_share: float = Field(
        default=0.1, gt=0, lt=1,
        description="Share of blank answers assumed before a class's reads are seen.",
    )
    prior_near_miss_share: float = Field(
        default=0.5, gt=0, lt=1,
        description=(
            "Share of wrong answers assumed to miss the key by one digit before a class's"
            " reads are seen (a slip, a forgotten carry)."
        ),
    )
    prior_shifted_share: float = Field(
        default=0.1, gt=0, lt=1,
        description=(
            "Share of answers assumed to begin right of the first box (the sheet asks for the"
            " leftmost) before a class's reads are seen. A read whose first box is empty is"
            " then doubted as the class makes it: often a first digit too faint to see."
        ),
    )
    id_review_risk: float = Field(
        default=0.005, gt=0, lt=1,
        description=(
            "A student ID goes to review when it is less sure than 1 - this: without a roster"
            " the probability of the digits read, with one the probability that the sheet is"
            " the matched roster student's rather than another's. Lower than review_risk: a"
            " wrong ID gives the whole sheet to another student. Without a roster a misread"
            " digit cannot be caught by a check against the class, so use one where you can."
        ),
    )
    id_match_min_probability: float = Field(
        default=0.01,
        description=(
            "A sheet matched to a roster student whose ID is less probable than this under the"
            " per-digit reads is flagged as matching nobody well. A confidently misread or"
            " wrongly written digit puts the true ID far below it (~1e-3 or less); six merely"
            " unsure digits stay well above it."
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
        default=100,
        description="Resolution of the page images the read pass keeps for review.pdf and the"
        " graded sheets (never more than the scan's own).",
    )
    review_jpeg_quality: int = Field(
        default=75, description="JPEG quality of those page images (compressed once)."
    )
