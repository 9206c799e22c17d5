"""Lint the deploy files and check they agree with the code: port, flags, rule file.

Linters: hadolint (Dockerfile), yamllint (every YAML we ship), check-jsonschema's
compose-spec schema, kubernetes-validate --strict (CRDs only warn) and
`systemd-analyze verify` when the binary exists.

The PrometheusRule in deploy/kubernetes is generated with the Prometheus rules file by
deploy/prometheus/build_rules.py (tests/test_alert_rules.py checks both are up to date).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONSTRAINTS = DEPLOY / "docker" / "constraints.txt"
HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD_UNIT = DEPLOY / "systemd" / "kb4-exporter.service"
SYSTEMD_ENV = DEPLOY / "systemd" / "kb4-exporter.env.example"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES_FILE = DEPLOY / "prometheus" / "rules" / "kb4_exporter.rules.yml"
PROMETHEUS_RULE = KUBERNETES / "prometheusrule.yaml"
YAMLLINT_CONFIG = DEPLOY / ".yamllint"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
SHARED_DESIGN = ROOT.parent / "shared" / "DESIGN.md"

PORT = 9897
HEALTH_PATH = "/-/healthy"
READY_PATH = "/-/ready"

# The "CLI contract" table of DESIGN.md (flag -> environment variable), copied here
# because the shared design folder is not part of a clone.
DESIGN_FLAGS: Mapping[str, str] = {
    "--config.file": "KB4_CONFIG_FILE",
    "--web.listen-address": "KB4_LISTEN_ADDRESS",
    "--web.config.file": "KB4_WEB_CONFIG_FILE",
    "--kb4.region": "KB4_REGION",
    "--kb4.base-url": "KB4_BASE_URL",
    "--kb4.api-token-file": "KB4_API_TOKEN_FILE",
    "--phisher.url": "KB4_PHISHER_URL",
    "--phisher.token-file": "KB4_PHISHER_TOKEN_FILE",
    "--kb4.requests-per-second": "KB4_REQUESTS_PER_SECOND",
    "--kb4.requests-per-minute": "KB4_REQUESTS_PER_MINUTE",
    "--kb4.daily-budget": "KB4_DAILY_BUDGET",
    "--refresh.interval": "KB4_REFRESH_INTERVAL",
    "--refresh.phisher-interval": "KB4_PHISHER_REFRESH_INTERVAL",
    "--state.dir": "KB4_STATE_DIR",
    "--phisher.lookback": "KB4_PHISHER_LOOKBACK",
    "--kri.remedial-pattern": "KB4_REMEDIAL_PATTERN",
}
# Flags outside that table that the deploy files may use: logging (STYLE.md) and
# the command switches of `serve`, plus click's own --help and --version.
SERVE_FLAGS: Mapping[str, str | None] = {
    "--log.level": "KB4_LOG_LEVEL",
    "--log.format": "KB4_LOG_FORMAT",
    "--demo": "KB4_DEMO",
    "--config.check": "KB4_CONFIG_CHECK",
}
CLICK_FLAGS = frozenset({"--help", "--version"})
# Token values straight from the environment (the *_FILE variants are preferred).
TOKEN_ENV = frozenset({"KB4_API_TOKEN", "KB4_PHISHER_TOKEN"})
KNOWN_FLAGS = frozenset(DESIGN_FLAGS) | frozenset(SERVE_FLAGS) | CLICK_FLAGS
KNOWN_ENV = (
    frozenset(DESIGN_FLAGS.values()) | {env for env in SERVE_FLAGS.values() if env} | TOKEN_ENV
)

# The command's name, not kb4-exporter-tokens, kb4-exporter.service or a path.
_COMMAND = re.compile(r"(?<![\w-])kb4-exporter(?![\w.:/-])")
_FLAG = re.compile(r"(?<![\w-])--[a-z0-9]+(?:[.-][a-z0-9]+)*")
_KB4_ENV = re.compile(r"\bKB4_[A-Z0-9_]+\b")


# -- helpers ---------------------------------------------------------------------------


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def tool(name: str) -> str:
    """A linter from the test dependencies: next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes manifest by kind."""
    by_kind: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert document["kind"] not in by_kind, f"two {document['kind']} manifests"
            by_kind[document["kind"]] = document
    return by_kind


def exporter_container() -> dict[str, Any]:
    containers = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "kb4-exporter"]
    return dict(container)


def unit_settings() -> list[tuple[str, str]]:
    """(key, value) pairs of the systemd unit, in order, comments left out."""
    pairs = []
    for line in SYSTEMD_UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def unit_values(key: str) -> list[str]:
    return [value for k, value in unit_settings() if k == key]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def project_version() -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return str(pyproject["project"]["version"])


def require_rules_file() -> None:
    if not RULES_FILE.exists():
        pytest.skip(
            f"!!! {RULES_FILE.relative_to(ROOT)} does not exist yet: the PrometheusRule "
            "cannot be compared with it. This skip must not survive the rules landing."
        )


# -- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    result = run([tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_and_healthchecked() -> None:
    instructions = dockerfile_instructions()
    images = [args.split()[0] for name, args in instructions if name == "FROM"]
    assert len(images) >= 2, "multi-stage build expected"
    for image in images:
        assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
    final_stage = instructions[
        max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :
    ]
    users = [args for name, args in final_stage if name == "USER"]
    assert users, "the runtime stage must switch to an unprivileged user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid"
    assert ("EXPOSE", str(PORT)) in final_stage
    (healthcheck,) = [args for name, args in final_stage if name == "HEALTHCHECK"]
    assert '"python"' in healthcheck and "healthcheck.py" in healthcheck
    entrypoint = [args for name, args in final_stage if name == "ENTRYPOINT"]
    assert entrypoint == ['["kb4-exporter"]']
    assert ("CMD", '["serve"]') in final_stage


def test_no_secret_reaches_an_image_layer() -> None:
    for name, args in dockerfile_instructions():
        if name in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(TOKEN|PASSWORD|SECRET)\w*=", args, re.IGNORECASE), args
        if name in ("COPY", "ADD"):
            assert not re.search(r"token|secret|\.env\b", args, re.IGNORECASE), args
    ignore = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", ".dockerignore must be an allow-list starting with '*'"


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    for name, args in dockerfile_instructions():
        if name != "COPY" or args.startswith("--from"):
            continue
        *sources, _destination = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} missing"
            assert any(source == entry or source.startswith(entry + "/") for entry in allowed), (
                f"{source} is copied but excluded by .dockerignore"
            )


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_normalise(name)] = version
    for dependency in pyproject["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = _normalise(requirement.name)
        assert name in pins, f"{name} is not pinned in {CONSTRAINTS.name}"
        assert requirement.specifier.contains(pins[name]), (name, pins[name], dependency)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the container health check --------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kb4_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_url_follows_the_environment(healthcheck: ModuleType, tmp_path: Path) -> None:
    assert healthcheck.health_url({}) == f"http://127.0.0.1:{PORT}{HEALTH_PATH}"
    assert healthcheck.health_url({"KB4_LISTEN_ADDRESS": "[::]:9100"}) == (
        f"http://127.0.0.1:9100{HEALTH_PATH}"
    )
    tls = tmp_path / "web.yml"
    tls.write_text("tls_server_config:\n  cert_file: a\n")
    auth_only = tmp_path / "auth.yml"
    auth_only.write_text("basic_auth_users:\n  a: b\n")
    assert healthcheck.health_url({"KB4_WEB_CONFIG_FILE": str(tls)}).startswith("https://")
    assert healthcheck.health_url({"KB4_WEB_CONFIG_FILE": str(auth_only)}).startswith("http://")


def test_healthcheck_against_a_running_exporter(
    healthcheck: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kb4_exporter.metrics.exposition import MetricsBody
    from kb4_exporter.web.pages import LandingPage
    from kb4_exporter.web.server import ExporterServer

    server = ExporterServer(
        listen_address="127.0.0.1:0",
        render_metrics=lambda accept, gzip_ok: MetricsBody(b"", "text/plain"),
        readiness=lambda: None,
        landing_page=LandingPage("t", "v", "d"),
    )
    server.start()
    port = server.port
    try:
        monkeypatch.setenv("KB4_LISTEN_ADDRESS", f"127.0.0.1:{port}")
        monkeypatch.delenv("KB4_WEB_CONFIG_FILE", raising=False)
        assert healthcheck.main() == 0
    finally:
        server.shutdown()
    assert healthcheck.main() == 1  # nothing listens any more


# -- YAML ------------------------------------------------------------------------------


def shipped_yaml() -> list[Path]:
    files = [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
    files += [*(ROOT / "grafana").rglob("*.yml"), *(ROOT / "grafana").rglob("*.yaml")]
    return sorted(files)


OWN_YAML = [COMPOSE, *sorted(KUBERNETES.glob("*.yaml")), YAMLLINT_CONFIG]


def test_every_shipped_yaml_file_passes_yamllint() -> None:
    result = run(
        [tool("yamllint"), "-c", str(YAMLLINT_CONFIG), "-f", "parsable", *map(str, shipped_yaml())]
    )
    errors = [line for line in result.stdout.splitlines() if "[error]" in line]
    assert not errors, "\n".join(errors)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_yaml_of_this_folder_has_no_yamllint_warnings() -> None:
    result = run([tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), *map(str, OWN_YAML)])
    assert result.returncode == 0, result.stdout + result.stderr


# -- docker compose --------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec() -> None:
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_demo_with_the_shipped_configuration() -> None:
    services = load_yaml(COMPOSE)["services"]
    assert set(services) >= {"kb4-exporter", "prometheus", "alertmanager", "grafana"}
    exporter = services["kb4-exporter"]
    assert exporter["command"] == ["serve", "--demo"]
    assert exporter["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (COMPOSE.parent / exporter["build"]["context"]).resolve() == ROOT
    assert f"127.0.0.1:{PORT}:{PORT}" in exporter["ports"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = (COMPOSE.parent / source).resolve()
                assert path.exists(), f"{name} mounts {source}, which does not exist"
    # The Prometheus config names the exporter by its compose service name and port.
    scrape_targets = [
        target
        for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    assert f"kb4-exporter:{PORT}" in scrape_targets


def test_compose_prometheus_sees_the_rule_file_its_config_loads() -> None:
    prometheus = load_yaml(COMPOSE)["services"]["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    container_config = Path(config_flag.partition("=")[2])
    mounts = {
        Path(container): (COMPOSE.parent / host).resolve()
        for host, container, *_ in (v.split(":") for v in prometheus["volumes"])
        if host.startswith(".")
    }
    assert mounts[container_config] == PROMETHEUS_CONFIG
    for rule_file in load_yaml(PROMETHEUS_CONFIG)["rule_files"]:
        in_container = container_config.parent / rule_file
        host = _host_path(in_container, mounts)
        assert host is not None, f"{in_container} is not mounted into the container"
        assert host == (PROMETHEUS_CONFIG.parent / rule_file).resolve()
        assert host == RULES_FILE


def _host_path(container_path: Path, mounts: Mapping[Path, Path]) -> Path | None:
    for container, host in mounts.items():
        if container_path == container or container in container_path.parents:
            return host / container_path.relative_to(container)
    return None


# -- Kubernetes ------------------------------------------------------------------------


def test_manifests_pass_kubernetes_validate_strict() -> None:
    files = sorted(map(str, KUBERNETES.glob("*.yaml")))
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    # Only the Prometheus Operator CRDs may lack a schema, and only as a warning.
    for line in (result.stdout + result.stderr).splitlines():
        assert line.startswith("WARN") and "monitoring.coreos.com" in line, line


def test_deployment_probes_and_security_context() -> None:
    deployment = manifests()["Deployment"]
    assert deployment["spec"]["replicas"] == 1, "a second replica would spend the budget twice"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    container = exporter_container()
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    (port,) = container["ports"]
    assert port["containerPort"] == PORT
    assert container["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": port["name"]}
    assert container["args"] == ["serve"]
    assert container["image"].rpartition(":")[2] == project_version()


def test_token_file_comes_from_the_mounted_secret() -> None:
    kinds = manifests()
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = exporter_container()
    env = {item["name"]: item.get("value") for item in container["env"]}
    token_file = Path(env["KB4_API_TOKEN_FILE"])
    secret_volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] in secret_volumes]
    assert token_file.parent == Path(mount["mountPath"])
    assert mount["readOnly"] is True
    secret = kinds["Secret"]
    assert secret_volumes[mount["name"]] == secret["metadata"]["name"]
    assert token_file.name in secret["stringData"]
    # The state directory is a writable volume, as the root file system is read-only.
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["KB4_STATE_DIR"] in mounted


def test_service_and_service_monitor_reach_the_container_port() -> None:
    kinds = manifests()
    container = exporter_container()
    (container_port,) = container["ports"]
    pod_labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = kinds["Service"]
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == PORT
    assert service_port["targetPort"] == container_port["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitor = kinds["ServiceMonitor"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"]
    assert endpoint["path"] == "/metrics"
    policy_ports = [
        p["port"] for rule in kinds["NetworkPolicy"]["spec"]["ingress"] for p in rule["ports"]
    ]
    assert policy_ports == [PORT]


def test_prometheus_rule_carries_exactly_the_rule_groups() -> None:
    require_rules_file()
    rule = load_yaml(PROMETHEUS_RULE)
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == load_yaml(RULES_FILE)["groups"], (
        "deploy/kubernetes/prometheusrule.yaml is out of date: run "
        ".venv/bin/python deploy/prometheus/build_rules.py"
    )


def test_prometheus_rule_spec_passes_promtool(tmp_path: Path) -> None:
    require_rules_file()
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("!!! promtool not installed (apt-get install prometheus): rule check skipped")
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump(load_yaml(PROMETHEUS_RULE)["spec"]))
    result = run([promtool, "check", "rules", str(extracted)])
    assert result.returncode == 0, result.stdout + result.stderr


# -- systemd ---------------------------------------------------------------------------


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("!!! systemd-analyze not installed: the unit file was NOT verified")
    # verify also checks that ExecStart's binary exists: point it at one that does.
    executable = Path(sys.executable).parent / "kb4-exporter"
    if not executable.exists():
        executable = Path(sys.executable)
    unit = tmp_path / SYSTEMD_UNIT.name
    unit.write_text(
        SYSTEMD_UNIT.read_text(encoding="utf-8").replace(
            "/opt/kb4_exporter/bin/kb4-exporter", str(executable)
        )
    )
    result = run([analyze, "verify", str(unit)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # verify exits 0 even on unknown keys


def test_systemd_unit_is_hardened_and_loads_the_token_as_a_credential() -> None:
    settings = dict(unit_settings())  # last value wins, as for systemd's single values
    for key, value in {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "kb4_exporter",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings.get(key) == value, key
    credentials = dict(entry.split(":", 1) for entry in unit_values("LoadCredential"))
    environment = dict(
        item.split("=", 1) for value in unit_values("Environment") for item in value.split()
    )
    token_file = environment["KB4_API_TOKEN_FILE"]
    assert token_file.startswith("%d/")
    assert token_file.removeprefix("%d/") in credentials
    (exec_start,) = unit_values("ExecStart")
    assert f"--state.dir=%S/{settings['StateDirectory']}" in exec_start.split()
    assert exec_start.split()[1] == "serve"


# -- consistency across everything -----------------------------------------------------


def deploy_texts() -> Iterator[tuple[Path, str]]:
    """The files whose flags and environment variables must exist in the CLI."""
    for path in (
        DOCKERFILE,
        COMPOSE,
        *sorted(KUBERNETES.glob("*.yaml")),
        SYSTEMD_UNIT,
        SYSTEMD_ENV,
        DEPLOY_DOC,
    ):
        if path.exists():
            yield path, path.read_text(encoding="utf-8")


def exporter_flags(text: str) -> set[str]:
    """Flags given to kb4-exporter: what follows the command's name on its line."""
    flags: set[str] = set()
    for line in text.splitlines():
        commands = list(_COMMAND.finditer(line))
        if commands:
            flags |= set(_FLAG.findall(line[commands[-1].end() :]))
    return flags


