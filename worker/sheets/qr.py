"""The QR payload printed on every sheet page: which exam, layout version, copy and page.

Format: `SCANGRADE:<exam_id>:<layout_version>:<copy>:<page>`, e.g. `SCANGRADE:alg-1:1:12:1`.
Exam ids and versions use a safe charset (no ':'), so the payload splits unambiguously and
a foreign QR code (a URL, a product code) never parses as one of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "SCANGRADE"
SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_NUMBER = r"[1-9][0-9]{0,5}"  # copies and pages are 1-based; six digits is plenty
_PAYLOAD = re.compile(rf"^{PREFIX}:({SAFE_NAME}):({SAFE_NAME}):({_NUMBER}):({_NUMBER})$")
MAX_EXAM_ID_LEN = 40  # keeps the payload within a version-5 QR code (0.65 mm modules)
MAX_VERSION_LEN = 16


@dataclass(frozen=True)
class QrPayload:
    exam_id: str
    layout_version: str
    copy: int  # 1-based copy number: one copy per student
    page: int  # 1-based page of the sheet within its copy


def validate_exam_id(exam_id: str) -> str:
    """Returns `exam_id` when it is safe to print in a QR code and to use in paths."""
    return _validate("exam id", exam_id, MAX_EXAM_ID_LEN)


def validate_version(version: str) -> str:
    return _validate("layout version", version, MAX_VERSION_LEN)


def _validate(what: str, value: str, max_len: int) -> str:
    if not isinstance(value, str) or not re.fullmatch(SAFE_NAME, value) or len(value) > max_len:
        raise ValueError(f"{what} {value!r} must be 1-{max_len} letters, digits, '_', '.' or "
                         "'-', starting with a letter or digit")
    return value


def encode_payload(exam_id: str, layout_version: str, copy: int, page: int) -> str:
    validate_exam_id(exam_id)
    validate_version(layout_version)
    for name, number in (("copy", copy), ("page", page)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError(f"{name} must be a positive integer, not {number!r}")
    payload = f"{PREFIX}:{exam_id}:{layout_version}:{copy}:{page}"
    if parse_payload(payload) is None:  # copy or page beyond what the format allows
        raise ValueError(f"copy {copy} / page {page} too large for the QR payload")
    return payload


def parse_payload(text: str | None) -> QrPayload | None:
    """The payload of one of our QR codes, or None for anything else."""
    if not text:
        return None
    match = _PAYLOAD.match(text.strip())
    if match is None:
        return None
    exam_id, version, copy, page = match.groups()
    if len(exam_id) > MAX_EXAM_ID_LEN or len(version) > MAX_VERSION_LEN:
        return None
    return QrPayload(exam_id, version, int(copy), int(page))
