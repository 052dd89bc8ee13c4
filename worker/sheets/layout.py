"""Answer-sheet layouts: what a teacher writes (YAML/JSON) and where every box lands on paper.

A layout names the exam, the paper, the student-ID length and the questions; box positions
are computed here (a layout may override where a field starts). `Layout.cells()` is the one
source of box positions: sheet rendering, synthetic scans and the scan pipeline all use it.

Coordinates are millimetres, origin at the page's top-left corner, page upright (portrait).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from worker.sheets.qr import MAX_EXAM_ID_LEN, MAX_VERSION_LEN, SAFE_NAME

STUDENT_ID = "student_id"  # the field name of the student-ID boxes in cells and page results
SAFE_ID = rf"^{SAFE_NAME}$"  # exam ids, versions, question ids: safe in QR payloads and paths

PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "a4": (210.0, 297.0),
    "letter": (215.9, 279.4),
}


@dataclass(frozen=True)
class SheetGeometry:
    """Fixed geometry of every sheet, in millimetres, and why each value is what it is."""

    margin: float = 10.0  # printers leave 3-6 mm unprinted; 10 mm survives "fit to page" too
    marker: float = 12.0  # ArUco 4x4 (6x6 modules incl. border) -> 2 mm modules, 12+ px at 150 dpi
    marker_quiet: float = 3.0  # white around markers so the detector sees their black border
    qr: float = 24.0  # QR symbol side; a version-5 code still has 0.65 mm modules
    qr_quiet: float = 4.0  # the QR quiet zone (>= 4 modules for every version we emit)
    qr_gap_to_marker: float = 6.0  # keeps the QR's finder patterns apart from the TR marker
    header_gap: float = 4.0  # between the header band (markers, QR, title) and the first box
    id_label_w: float = 30.0  # "Student ID" label left of the ID boxes
    id_gap_below: float = 9.0  # between the ID row and the first question row (page 1)
    question_label_w: float = 13.0  # "Q12" label left of a question's boxes
    row_gap: float = 4.5  # between question rows; leaves room for digits that overshoot a box
    column_gap: float = 8.0  # between question columns
    bottom_gap: float = 3.0  # between the last row and the bottom markers' band


GEOMETRY = SheetGeometry()
MAX_ID_DIGITS = 12
MAX_BOXES_PER_QUESTION = 10
MAX_QUESTIONS = 500
# Points of one question: generous for any test, and small enough that a class's totals and
# percentages stay ordinary numbers (1e308 points would make them infinite).
MAX_POINTS = 1000.0
# A layout of MAX_QUESTIONS questions takes well under 100 KB and nests 4 levels deep (the
# document, its questions list, a question, a list in it). Both are checked on the raw text
# before any parser runs: parsing time grows steeply with nesting, and a few thousand levels
# exhaust the parsers' recursion.
MAX_LAYOUT_BYTES = 256 * 1024
MAX_LAYOUT_DEPTH = 20


class LayoutError(Exception):
    """A layout file is invalid; names the file, the line (when known) and the field path.

    Not a ValueError on purpose: pydantic would swallow it into a ValidationError."""

    def __init__(self, message: str, path: str = "", source: str | None = None,
                 line: int | None = None):
        self.message = message
        self.path = path
        self.source = source
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source or "layout"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True)
class Cell:
    """One digit box on one page."""

    page: int  # 1-based
    field: str  # "student_id" or a question id
    index: int  # 0 = leftmost box of the field
    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float

    def to_json(self) -> dict[str, Any]:
        return {"page": self.page, "field": self.field, "index": self.index,
                "x_mm": round(self.x_mm, 3), "y_mm": round(self.y_mm, 3),
                "w_mm": round(self.w_mm, 3), "h_mm": round(self.h_mm, 3)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _printable(value: str | None) -> str | None:
    """Text the sheet's built-in PDF fonts can print (Latin-1/Windows-1252); anything else
    would come out as empty boxes on paper, so it is refused here instead."""
    if value is None:
        return value
    try:
        value.encode("cp1252")
    except UnicodeEncodeError as exc:
        bad = value[exc.start:exc.end]
        raise ValueError(f"{bad!r} cannot be printed by the sheet's fonts (Western European "
                         "characters only)") from None
    return value


class Position(_Strict):
    """Where a field's leftmost box starts (top-left corner), overriding automatic placement."""

    page: int = Field(default=1, ge=1, description="1-based page number.")
    x_mm: float = Field(ge=0, description="Left edge of the leftmost box, from the page's left.")
    y_mm: float = Field(ge=0, description="Top edge of the boxes, from the page's top.")


