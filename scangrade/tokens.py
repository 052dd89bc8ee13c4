"""API tokens and the teachers they belong to.

The settings hold `teacher:<sha256 of the token>` entries (SCANGRADE_API_TOKENS), never the
tokens themselves: a leaked settings file or environment gives nobody access. Tokens are
random (`new_token`, 256 bits), so a plain SHA-256 is as strong as a slow password hash
would be, and a request is checked in microseconds. `scangrade token TEACHER` makes one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

TOKEN_BYTES = 32
TEACHER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
TOKEN_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class TokenEntry:
    teacher: str
    token_hash: str  # hex SHA-256 of the token


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def entry_for(teacher: str, token: str) -> str:
    """The settings entry that lets `token` in as `teacher`."""
    return f"{teacher}:{hash_token(token)}"


def parse_entry(text: str, number: int) -> TokenEntry:
    """One SCANGRADE_API_TOKENS entry; ValueError naming it (1-based) and the fix."""
    teacher, _, token_hash = text.strip().partition(":")
    if not TEACHER_NAME.fullmatch(teacher) or not TOKEN_HASH.fullmatch(token_hash):
        raise ValueError(
            f"SCANGRADE_API_TOKENS entry {number} is not teacher:<sha256 of the token>; make"
            " one with `scangrade token <teacher>` (tokens are never stored in the clear)")
    return TokenEntry(teacher, token_hash)


def teacher_of(entries: tuple[TokenEntry, ...], token: str) -> str | None:
    """The teacher whose token this is, or None; compares against every entry in constant
    time, so timing reveals nothing."""
    offered = hash_token(token).encode()
    found = None
    for entry in entries:
        if secrets.compare_digest(offered, entry.token_hash.encode()):
            found = entry.teacher
    return found
