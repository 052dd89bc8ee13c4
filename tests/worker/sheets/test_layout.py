"""Layout files: validation errors that point at the problem, automatic placement, the
`layout new` / `layout cells` commands, and the QR payload."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from api.cli import build_app
from tests.helpers.paths import SAMPLES
from worker.sheets.layout import GEOMETRY, STUDENT_ID, Layout, LayoutError, nesting_depth
from worker.sheets.qr import QrPayload, encode_payload, parse_payload, validate_exam_id

SAMPLE_LAYOUT = SAMPLES / "layout.yaml"

BASE = """\
exam_id: quiz-1
name: Quiz
id_digits: 4
questions:
  - id: q1
    boxes: 2
  - id: q2
    boxes: 3
    points: 2
"""


def write(tmp_path: Path, text: str, name: str = "layout.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> LayoutError:
    path = write(tmp_path, text)
    with pytest.raises(LayoutError) as info:
        Layout.load(path)
    assert str(path) in str(info.value)
    return info.value


# ----- validation errors name the file, line and field -----


def test_typo_in_a_key_names_path_line_and_suggests_the_key(tmp_path):
    error = load_error(tmp_path, BASE.replace("    points: 2", "    pionts: 2"))
    assert error.path == "questions[1].pionts"
    assert error.line == 9
    assert "did you mean 'points'" in str(error)
    assert f"{tmp_path / 'layout.yaml'}:9: questions[1].pionts" in str(error)


def test_wrong_type_names_the_field_and_line(tmp_path):
    error = load_error(tmp_path, BASE.replace("boxes: 3", "boxes: three"))
    assert (error.path, error.line) == ("questions[1].boxes", 8)
    assert "integer" in error.message


def test_missing_required_field_is_named(tmp_path):
    error = load_error(tmp_path, BASE.replace("id_digits: 4\n", ""))
    assert error.path == "id_digits"
    assert "required" in error.message.lower()


def test_duplicate_question_id(tmp_path):
    error = load_error(tmp_path, BASE + "  - {id: q1, boxes: 1}\n")
    assert error.path == "questions[2].id"
    assert error.line == 10
    assert "duplicate question id 'q1'" in error.message


def test_unsafe_exam_id_is_rejected(tmp_path):
    error = load_error(tmp_path, BASE.replace("quiz-1", "quiz:1/../x"))
    assert (error.path, error.line) == ("exam_id", 1)


def test_names_the_sheet_fonts_cannot_print_are_refused(tmp_path):
    assert Layout.load(write(tmp_path, BASE.replace("Quiz", "Prüfung – Klasse 7é"))).name
    error = load_error(tmp_path, BASE.replace("Quiz", "Контрольная"))
    assert (error.path, error.line) == ("name", 2)
    assert "cannot be printed" in error.message


def test_question_may_not_be_called_student_id(tmp_path):
    error = load_error(tmp_path, BASE.replace("id: q2", f"id: {STUDENT_ID}"))
    assert error.path == "questions[1].id"


def test_overlapping_boxes_are_rejected(tmp_path):
    text = BASE + "  - {id: q3, boxes: 2, position: {page: 1, x_mm: 41, y_mm: 39}}\n"
    error = load_error(tmp_path, text)  # the student-ID row starts at x 40, y 38
    assert error.path == "questions[2].position"
    assert "overlap" in error.message and STUDENT_ID in error.message
    assert error.line == 10


def test_box_off_the_page_is_rejected(tmp_path):
    text = BASE + "  - {id: q3, boxes: 3, position: {x_mm: 190, y_mm: 150}}\n"
    error = load_error(tmp_path, text)
    assert error.path == "questions[2].position"
    assert "off page 1" in error.message


def test_box_on_the_qr_code_is_rejected(tmp_path):
    layout = Layout.load(write(tmp_path, BASE))
    qx, qy, _, _ = layout.qr_rect_mm(1)
    text = BASE + f"  - {{id: q3, boxes: 1, position: {{x_mm: {qx + 2}, y_mm: {qy + 10}}}}}\n"
    error = load_error(tmp_path, text)
    assert "QR code" in error.message


def test_box_on_a_marker_is_rejected(tmp_path):
    text = BASE + "  - {id: q3, boxes: 1, position: {x_mm: 20, y_mm: 270}}\n"
    error = load_error(tmp_path, text)
    assert "marker 3" in error.message


def test_too_many_questions_for_the_requested_pages(tmp_path):
    questions = "".join(f"  - {{id: q{n}, boxes: 3}}\n" for n in range(1, 101))
    error = load_error(tmp_path, BASE.split("questions:")[0] + "pages: 1\nquestions:\n" + questions)
    assert error.path == "pages"
    assert "need 2 pages" in error.message


def test_broken_yaml_names_the_line(tmp_path):
    error = load_error(tmp_path, BASE.replace("  - id: q2", "  - id: [q2"))
    assert error.line is not None and error.line >= 7
    assert "YAML" in error.message


def test_json_layouts_load_and_errors_name_the_field(tmp_path):
    data = yaml.safe_load(BASE)
    assert Layout.load(write(tmp_path, json.dumps(data), "layout.json")).exam_id == "quiz-1"
    data["questions"][0]["boxes"] = 0
    error = load_error(tmp_path, json.dumps(data, indent=2))
    assert error.path == "questions[0].boxes"


def test_to_yaml_round_trips(tmp_path):
    text = BASE + "  - {id: q3, boxes: 1, label: '3b', position: {x_mm: 120, y_mm: 200}}\n"
    layout = Layout.load(write(tmp_path, text))
    again = Layout.from_text(layout.to_yaml())
    assert again == layout and again.cells() == layout.cells()


def test_schema_export_is_a_valid_json_schema_that_accepts_the_sample():
    schema = Layout.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(SAMPLE_LAYOUT.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"exam_id": "x", "name": "x", "id_digits": 3, "questions": [],
                             "colour": "red"}, schema)


# ----- placement -----


def assert_sane_cells(layout: Layout) -> None:
    """Every box on its page, inside the margins, off markers, QR and header; none overlap."""
    width, height = layout.page_size_mm
    cells = layout.cells()
    assert {c.page for c in cells} == set(range(1, layout.n_pages + 1))
    for cell in cells:
        assert GEOMETRY.margin <= cell.x_mm and cell.x_mm + cell.w_mm <= width - GEOMETRY.margin
        assert GEOMETRY.margin <= cell.y_mm and cell.y_mm + cell.h_mm <= height - GEOMETRY.margin
        for name, (x, y, w, h) in layout.reserved_rects_mm(cell.page):
            apart = (cell.x_mm >= x + w or x >= cell.x_mm + cell.w_mm
                     or cell.y_mm >= y + h or y >= cell.y_mm + cell.h_mm)
            assert apart, (cell, name)
    for i, a in enumerate(cells):
        for b in cells[i + 1:]:
            if a.page == b.page:
                assert (a.x_mm + a.w_mm <= b.x_mm or b.x_mm + b.w_mm <= a.x_mm
                        or a.y_mm + a.h_mm <= b.y_mm or b.y_mm + b.h_mm <= a.y_mm), (a, b)


def test_sample_layout_cells():
    layout = Layout.load(SAMPLE_LAYOUT)
    assert layout.n_pages == 1
    cells = layout.cells()
    assert len(cells) == layout.id_digits + sum(q.boxes for q in layout.questions)
    assert [c.index for c in cells if c.field == STUDENT_ID] == list(range(layout.id_digits))
    q4 = [c for c in cells if c.field == "q4"]
    assert [c.index for c in q4] == [0, 1, 2]
    assert q4[0].x_mm < q4[1].x_mm < q4[2].x_mm  # index counts from the left
    assert_sane_cells(layout)


def test_multi_page_only_when_needed_and_even_spread_with_pages(tmp_path):
    head = "exam_id: big\nname: Big\nid_digits: 8\npaper: letter\n"
    questions = "questions:\n" + "".join(f"  - {{id: q{n}, boxes: 3}}\n" for n in range(1, 131))
    layout = Layout.load(write(tmp_path, head + questions))
    assert layout.n_pages == 3
    assert_sane_cells(layout)
    assert all(c.page == 1 for c in layout.cells() if c.field == STUDENT_ID)
    spread = Layout.load(write(tmp_path, head + "pages: 4\n" + questions))
    per_page = [len({c.field for c in spread.cells(p)} - {STUDENT_ID}) for p in range(1, 5)]
    assert per_page == [33, 33, 33, 31]
    assert_sane_cells(spread)
    few = Layout.load(write(tmp_path, head + "questions:\n  - {id: a, boxes: 2}\n"))
    assert few.n_pages == 1


def test_positions_override_automatic_placement(tmp_path):
    text = BASE.replace("id_digits: 4\n", "id_digits: 4\nid_position: {x_mm: 120, y_mm: 60}\n")
    text += "  - {id: q3, boxes: 2, position: {x_mm: 120, y_mm: 200}}\n"
    layout = Layout.load(write(tmp_path, text))
    sid = [c for c in layout.cells() if c.field == STUDENT_ID]
    assert (sid[0].x_mm, sid[0].y_mm) == (120, 60)
    assert sid[1].x_mm == 120 + layout.box.w_mm + layout.box.gap_mm
    q3 = [c for c in layout.cells() if c.field == "q3"]
    assert [(c.x_mm, c.y_mm) for c in q3] == [(120, 200), (129, 200)]
    q1 = [c for c in layout.cells() if c.field == "q1"]
    # With the ID row moved away, the questions start right below the header.
    assert q1[0].y_mm == GEOMETRY.margin + GEOMETRY.qr + GEOMETRY.header_gap
    assert_sane_cells(layout)


def test_marker_corners_follow_aruco_order_and_sit_in_the_corners():
    layout = Layout.load(SAMPLE_LAYOUT)
    width, height = layout.page_size_mm
    corners = layout.marker_corners_mm(1)
    assert sorted(corners) == [0, 1, 2, 3]
    for quad in corners.values():
        tl, tr, br, bl = quad
        assert tl[0] < tr[0] and tl[1] == tr[1] and br[1] > tr[1] and bl[0] == tl[0]
    assert corners[0][0].tolist() == [GEOMETRY.margin, GEOMETRY.margin]
    assert corners[2][2].tolist() == [width - GEOMETRY.margin, height - GEOMETRY.margin]
    with pytest.raises(ValueError):
        layout.marker_corners_mm(2)


# ----- CLI: layout new -> layout cells (a public contract) -----


@pytest.mark.parametrize(("args", "paper"), [
    (["--questions", "20", "--digits", "2", "--id-digits", "6"], "a4"),
    (["--questions", "90", "--digits", "3", "--id-digits", "9", "--paper", "letter"], "letter"),
])
def test_layout_new_then_cells(tmp_path, args, paper):
    runner = CliRunner()
    out = tmp_path / "new.yaml"
    result = runner.invoke(build_app(), ["layout", "new", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    layout = Layout.load(out)
    assert layout.paper == paper
    result = runner.invoke(build_app(), ["layout", "cells", str(out)])
    assert result.exit_code == 0, result.output
    cells = json.loads(result.stdout)
    assert cells and all(set(c) == {"page", "field", "index", "x_mm", "y_mm", "w_mm", "h_mm"}
                         for c in cells)
    n_questions, digits, id_digits = int(args[1]), int(args[3]), int(args[5])
    assert len(cells) == id_digits + n_questions * digits
    assert [c["index"] for c in cells if c["field"] == "student_id"] == list(range(id_digits))
    assert {c["field"] for c in cells} == {"student_id"} | {f"q{n}" for n in
                                                            range(1, n_questions + 1)}
    width, height = layout.page_size_mm
    for c in cells:
        assert c["x_mm"] > 0 and c["x_mm"] + c["w_mm"] < width
        assert c["y_mm"] > 0 and c["y_mm"] + c["h_mm"] < height
    assert_sane_cells(layout)


def test_layout_cells_on_a_bad_file_is_a_clear_error(tmp_path):
    path = write(tmp_path, BASE.replace("boxes: 2", "boxes: 99"))
    result = CliRunner().invoke(build_app(), ["layout", "cells", str(path)])
    assert result.exit_code == 2
    assert "questions[0].boxes" in result.stderr and f"{path}:6" in result.stderr


def test_layout_new_refuses_to_overwrite(tmp_path):
    out = write(tmp_path, "keep me")
    result = CliRunner().invoke(build_app(), ["layout", "new", "--out", str(out)])
    assert result.exit_code == 2 and out.read_text() == "keep me"


# ----- QR payload -----


def test_payload_round_trip():
    text = encode_payload("math7-unit4", "1", 12, 2)
    assert text == "SCANGRADE:math7-unit4:1:12:2"
    assert parse_payload(text) == QrPayload("math7-unit4", "1", 12, 2)


@pytest.mark.parametrize("text", [
    None, "", "https://example.com", "SCANGRADE:exam:1:0:1", "SCANGRADE:exam:1:3",
    "SCANGRADE:ex:am:1:3:1", "scangrade:exam:1:3:1", "SCANGRADE:-exam:1:3:1",
    "SCANGRADE:exam:1:3:1:extra", "SCANGRADE:" + "x" * 41 + ":1:1:1",
])
def test_foreign_payloads_do_not_parse(text):
    assert parse_payload(text) is None


@pytest.mark.parametrize("exam_id", ["a:b", "", "../etc", "a b", "é", "x" * 41])
def test_unsafe_exam_ids_are_rejected(exam_id):
    with pytest.raises(ValueError):
        validate_exam_id(exam_id)
    with pytest.raises(ValueError):
        encode_payload(exam_id, "1", 1, 1)


def test_copy_and_page_must_be_positive():
    with pytest.raises(ValueError):
        encode_payload("exam", "1", 0, 1)
    with pytest.raises(ValueError):
        encode_payload("exam", "1", 1, -1)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    """Nested aliases would expand exponentially; layouts never need them."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\n")
    with pytest.raises(LayoutError, match="anchors and aliases"):
        Layout.load(bomb)


