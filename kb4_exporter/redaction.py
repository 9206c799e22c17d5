"""Redaction of tokens in text that may echo them: server messages, headers, log lines."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "<redacted>"

# Redaction also catches a cut-off copy of a token: a server, a proxy or a library may
# shorten what it echoes. A copy is recognised by its start, which must match the token's:
# - the whole token, anywhere;
# - at least MIN_REDACTED_RUN leading characters, anywhere: that many characters of a
#   token do not occur in ordinary text by chance;
# - at least MIN_REDACTED_PREFIX leading characters where a cut leaves them: at the end
#   of the text or right before an ellipsis.
# A shorter run anywhere else is left alone, so a token that starts like a word (a demo
# token such as "reporting-...") does not mangle every line that uses the word. What a
# cut can still leave is at most seven leading characters (for a JWT, part of its public
# header), or fifteen followed by other text.
MIN_REDACTED_PREFIX = 8
MIN_REDACTED_RUN = 16
_CUT_MARKS = ("…", "...")


def redact(text: str, tokens: Iterable[str]) -> str:
    """`text` with every whole or cut-off copy of each token replaced by REDACTED.

    Spans are found for all tokens on the original text and merged, so redacting one
    token can never hide (part of) another, overlapping one from its own redaction.
    """
    spans: list[tuple[int, int]] = []
    for token in tokens:
        spans.extend(_token_spans(text, token))
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


def _token_spans(text: str, token: str) -> Iterable[tuple[int, int]]:
    head = token[:MIN_REDACTED_PREFIX]
    if not head:
        return
    start = text.find(head)
    while start != -1:
        end = start + len(head)
        while end - start < len(token) and end < len(text) and text[end] == token[end - start]:
            end += 1
        run = end - start
        cut = end == len(text) or text.startswith(_CUT_MARKS, end)
        if run == len(token) or run >= MIN_REDACTED_RUN or cut:
            yield start, end
            start = text.find(head, end)
        else:
            start = text.find(head, start + 1)
