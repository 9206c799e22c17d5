"""Compact records of KnowBe4 data and the tolerant parsers that build them: `parsing`
(untrusted values), `reporting`, `phisher` and `user_events` (one module per API), and
`snapshot` (everything known about one account at one moment)."""
