"""Redaction of tokens in text that may echo them: server messages, headers, log lines."""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

REDACTED = "<redacted>"

# What counts as a copy of a token. A server, a proxy or a library may echo a token whole,
# cut off, cut out of its middle, URL-encoded (once or more) or in another case, so copies
# are looked for in a view of the text that is percent-decoded and lower-cased (tokens are
# ASCII), and a copy is any run of the token's characters, from any position in it, that is:
# - the whole token;
# - at least MIN_REDACTED_RUN characters long: that many characters of a token do not
#   occur in ordinary text by chance;
# - at least MIN_REDACTED_PREFIX characters long where a cut leaves it: at the start of
#   the token and at the end of the text or before an ellipsis; at the end of the token
#   and at the start of the text or after an ellipsis; or between two such cuts.
# A shorter run anywhere else is left alone, so a token that starts like a word (a demo
# token such as "reporting-...") does not mangle every line that uses the word.
MIN_REDACTED_PREFIX = 8
MIN_REDACTED_RUN = 16
_CUT_MARKS = ("…", "...")
# "%2541" is "A" encoded twice; three rounds of decoding see through that and more.
_DECODING_ROUNDS = 3
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_HEX = frozenset(string.hexdigits)


def redact(text: str, tokens: Iterable[str]) -> str:
    """`text` with every copy (see above) of each token replaced by REDACTED.

    Spans are found for all tokens on the original text and merged, so redacting one
    token can never hide (part of) another, overlapping one from its own redaction.
    """
    wanted = [token.translate(_ASCII_LOWER) for token in tokens if token]
    if not wanted:
        return text
    view, origin = _matching_view(text)
    spans: list[tuple[int, int]] = []
    for token in wanted:
        for start, end in _token_spans(view, token):
            spans.append(origin(start, end))
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    cursor = 0
    span_start, span_end = spans[0]
    for start, end in spans[1:]:
        if start <= span_end:
            span_end = max(span_end, end)
            continue
        pieces += [text[cursor:span_start], REDACTED]
        cursor = span_end
        span_start, span_end = start, end
    pieces += [text[cursor:span_start], REDACTED, text[span_end:]]
    return "".join(pieces)


def _matching_view(text: str) -> tuple[str, _OriginMap]:
    """`text` lower-cased and percent-decoded, and where each of its spans came from."""
    view = text.translate(_ASCII_LOWER)
    starts: Sequence[int] = range(len(text))
    ends: Sequence[int] = range(1, len(text) + 1)
    for _ in range(_DECODING_ROUNDS):
        if "%" not in view:
            break
        view, starts, ends = _percent_decoded(view, starts, ends)
    return view, _OriginMap(starts, ends)


class _OriginMap:
    """Maps a span of the view back to the span of the original text it was decoded from."""

    def __init__(self, starts: Sequence[int], ends: Sequence[int]) -> None:
        self._starts = starts
        self._ends = ends

    def __call__(self, start: int, end: int) -> tuple[int, int]:
        return self._starts[start], self._ends[end - 1]


def _percent_decoded(
    view: str, starts: Sequence[int], ends: Sequence[int]
) -> tuple[str, list[int], list[int]]:
    chars: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    index = 0
    while index < len(view):
        if view[index] == "%" and _is_hex_pair(view, index + 1):
            chars.append(chr(int(view[index + 1 : index + 3], 16)).translate(_ASCII_LOWER))
            new_starts.append(starts[index])
            new_ends.append(ends[index + 2])
            index += 3
        else:
            chars.append(view[index])
            new_starts.append(starts[index])
            new_ends.append(ends[index])
            index += 1
    return "".join(chars), new_starts, new_ends


def _is_hex_pair(view: str, index: int) -> bool:
    return index + 1 < len(view) and view[index] in _HEX and view[index + 1] in _HEX


@lru_cache(maxsize=64)
def _pieces(token: str) -> dict[str, tuple[int, ...]]:
    """Every MIN_REDACTED_PREFIX-character piece of `token` -> where it starts in it."""
    found: dict[str, list[int]] = {}
    for offset in range(len(token) - MIN_REDACTED_PREFIX + 1):
        found.setdefault(token[offset : offset + MIN_REDACTED_PREFIX], []).append(offset)
    return {piece: tuple(offsets) for piece, offsets in found.items()}


def _token_spans(view: str, token: str) -> Iterator[tuple[int, int]]:
    if len(token) < MIN_REDACTED_PREFIX:
        start = view.find(token)
        while start != -1:
            yield start, start + len(token)
            start = view.find(token, start + len(token))
        return
    pieces = _pieces(token)
    start = 0
    while start <= len(view) - MIN_REDACTED_PREFIX:
        offsets = pieces.get(view[start : start + MIN_REDACTED_PREFIX])
        end = 0
        for offset in offsets or ():
            run_end = _run_end(view, start, token, offset)
            if run_end > end and _is_copy(view, start, run_end, token, offset):
                end = run_end
        if end:
            yield start, end
            start = end
        else:
            start += 1


def _run_end(view: str, start: int, token: str, offset: int) -> int:
    """Where the run of `token`'s characters from `offset`, found at `start`, ends."""
    length = MIN_REDACTED_PREFIX
    while (
        offset + length < len(token)
        and start + length < len(view)
        and view[start + length] == token[offset + length]
    ):
        length += 1
    return start + length


def _is_copy(view: str, start: int, end: int, token: str, offset: int) -> bool:
    length = end - start
    if length == len(token) or length >= MIN_REDACTED_RUN:
        return True
    cut_before = start == 0 or view.endswith(_CUT_MARKS, 0, start)
    cut_after = end == len(view) or view.startswith(_CUT_MARKS, end)
    from_token_start = offset == 0
    to_token_end = offset + length == len(token)
    return (
        (from_token_start and cut_after)
        or (to_token_end and cut_before)
        or (cut_before and cut_after)
    )
