"""From page results to graded students: group, identify, score, decide review. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from worker.grading.corrections import CopyOverrides
from worker.grading.exam import Exam
from worker.grading.identify import UNREAD_DIGIT, IdentifySettings, Identity, identify
from worker.grading.key import normalize_answer
from worker.grading.outcome import (
    AnswerPrior,
    estimate_prior,
    estimate_share,
    near_misses,
)
from worker.grading.review import review_reasons
from worker.grading.roster import RosterStudent
from worker.grading.score import Outcome, Response, decide, score_question
from worker.grading.students import StudentSheets, UnassignedPage, group_pages
from worker.scan.results import PageResult
from worker.sheets.layout import STUDENT_ID

REVIEWED_NOTE = "checked by the teacher"

UNREAD_REASON = "not read: the page with this question is missing or unreadable"


@dataclass
class StudentResult:
    copy: int
    identity: Identity
    responses: list[Response]
    sheets: StudentSheets
    extra: dict[str, str]  # the roster's extra columns
    score: float
    max_score: float
    review_reasons: list[str]
    needs_review: bool

    @property
    def student_id(self) -> str:
        return self.identity.student_id

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.score / self.max_score, 1) if self.max_score else None

    def review_reason(self, response: Response) -> str:
        """Why one of this student's answers is flagged, in words (review.csv, the screen)."""
        return next((reason for reason in self.review_reasons
                     if reason.startswith(f"{response.question}:")),
                    UNREAD_REASON if response.outcome == Outcome.UNREAD else "")


@dataclass
class Gradebook:
    exam: Exam
    students: list[StudentResult]
    unassigned: list[UnassignedPage]
    absent: list[RosterStudent] = field(default_factory=list)  # roster students without a sheet
    problems: list[str] = field(default_factory=list)  # the exam's input problems

    def identified(self, s: StudentResult) -> bool:
        """Whether the sheet names a real student: on the roster, or without one a complete
        ID (no box unread); a gradebook export or a file name needs one."""
        if not s.student_id or UNREAD_DIGIT in s.student_id:
            return False
        return self.exam.roster is None or s.identity.on_roster

    def copies_by_id(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for s in self.students:
            if s.student_id:
                found.setdefault(s.student_id, []).append(s.copy)
        return found


def identify_settings(settings) -> IdentifySettings:
    return IdentifySettings(
        review_risk=settings.id_review_risk,
        min_probability=settings.id_match_min_probability,
        probability_floor=settings.id_probability_floor,
    )


def class_priors(
    exam: Exam, students: list[list[Response]], settings
) -> dict[str, AnswerPrior]:
    """How this class answers each graded question, from the reads themselves (a teacher's
    corrections are left out, so correcting one answer never moves another's review)."""
    default = AnswerPrior(settings.prior_correct_share, settings.prior_blank_share,
                          settings.prior_near_miss_share, settings.prior_shifted_share)
    counted = (Outcome.CORRECT, Outcome.INCORRECT, Outcome.BLANK)
    near = wrong = shifted = could_shift = 0
    counts: dict[str, Counter] = {}
    neighbours = {q.id: near_misses(q.key.answers, q.boxes) for q in exam.questions if q.key}
    for responses in students:
        for question, response in zip(exam.questions, responses, strict=True):
            if question.key is None or response.read_outcome not in counted:
                continue
            counts.setdefault(question.id, Counter())[response.read_outcome] += 1
            if response.read_digits and len(normalize_answer(response.read_digits)) \
                    < question.boxes:
                could_shift += 1  # an answer shorter than its boxes: begun where?
                shifted += response.boxes[0].blank
            if response.read_outcome == Outcome.INCORRECT:
                wrong += 1
                near += normalize_answer(response.read_digits) in neighbours[question.id]
    near_share = estimate_share(near, wrong, default.near_miss_share, settings.prior_strength)
    shifted_share = estimate_share(shifted, could_shift, default.shifted_share,
                                   settings.prior_strength)
    return {
        question.id: estimate_prior(
            counts.get(question.id, Counter())[Outcome.CORRECT],
            counts.get(question.id, Counter())[Outcome.BLANK],
            counts.get(question.id, Counter()).total(),
            default, settings.prior_strength, near_share, shifted_share,
        )
        for question in exam.questions
        if question.key is not None
    }


def grade(
    pages: list[PageResult], exam: Exam, settings, overrides: CopyOverrides | None = None
) -> Gradebook:
    """`settings`: the scangrade Settings (reader and grading sections are read)."""
    overrides = overrides or CopyOverrides()
    grouping = group_pages(pages, exam.exam_id, exam.version, exam.n_pages)
    id_boxes = {}
    for sheets in grouping.students:
        id_read = not any(p in sheets.unread_pages for p in exam.id_pages)
        id_boxes[sheets.copy] = sheets.boxes(STUDENT_ID) if id_read else []
    fixed_ids = {c: i for c, i in overrides.ids.items() if c in id_boxes}
    identities = identify(
        id_boxes, exam.id_digits, exam.roster, identify_settings(settings), fixed_ids
    )
    roster_by_id = exam.roster.by_id() if exam.roster is not None else {}

    scored = {}
    for sheets in grouping.students:
        answers = overrides.answers.get(sheets.copy, {})
        fields = sheets.fields()
        scored[sheets.copy] = [
            score_question(
                question,
                None if question.page in sheets.unread_pages else fields.get(question.id, []),
                answers.get(question.id),
            )
            for question in exam.questions
        ]
    priors = class_priors(exam, list(scored.values()), settings)
    for responses in scored.values():
        for question, response in zip(exam.questions, responses, strict=True):
            if question.id in priors:
                decide(response, priors[question.id], settings.review_risk,
                       settings.review_read_doubt)

    students = []
    for sheets in grouping.students:
        responses = scored[sheets.copy]
        identity = identities[sheets.copy]
        reasons = review_reasons(sheets.problems, identity, responses, exam.questions)
        needs_review = bool(reasons)
        if overrides.reviewed.get(sheets.copy):
            needs_review = False
            reasons = [*reasons, REVIEWED_NOTE] if reasons else []
        known = roster_by_id.get(identity.student_id)
        students.append(
            StudentResult(
                copy=sheets.copy,
                identity=identity,
                responses=responses,
                sheets=sheets,
                extra=dict(known.extra) if known else {},
                score=sum(r.points for r in responses),
                max_score=sum(r.max_points for r in responses),
                review_reasons=reasons,
                needs_review=needs_review,
            )
        )
    students.sort(key=lambda s: (s.student_id == "", s.student_id, s.copy))
    claimed = {s.student_id for s in students}
    absent = [r for r in exam.roster.students if r.student_id not in claimed] if exam.roster else []
    return Gradebook(exam, students, grouping.unassigned, absent, list(exam.problems))