def test_self_referencing_yaml_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    with pytest.raises(LayoutError, match="anchors and aliases"):
        Layout.load(path)


# ----- files that are not layouts are refused before any parser walks them -----

# Parsing a document nested a few thousand deep takes seconds or crashes the parser; the
# checks on the raw text take milliseconds.
REFUSE_S = 0.5


@pytest.mark.parametrize(("name", "text"), [
    ("deep.json", '{"a": ' * 20_000 + "1" + "}" * 20_000),
    ("deep-list.json", "[" * 100_000 + "]" * 100_000),
    ("deep.yaml", "- " * 3_000 + "1\n"),
    ("deep-keys.yaml", "- ? " * 3_000 + "a\n"),
    ("deep-block.yaml", "".join(f"{' ' * depth}k{depth}:\n" for depth in range(400))),
])
def test_a_deeply_nested_file_is_refused_at_once(tmp_path, name, text):
    path = write(tmp_path, text, name)
    started = time.perf_counter()
    with pytest.raises(LayoutError, match="nested more than 20 levels deep"):
        Layout.load(path)
    assert time.perf_counter() - started < REFUSE_S


def test_a_huge_file_is_refused_unread(tmp_path):
    path = write(tmp_path, BASE + "# padding\n" * 100_000)
    with pytest.raises(LayoutError, match=r"bytes, larger than any layout \(256 KiB"):
        Layout.load(path)


def test_real_layouts_pass_the_raw_checks():
    """The deepest layouts scangrade writes (pretty JSON, explicit positions) are far from
    the depth bound."""
    data = yaml.safe_load(SAMPLE_LAYOUT.read_text())
    for text in (json.dumps(data, indent=4), json.dumps(data), SAMPLE_LAYOUT.read_text(),
                 Layout.load(SAMPLE_LAYOUT).to_yaml()):
        assert nesting_depth(text) <= 8
        Layout.from_text(text)


def test_points_are_bounded(tmp_path):
    error = load_error(tmp_path, BASE.replace("points: 2", "points: 1e308"))
    assert "questions[1].points" in str(error) and "1000" in str(error)
