"""The account-file corpus (tests/testdata/config): every `*.ok.yml` builds the accounts
its `.expected` file describes, every `*.bad.yml` fails with exactly the problem lines
its `.expected` file lists (FILE standing for the file's path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb4_exporter.config.build import RawOptions, build_settings
from kb4_exporter.config.describe import describe_settings
from kb4_exporter.config.problems import ConfigError

CORPUS = Path(__file__).parent / "testdata" / "config"
# The environment every corpus file is built in. KB4_API_TOKEN is what flags would give
# every account; the others are the variables the files name.
ENVIRON = {
    "KB4_API_TOKEN": "kb4-sentinel-Zq7xV2pL9mW4",
    "ACME_US_TOKEN": "acme-us-sentinel-4rTq8zLm2p",
    "ACME_US_PHISHER": "acme-us-phisher-sentinel-Wv5n",
    "ACME_EU_TOKEN": "acme-eu-sentinel-Hc2k9QxB7d",
    "ACME_EU_PHISHER": "acme-eu-phisher-sentinel-Jy6m",
    "ACME_EVENTS_TOKEN": "acme-events-sentinel-Pb3s8Ne",
}
# Written in a corpus file where a token must not go: never echoed either.
PASTED_TOKENS = ("phisher-sentinel-Kd83nWq1xT",)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.yml"))


def expected_lines(path: Path) -> list[str]:
    return path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


def assert_no_token_in(text: str) -> None:
    for token in (*ENVIRON.values(), *PASTED_TOKENS):
        assert token not in text


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: path.name)
def test_each_corpus_file_gives_what_its_expected_file_says(path: Path) -> None:
    raw = RawOptions(config_file=str(path))
    if path.name.endswith(".ok.yml"):
        described = describe_settings(build_settings(raw, ENVIRON))
        assert described.split("\naccounts:\n", 1)[1].splitlines() == expected_lines(path)
        assert_no_token_in(described)
    else:
        with pytest.raises(ConfigError) as caught:
            build_settings(raw, ENVIRON)
        problems = [problem.replace(str(path), "FILE") for problem in caught.value.problems]
        assert problems == expected_lines(path)
        assert_no_token_in(str(caught.value))


def test_the_corpus_has_good_and_bad_files_each_with_its_expected_file() -> None:
    files = corpus_files()
    kinds = {path.name.rsplit(".", 2)[1] for path in files}
    assert kinds == {"ok", "bad"}
    expected = {path.name for path in CORPUS.glob("*.expected")}
    assert expected == {path.with_suffix(".expected").name for path in files}
