"""Hostile and damaged PDFs, made on the spot from the sample class scan (samples/scans.pdf,
15 pages: 12 students' sheets and 3 foreign pages) so that no binary is committed.

Each maker writes one file into `folder` and returns its path. Byte patches keep the length
of what they replace, so the file's cross-reference table still points at its objects and
what a reader meets is exactly the damage named.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf

from tests.helpers.paths import SAMPLES

SAMPLE_SCANS = SAMPLES / "scans.pdf"
SAMPLE_PAGES = 15


def _plain(source: Path = SAMPLE_SCANS) -> bytes:
    """The PDF rewritten with every object on its own (no object streams), so that the page
    tree's dictionaries can be patched as bytes."""
    buffer = io.BytesIO()
    with pikepdf.open(source) as pdf:
        pdf.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.disable,
                 static_id=True, deterministic_id=False)
    return buffer.getvalue()


def _patched(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def count_says(folder: Path, stated: int) -> Path:
    """The 15-page class scan whose page tree states `/Count <stated>` (1..99)."""
    field = f"/Count {SAMPLE_PAGES}".encode()
    return _write(folder, f"count-says-{stated}.pdf",
                  _patched(_plain(), field, f"/Count {stated}".encode().ljust(len(field))))


def many_pages_counting_few(folder: Path, pages: int, stated: int) -> Path:
    """`pages` real pages (copies of the sample's first) whose tree states `/Count <stated>`;
    `stated` must have as many digits as `pages` or fewer."""
    buffer = io.BytesIO()
    with pikepdf.open(SAMPLE_SCANS) as source, pikepdf.new() as pdf:
        for _ in range(pages):
            pdf.pages.append(source.pages[0])
        pdf.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    field = f"/Count {pages}".encode()
    return _write(folder, f"{pages}-pages-count-says-{stated}.pdf",
                  _patched(buffer.getvalue(), field, f"/Count {stated}".encode().ljust(len(field))))


def encrypted(folder: Path, user_password: str) -> Path:
    """The class scan encrypted with AES-256 (R=6): an empty user password opens it without
    one (only an owner password restricts it); any other needs the password to open."""
    path = folder / ("restricted-aes256.pdf" if not user_password else "locked-aes256.pdf")
    with pikepdf.open(SAMPLE_SCANS) as pdf:
        pdf.save(path, encryption=pikepdf.Encryption(user=user_password, owner="owner", R=6))
    return path


def kids_loop(folder: Path) -> Path:
    """The page tree's last entry points back at the tree itself: a walk never ends."""
    data = _plain()
    tree = re.search(rb"\n(\d+) 0 obj\s*<<[^>]*?/Type /Pages", data) or re.search(
        rb"\n(\d+) 0 obj\s*<<(?:(?!endobj).)*?/Type /Pages", data, re.S)
    assert tree is not None
    root = tree.group(1)
    kids = re.search(rb"/Kids \[([^\]]*)\]", data)
    assert kids is not None
    refs = kids.group(1).split(b" R")
    last = refs[-2].strip()  # "n 0" of the last page
    looped = kids.group(1)[: kids.group(1).rfind(last)] + (root + b" 0").ljust(len(last))
    looped += kids.group(1)[len(looped):]
    return _write(folder, "kids-loop.pdf", data[: kids.start(1)] + looped + data[kids.end(1):])


def deeply_nested(folder: Path, depth: int = 200_000) -> Path:
    """An array nested `depth` deep in the document catalog (a parser's recursion bomb)."""
    data = _plain()
    catalog = re.search(rb"/Type /Catalog", data)
    assert catalog is not None
    bomb = b" /Deep " + b"[" * depth + b"]" * depth
    return _write(folder, "deeply-nested.pdf",
                  data[: catalog.end()] + bomb + data[catalog.end():])


def damaged_page(folder: Path, number: int) -> Path:
    """Page `number`'s dictionary replaced by a string of the same length."""
    data = _plain()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        object_number = pdf.pages[number - 1].obj.objgen[0]
    body = re.search(rb"\n%d 0 obj\n(.*?)endobj" % object_number, data, re.S)
    assert body is not None
    garbage = b"(not a page" + b" " * (len(body.group(1)) - 13) + b")\n"
    return _write(folder, f"damaged-page-{number}.pdf",
                  data[: body.start(1)] + garbage + data[body.end(1):])


def corrupt_image(folder: Path, number: int) -> Path:
    """Page `number`'s scanned JPEG cut short: its data ends in zeros."""
    path = folder / f"corrupt-image-page-{number}.pdf"
    with pikepdf.open(SAMPLE_SCANS) as pdf:
        (image,) = pdf.pages[number - 1].get_images().values()
        raw = image.read_raw_bytes()
        image.write(raw[:600] + b"\0" * 64, filter=pikepdf.Name.DCTDecode)
        pdf.save(path)
    return path



def missing_page_object(folder: Path, number: int) -> Path:
    """Page `number`'s entry in the page tree refers to an object the file does not hold."""
    data = _plain()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        object_number = pdf.pages[number - 1].obj.objgen[0]
        highest = max(obj.objgen[0] for obj in pdf.objects)
    missing = 10 ** len(str(object_number)) - 1  # as many digits: the patch keeps lengths
    assert missing > highest, "no free number of that many digits"
    return _write(folder, f"missing-page-{number}.pdf", _patched(
        data, b" %d 0 R " % object_number, b" %d 0 R " % missing))


def page_listed_twice(folder: Path) -> Path:
    """The class scan's page tree lists its first page a second time, at the end: 16 pages,
    as readers render them."""
    path = folder / "page-listed-twice.pdf"
    with pikepdf.open(SAMPLE_SCANS) as pdf:
        pdf.Root.Pages.Kids.append(pdf.Root.Pages.Kids[0])
        pdf.Root.Pages.Count = SAMPLE_PAGES + 1
        pdf.save(path)
    return path


def corrupt_bilevel_image(folder: Path) -> Path:
    """One page whose black-and-white (1 bit per pixel) image data is cut short, as a fax
    or bilevel scanner writes them."""
    path = folder / "corrupt-bilevel-image.pdf"
    width, height = 800, 1000
    data = zlib.compress(bytes([0b10101010]) * (width // 8 * height))
    with pikepdf.new() as pdf:
        image = pikepdf.Stream(pdf, data[: len(data) // 3], Type=pikepdf.Name.XObject,
                               Subtype=pikepdf.Name.Image, Width=width, Height=height,
                               ColorSpace=pikepdf.Name.DeviceGray, BitsPerComponent=1,
                               Filter=pikepdf.Name.FlateDecode)
        content = pikepdf.Stream(pdf, b"q 400 0 0 500 0 0 cm /Im0 Do Q")
        pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=[0, 0, 400, 500], Contents=content,
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)))))
        pdf.save(path)
    return path

# The corpus by case name, as the tests name them.
CASES: dict[str, Callable[[Path], Path]] = {
    "count 3": lambda folder: count_says(folder, 3),
    "count 99": lambda folder: count_says(folder, 99),
    "2001 pages, count 100": lambda folder: many_pages_counting_few(folder, 2001, 100),
    "owner password only": lambda folder: encrypted(folder, ""),
    "user password": lambda folder: encrypted(folder, "secret"),
    "kids loop": kids_loop,
    "deeply nested": deeply_nested,
    "page 1 damaged": lambda folder: damaged_page(folder, 1),
    "page 8 damaged": lambda folder: damaged_page(folder, 8),
    "image of page 5 corrupt": lambda folder: corrupt_image(folder, 5),
    "page 9 missing": lambda folder: missing_page_object(folder, 9),
    "page listed twice": page_listed_twice,
    "bilevel image corrupt": corrupt_bilevel_image,
}


def make_all(folder: Path) -> dict[str, Path]:
    return {case: maker(folder) for case, maker in CASES.items()}
