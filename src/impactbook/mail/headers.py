"""The wire form of the headers that carry workbook text: ``To`` (funder names) and ``Subject``.

The standard library parses a header value given as text and decodes any RFC 2047 encoded word
in it, then writes the decoded text back out as it is (Python 3.11): a name such as
``=?utf-8?q?Fund=0D=0ABcc:_x=40evil.example?=`` becomes a line break and a ``Bcc`` header on the
wire, and a base64 word can turn one display name into two addresses. So these values are built
here, already folded, and stored with :meth:`email.message.Message.set_raw`, which writes them
unchanged. Text that a reader could take for structure (anything but plain atoms in a display
name; non-ASCII, over-long words or ``=?`` in a subject) goes out inside encoded words of its
own: a reader decodes those once, back into the literal text, and never into a header.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from impactbook.mail.text import one_line

# RFC 5322 recommends lines of at most 78 characters; RFC 2047 allows 75 per encoded word.
_MAX_LINE = 78
# UTF-8 bytes per encoded word: base64 of 39 bytes is 52 characters, the word 64 with its
# "=?utf-8?b?" and "?=", so one fits after "Subject: " on the first line.
_WORD_BYTES = 39
# A display name goes out as it is only when every word is an RFC 5322 atom; a quoted string
# would be decoded too (readers decode encoded words inside quotes).
_ATOM_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")
# A subject word goes out as it is when it is printable ASCII and short enough to fold.
_PLAIN_WORD_RE = re.compile(r"^[\x21-\x7e]{1,60}$")


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def encoded_words(text: str) -> list[str]:
    """``text`` as base64 encoded words, each holding whole characters (RFC 2047, 5)."""
    words: list[str] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8", "replace")  # a lone surrogate (from JSON) becomes "?"
        if chunk and len(chunk) + len(data) > _WORD_BYTES:
            words.append(_encoded_word(chunk))
            chunk = b""
        chunk += data
    if chunk:
        words.append(_encoded_word(chunk))
    return words


def _is_plain(word: str, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.match(word)) and "=?" not in word


def phrase_tokens(text: str) -> list[str]:
    """A display name as tokens: its words when all are atoms, else one encoded word.

    One word, however long (RFC 2047 asks for at most 75 characters): Python's parser keeps
    the space between two encoded words of a display name, where RFC 2047 drops it, so a name
    split in two would read differently in Python and in mail programs.
    """
    name = one_line(text)
    if not name:
        return []
    words = name.split(" ")
    if all(_is_plain(word, _ATOM_RE) for word in words):
        return words
    return [_encoded_word(name.encode("utf-8", "replace"))]


def unstructured_tokens(text: str) -> list[str]:
    """Subject text as tokens: its words when all are plain ASCII, else encoded words.

    Adjacent encoded words are joined without the space between them when decoded, so the
    spaces of encoded text travel inside the words.
    """
    line = one_line(text)
    words = line.split(" ") if line else []
    if all(_is_plain(word, _PLAIN_WORD_RE) for word in words):
        return words
    return encoded_words(line)


def fold(name: str, tokens: Sequence[str]) -> str:
    """``tokens`` joined by spaces, folded so lines stay within 78 characters where a token
    allows (a longer token, such as a long address, gets a line of its own)."""
    lines = [""]
    used = len(name) + 2  # "Name: "
    for token in tokens:
        if lines[-1] and used + 1 + len(token) > _MAX_LINE:
            lines.append("")
            used = 0
        if lines[-1]:
            lines[-1] += " "
            used += 1
        elif len(lines) > 1:
            lines[-1] = " "  # the folding white space that starts a continuation line
            used = 1
        lines[-1] += token
        used += len(token)
    return "\n".join(lines)


def mailbox_list_value(display_name: str, addresses: Sequence[str]) -> str:
    """The folded value of a ``To`` header: every address under the same display name.

    ``addresses`` must be plain ``local@domain`` mailboxes (the workbook's address rule).
    """
    phrase = phrase_tokens(display_name)
    tokens: list[str] = []
    for n, address in enumerate(addresses):
        separator = "," if n < len(addresses) - 1 else ""
        tokens += [*phrase, f"<{address}>{separator}"] if phrase else [address + separator]
    return fold("To", tokens)


def subject_value(text: str) -> str:
    """The folded value of a ``Subject`` header for ``text``."""
    return fold("Subject", unstructured_tokens(text))
