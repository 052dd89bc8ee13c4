"""Group page results into students by the copy number in each page's QR code.

Pages may arrive in any order. Nothing is guessed: a page without a readable QR code, a page of
another exam or layout version, a missing sheet page and a sheet page scanned twice are all
reported (the first scan of a duplicated page is used and the student is sent to review).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.scan.results import BoxRead, PageResult, PageStatus


@dataclass
class StudentSheets:
    """Every page of one printed copy (one student)."""

    copy: int
    pages: dict[int, PageResult] = field(default_factory=dict)  # sheet page -> result used
    problems: list[str] = field(default_factory=list)  # why this copy needs review
    unread_pages: set[int] = field(default_factory=set)  # sheet pages whose boxes we do not have

    def boxes(self, field_name: str) -> list[BoxRead]:
        return self.fields().get(field_name, [])

    def fields(self) -> dict[str, list[BoxRead]]:
        """Field -> its boxes left to right; indexed once, as a sheet may have 500 questions."""
        by_field: dict[str, list[BoxRead]] = {}
        for page in self.pages.values():
            for box in page.boxes:
                by_field.setdefault(box.field, []).append(box)
        return {f: sorted(b, key=lambda b: b.index) for f, b in by_field.items()}

    @property
    def source_pages(self) -> list[int]:
        return sorted(p.source_page for p in self.pages.values())


@dataclass(frozen=True)
class UnassignedPage:
    """A scanned page that belongs to no student of this exam."""

    page: PageResult
    reason: str


@dataclass
class Grouping:
    students: list[StudentSheets]  # by copy number
    unassigned: list[UnassignedPage]


def _describe(page: PageResult) -> str:
    detail = f": {page.message}" if page.message else ""
    return f"{page.status}{detail}"


def group_pages(pages: list[PageResult], exam_id: str, version: str, n_pages: int) -> Grouping:
    by_copy: dict[int, StudentSheets] = {}
    seen: dict[tuple[int, int], list[PageResult]] = {}
    unassigned: list[UnassignedPage] = []
    for page in sorted(pages, key=lambda p: p.source_page):
        if page.exam_id is not None and (
            page.exam_id != exam_id or str(page.layout_version) != version
        ):
            unassigned.append(
                UnassignedPage(
                    page,
                    f"page of another exam ({page.exam_id} version {page.layout_version};"
                    f" grading {exam_id} version {version})",
                )
            )
            continue
        if page.status == PageStatus.UNKNOWN_EXAM:
            unassigned.append(UnassignedPage(page, f"page of another exam ({_describe(page)})"))
            continue
        if page.copy is None or page.page is None:
            unassigned.append(UnassignedPage(page, f"no student: {_describe(page)}"))
            continue
        if not 1 <= page.page <= n_pages:
            unassigned.append(
                UnassignedPage(
                    page, f"sheet page {page.page} does not exist (the layout has {n_pages})"
                )
            )
            continue
        seen.setdefault((page.copy, page.page), []).append(page)
    for (copy, sheet_page), scans in sorted(seen.items()):
        student = by_copy.setdefault(copy, StudentSheets(copy))
        used = scans[0]
        student.pages[sheet_page] = used
        if len(scans) > 1:
            listed = ", ".join(str(p.source_page) for p in scans)
            student.problems.append(
                f"sheet page {sheet_page} scanned {len(scans)} times (PDF pages {listed});"
                f" PDF page {used.source_page} used"
            )
        if not used.ok:
            student.problems.append(
                f"sheet page {sheet_page} (PDF page {used.source_page}): {_describe(used)}"
            )
            if not used.boxes:
                student.unread_pages.add(sheet_page)
    for student in by_copy.values():
        for sheet_page in range(1, n_pages + 1):
            if sheet_page not in student.pages:
                student.problems.append(f"sheet page {sheet_page} missing from the scans")
                student.unread_pages.add(sheet_page)
    return Grouping(sorted(by_copy.values(), key=lambda s: s.copy), unassigned)
