"""Errors about the teacher's input files: each names the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path


class GradingInputError(ValueError):
    """An input file (answer key, roster, overrides, output folder) cannot be used as it is."""

    def __init__(self, source: str | Path, problem: str, line: int | None = None) -> None:
        self.source = str(source)
        self.line = line
        self.problem = problem
        where = f"{self.source}, line {line}" if line is not None else self.source
        super().__init__(f"{where}: {problem}")


class AnswerKeyError(GradingInputError):
    """The answer key CSV is malformed."""


class RosterError(GradingInputError):
    """The roster CSV is malformed."""


class CorrectionsError(GradingInputError):
    """A corrections file (or the journal) is malformed, or a row names a student, question
    or value that does not exist on these sheets."""

