"""`scangrade layout ...`, `scangrade sheet` and `scangrade synth`: describing an exam,
printing its sheets and making synthetic scans of them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli import CommandGroups

LAYOUT_ARG = Annotated[Path, typer.Argument(help="Layout file (YAML or JSON).")]


def register(groups: CommandGroups) -> None:
    layout = typer.Typer(help="Create, check and inspect layout files.", no_args_is_help=True)
    layout.command("new")(layout_new)
    layout.command("cells")(layout_cells)
    layout.command("check")(layout_check)
    layout.command("schema")(layout_schema)
    groups.root.add_typer(layout, name="layout")
    groups.root.command("sheet")(sheet)
    groups.root.command("synth")(synth)


def _load(path: Path):
    """The layout, or a clear error naming file, line and field, and exit status 2."""
    from worker.sheets.layout import Layout, LayoutError

    try:
        return Layout.load(path)
    except LayoutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _refuse_overwrite(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        typer.echo(f"error: {path} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(2)


def layout_new(
    questions: Annotated[int, typer.Option(min=1, help="Number of questions.")] = 20,
    digits: Annotated[int, typer.Option(min=1, max=10, help="Digit boxes per answer.")] = 2,
    id_digits: Annotated[int, typer.Option(min=1, max=12, help="Student-ID digits.")] = 6,
    paper: Annotated[str, typer.Option(help="a4 or letter.")] = "a4",
    exam_id: Annotated[str, typer.Option(help="Exam id printed in the QR codes.")] = "exam-1",
    name: Annotated[str, typer.Option(help="Exam name printed on top.")] = "Exam",
    out: Annotated[Path | None, typer.Option(help="Layout file to write; default: stdout.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Write a layout file: questions q1..qN with the same number of digit boxes, 1 point each."""
    from worker.sheets.layout import Layout, LayoutError

    data = {
        "exam_id": exam_id, "name": name, "version": "1", "paper": paper.lower(),
        "id_digits": id_digits,
        "questions": [{"id": f"q{n}", "boxes": digits, "points": 1} for n in
                      range(1, questions + 1)],
    }
    try:
        layout = Layout.from_data(data, source="layout new")
    except LayoutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    text = layout_yaml(data, layout.n_pages)
    if out is None:
        sys.stdout.write(text)
        return
    _refuse_overwrite(out, force)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {questions} questions on {layout.n_pages} page(s)", err=True)


def layout_yaml(data: dict, n_pages: int) -> str:
    """A layout as a teacher would like to read and edit it: one question per line."""
    import yaml

    head = {k: v for k, v in data.items() if k != "questions"}
    lines = ["# scangrade layout: edit questions (id, boxes = answer digits, points) and print",
             "# with `scangrade sheet`. Box positions are computed; this sheet has "
             f"{n_pages} page(s).", yaml.safe_dump(head, sort_keys=False).rstrip(), "questions:"]
    for question in data["questions"]:
        fields = ", ".join(f"{k}: {json.dumps(v)}" for k, v in question.items())
        lines.append(f"  - {{{fields}}}")
    return "\n".join(lines) + "\n"


def layout_cells(layout_path: LAYOUT_ARG) -> None:
    """Print every digit box of every page as a JSON array (millimetres, origin top-left)."""
    layout = _load(layout_path)
    cells = [json.dumps(cell.to_json()) for cell in layout.cells()]
    sys.stdout.write("[\n" + ",\n".join(cells) + "\n]\n")


def layout_check(layout_path: LAYOUT_ARG) -> None:
    """Validate a layout file; print its summary."""
    layout = _load(layout_path)
    summary = {"exam_id": layout.exam_id, "version": layout.version, "paper": layout.paper,
               "pages": layout.n_pages, "questions": len(layout.questions),
               "boxes": len(layout.cells()),
               "points": sum(q.points for q in layout.questions)}
    typer.echo(json.dumps(summary))


def layout_schema() -> None:
    """Print the layout file's JSON schema."""
    from worker.sheets.layout import Layout

    typer.echo(json.dumps(Layout.json_schema(), indent=2))


def sheet(
    layout_path: LAYOUT_ARG,
    copies: Annotated[int, typer.Option(min=1, max=100_000, help="Copies (one per student).")] = 1,
    first_copy: Annotated[int, typer.Option(min=1, help="Copy number of the first copy.")] = 1,
    out: Annotated[Path, typer.Option(help="PDF to write.")] = Path("sheets.pdf"),
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Render printable answer sheets (vector PDF); every page has its own QR code."""
    from worker.sheets.render import write_sheets

    layout = _load(layout_path)
    _refuse_overwrite(out, force)
    write_sheets(layout, out, copies=copies, first_copy=first_copy)
    typer.echo(f"wrote {out}: {copies} cop{'y' if copies == 1 else 'ies'} x "
               f"{layout.n_pages} page(s)", err=True)


def synth(
    layout_path: LAYOUT_ARG,
    students: Annotated[int, typer.Option(min=1, help="Students (copies) in the class.")] = 12,
    out: Annotated[Path, typer.Option(help="Scanned PDF to write.")] = Path("scans.pdf"),
    truth: Annotated[Path | None, typer.Option(help="Ground-truth JSON; default: beside --out "
                                               "as <out>.truth.json.")] = None,
    key: Annotated[Path | None, typer.Option(help="Answer key CSV: students answer from it "
                                             "with their skill.")] = None,
    roster: Annotated[Path | None, typer.Option(help="Roster CSV: student IDs come from it.")]
    = None,
    seed: Annotated[int, typer.Option(help="Same seed, same PDF and truth.")] = 0,
    dpi: Annotated[int, typer.Option(min=72, max=600, help="Scan resolution.")] = 200,
    blank_pages: Annotated[int, typer.Option(min=0, help="Blank foreign pages.")] = 1,
    text_pages: Annotated[int, typer.Option(min=0, help="Typed-text foreign pages.")] = 1,
    other_exam_pages: Annotated[int, typer.Option(min=0, help="Sheets of another exam.")] = 1,
    clean: Annotated[bool, typer.Option(help="No scan degradation (debugging).")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite outputs if they exist.")] = False,
) -> None:
    """Make a synthetic scanned class set (MNIST test digits) and its ground truth."""
    from model.training.data import mnist_loader
    from scangrade.settings import get_settings
    from worker.grading import GradingInputError
    from worker.synth.class_set import SynthError, SynthOptions, truth_summary, write_class_set
    from worker.synth.scanner import CLEAN, ScanRanges

    layout = _load(layout_path)
    truth = truth or out.with_suffix(".truth.json")
    for path in (out, truth):
        _refuse_overwrite(path, force)
    options = SynthOptions(students=students, seed=seed, dpi=dpi, blank_pages=blank_pages,
                           text_pages=text_pages, other_exam_pages=other_exam_pages,
                           ranges=CLEAN if clean else ScanRanges())
    try:
        result = write_class_set(layout, mnist_loader(get_settings()), out, truth, options,
                                 key_path=key, roster_path=roster)
    except (SynthError, GradingInputError, OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"pdf": str(out), "truth": str(truth)} | truth_summary(result)))
