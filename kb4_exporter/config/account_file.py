"""The account file (--config.file): its `accounts:` list layered on its `defaults:`,
which are layered on the account values given by flags and the environment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from kb4_exporter.config.account import ACCOUNT_KEYS, build_account, token_key_hint
from kb4_exporter.config.problems import Problems
from kb4_exporter.config.secrets import TokenSources
from kb4_exporter.config.settings import DEFAULT_ACCOUNT, AccountConfig

_FILE_KEYS = frozenset({"accounts", "defaults"})
_DEFAULTS_KEYS = ACCOUNT_KEYS - {"name"}
# A layer that names one source of a token replaces both from the layers below it, so an
# account's own `api_token_env` beats a token file given by flag.
_TOKEN_SOURCES = (
    ("api_token_file", "api_token_env"),
    ("phisher_token_file", "phisher_token_env"),
    ("user_events_token_file", "user_events_token_env"),
)
# A layer that sets a region drops URLs from the layers below: they belong to another region.
_REGION_URLS = ("base_url", "phisher_url", "user_events_url")
NO_REPORTING_AUTH_HINT = (
    "no Reporting API token: set api_token_file or api_token_env "
    "(or --kb4.api-token-file / KB4_API_TOKEN_FILE / KB4_API_TOKEN for every account)"
)


def accounts_from_file(
    path: str, flag_values: Mapping[str, Any], tokens: TokenSources, problems: Problems
) -> tuple[AccountConfig, ...]:
    """The accounts of the file at `path`, each on top of its defaults and `flag_values`."""
    loaded = _load_yaml(path, problems)
    if loaded is None:
        return ()
    document, root = loaded
    for key in sorted(set(document) - _FILE_KEYS, key=str):
        problems.add(f"{path}: unknown top-level key {key!r} (known: accounts, defaults)")
    defaults = _defaults(document.get("defaults") or {}, path, problems)
    entries = document.get("accounts")
    if not isinstance(entries, list) or not entries:
        problems.add(f"{path}: 'accounts' must be a non-empty list")
        return ()
    written_names = _written_account_names(root)
    seen: set[str] = set()
    accounts = []
    for index, entry in enumerate(entries):
        where = f"{path}: accounts[{index}]"
        if not isinstance(entry, Mapping):
            problems.add(f"{where} must be a mapping")
            continue
        _check_token_sources(entry, where, problems)
        values = _overlay((flag_values, defaults, entry))
        _check_unique_name(values.get("name", DEFAULT_ACCOUNT), seen, where, problems)
        account = build_account(
            values,
            tokens,
            where,
            problems,
            no_token_hint=NO_REPORTING_AUTH_HINT,
            written_name=written_names.get(index),
        )
        if account is not None:
            accounts.append(account)
    return tuple(accounts)


def _defaults(defaults: Any, path: str, problems: Problems) -> dict[str, Any]:
    """The keys of `defaults:` every account may inherit; others are reported once, here."""
    if not isinstance(defaults, Mapping):
        problems.add(f"{path}: 'defaults' must be a mapping")
        return {}
    where = f"{path}: defaults"
    for key in sorted(set(defaults) - _DEFAULTS_KEYS, key=str):
        hint = " (every account needs its own name)" if key == "name" else token_key_hint(key)
        problems.add(f"{where}: unknown key {key!r}{hint}")
    _check_token_sources(defaults, where, problems)
    return {key: value for key, value in defaults.items() if key in _DEFAULTS_KEYS}


def _check_unique_name(name: Any, seen: set[str], where: str, problems: Problems) -> None:
    # Checked apart from the account's other problems, so none hides a duplicate.
    if not isinstance(name, str):
        return
    if name in seen:
        problems.add(f"{where}: duplicate account name {name!r}")
    seen.add(name)


def _check_token_sources(layer: Mapping[Any, Any], where: str, problems: Problems) -> None:
    for file_key, env_key in _TOKEN_SOURCES:
        if layer.get(file_key) and layer.get(env_key):
            problems.add(f"{where}: set {file_key} or {env_key}, not both")


def _overlay(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Account values from the least to the most specific layer (flags, defaults, entry)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for pair in _TOKEN_SOURCES:
            if any(key in layer for key in pair):
                for key in pair:
                    merged.pop(key, None)
        if "region" in layer:
            for key in _REGION_URLS:
                if key not in layer:
                    merged.pop(key, None)
        inherited_caps = merged.get("page_caps")
        merged.update(layer)
        # Page caps merge per source, so an account can lower one cap and keep the rest.
        if isinstance(inherited_caps, Mapping) and isinstance(layer.get("page_caps"), Mapping):
            merged["page_caps"] = {**inherited_caps, **layer["page_caps"]}
    return merged


def _load_yaml(path: str, problems: Problems) -> tuple[Mapping[str, Any], yaml.Node] | None:
    """The document and its node tree (which keeps each value as written)."""
    try:
        with open(path, encoding="utf-8") as handle:
            loader = yaml.SafeLoader(handle)
            try:
                root = loader.get_single_node()
                document = None if root is None else loader.construct_document(root)
            finally:
                loader.dispose()
    except OSError as err:
        problems.add(f"--config.file {path}: cannot be read: {err.strerror}")
        return None
    except UnicodeDecodeError:
        problems.add(f"--config.file {path}: not UTF-8 text")
        return None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.add(f"--config.file {path}: not valid YAML{where}")
        return None
    if root is None or not isinstance(document, Mapping):
        problems.add(f"--config.file {path}: must be a YAML mapping with an 'accounts' list")
        return None
    return document, root


def _written_account_names(root: yaml.Node) -> dict[int, str]:
    """Each account's name as written in the file, by index: YAML reads 0042 as 34 and
    12:30 as 750, and a message must quote what the user wrote."""
    names: dict[int, str] = {}
    accounts = _mapping_value(root, "accounts")
    if not isinstance(accounts, yaml.SequenceNode):
        return names
    for index, entry in enumerate(accounts.value):
        name = _mapping_value(entry, "name")
        if isinstance(name, yaml.ScalarNode):
            names[index] = str(name.value)
    return names


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None
