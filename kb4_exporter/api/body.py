"""Reading a response body within a limit, on the wire and after decompression.

A page of 500 records is a megabyte or two; a server may send far more (or a small gzip
that inflates to gigabytes). The body is read in chunks from urllib3, decompressed by
urllib3's own decoders, and never held past its limit: parsed, a body takes ten times its
size in memory.
"""

from __future__ import annotations

import zlib
from typing import Final

import requests
from urllib3.response import ContentDecoder, DeflateDecoder, GzipDecoder

# A body over this (on the wire, or after decompression, whichever comes first) is
# `bad_response`.
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
# The body of an error status is read for its message only.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
# Only what `_decoder` can decompress within the limits above.
ACCEPT_ENCODING: Final = "gzip, deflate"
_READ_CHUNK_BYTES: Final = 64 * 1024
# More digits than any byte count: no need to convert them to know the body is too large.
_MAX_LENGTH_DIGITS: Final = 20


class BodyTooLargeError(Exception):
    """The body went past its limit; it was not read further."""


def read_body(response: requests.Response) -> bytearray | None:
    """The body, decompressed, read in chunks and never past its limit.

    A 2xx body over MAX_RESPONSE_BYTES raises BodyTooLargeError; an error status's body
    over MAX_ERROR_BODY_BYTES is not needed whole, so it reads as None.
    """
    ok = 200 <= response.status_code < 300
    try:
        return _read_within(response, MAX_RESPONSE_BYTES if ok else MAX_ERROR_BODY_BYTES)
    except BodyTooLargeError:
        if ok:
            raise
        return None


def _read_within(response: requests.Response, limit: int) -> bytearray:
    """The limit holds on the wire and after decompression, each counted as it is read:
    a gzip bomb stops at the limit, and so does a compressed stream that never yields."""
    if _declares_more_than(response, limit):
        raise BodyTooLargeError
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    body = bytearray()
    on_the_wire = 0
    for data in response.raw.stream(_READ_CHUNK_BYTES, decode_content=False):
        on_the_wire += len(data)
        if on_the_wire > limit:
            raise BodyTooLargeError
        if decoder is None:
            body += data
        else:
            _inflate(decoder, data, body, limit)
        _ensure_within(body, limit)
    if decoder is not None:
        # A tail left undecompressed is output past the limit (see `_inflate`).
        if decoder.has_unconsumed_tail:
            raise BodyTooLargeError
        body += decoder.flush()
    _ensure_within(body, limit)
    return body


def _declares_more_than(response: requests.Response, limit: int) -> bool:
    declared = response.headers.get("Content-Length", "").strip()
    if len(declared) > _MAX_LENGTH_DIGITS:
        return True
    return declared.isascii() and declared.isdigit() and int(declared) > limit


def _ensure_within(body: bytearray, limit: int) -> None:
    if len(body) > limit:
        raise BodyTooLargeError


def _decoder(content_encoding: str) -> ContentDecoder | None:
    """urllib3's decoder for the encodings this exporter accepts (ACCEPT_ENCODING)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return GzipDecoder()
    if encoding == "deflate":
        return DeflateDecoder()
    raise requests.exceptions.ContentDecodingError(
        f"Content-Encoding {encoding[:40]!r} was not asked for ({ACCEPT_ENCODING})"
    )


def _inflate(decoder: ContentDecoder, data: bytes, body: bytearray, limit: int) -> None:
    """Decompress `data` into `body`, stopping just past `limit` (the bomb is never
    expanded further)."""
    try:
        body += decoder.decompress(data, max_length=limit + 1 - len(body))
        while decoder.has_unconsumed_tail and len(body) <= limit:
            more = decoder.decompress(b"", max_length=limit + 1 - len(body))
            if not more:
                break
            body += more
    except zlib.error as err:
        raise requests.exceptions.ContentDecodingError(f"cannot decompress: {err}") from None


def mib(size: int) -> str:
    """A byte count in MiB, for messages."""
    return f"{size / (1024 * 1024):g} MiB"
