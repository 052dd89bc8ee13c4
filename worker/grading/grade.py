"""From page results to graded students: group, identify, score, decide review. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.grading.exam import Exam
from worker.grading.identify import IdentifySettings, Identity, identify
from worker.grading.overrides import CopyOverrides
from worker.grading.review import review_reasons
from worker.grading.roster import RosterStudent
from worker.grading.score import Response, score_question
from worker.grading.students import StudentSheets, UnassignedPage, group_pages
from worker.scan.results import PageResult
from worker.sheets.layout import STUDENT_ID

REVIEWED_NOTE = "checked by the teacher"


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


@dataclass
class Gradebook:
    exam: Exam
    students: list[StudentResult]
    unassigned: list[UnassignedPage]
    absent: list[RosterStudent] = field(default_factory=list)  # roster students without a sheet
    problems: list[str] = field(default_factory=list)  # the exam's input problems

    def copies_by_id(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for s in self.students:
            if s.student_id:
                found.setdefault(s.student_id, []).append(s.copy)
        return found


def identify_settings(settings) -> IdentifySettings:
    return IdentifySettings(
        confidence_threshold=settings.confidence_threshold,
        min_probability=settings.id_match_min_probability,
        min_ratio=settings.id_match_min_ratio,
        probability_floor=settings.id_probability_floor,
    )


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

    students = []
    for sheets in grouping.students:
        answers = overrides.answers.get(sheets.copy, {})
        fields = sheets.fields()
        responses = []
        for question in exam.questions:
            unread = question.page in sheets.unread_pages
            boxes = None if unread else fields.get(question.id, [])
            responses.append(
                score_question(
                    question, boxes, settings.confidence_threshold, answers.get(question.id)
                )
            )
        identity = identities[sheets.copy]
        reasons = review_reasons(sheets.problems, identity, responses)
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