def test_deploy_files_use_only_flags_and_variables_of_the_cli() -> None:
    for path, text in deploy_texts():
        unknown_flags = exporter_flags(text) - KNOWN_FLAGS
        unknown_env = set(_KB4_ENV.findall(text)) - KNOWN_ENV
        assert not unknown_flags, f"{path.name}: unknown flags {sorted(unknown_flags)}"
        assert not unknown_env, f"{path.name}: unknown variables {sorted(unknown_env)}"
    # Structured places, not just text: compose command, container args, ExecStart.
    compose_command = load_yaml(COMPOSE)["services"]["kb4-exporter"]["command"]
    (exec_start,) = unit_values("ExecStart")
    for argument in [*compose_command, *exporter_container()["args"], *exec_start.split()[2:]]:
        if argument.startswith("--"):
            assert argument.partition("=")[0] in KNOWN_FLAGS, argument


def test_known_flags_exist_in_the_real_cli() -> None:
    from kb4_exporter.cli import serve

    options = {
        opt: param.envvar for param in serve.params for opt in param.opts if opt.startswith("--")
    }
    for flag, env in {**DESIGN_FLAGS, **SERVE_FLAGS}.items():
        assert flag in options, f"serve has no {flag}"
        assert options[flag] == env, (flag, options[flag], env)