class BoxSize(_Strict):
    """Size of every digit box; the defaults suit MNIST-like handwriting."""

    w_mm: float = Field(default=7.5, ge=5.0, le=20.0)
    h_mm: float = Field(default=9.5, ge=6.0, le=25.0)
    gap_mm: float = Field(default=1.5, ge=0.5, le=10.0, description="Between boxes of a field.")


class Question(_Strict):
    id: str = Field(min_length=1, max_length=24, pattern=SAFE_ID,
                    description="Question id, used in answer keys and reports (e.g. q1).")
    boxes: int = Field(ge=1, le=MAX_BOXES_PER_QUESTION, description="Digit boxes (answer length).")
    points: float = Field(default=1.0, ge=0, le=MAX_POINTS,
                          description="Points for a correct answer.")
    label: str | None = Field(default=None, max_length=24,
                              description="Printed label; defaults to the id.")
    position: Position | None = None

    _label_printable = field_validator("label")(_printable)

    @field_validator("id")
    @classmethod
    def _not_student_id(cls, value: str) -> str:
        if value == STUDENT_ID:
            raise ValueError(f"{STUDENT_ID!r} is reserved for the student-ID boxes")
        return value

    @property
    def printed_label(self) -> str:
        return self.label if self.label is not None else self.id


class Layout(_Strict):
    """An exam's answer sheet."""

    exam_id: str = Field(min_length=1, max_length=MAX_EXAM_ID_LEN, pattern=SAFE_ID,
                         description="Identifies the exam in the QR code of every page.")
    name: str = Field(min_length=1, max_length=80, description="Exam name printed on top.")
    version: str = Field(default="1", min_length=1, max_length=MAX_VERSION_LEN, pattern=SAFE_ID,
                         description="Layout version; change it whenever boxes move.")
    paper: Literal["a4", "letter"] = "a4"
    pages: int | None = Field(default=None, ge=1, le=20,
                              description="Spread the questions over this many pages; "
                                          "default: as few as fit.")
    id_digits: int = Field(ge=1, le=MAX_ID_DIGITS, description="Student-ID digit boxes.")
    id_position: Position | None = None
    box: BoxSize = BoxSize()
    questions: list[Question] = Field(min_length=1, max_length=MAX_QUESTIONS)

    _name_printable = field_validator("name")(_printable)

    @model_validator(mode="after")
    def _unique_question_ids(self) -> Layout:
        seen: dict[str, int] = {}
        for number, question in enumerate(self.questions):
            if question.id in seen:
                raise LayoutError(
                    f"duplicate question id {question.id!r} (also questions[{seen[question.id]}])",
                    path=f"questions[{number}].id")
            seen[question.id] = number
        return self

    @model_validator(mode="after")
    def _geometry_fits(self) -> Layout:
        _check_geometry(self)
        return self

    # ----- loading -----

    @classmethod
    def load(cls, path: str | Path) -> Layout:
        """Reads and validates a YAML or JSON layout file."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_LAYOUT_BYTES:
                raise LayoutError(_too_large(size), source=str(path))
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise LayoutError("no such file", source=str(path)) from None
        except UnicodeDecodeError:
            raise LayoutError("not a text file in UTF-8: save the layout as UTF-8 text",
                              source=str(path)) from None
        except OSError as exc:
            raise LayoutError(f"cannot read layout: {exc.strerror}", source=str(path)) from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "layout") -> Layout:
        size = len(text.encode("utf-8", errors="replace"))
        if size > MAX_LAYOUT_BYTES:
            raise LayoutError(_too_large(size), source=source)
        too_deep = LayoutError(
            f"nested more than {MAX_LAYOUT_DEPTH} levels deep, which no layout is (a layout"
            " nests 4: questions, a question, its fields); this is not a layout file",
            source=source)
        if nesting_depth(text) > MAX_LAYOUT_DEPTH:
            raise too_deep
        try:
            return cls._parsed(text, source)
        except RecursionError:  # nesting the raw check could not see
            raise too_deep from None

    @classmethod
    def _parsed(cls, text: str, source: str) -> Layout:
        _refuse_yaml_aliases(text, source)
        try:
            data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            line = getattr(exc, "lineno", None)
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                line = mark.line + 1
            raise LayoutError(f"not valid YAML/JSON: {exc}", source=source, line=line) from exc
        lines = _yaml_lines(text)
        try:
            return cls.from_data(data, source=source)
        except LayoutError as exc:
            exc.line = exc.line or _line_of(lines, exc.path)
            raise LayoutError(exc.message, exc.path, source, exc.line) from None

    @classmethod
    def from_data(cls, data: Any, source: str = "layout") -> Layout:
        if not isinstance(data, dict):
            raise LayoutError("a layout is a mapping with exam_id, name, id_digits, questions",
                              source=source)
        try:
            return cls.model_validate(data)
        except LayoutError as exc:
            exc.source = exc.source or source
            raise
        except ValidationError as exc:
            error = exc.errors()[0]
            path = _format_loc(error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = f"unknown key {error['loc'][-1]!r}{_suggest(error['loc'], data)}"
            more = exc.error_count() - 1
            if more:
                message += f" (and {more} more error{'s' if more > 1 else ''})"
            raise LayoutError(message, path=path, source=source) from None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        return cls.model_json_schema()

    def to_yaml(self) -> str:
        """The layout as YAML that loads back to an equal layout."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True),
                              sort_keys=False, allow_unicode=True)

    # ----- geometry -----

    @property
    def page_size_mm(self) -> tuple[float, float]:
        return PAPER_SIZES_MM[self.paper]

    @property
    def n_pages(self) -> int:
        return self._placement.n_pages

    def cells(self, page: int | None = None) -> list[Cell]:
        """Every digit box, in page order, student ID first; optionally of one page."""
        cells = self._placement.cells
        return [c for c in cells if c.page == page] if page is not None else list(cells)

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def marker_corners_mm(self, page: int = 1) -> dict[int, np.ndarray]:
        """ArUco id -> its 4 corners (TL, TR, BR, BL of the marker, as ArUco orders them)."""
        self._check_page(page)
        return {marker_id: _square(x, y, GEOMETRY.marker)
                for marker_id, (x, y) in self._marker_origins().items()}

    def qr_rect_mm(self, page: int = 1) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the QR symbol itself (its quiet zone lies outside this rect)."""
        self._check_page(page)
        width, _ = self.page_size_mm
        g = GEOMETRY
        x = width - g.margin - g.marker - g.qr_gap_to_marker - g.qr
        return (x, g.margin, g.qr, g.qr)

    def reserved_rects_mm(self, page: int = 1) -> list[tuple[str, tuple[float, ...]]]:
        """Areas no box may touch: markers and QR with their quiet zones, the header band."""
        g = GEOMETRY
        width, _ = self.page_size_mm
        rects: list[tuple[str, tuple[float, ...]]] = []
        for marker_id, (x, y) in self._marker_origins().items():
            q = g.marker_quiet
            rects.append((f"marker {marker_id}", (x - q, y - q, g.marker + 2 * q,
                                                  g.marker + 2 * q)))
        qx, qy, qw, qh = self.qr_rect_mm(page)
        rects.append(("QR code", (qx - g.qr_quiet, qy - g.qr_quiet, qw + 2 * g.qr_quiet,
                                  qh + 2 * g.qr_quiet)))
        rects.append(("header", (0.0, 0.0, width, _header_bottom())))
        return rects

    def _marker_origins(self) -> dict[int, tuple[float, float]]:
        width, height = self.page_size_mm
        g = GEOMETRY
        near, far_x, far_y = g.margin, width - g.margin - g.marker, height - g.margin - g.marker
        return {0: (near, near), 1: (far_x, near), 2: (far_x, far_y), 3: (near, far_y)}

    def _check_page(self, page: int) -> None:
        if not 1 <= page <= self.n_pages:
            raise ValueError(f"page {page} outside 1..{self.n_pages}")

    @cached_property
    def _placement(self) -> _Placement:
        return _place(self)


# ----- automatic placement -----


@dataclass(frozen=True)
class _Placement:
    cells: tuple[Cell, ...]
    n_pages: int
    origins: dict[str, str]  # field -> the layout path that placed it (for error messages)


def _header_bottom() -> float:
    g = GEOMETRY
    return g.margin + max(g.marker, g.qr) + g.header_gap


def _field_width(layout: Layout, boxes: int) -> float:
    return boxes * layout.box.w_mm + (boxes - 1) * layout.box.gap_mm


def _row(layout: Layout, field: str, boxes: int, page: int, x: float, y: float) -> list[Cell]:
    pitch = layout.box.w_mm + layout.box.gap_mm
    return [Cell(page, field, i, x + i * pitch, y, layout.box.w_mm, layout.box.h_mm)
            for i in range(boxes)]


def _place(layout: Layout) -> _Placement:
    g = GEOMETRY
    width, height = layout.page_size_mm
    box = layout.box
    content_left = g.margin
    content_right = width - g.margin
    content_bottom = height - g.margin - g.marker - g.bottom_gap
    top = _header_bottom()

    cells: list[Cell] = []
    origins: dict[str, str] = {}
    if layout.id_position is not None:
        pos = layout.id_position
        cells += _row(layout, STUDENT_ID, layout.id_digits, pos.page, pos.x_mm, pos.y_mm)
        origins[STUDENT_ID] = "id_position"
    else:
        cells += _row(layout, STUDENT_ID, layout.id_digits, 1, content_left + g.id_label_w, top)
        origins[STUDENT_ID] = "id_digits"

    flowing = [(n, q) for n, q in enumerate(layout.questions) if q.position is None]
    max_boxes = max((q.boxes for _, q in flowing), default=1)
    column_w = g.question_label_w + _field_width(layout, max_boxes)
    n_columns = max(1, int((content_right - content_left + g.column_gap) // (column_w
                                                                              + g.column_gap)))
    row_pitch = box.h_mm + g.row_gap

    def rows_on(page: int) -> int:
        first_row = top + (box.h_mm + g.id_gap_below if page == 1 and
                           layout.id_position is None else 0.0)
        return max(0, int((content_bottom - first_row + g.row_gap) // row_pitch)), first_row

    # How many questions each page takes: full pages, or an even spread over `pages`.
    per_page_cap = (math.ceil(len(flowing) / layout.pages) if layout.pages and flowing
                    else None)
    page, slot = 1, 0
    for number, question in flowing:
        while True:
            n_rows, first_row = rows_on(page)
            capacity = n_rows * n_columns
            if per_page_cap is not None:
                capacity = min(capacity, per_page_cap)
            if slot < capacity:
                break
            page, slot = page + 1, 0
            if page > 50:  # nothing fits at all: boxes taller than a page
                raise LayoutError("boxes do not fit on a page", path="box")
        column, row = divmod(slot, n_rows)
        x = content_left + column * (column_w + g.column_gap) + g.question_label_w
        cells += _row(layout, question.id, question.boxes, page, x, first_row + row * row_pitch)
        origins[question.id] = f"questions[{number}]"
        slot += 1

    for number, question in enumerate(layout.questions):
        if question.position is not None:
            pos = question.position
            cells += _row(layout, question.id, question.boxes, pos.page, pos.x_mm, pos.y_mm)
            origins[question.id] = f"questions[{number}].position"

    n_pages = max(max(c.page for c in cells), page if flowing else 1)
    if layout.pages is not None and n_pages > layout.pages:
        raise LayoutError(f"the questions need {n_pages} pages", path="pages")
    n_pages = max(n_pages, layout.pages or 1)
    order = {STUDENT_ID: -1} | {q.id: n for n, q in enumerate(layout.questions)}
    cells.sort(key=lambda c: (c.page, order[c.field], c.index))
    return _Placement(tuple(cells), n_pages, origins)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _check_geometry(layout: Layout) -> None:
    """Every box on its page, inside the printable margin, off markers/QR/header, no overlaps."""
    placement = layout._placement
    width, height = layout.page_size_mm
    margin = GEOMETRY.margin
    reserved = layout.reserved_rects_mm()
    rects = [(c, (c.x_mm, c.y_mm, c.w_mm, c.h_mm)) for c in placement.cells]
    for cell, rect in rects:
        where = placement.origins[cell.field]
        x, y, w, h = rect
        if x < margin or y < margin or x + w > width - margin or y + h > height - margin:
            raise LayoutError(
                f"box {cell.index} of {cell.field!r} at ({x:.1f}, {y:.1f}) mm lies off page "
                f"{cell.page} or inside its {margin:.0f} mm unprintable margin "
                f"({width:.1f} x {height:.1f} mm)", path=where)
        for name, zone in reserved:
            if _overlap(rect, zone):
                raise LayoutError(f"box {cell.index} of {cell.field!r} overlaps the {name} "
                                  f"on page {cell.page}", path=where)
    # Boxes overlap only when on the same page: sort by x to keep the scan short.
    by_page: dict[int, list[tuple[Cell, tuple[float, ...]]]] = {}
    for item in rects:
        by_page.setdefault(item[0].page, []).append(item)
    for items in by_page.values():
        items.sort(key=lambda item: item[1][0])
        for i, (cell, rect) in enumerate(items):
            for other, other_rect in items[i + 1:]:
                if other_rect[0] >= rect[0] + rect[2]:
                    break
                if other.field != cell.field and _overlap(rect, other_rect):
                    raise LayoutError(
                        f"boxes of {cell.field!r} and {other.field!r} overlap on page "
                        f"{cell.page}", path=placement.origins[other.field])


def _square(x: float, y: float, side: float) -> np.ndarray:
    return np.array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]], np.float64)


# ----- error reporting: field paths, line numbers, suggestions -----


def _format_loc(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _suggest(loc: tuple[Any, ...], data: Any) -> str:
    """ ', did you mean 'boxes'?' for a typo'd key."""
    model: type[BaseModel] = Layout
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        nested = _model_in(annotation)
        if nested is None:
            return ""
        model = nested
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f", did you mean {close[0]!r}?" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _too_large(size: int) -> str:
    return (f"{size} bytes, larger than any layout ({MAX_LAYOUT_BYTES // 1024} KiB at most;"
            f" {MAX_QUESTIONS} questions take well under 100 KB); this is not a layout file")


