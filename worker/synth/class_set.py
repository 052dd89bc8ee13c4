"""Synthetic scanned class sets: printed sheets filled in with MNIST test digits, scanned.

Students take IDs from a roster (or random ones), answer each question correctly with a
per-student skill probability (the answer key tells what is correct), leave some answers
blank, and write multi-digit answers from the leftmost box on (trailing boxes stay blank).
Foreign pages (blank, text, another exam's sheet) are mixed in. The result is a PDF of JPEG
pages, like a scanner's, and a ground truth that says what every page and box holds.

Digits come from the MNIST **test** split only (`model.training.data.load_mnist("test")`); the
ground truth records each box's index into that split.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from worker.grading.key import AnswerKey, load_key
from worker.grading.roster import load_roster
from worker.sheets.layout import STUDENT_ID, Layout, Question
from worker.sheets.units import MM_PER_INCH, px_per_mm
from worker.synth.camera import PhotoRanges, draw_photo_params, encode_photo, simulate_photo
from worker.synth.scanner import CLEAN, ScanRanges, draw_params, encode_jpeg, simulate_scan

if TYPE_CHECKING:  # importing TFDS costs seconds; callers pass the loader in
    from model.training.data import MnistLoader

TRUTH_FORMAT = "scangrade-synth-truth/1"
MNIST_SPLIT = "test"  # never train: the reader must be judged on digits it never saw
OTHER_EXAM_ID = "other-exam"  # the foreign exam whose sheets are mixed in
RASTER_CHUNK_COPIES = 8  # copies rasterized per pdftoppm run (8 A4 pages at 200 dpi ~ 30 MB)


@dataclass(frozen=True)
class ClassHabits:
    """How a synthetic class writes; each range is a reason real answer sheets vary."""

    skill: tuple[float, float] = (0.35, 0.98)  # chance a student answers a question correctly
    blank_answer_probability: float = 0.07  # questions a student leaves empty
    pen_colours: tuple[tuple[int, int, int], ...] = (
        (20, 20, 25),  # black ballpoint
        (25, 45, 150),  # blue ballpoint
        (40, 40, 40),  # pencil-ish grey (darkness comes from the ink style)
    )
    digit_size_wobble: float = 0.1  # one hand writes digits of slightly different heights
    # Wrong answers that miss the key by one digit (a slip, a carry forgotten): the ones whose
    # misreading could turn them correct. 0 keeps every wrong answer a random number.
    near_miss_share: float = 0.0


HABITS = ClassHabits()


@dataclass(frozen=True)
class SynthOptions:
    students: int = 12
    seed: int = 0
    dpi: int = 200
    blank_pages: int = 1
    text_pages: int = 1
    other_exam_pages: int = 1
    ranges: ScanRanges = field(default_factory=ScanRanges)
    habits: ClassHabits = HABITS


@dataclass
class Student:
    copy: int
    student_id: str
    answers: dict[str, str | None]  # question id -> digits written, None = left blank
    skill: float
    pen_colour: tuple[int, int, int]
    source_pages: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"copy": self.copy, "student_id": self.student_id, "answers": self.answers,
                "skill": round(self.skill, 3), "source_pages": self.source_pages}


class SynthError(ValueError):
    """Inputs that cannot make a synthetic class set (roster too short, bad key...)."""


# ----- inputs: answer key and roster, read as grading reads them -----


def key_answers(key: AnswerKey) -> dict[str, str]:
    """question id -> the first accepted answer: what a student who knows it writes."""
    return {question: entry.answers[0] for question, entry in key.entries.items()
            if entry.answers and entry.answers[0]}


# ----- students -----


def make_students(layout: Layout, n: int, rng: np.random.Generator,
                  key: dict[str, str] | None = None, roster_ids: Sequence[str] | None = None,
                  habits: ClassHabits = HABITS) -> list[Student]:
    if roster_ids is not None:
        bad = [sid for sid in roster_ids if not re.fullmatch(rf"\d{{{layout.id_digits}}}", sid)]
        if bad:
            raise SynthError(f"roster ids must be {layout.id_digits} digits: {bad[:3]}")
        if len(roster_ids) < n:
            raise SynthError(f"roster has {len(roster_ids)} students, {n} requested")
        ids = [roster_ids[i] for i in rng.permutation(len(roster_ids))[:n]]
    else:
        if n > 10**layout.id_digits:
            raise SynthError(f"{n} students do not fit {layout.id_digits}-digit IDs")
        chosen = rng.choice(10**layout.id_digits, size=n, replace=False)
        ids = [str(int(v)).zfill(layout.id_digits) for v in chosen]
    students = []
    for copy, student_id in enumerate(ids, start=1):
        skill = float(rng.uniform(*habits.skill))
        answers = {q.id: _answer(q, skill, rng, key, habits) for q in layout.questions}
        colour = habits.pen_colours[int(rng.integers(len(habits.pen_colours)))]
        students.append(Student(copy, student_id, answers, skill, colour))
    return students


def _answer(question: Question, skill: float, rng: np.random.Generator,
            key: dict[str, str] | None, habits: ClassHabits) -> str | None:
    if rng.random() < habits.blank_answer_probability:
        return None
    correct = (key or {}).get(question.id)
    if correct is not None and not (correct.isdigit() and len(correct) <= question.boxes):
        raise SynthError(f"key answer {correct!r} of {question.id} does not fit "
                         f"{question.boxes} digit box(es)")
    if correct is not None and rng.random() < skill:
        return correct
    if correct is not None and habits.near_miss_share and rng.random() < habits.near_miss_share:
        return _near_miss(correct, question.boxes, rng)
    while True:  # a wrong (or, without a key, arbitrary) answer that fits the boxes
        length = int(rng.integers(1, question.boxes + 1))
        value = str(int(rng.integers(10 ** (length - 1) if length > 1 else 0, 10**length)))
        if value != correct:
            return value


def _near_miss(correct: str, boxes: int, rng: np.random.Generator) -> str:
    """The key with one digit changed, dropped or added (still fitting the boxes)."""
    while True:
        digits = list(correct)
        where = int(rng.integers(len(digits)))
        change = int(rng.integers(3)) if len(digits) > 1 or boxes > 1 else 0
        if change == 0:
            digits[where] = str((int(digits[where]) + int(rng.integers(1, 10))) % 10)
        elif change == 1 and len(digits) > 1:
            del digits[where]
        elif change == 2 and len(digits) < boxes:
            digits.insert(where, str(int(rng.integers(10))))
        value = "".join(digits)
        if value != correct and not (len(value) > 1 and value.startswith("0")):
            return value


def box_digits(layout: Layout, student_id: str, answers: dict[str, str | None]
               ) -> dict[tuple[str, int], int | None]:
    """(field, index) -> digit for every box: answers fill boxes from the left."""
    digits: dict[tuple[str, int], int | None] = {}
    written = {STUDENT_ID: student_id} | answers
    for cell in layout.cells():
        text = written.get(cell.field) or ""
        digits[cell.field, cell.index] = int(text[cell.index]) if cell.index < len(text) else None
    return digits


# ----- drawing -----


class DigitSource:
    """MNIST test digits by label, each drawn once until its label's pool (~900-1100 images)
    runs out; then the pool is reshuffled and reused (counted in `reused`), so large eval sets
    still never touch the training split."""

    def __init__(self, rng: np.random.Generator, mnist: MnistLoader):
        self.images, self._labels = mnist(MNIST_SPLIT)
        self._rng = rng
        self._pools: dict[int, list[int]] = {d: [] for d in range(10)}
        self.reused = 0
        self._refills = dict.fromkeys(range(10), 0)

    def take(self, digit: int) -> tuple[int, np.ndarray]:
        pool = self._pools[digit]
        if not pool:
            indices = np.flatnonzero(self._labels == digit)
            if len(indices) == 0:
                raise SynthError(f"MNIST {MNIST_SPLIT} split has no digit {digit}")
            pool.extend(int(i) for i in self._rng.permutation(indices))
            self._refills[digit] += 1
        if self._refills[digit] > 1:
            self.reused += 1
        index = pool.pop()
        return index, self.images[index]


def rasterize_sheets(layout: Layout, dpi: int, first_copy: int, copies: int) -> list[np.ndarray]:
    """Upright page images (grey uint8) of `copies` printed copies, straight from the PDF."""
    from pdf2image import convert_from_bytes

    from worker.sheets.render import render_sheets

    pdf = render_sheets(layout, copies=copies, first_copy=first_copy)
    return [np.asarray(page) for page in convert_from_bytes(pdf, dpi=dpi, grayscale=True)]


def fill_page(page_image: np.ndarray, layout: Layout, page: int, digits: dict, dpi: int,
              source: DigitSource, pen_colour: tuple[int, int, int], rng: np.random.Generator,
              habits: ClassHabits = HABITS) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The printed page with the student's digits (RGB uint8) and the truth of its boxes."""
    from model.training.ink import InkStyle, random_style, stamp_digit

    px = px_per_mm(dpi)
    ink = np.full(page_image.shape[:2], 255, np.uint8)  # the pen's layer, coloured below
    hand = random_style(rng)
    boxes = []
    for cell in layout.cells(page):
        digit = digits[cell.field, cell.index]
        entry: dict[str, Any] = {"field": cell.field, "index": cell.index, "digit": digit,
                                 "mnist_index": None}
        if digit is not None:
            index, image = source.take(digit)
            entry["mnist_index"] = index
            wobble = 1.0 + float(rng.uniform(-1, 1)) * habits.digit_size_wobble
            style = InkStyle(height_fraction=min(0.95, hand.height_fraction * wobble),
                             stroke_scale=hand.stroke_scale, ink_gray=hand.ink_gray,
                             jitter=random_style(rng).jitter)
            rect = (round(cell.x_mm * px), round(cell.y_mm * px), round(cell.w_mm * px),
                    round(cell.h_mm * px))
            stamp_digit(ink, image, rect, rng, style)
        boxes.append(entry)
    return _compose(page_image, ink, pen_colour), boxes


