"""Command line: `serve`, `once`, `check` and `simulate`.

Flags use the Prometheus dotted style and every flag also reads an environment
variable. Flag values reach `config.build.build_settings` as plain strings so every problem
is reported in one go (exit 2) before any network call.

Each command imports what it runs when it runs: `--help` and `check` do not load the HTTP
server, and nothing but `simulate` and `--demo` loads the simulator.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from kb4_exporter import __version__
from kb4_exporter.config.build import RawOptions, build_settings, log_options
from kb4_exporter.config.describe import describe_settings
from kb4_exporter.config.problems import ConfigError
from kb4_exporter.config.settings import Settings
from kb4_exporter.logs import scrub, setup_logging

log = logging.getLogger(__name__)

EXIT_CONFIG = 2

F = TypeVar("F", bound=Callable[..., Any])

_COMMON_OPTIONS: list[tuple[str, str, str, str]] = [
    # flag, parameter name, environment variable, help
    ("--config.file", "config_file", "KB4_CONFIG_FILE", "YAML file listing one or more accounts."),
    ("--kb4.region", "region", "KB4_REGION", "KnowBe4 region: us, eu, ca, uk, de. [default: us]"),
    (
        "--kb4.base-url",
        "base_url",
        "KB4_BASE_URL",
        "Reporting API base URL. [default: from region]",
    ),
    (
        "--kb4.api-token-file",
        "api_token_file",
        "KB4_API_TOKEN_FILE",
        "File holding the Reporting API token (else the KB4_API_TOKEN env var).",
    ),
    (
        "--phisher.url",
        "phisher_url",
        "KB4_PHISHER_URL",
        "PhishER GraphQL URL. [default: from region]",
    ),
    (
        "--phisher.token-file",
        "phisher_token_file",
        "KB4_PHISHER_TOKEN_FILE",
        "File holding the PhishER token (else KB4_PHISHER_TOKEN); unset = PhishER off.",
    ),
    (
        "--kb4.requests-per-second",
        "requests_per_second",
        "KB4_REQUESTS_PER_SECOND",
        "Request pacing per second. [default: 4]",
    ),
    (
        "--kb4.requests-per-minute",
        "requests_per_minute",
        "KB4_REQUESTS_PER_MINUTE",
        "Request pacing per minute. [default: 50]",
    ),
    (
        "--kb4.daily-budget",
        "daily_budget",
        "KB4_DAILY_BUDGET",
        "Requests per rolling 24 h. [default: 2000 + seats from /v1/account]",
    ),
    (
        "--refresh.interval",
        "refresh_interval",
        "KB4_REFRESH_INTERVAL",
        "Refresh interval of training and phishing data. [default: 24h]",
    ),
    (
        "--refresh.phisher-interval",
        "phisher_refresh_interval",
        "KB4_PHISHER_REFRESH_INTERVAL",
        "Refresh interval of PhishER and User Event API data. [default: 1h]",
    ),
    (
        "--refresh.phisher-unresolved-interval",
        "phisher_unresolved_interval",
        "KB4_PHISHER_UNRESOLVED_INTERVAL",
        "Poll interval of the unresolved PhishER messages behind the paging signal "
        "(kb4_phisher_oldest_unresolved_age_seconds). [default: 5m]",
    ),
    (
        "--state.dir",
        "state_dir",
        "KB4_STATE_DIR",
        "Directory for warm-restart state. [default: none]",
    ),
    (
        "--phisher.lookback",
        "phisher_lookback",
        "KB4_PHISHER_LOOKBACK",
        "Window of the unresolved-by-severity PhishER counts. [default: 7d]",
    ),
    (
        "--phisher.unresolved-horizon",
        "phisher_unresolved_horizon",
        "KB4_PHISHER_UNRESOLVED_HORIZON",
        "How far back unresolved PhishER messages are followed for the paging signal "
        "(at least 1d). [default: 30d]",
    ),
    (
        "--kri.remedial-pattern",
        "remedial_pattern",
        "KB4_REMEDIAL_PATTERN",
        "Case-insensitive regex on campaign names marking remedial training. [default: remedial]",
    ),
    (
        "--user-events.url",
        "user_events_url",
        "KB4_USER_EVENTS_URL",
        "User Event API URL. [default: from region]",
    ),
    (
        "--user-events.token-file",
        "user_events_token_file",
        "KB4_USER_EVENTS_TOKEN_FILE",
        "File holding the User Event API token (else KB4_USER_EVENTS_TOKEN); unset = off.",
    ),
    (
        "--metrics.max-groups",
        "max_groups",
        "KB4_MAX_GROUPS",
        "Groups exported per account, largest first. [default: 50]",
    ),
    (
        "--metrics.max-psts",
        "max_psts",
        "KB4_MAX_PSTS",
        "Recent phishing security tests exported per account. [default: 20]",
    ),
    (
        "--metrics.max-campaigns",
        "max_campaigns",
        "KB4_MAX_CAMPAIGNS",
        "Training campaigns exported per account, most enrollments first. [default: 20]",
    ),
    (
        "--metrics.max-event-types",
        "max_event_types",
        "KB4_MAX_EVENT_TYPES",
        "User Event API event types exported per account. [default: 20]",
    ),
    ("--log.level", "log_level", "KB4_LOG_LEVEL", "debug, info, warn, error. [default: info]"),
    ("--log.format", "log_format", "KB4_LOG_FORMAT", "logfmt or json. [default: logfmt]"),
]

_WEB_OPTIONS: list[tuple[str, str, str, str]] = [
    (
        "--web.listen-address",
        "listen_address",
        "KB4_LISTEN_ADDRESS",
        "Address of /metrics. [default: :9897]",
    ),
    (
        "--web.config.file",
        "web_config_file",
        "KB4_WEB_CONFIG_FILE",
        "TLS and basic-auth config (exporter-toolkit format).",
    ),
]


def _options(table: list[tuple[str, str, str, str]]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        for flag, param, env, text in reversed(table):
            command = click.option(
                flag,
                param,
                envvar=env,
                show_envvar=True,
                default=None,
                help=text,
                metavar="TEXT",
            )(command)
        return command

    return decorate


def _config_check_option(command: F) -> F:
    return click.option(
        "--config.check",
        "config_check",
        is_flag=True,
        envvar="KB4_CONFIG_CHECK",
        show_envvar=True,
        help="Validate the configuration, print it with secrets redacted, and exit.",
    )(command)


def _demo_option(text: str) -> Callable[[F], F]:
    return click.option("--demo", is_flag=True, envvar="KB4_DEMO", show_envvar=True, help=text)


def _settings(options: dict[str, Any], demo: bool = False) -> Settings:
    """Validated settings, or exit 2 listing every problem."""
    raw = RawOptions(demo=demo)
    for key, value in options.items():
        if hasattr(raw, key) and value is not None:
            setattr(raw, key, value)
    # Before validation, which may log (a token file readable by others): every line
    # comes out in the chosen format.
    setup_logging(*log_options(raw))
    try:
        return build_settings(raw, os.environ)
    except ConfigError as err:
        click.echo(f"kb4-exporter: {scrub(str(err))}", err=True)
        sys.exit(EXIT_CONFIG)


def _exit_on_config_check(settings: Settings, config_check: bool) -> None:
    if not config_check:
        return
    if settings.demo:
        from kb4_exporter.commands.demo import planned_demo_settings

        settings = planned_demo_settings(settings)
    click.echo(describe_settings(settings))
    click.echo("configuration OK")
    sys.exit(0)


class _LazyCommand(click.Command):
    """A subcommand listed by `--help` without importing it; imported when it runs."""

    def __init__(self, name: str, target: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self._target = target  # "module:attribute"

    def load(self) -> click.Command:
        module, _, attribute = self._target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self._target} is not a click command")
        return command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The real command parses the arguments (and prints its own --help).
        return self.load().make_context(info_name, args, parent=parent, **extra)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kb4-exporter")
def main() -> None:
    """Prometheus exporter for KnowBe4 security-awareness KRIs."""


@main.command()
@_options(_COMMON_OPTIONS + _WEB_OPTIONS)
@_config_check_option
@_demo_option("Serve KRIs of the built-in simulated KnowBe4 org.")
def serve(config_check: bool, demo: bool, **options: Any) -> None:
    """Run the exporter daemon: refresh in the background, serve /metrics."""
    from kb4_exporter.commands.serve import run_daemon

    settings = _settings(options, demo=demo)
    _exit_on_config_check(settings, config_check)
    with _demo_accounts(settings) as effective:
        sys.exit(run_daemon(effective))


class _OnceCommand(click.Command):
    """`once`, whose help ends with what each failed source costs (built only for --help,
    so running a command never imports the KRI modules just for it)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from kb4_exporter.refresh.results import describe_source_kris

        self.epilog = (
            "Exit 0 only when every enabled source was read completely. A source that failed "
            "or was cut short by a page cap keeps its last complete data; the KRIs it feeds "
            "keep their last value computed from complete inputs, or are absent:\n\n\b\n"
            + describe_source_kris()
        )
        super().format_epilog(ctx, formatter)


