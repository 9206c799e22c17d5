"""All KnowBe4 network traffic lives in this package; nothing above it imports requests."""