def _compose(printed: np.ndarray, ink: np.ndarray, pen_colour: tuple[int, int, int]
             ) -> np.ndarray:
    """Printed toner (grey) under the pen's ink (its darkness from `ink`, hue from the pen),
    as RGB; only the rows and columns the pen touched are blended (the rest is a copy)."""
    paper = cv2.cvtColor(printed, cv2.COLOR_GRAY2RGB)
    rows = np.flatnonzero(ink.min(axis=1) < 255)
    cols = np.flatnonzero(ink.min(axis=0) < 255)
    if len(rows) == 0:
        return paper
    box = np.s_[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    coverage = 1.0 - ink[box].astype(np.float32) / 255.0
    pen = np.array(pen_colour, np.float32) / 255.0
    paper[box] = (paper[box] * (1.0 - coverage[..., None] * (1.0 - pen))).astype(np.uint8)
    return paper


def text_page(size_px: tuple[int, int], dpi: int, rng: np.random.Generator) -> np.ndarray:
    """A page of typed text (a letter, a handout): must never be taken for a sheet."""
    width, height = size_px
    page = np.full((height, width, 3), 255, np.uint8)
    px = px_per_mm(dpi)
    scale = 0.32 * px / 8  # about 11 pt Hershey text
    y = int(25 * px)
    while y < height - 25 * px:
        words = ["".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(2, 10))))
                 for _ in range(int(rng.integers(6, 13)))]
        if rng.random() < 0.2:
            words.insert(0, str(int(rng.integers(1, 100))) + ".")  # numbered paragraphs
        cv2.putText(page, " ".join(words), (int(20 * px), y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (30, 30, 30), max(1, round(px * 0.25)), cv2.LINE_AA)
        y += int(7 * px) if rng.random() > 0.15 else int(13 * px)
    return page


def other_exam_layout(paper: str) -> Layout:
    """A different exam's sheet: scangrade's own format, but an exam this batch doesn't know."""
    return Layout.model_validate({
        "exam_id": OTHER_EXAM_ID, "name": "Chemistry quiz", "version": "3", "paper": paper,
        "id_digits": 5, "questions": [{"id": f"c{i}", "boxes": 2} for i in range(1, 9)],
    })


# ----- the class set -----


@dataclass
class SynthResult:
    pdf: bytes
    truth: dict[str, Any]


def _plan(n_copies_pages: int, options: SynthOptions, rng: np.random.Generator) -> list[str]:
    """Order of page kinds: the class's pages in copy order, foreign pages in between."""
    foreign = (["blank"] * options.blank_pages + ["text"] * options.text_pages
               + ["other-exam"] * options.other_exam_pages)
    order: list[str] = ["sheet"] * n_copies_pages
    for kind in foreign:
        order.insert(int(rng.integers(0, len(order) + 1)), kind)
    return order


def synthesize(layout: Layout, mnist: MnistLoader, options: SynthOptions = SynthOptions(),
               key: dict[str, str] | None = None, roster_ids: Sequence[str] | None = None,
               progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """A scanned class set (PDF bytes) and its ground truth, deterministic for options.seed;
    `mnist` (model.training.data.mnist_loader) is asked for the test split only."""

    rng = np.random.default_rng(options.seed)
    students = make_students(layout, options.students, rng, key, roster_ids, options.habits)
    source = DigitSource(rng, mnist)
    order = _plan(options.students * layout.n_pages, options, rng)
    jpegs: list[bytes] = []
    pages: list[dict[str, Any]] = []
    for number, (kind, paper, student, boxes, meta) in enumerate(
            _papers(layout, order, students, options, source, rng), start=1):
        jpeg, page = _scanned(paper, options, rng)
        jpegs.append(jpeg)
        pages.append({"source_page": number, "kind": kind, **meta, **page, "boxes": boxes})
        if student is not None:
            student.source_pages.append(number)
        if progress is not None:
            progress(number, len(order))
    return SynthResult(_scans_pdf(jpegs, options.dpi),
                       _truth(layout, options, source, students, pages))


def _scanned(paper: np.ndarray, options: SynthOptions, rng: np.random.Generator
             ) -> tuple[bytes, dict[str, Any]]:
    """One paper scanned: its JPEG and what the truth records of the scan."""
    params = draw_params(rng, options.ranges, (paper.shape[1], paper.shape[0]), options.dpi)
    scan, matrix = simulate_scan(paper, params, options.dpi, rng)
    mm_to_px = matrix @ mm_to_page_px(options.dpi)
    return encode_jpeg(scan, params.jpeg_quality), {
        "rotation": params.rotation, "colour": params.colour,
        "width_px": scan.shape[1], "height_px": scan.shape[0],
        "mm_to_px": np.round(mm_to_px, 6).tolist(), "scan": params.to_json()}


def _scans_pdf(jpegs: list[bytes], dpi: int) -> bytes:
    import img2pdf

    layout_fn = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    # No date, and the internal writer: pikepdf's file ID differs from run to run.
    return img2pdf.convert(jpegs, layout_fun=layout_fn, nodate=True,
                           engine=img2pdf.Engine.internal)


def _truth(layout: Layout, options: SynthOptions, source: DigitSource,
           students: list[Student], pages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": TRUTH_FORMAT, "seed": options.seed, "dpi": options.dpi,
        "mnist_split": MNIST_SPLIT, "exam_id": layout.exam_id,
        "layout_version": layout.version, "n_pages": len(pages),
        "mnist_reused_digits": source.reused,
        "pages": pages, "students": [s.to_json() for s in students],
    }


def _papers(layout: Layout, order: list[str], students: list[Student], options: SynthOptions,
            source: DigitSource, rng: np.random.Generator) -> Iterator[tuple]:
    """(kind, paper RGB, student or None, box truths, page meta) for each page in `order`."""
    width_mm, height_mm = layout.page_size_mm
    size_px = (round(width_mm * options.dpi / MM_PER_INCH),
               round(height_mm * options.dpi / MM_PER_INCH))
    sheet_pages = ((s, p) for s in students for p in range(1, layout.n_pages + 1))
    other = other_exam_layout(layout.paper)
    other_copy = 0
    printed_pages: dict[tuple[int, int], np.ndarray] = {}  # (copy, page) -> image, one chunk
    none_meta = {"exam_id": None, "layout_version": None, "copy": None, "page": None}
    for kind in order:
        if kind == "sheet":
            student, page = next(sheet_pages)
            if (student.copy, page) not in printed_pages:
                # One pdftoppm run per chunk of copies: its start-up costs more than a page.
                copies = min(RASTER_CHUNK_COPIES, len(students) - student.copy + 1)
                images = rasterize_sheets(layout, options.dpi, student.copy, copies)
                printed_pages = {(student.copy + i // layout.n_pages, 1 + i % layout.n_pages):
                                 image for i, image in enumerate(images)}
            printed = printed_pages[student.copy, page]
            digits = box_digits(layout, student.student_id, student.answers)
            paper, boxes = fill_page(printed, layout, page, digits, options.dpi, source,
                                     student.pen_colour, rng, options.habits)
            yield kind, paper, student, boxes, {
                "exam_id": layout.exam_id, "layout_version": layout.version,
                "copy": student.copy, "page": page}
        elif kind == "other-exam":
            other_copy += 1
            printed = rasterize_sheets(other, options.dpi, other_copy, 1)[0]
            sid = "".join(str(d) for d in rng.integers(0, 10, other.id_digits))
            answers = {q.id: str(int(rng.integers(0, 100))) for q in other.questions}
            paper, boxes = fill_page(printed, other, 1, box_digits(other, sid, answers),
                                     options.dpi, source, options.habits.pen_colours[0], rng,
                                     options.habits)
            yield kind, paper, None, boxes, {
                "exam_id": other.exam_id, "layout_version": other.version,
                "copy": other_copy, "page": 1}
        elif kind == "text":
            yield kind, text_page(size_px, options.dpi, rng), None, [], none_meta
        else:
            yield kind, np.full((size_px[1], size_px[0], 3), 255, np.uint8), None, [], none_meta


def write_class_set(layout: Layout, mnist: MnistLoader, out_pdf: str | Path,
                    truth_path: str | Path | None,
                    options: SynthOptions = SynthOptions(), key_path: str | Path | None = None,
                    roster_path: str | Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    key = key_answers(load_key(key_path)) if key_path else None
    roster = None
    if roster_path:
        students = load_roster(roster_path, layout.id_digits).students
        roster = [student.student_id for student in students]
    result = synthesize(layout, mnist, options, key, roster, progress=progress)
    out_pdf = Path(out_pdf)
    out_pdf.write_bytes(result.pdf)
    result.truth["pdf"] = out_pdf.name
    if truth_path is not None:
        Path(truth_path).write_text(json.dumps(result.truth, indent=1) + "\n", encoding="utf-8")
    return result.truth


def clean_options(**overrides: Any) -> SynthOptions:
    """Options that scan without any degradation: for debugging alignment and reading."""
    return SynthOptions(**({"ranges": CLEAN} | overrides))


def truth_summary(truth: dict[str, Any]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for page in truth["pages"]:
        kinds[page["kind"]] = kinds.get(page["kind"], 0) + 1
    boxes = [b for p in truth["pages"] if p["kind"] == "sheet" for b in p["boxes"]]
    return {"pages": truth["n_pages"], "kinds": kinds, "students": len(truth["students"]),
            "boxes": len(boxes), "written_boxes": sum(b["digit"] is not None for b in boxes)}



def mm_to_page_px(dpi: float) -> np.ndarray:
    """Millimetres -> pixel-centre coordinates of a page rasterized at `dpi` (OpenCV's
    convention: the top-left pixel's centre is (0, 0), its outer corner (-0.5, -0.5))."""
    k = px_per_mm(dpi)
    return np.array([[k, 0.0, -0.5], [0.0, k, -0.5], [0.0, 0.0, 1.0]])


# Photo conditions and how often each is drawn (worker.synth.camera.CONDITIONS): most photos
# are usable under some difficulty; a few are made unusable on purpose.
PHOTO_CONDITION_WEIGHTS = {"plain": 0.24, "shadow": 0.16, "glare": 0.1, "tilted": 0.16,
                           "covered-corner": 0.08, "cut-corner": 0.08, "blurry": 0.1,
                           "too-far": 0.08}


@dataclass
class CaptureResult:
    """The same filled sheets scanned (a PDF, as `synthesize` makes) and photographed."""

    pdf: bytes
    truth: dict[str, Any]  # the scans' truth
    photos: list[bytes]  # one JPEG per page, in page order
    photo_truth: dict[str, Any]  # the same pages, with each photo's conditions


def synthesize_captures(layout: Layout, mnist: MnistLoader, options: SynthOptions,
                        photo_ranges: PhotoRanges = PhotoRanges(),
                        progress: Callable[[int, int], None] | None = None,
                        conditions: Sequence[str] | None = None) -> CaptureResult:
    """Every page of a synthetic class both scanned and photographed: the scans are exactly
    `synthesize(layout, mnist, options)`'s; the photos draw from a generator of their own.
    `conditions`: the sheets' photo conditions in turn (default: drawn by
    PHOTO_CONDITION_WEIGHTS)."""

    rng = np.random.default_rng(options.seed)
    photo_rng = np.random.default_rng([options.seed, 1])
    students = make_students(layout, options.students, rng, None, None, options.habits)
    source = DigitSource(rng, mnist)
    order = _plan(options.students * layout.n_pages, options, rng)
    other = other_exam_layout(layout.paper)
    names = list(PHOTO_CONDITION_WEIGHTS)
    weights = np.array(list(PHOTO_CONDITION_WEIGHTS.values()))
    jpegs: list[bytes] = []
    photos: list[bytes] = []
    pages: list[dict[str, Any]] = []
    photo_pages: list[dict[str, Any]] = []
    to_px = mm_to_page_px(options.dpi)
    for number, (kind, paper, student, boxes, meta) in enumerate(
            _papers(layout, order, students, options, source, rng), start=1):
        jpeg, scanned = _scanned(paper, options, rng)
        jpegs.append(jpeg)
        page_meta = {"source_page": number, "kind": kind, **meta, "boxes": boxes}
        pages.append({"source_page": number, "kind": kind, **meta, **scanned, "boxes": boxes})
        if kind != "sheet":
            condition = "plain"
        elif conditions:
            condition = conditions[sum(p["kind"] == "sheet" for p in pages[:-1]) % len(conditions)]
        else:
            condition = str(photo_rng.choice(names, p=weights / weights.sum()))
        photo_params = draw_photo_params(photo_rng, photo_ranges, condition)
        sheet_layout = other if kind == "other-exam" else layout
        corners = sheet_layout.marker_corners_mm(meta["page"] or 1)
        marker_px = np.stack([cv2.perspectiveTransform(
            corners[k].reshape(-1, 1, 2).astype(np.float64), to_px).reshape(4, 2)
            for k in sorted(corners)])
        photo, photo_matrix = simulate_photo(paper, photo_params, photo_rng, marker_px,
                                             px_per_mm(options.dpi), photo_ranges)
        photos.append(encode_photo(photo, photo_params.jpeg_quality))
        photo_pages.append({**page_meta, "photo": photo_params.to_json(),
                            "expected_status": photo_params.expected_status
                            if kind == "sheet" else None,
                            "mm_to_px": np.round(photo_matrix @ to_px, 6).tolist()})
        if student is not None:
            student.source_pages.append(number)
        if progress is not None:
            progress(number, len(order))
    truth = _truth(layout, options, source, students, pages)
    return CaptureResult(_scans_pdf(jpegs, options.dpi), truth, photos,
                         {**truth, "pages": photo_pages, "photos": True})