def test_flag_list_matches_the_design_document() -> None:
    if not SHARED_DESIGN.exists():
        pytest.skip(f"{SHARED_DESIGN} is not beside this clone; the copy above is used as is")
    rows = re.findall(r"^\| `(--[^`]+)` \| `(KB4_[A-Z0-9_]+)` \|", SHARED_DESIGN.read_text(), re.M)
    assert dict(rows) == DESIGN_FLAGS


def test_every_deploy_file_uses_port_9897() -> None:
    listen_default = next(
        value for name, value in _dockerfile_env().items() if name == "KB4_LISTEN_ADDRESS"
    )
    assert listen_default == f":{PORT}"
    assert ("EXPOSE", str(PORT)) in dockerfile_instructions()
    compose = load_yaml(COMPOSE)["services"]["kb4-exporter"]
    assert compose["environment"]["KB4_LISTEN_ADDRESS"] == f":{PORT}"
    container = exporter_container()
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["KB4_LISTEN_ADDRESS"] == f":{PORT}"
    assert container["ports"][0]["containerPort"] == PORT
    (exec_start,) = unit_values("ExecStart")
    assert f"--web.listen-address=:{PORT}" in exec_start.split()
    # No other port number sneaks into the exporter's own files.
    for path, text in deploy_texts():
        if path in (COMPOSE, DEPLOY_DOC):
            continue  # these also name Prometheus, Alertmanager and Grafana ports
        for port in re.findall(r"(?<![\d.])(9\d{3})(?!\d)", text):
            assert int(port) == PORT, f"{path.name} mentions port {port}"


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for name, args in dockerfile_instructions():
        if name == "ENV":
            for item in args.split():
                key, _, value = item.partition("=")
                env[key] = value
    return env
