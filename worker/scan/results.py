"""What the scan pipeline says about each page: the contract between reading and grading.

Plain dataclasses with a JSON form, so page results travel through Celery/Redis and
`scangrade read` JSON lines unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class PageStatus(StrEnum):
    OK = "ok"
    NO_MARKERS = "no-markers"  # fewer alignment markers found than needed
    NO_QR = "no-qr"  # markers found, QR code unreadable
    UNKNOWN_EXAM = "unknown-exam"  # QR read, but it names an exam/layout we do not have
    NOT_A_SHEET = "not-a-sheet"  # text page, photo, anything that is not one of our sheets
    BLANK_PAGE = "blank-page"  # (almost) no ink at all
    LOW_QUALITY = "low-quality"  # aligned, but the fit residual is too large to trust
    LOW_RESOLUTION = "low-resolution"  # aligned, but the sheet is too small in the image
    BLURRY = "blurry"  # aligned, but motion or focus blur smears the sheet
    ERROR = "error"  # the page could not be rasterized or processed; see message


@dataclass
class BoxRead:
    """One digit box of a sheet page, as read."""

    field: str  # "student_id" or a question id
    index: int  # 0 = leftmost box of the field
    digit: int | None  # 0-9, or None when blank
    confidence: float  # probability of the returned class (digit or blank)
    blank: bool
    probs: list[float]  # 11 class probabilities: digits 0-9, then blank
    quad: list[list[float]]  # box corners in scan pixels (TL, TR, BR, BL) at PageResult.dpi


def _plain(value: Any) -> Any:
    """A copy of a box field that shares nothing with the box (lists of lists copied)."""
    if isinstance(value, list):
        return [list(item) if isinstance(item, list) else item for item in value]
    return value


@dataclass
class PageResult:
    """One page of a scanned PDF."""

    source_page: int  # 1-based page number in the scanned PDF
    status: PageStatus
    message: str = ""  # human explanation, always set when status is not ok
    exam_id: str | None = None
    layout_version: str | None = None
    copy: int | None = None  # copy number printed in the QR code (one copy = one student)
    page: int | None = None  # page number of the sheet within its copy (1-based)
    rotation: int | None = None  # degrees (0/90/180/270) the scan was turned to read it
    residual_mm: float | None = None  # RMS alignment error of the markers, millimetres
    dpi: int | None = None
    width_px: int | None = None
    height_px: int | None = None
    boxes: list[BoxRead] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == PageStatus.OK

    def to_json(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies every number of every box, most of
        # the time of saving a class's reads.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "boxes"}
        data["status"] = str(self.status)
        data["boxes"] = [{f.name: _plain(getattr(box, f.name)) for f in fields(BoxRead)}
                         for box in self.boxes]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageResult:
        data = dict(data)
        data["status"] = PageStatus(data["status"])
        data["boxes"] = [BoxRead(**box) for box in data.get("boxes", [])]
        return cls(**data)