_FLOW_BRACKETS = re.compile(r"[\[\]{}]")
# "- " opens a sequence entry, "? " an explicit mapping key: each nests one level
_BLOCK_ENTRY = re.compile(r"[-?](?: +|$)")


def nesting_depth(text: str) -> int:
    """An upper bound of how deeply a YAML or JSON document nests, from its raw text in one
    pass: block indentation levels (sequence dashes and explicit keys included) plus flow
    brackets. Brackets
    inside strings count too: a layout's names never hold many."""
    flow = max_flow = 0
    for bracket in _FLOW_BRACKETS.finditer(text):
        flow = max(0, flow + (1 if bracket.group() in "[{" else -1))
        max_flow = max(max_flow, flow)
    indents: list[int] = []
    max_block = 0
    for line in text.splitlines():
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        column = len(line) - len(content)
        columns = [column]
        while entry := _BLOCK_ENTRY.match(content):  # "- - x", "- ? x": a level each
            column += entry.end()
            content = content[entry.end():]
            columns.append(column)
        while indents and indents[-1] > columns[0]:
            indents.pop()
        for level in columns:
            if not indents or indents[-1] < level:
                indents.append(level)
        max_block = max(max_block, len(indents))
    return max_block + max_flow


def _refuse_yaml_aliases(text: str, source: str) -> None:
    """Layouts never need YAML anchors or aliases, and aliases nested a few levels deep make
    a file of a few hundred bytes expand exponentially (a "billion laughs" file); refuse them
    before anything walks the document."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise LayoutError("YAML anchors and aliases (&name, *name) are not allowed in a "
                                  "layout", source=source, line=event.start_mark.line + 1)
    except yaml.YAMLError:
        return  # the parser below reports syntax errors with their line


def _yaml_lines(text: str) -> dict[str, int]:
    """Layout path ("questions[2].boxes") -> 1-based line, from YAML's node tree (JSON too)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, f"{path}[{i}]")

    if root is not None:
        walk(root, "")
    return lines


def _line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of `path`, or of its nearest ancestor that the file has (a missing key)."""
    while path:
        if path in lines:
            return lines[path]
        path = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path) if re.search(r"[.\[]", path) else ""
    return None
