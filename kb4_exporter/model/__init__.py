"""Compact records of KnowBe4 data and the tolerant parsers that build them."""