@main.command(cls=_OnceCommand)
@_options(_COMMON_OPTIONS)
@_config_check_option
@_demo_option("Refresh from the built-in simulated KnowBe4 org.")
@click.option(
    "--textfile",
    envvar="KB4_TEXTFILE",
    show_envvar=True,
    metavar="PATH",
    help="Write the exposition atomically to this file (node_exporter textfile collector).",
)
def once(config_check: bool, demo: bool, **options: Any) -> None:
    """Refresh every source once and print the exposition."""
    from kb4_exporter.commands.once import run_once

    settings = _settings(options, demo=demo)
    _exit_on_config_check(settings, config_check)
    with _demo_accounts(settings) as effective:
        code = run_once(effective, click.echo)
    sys.exit(code)


@main.command()
@_options(_COMMON_OPTIONS)
@_config_check_option
def check(config_check: bool, **options: Any) -> None:
    """Test the connection: print org name, subscription level, seats and daily budget, and
    whether PhishER and the User Event API answer."""
    from kb4_exporter.commands.check import run_check

    settings = _settings(options)
    _exit_on_config_check(settings, config_check)
    sys.exit(run_check(settings, click.echo))


@contextmanager
def _demo_accounts(settings: Settings) -> Iterator[Settings]:
    """In demo mode, run the simulator in-process and point one account at it."""
    if not settings.demo:
        yield settings
        return
    from kb4_exporter.commands.demo import demo_settings

    with demo_settings(settings) as effective:
        yield effective


main.add_command(
    _LazyCommand(
        "simulate",
        "kb4_exporter.simulator.cli:simulate",
        "Serve simulated KnowBe4 APIs on loopback, for demos and tests.",
    )
)
