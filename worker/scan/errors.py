"""The one error a scan file as a whole raises (a PDF or an image the pipeline cannot use).

Its message says what is wrong and what to do, in the teacher's words; each kind of file
subclasses it (worker.scan.pdf.PdfError, worker.scan.images.ImageFileError), so callers
that only need "this file cannot be graded" catch this one.
"""


class ScanFileError(ValueError):
    """The file cannot be read as scanned or photographed pages. The message says why."""


class NotAScanError(ScanFileError):
    """Neither a PDF nor an image of a kind scangrade reads."""
