"""All the scan files (PDFs, photos) of one run, their pages numbered across the files in
order: the scan path's entry point for the CLI (`scangrade grade`, `scangrade read`, the eval
commands) and the Celery tasks alike.

    scans = inspect_scans(paths, settings)        # each file opened once; bad files -> problems
    reading = ScanReading(scans, layouts, reader, settings, first_page, last_page)
    for page in reading: ...                      # PageResults, source_page across the files
    reading.problems                              # files that could not be read, in words

A file that cannot be read never stops the others: it becomes a problem and the remaining
files are still read. The service inspects an upload once when it arrives and builds its
`ScanSet` from what it recorded then (`ScanSet.of`), so no task opens the PDF again to count
its pages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scangrade.config.scan import ScanSettings
from worker.scan.errors import ScanFileError
from worker.scan.pdf import checked_range
from worker.scan.pipeline import read_scan
from worker.scan.previews import PreviewSink
from worker.scan.results import PageResult
from worker.scan.sources import ScanFile, inspect_scan
from worker.sheets.layout import Layout

# Details of problems already reported in words: at INFO, for the worker's log (a CLI
# run shows only the words).
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanSet:
    """The inspected files of a run, in order, and the files that could not be opened."""

    files: tuple[ScanFile, ...] = ()
    problems: tuple[str, ...] = ()  # one line per file that has no readable pages

    @property
    def notes(self) -> list[str]:
        """What inspection found and did about files it could read (pages counted from the
        page tree, damaged pages), one line each."""
        return [info.note for info in self.files if info.note]

    @classmethod
    def of(cls, files: Sequence[ScanFile]) -> ScanSet:
        return cls(files=tuple(files))

    @property
    def n_pages(self) -> int:
        return sum(info.n_pages for info in self.files)

    @property
    def paths(self) -> list[Path]:
        return [info.path for info in self.files]


def inspect_scans(paths: Sequence[str | Path], settings: ScanSettings) -> ScanSet:
    """Opens each file once (worker.scan.sources.inspect_scan); one that cannot be used is
    a problem, not an exception, so the others are still read."""
    files: list[ScanFile] = []
    problems: list[str] = []
    for path in paths:
        try:
            files.append(inspect_scan(path, settings))
        except ScanFileError as exc:
            problems.append(str(exc))
        except Exception:  # anything else a broken file makes the PDF or image library raise
            log.info("inspecting %s", path, exc_info=True)
            problems.append(f"{Path(path).name} cannot be read as a PDF or a photo; save or"
                            " export it again and grade that")
    return ScanSet(tuple(files), tuple(problems))


class ScanReading:
    """Pages first_page..last_page of a ScanSet (1-based, numbered across its files, inclusive;
    default all), read as they are iterated. Iterate once.

    `problems` starts with the set's own and its files' notes, and gains a line for each file
    that fails midway
    (the pages read before stay); with `contain_errors` False such a failure is raised
    instead (a Celery task then fails and is retried as a whole). `previews` keeps a small
    image of every page read (worker.scan.previews). Raises ValueError at once for a range
    outside the pages."""

    def __init__(
        self, scans: ScanSet, layouts: Mapping[str, Layout], reader, settings: ScanSettings,
        first_page: int = 1, last_page: int | None = None,
        previews: PreviewSink | None = None, contain_errors: bool = True,
    ) -> None:
        if scans.n_pages or last_page is not None or first_page != 1:
            whose = "the scan's" if len(scans.files) == 1 else "the scans'"
            self.first, self.last = checked_range(scans.n_pages, first_page, last_page, whose)
        else:
            self.first, self.last = 1, 0  # nothing to read, and nothing asked for
        self.scans = scans
        self.layouts = layouts
        self.reader = reader
        self.settings = settings
        self.previews = previews
        self.contain_errors = contain_errors
        self.problems: list[str] = [*scans.problems, *scans.notes]

    def __iter__(self) -> Iterator[PageResult]:
        offset = 0
        for info in self.scans.files:
            first, last = max(self.first, offset + 1), min(self.last, offset + info.n_pages)
            if first <= last:
                yield from self._read_file(info, first - offset, last - offset, offset)
            offset += info.n_pages

    def _read_file(self, info: ScanFile, first: int, last: int, offset: int
                   ) -> Iterator[PageResult]:
        previews = None
        if self.previews is not None:
            sink = self.previews

            def previews(number: int, gray, dpi: int) -> None:  # numbered across the files
                sink(number + offset, gray, dpi)
        try:
            for page in read_scan(info, self.layouts, self.reader, self.settings, first, last,
                                 previews=previews):
                page.source_page += offset
                yield page
        except Exception as exc:  # e.g. poppler giving up on the whole file midway
            if not self.contain_errors:
                raise
            log.info("reading %s", info.rendered, exc_info=True)
            self.problems.append(str(exc) if isinstance(exc, ScanFileError) else
                                 f"{info.path.name} could not be read to the end (its later"
                                 " pages are missing); save it again and grade that")


@dataclass
class ScanResults:
    """Every page of a run read at once (when nothing needs the pages as they come)."""

    files: tuple[ScanFile, ...]  # the inspected files, for the reports (review.pdf, inputs/)
    pages: list[PageResult]
    problems: list[str]


def read_all_scans(
    paths: Sequence[str | Path], layouts: Mapping[str, Layout], reader, settings: ScanSettings,
    previews: PreviewSink | None = None,
) -> ScanResults:
    """inspect_scans + every page of a ScanReading."""
    scans = inspect_scans(paths, settings)
    reading = ScanReading(scans, layouts, reader, settings, previews=previews)
    pages = list(reading)
    return ScanResults(scans.files, pages, reading.problems)
