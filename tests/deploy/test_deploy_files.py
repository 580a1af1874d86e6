"""The files under deploy/ parse, agree with each other and agree with the app: probes and the
scrape hit routes it serves, ports and labels line up, settings are real ``BONUS_*`` names,
and every ``bonus_*`` metric an alert or a Grafana panel uses is one that /metrics exports."""

import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from processing.runtime import Runtime
from processing.service.messaging.webhooks import observe_backlog
from processing.service.reports.customers import observe_programs
from processing.settings import Settings, admin_key_refusal, load_settings
from tests.conftest import Api, make_program
from tests.deploy import manifests as m

known_settings = {f"BONUS_{name.upper()}" for name in Settings.__struct_fields__}
secret_settings = {
    "BONUS_DATABASE_URL",
    "BONUS_REDIS_URL",
    "BONUS_ADMIN_KEY",
    "BONUS_SMS_TOKEN",
    "BONUS_SECRETS_KEYS",
    "BONUS_SMTP_PASSWORD",
}
# Labels Prometheus adds to every scraped series.
target_labels = {"instance", "job"}
# Postgres' default max_connections (100) less superuser_reserved_connections (3).
postgres_connections_max = 97
# A container must listen beyond its own loopback to be reached.
all_interfaces = "0.0.0.0"  # noqa: S104
api_labels = {"app.kubernetes.io/name": "bonus", "app.kubernetes.io/component": "api"}


def test_every_yaml_file_parses_into_mappings() -> None:
    files = m.yaml_files()
    names = {str(path.relative_to(m.deploy)) for path in files}
    assert {
        "docker-compose.yml",
        "prometheus/prometheus.yml",
        "prometheus/alerts.yml",
        "grafana/provisioning/datasources/prometheus.yml",
        "grafana/provisioning/dashboards/bonus.yml",
    } <= names
    assert any(name.startswith("k8s/") for name in names)
    for path in files:
        documents = m.load_yaml(str(path.relative_to(m.deploy)))
        assert documents, f"{path} is empty"
        assert all(isinstance(document, dict) for document in documents), path


def test_dockerfile_builds_in_one_stage_and_runs_unprivileged_in_another() -> None:
    stages = m.dockerfile_stages()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert runtime[0][1].split()[0] == "python:3.11-slim"
    assert any(k == "RUN" and "pip install" in a for k, a in builder)
    for keyword, arguments in builder:
        if keyword == "COPY" and "--from" not in arguments:
            *sources, _ = arguments.split()
            assert all((m.root / source).exists() for source in sources), arguments
    builder_name = stages[0][0][1].split()[-1]
    assert any(k == "COPY" and f"--from={builder_name}" in a for k, a in runtime)

    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric uid, which Kubernetes' runAsNonRoot can check"
    assert uid != "0"

    instructions = dict(runtime)
    assert json.loads(instructions["CMD"]) == ["bonus", "serve"]
    environment = m.dockerfile_env(runtime)
    assert environment["BONUS_HOST"] == all_interfaces
    assert instructions["EXPOSE"].split() == [environment.get("BONUS_PORT", "8000")]
    _, _, command = instructions["HEALTHCHECK"].partition(" CMD ")
    program, flag, code = json.loads(command)
    assert (program, flag) == ("python", "-c")
    assert "urllib.request" in code
    assert "/health/live" in code
    compile(code, "HEALTHCHECK", "exec")


def test_docker_ignore_file_admits_only_what_the_image_copies() -> None:
    lines = (m.deploy / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    admitted = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    copied = {
        source.rstrip("/")
        for keyword, arguments in m.dockerfile_stages()[0]
        if keyword == "COPY" and "--from" not in arguments
        for source in arguments.split()[:-1]
    }
    assert admitted == copied
    assert not admitted & {".venv", ".data", ".git", "tests", "loadtests"}


def test_no_deploy_file_ships_an_admin_key_the_server_would_accept() -> None:
    """Compose requires BONUS_ADMIN_KEY with no default; the Kubernetes Secret's placeholder is
    one that ``bonus serve`` refuses to start with, as it refuses the old compose default."""
    for name in ("api", "worker", "migrate"):
        given = m.compose()["services"][name]["environment"]["BONUS_ADMIN_KEY"]
        assert re.fullmatch(r"\$\{BONUS_ADMIN_KEY:\?[^}]+\}", given), given
    secret = m.kubernetes_object("Secret", "bonus-secrets")["stringData"]["BONUS_ADMIN_KEY"]
    for placeholder in (secret, "change-me-local-admin-key"):
        production = Settings(database_url="postgresql://db/x", redis_url="redis://r/0")
        refused = admin_key_refusal(msgspec.structs.replace(production, admin_key=placeholder))
        assert refused is not None, placeholder


def test_compose_wires_the_services_and_files_it_names() -> None:
    compose = m.compose()
    services = compose["services"]
    assert {"api", "worker", "migrate", "postgres", "redis", "prometheus", "grafana"} <= set(
        services
    )
    for name in ("api", "worker", "migrate"):
        service = services[name]
        context = (m.deploy / service["build"]["context"]).resolve()
        assert context == m.root
        assert (context / service["build"]["dockerfile"]).is_file()
        environment = service["environment"]
        assert set(environment) <= known_settings, set(environment) - known_settings
        assert secret_settings <= set(environment)
        assert environment["BONUS_ADMIN_KEY"].startswith("${BONUS_ADMIN_KEY")
    assert services["migrate"]["command"] == ["bonus", "migrate"]
    assert services["worker"]["command"] == ["bonus", "worker"]
    assert services["api"]["command"] == ["bonus", "serve"]
    assert services["api"]["environment"]["BONUS_EXPIRY_WORKER"] == "false"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "test" in services["postgres"]["healthcheck"]

    api_port = services["api"]["environment"]["BONUS_PORT"]
    assert [port.split(":")[-1] for port in services["api"]["ports"]] == [api_port]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (m.deploy / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Bind mounts of a compose service: source relative to deploy/ → path in the container."""
    found = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            found[str(Path(source))] = target
    return found


def test_prometheus_scrapes_the_api_and_loads_the_mounted_rules() -> None:
    services = m.compose()["services"]
    (config,) = m.load_yaml("prometheus/prometheus.yml")
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "bonus-api"]
    port = services["api"]["environment"]["BONUS_METRICS_PORT"]
    assert [t for c in job["static_configs"] for t in c["targets"]] == [f"api:{port}"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    mounted = mounts(services["prometheus"])
    assert mounted["prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert config["rule_files"] == [mounted["prometheus/alerts.yml"]]
    assert 'job="bonus-api"' in m.alert_expressions()["BonusApiTargetDown"]


def test_grafana_provisions_prometheus_and_the_dashboard_folder() -> None:
    services = m.compose()["services"]
    mounted = mounts(services["grafana"])
    assert mounted["grafana/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"
    assert mounted["grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    (sources,) = m.load_yaml("grafana/provisioning/datasources/prometheus.yml")
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert any(port.endswith(":9090") for port in services["prometheus"]["ports"])
    (providers,) = m.load_yaml("grafana/provisioning/dashboards/bonus.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == mounted["grafana/dashboards"]

    uids = set()
    for name in m.dashboard_files:
        dashboard = m.dashboard(name)
        uids.add(dashboard["uid"])
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == source["uid"]
        panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        for panel in panels:
            assert panel["targets"], panel["title"]
            for target in [panel, *panel["targets"]]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(target["expr"].strip() for target in panel["targets"])
    assert len(uids) == len(m.dashboard_files)
    assert sorted(path.name for path in (m.deploy / "grafana" / "dashboards").iterdir()) == sorted(
        m.dashboard_files
    )


def test_dashboard_and_alerts_cover_what_an_operator_watches() -> None:
    used = {
        m.family_of(name)
        for expression in m.dashboard_expressions().values()
        for name in m.series_names(expression)
    }
    assert {
        "bonus_requests",
        "bonus_request_duration_seconds",
        "bonus_rejections",
        "bonus_lock_wait_seconds",
        "bonus_degraded_requests",
        "bonus_db_pool_connections",
        "bonus_db_pool_connections_in_use",
        "bonus_db_pool_connections_max",
        "bonus_points",
        "bonus_live_check_accounts",
        "bonus_live_check_differences",
        "bonus_live_check_accounts_differing",
        "bonus_live_check_walk_completed_timestamp_seconds",
        "bonus_live_check_report_days_differing",
        "bonus_program_liability_points",
        "bonus_program_active_customers",
    } <= used
    alerts = m.alert_expressions()
    assert len(alerts) == len(m.alert_rules()), "alert names are unique"
    wanted = {
        "internal_error": "bonus_requests_total",
        "0.25": "bonus_request_duration_seconds_bucket",
        "bonus_redis_up": "bonus_degraded_requests_total",
        "1000": "bonus_expiry_backlog",
        "0.9": "bonus_db_pool_connections_in_use / bonus_db_pool_connections_max",
        "bonus_points_limit_refusals_total": "by (limit)",
        "bonus_auth_failures_total": "throttled",
        "bonus_messages_total": "by (channel)",
        "max(bonus_live_check_accounts_differing)": "> 0",
        "max(bonus_live_check_report_days_differing)": "> 0",
        "bonus_live_check_walk_completed_timestamp_seconds": "86400",
    }
    for first, second in wanted.items():
        assert any(first in e and second in e for e in alerts.values()), (first, second)
    for rule in m.alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        expression = m.without_strings(rule["expr"])
        for opening, closing in ("()", "{}", "[]"):
            assert expression.count(opening) == expression.count(closing), rule["alert"]


def test_kubernetes_objects_are_namespace_free_and_complete() -> None:
    found = {}
    for item in m.kubernetes_objects():
        assert "namespace" not in item["metadata"], item["metadata"]["name"]
        found[item["kind"], item["metadata"]["name"]] = item["apiVersion"]
    assert found == {
        ("ConfigMap", "bonus-config"): "v1",
        ("Secret", "bonus-secrets"): "v1",
        ("Job", "bonus-migrate"): "batch/v1",
        ("Deployment", "bonus-api"): "apps/v1",
        ("Service", "bonus-api"): "v1",
        ("HorizontalPodAutoscaler", "bonus-api"): "autoscaling/v2",
        ("PodDisruptionBudget", "bonus-api"): "policy/v1",
        ("Deployment", "bonus-worker"): "apps/v1",
    }


def test_api_deployment_probes_ports_identity_and_shutdown() -> None:
    deployment = m.kubernetes_object("Deployment", "bonus-api")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = m.only_container(deployment)
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert container["args"] == ["bonus", "serve"]

    config = m.kubernetes_object("ConfigMap", "bonus-config")["data"]
    port, metrics = container["ports"]
    assert port["containerPort"] == int(config["BONUS_PORT"])
    assert metrics == {"name": "metrics", "containerPort": 9100, "protocol": "TCP"}
    assert metrics["containerPort"] == int(config["BONUS_METRICS_PORT"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == config["BONUS_METRICS_PORT"]
    assert str(port["containerPort"]) == dict(m.dockerfile_stages()[-1])["EXPOSE"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])

    user = dict(m.dockerfile_stages()[-1])["USER"].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(user)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]

    grace = pod["terminationGracePeriodSeconds"]
    assert grace == 30
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert int(command[1]) > 0
    assert int(command[1]) + m.uvicorn_graceful_seconds() < grace


def test_service_hpa_and_pdb_point_at_the_api_pods() -> None:
    deployment = m.kubernetes_object("Deployment", "bonus-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    port, _ = m.only_container(deployment)["ports"]
    worker_labels = m.kubernetes_object("Deployment", "bonus-worker")["spec"]["template"]
    worker_labels = worker_labels["metadata"]["labels"]

    service = m.kubernetes_object("Service", "bonus-api")["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["ports"]] in ([port["name"]], [port["containerPort"]])

    hpa = m.kubernetes_object("HorizontalPodAutoscaler", "bonus-api")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["minReplicas"] >= deployment["spec"]["replicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    pdb = m.kubernetes_object("PodDisruptionBudget", "bonus-api")["spec"]
    assert pdb["selector"]["matchLabels"] == api_labels
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert not pdb["selector"]["matchLabels"].items() <= worker_labels.items()
    assert pdb["minAvailable"] == 1 < hpa["minReplicas"]


def test_worker_and_migration_job_share_the_image_and_settings() -> None:
    api = m.only_container(m.kubernetes_object("Deployment", "bonus-api"))
    worker_deployment = m.kubernetes_object("Deployment", "bonus-worker")
    worker = m.only_container(worker_deployment)
    job = m.kubernetes_object("Job", "bonus-migrate")
    migrate = m.only_container(job)
    assert worker["args"] == ["bonus", "worker"]
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9101}]
    annotations = worker_deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9101"
    assert migrate["args"] == ["bonus", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    for workload, container in ((worker_deployment, worker), (job, migrate)):
        assert container["image"] == api["image"]
        assert container["envFrom"] == api["envFrom"]
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    kinds = {"configMapRef": "ConfigMap", "secretRef": "Secret"}
    for source in api["envFrom"]:
        ((reference, target),) = source.items()
        m.kubernetes_object(kinds[reference], target["name"])


def test_config_map_and_secret_hold_real_settings_in_the_right_place() -> None:
    config = m.kubernetes_object("ConfigMap", "bonus-config")["data"]
    secret = m.kubernetes_object("Secret", "bonus-secrets")
    assert set(config) <= known_settings, set(config) - known_settings
    assert not set(config) & secret_settings
    assert set(secret["stringData"]) == secret_settings
    assert all(isinstance(value, str) for value in config.values())
    settings = load_settings({**config, **secret["stringData"]})
    assert settings.expiry_worker is False
    assert settings.host == all_interfaces
    assert settings.workers == 1
    assert not settings.embedded
    assert (settings.sms_provider, settings.sms_token) == ("http", "CHANGE_ME")
    assert (settings.email_provider, settings.smtp_password) == ("smtp", "CHANGE_ME")
    assert settings.message_relay is False


def pool_max(container: dict[str, Any], config: dict[str, str]) -> int:
    own = {item["name"]: item["value"] for item in container.get("env", [])}
    return int(own.get("BONUS_DB_POOL_MAX", config["BONUS_DB_POOL_MAX"]))


def test_the_largest_scale_fits_in_postgres_connections() -> None:
    config = m.kubernetes_object("ConfigMap", "bonus-config")["data"]
    hpa = m.kubernetes_object("HorizontalPodAutoscaler", "bonus-api")["spec"]
    api = m.only_container(m.kubernetes_object("Deployment", "bonus-api"))
    worker_deployment = m.kubernetes_object("Deployment", "bonus-worker")
    worker = m.only_container(worker_deployment)
    migrate = m.only_container(m.kubernetes_object("Job", "bonus-migrate"))
    total = (
        hpa["maxReplicas"] * pool_max(api, config)
        + worker_deployment["spec"]["replicas"] * pool_max(worker, config)
        + pool_max(migrate, config)
    )
    assert total <= postgres_connections_max


# ---- against the running app --------------------------------------------------------------


def http_paths_in_deploy_files() -> set[str]:
    paths = set()
    for item in m.kubernetes_objects():
        if item["kind"] == "Deployment":
            container = m.only_container(item)
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if probe in container:
                    paths.add(container[probe]["httpGet"]["path"])
    healthcheck = dict(m.dockerfile_stages()[-1])["HEALTHCHECK"]
    paths.update(re.findall(r"/health/\w+", healthcheck))
    (config,) = m.load_yaml("prometheus/prometheus.yml")
    paths.update(job.get("metrics_path", "/metrics") for job in config["scrape_configs"])
    return paths


async def test_paths_in_deploy_files_are_routes_the_app_serves(
    api: Api, settings: Settings, runtime: Runtime
) -> None:
    paths = http_paths_in_deploy_files()
    assert {"/health/live", "/health/ready", "/metrics"} <= paths
    routes = {route.path for route in create_app(settings, runtime).routes}
    assert paths <= routes, paths - routes
    for path in paths:
        response = await api.client.get(path)
        assert response.status_code == 200, (path, response.text)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def serve_one_request_without_redis(settings: Settings) -> None:
    """An accrual through an app whose Redis refuses connections: the degraded path, so that
    bonus_degraded_requests_total has a labelled series too."""
    chosen = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    runtime = await Runtime.open(chosen)
    try:
        transport = httpx.ASGITransport(app=create_app(chosen, runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            harness = Api(client, runtime)
            harness.program_id, _, harness.pos_key = await make_program(runtime, "No Redis")
            await harness.customer(phone="+79120000002", points=5)
    finally:
        await runtime.close()


@pytest.fixture
async def exported(api: Api, settings: Settings) -> dict[str, Metric]:
    """What /metrics exports after an accrual, a reserve, a refused reserve and a degraded
    request, and once the worker has read the program gauges, by family name."""
    customer = await api.customer()
    await api.accrue(customer, 50)
    assert (await api.reserve(customer, 20)).status_code == 201
    assert (await api.reserve(customer, 1_000)).status_code == 409
    await serve_one_request_without_redis(settings)
    await observe_backlog(api.runtime.database)  # what the relay sets when it is idle
    await observe_programs(api.runtime.database)  # what the worker sets every minute
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def used_series() -> dict[str, set[str]]:
    """Every bonus_* series name used by an alert or a panel → where it is used."""
    used: dict[str, set[str]] = {}
    for where, expression in m.all_expressions().items():
        for name in m.series_names(expression):
            used.setdefault(name, set()).add(where)
    return used


async def test_every_metric_used_by_alerts_and_dashboard_is_exported(
    exported: dict[str, Metric],
) -> None:
    used = used_series()
    assert len(used) >= 10
    families = {m.family_of(name) for name in exported}
    missing = {
        name: sorted(where) for name, where in used.items() if m.family_of(name) not in families
    }
    assert not missing, f"used but not exported by /metrics: {missing}"


def series_of(family: Metric) -> set[str]:
    """The sample names a family of this type has: what a query may name."""
    name = family.name
    if family.type == "counter":
        return {f"{name}_total"}
    if family.type == "histogram":
        return {f"{name}{suffix}" for suffix in m.histogram_suffixes}
    return {name}


async def test_used_series_and_labels_exist_with_samples(exported: dict[str, Metric]) -> None:
    by_family = {m.family_of(name): family for name, family in exported.items()}
    labels: dict[str, set[str]] = {}
    for name in used_series():
        family = by_family[m.family_of(name)]
        assert name in series_of(family), f"{name}: a {family.type} exports {series_of(family)}"
        assert family.samples, f"{family.name} has no series after the traffic"
        labels[name] = target_labels.union(*(sample.labels for sample in family.samples))
    for where, expression in m.all_expressions().items():
        for name, matched in m.selector_labels(expression).items():
            assert matched <= labels[name], (where, name, matched - labels[name])
        available = set().union(*(labels[name] for name in m.series_names(expression)))
        grouped = m.grouping_labels(expression)
        assert grouped <= available, (where, grouped - available)


def test_haproxy_names_the_client_and_serve_trusts_only_the_configured_proxies() -> None:
    """Failed authentications are throttled per client: behind HAProxy that is the address it
    puts in X-Forwarded-For, which uvicorn believes only from BONUS_TRUSTED_PROXIES."""
    config = (m.deploy / "haproxy" / "haproxy.cfg").read_text()
    assert re.search(r"^\s*option forwardfor\b", config, re.MULTILINE)
    serve = (m.root / "processing" / "cli.py").read_text()
    assert "forwarded_allow_ips=settings.trusted_proxies" in serve
    assert load_settings({"BONUS_TRUSTED_PROXIES": "10.0.0.0/8"}).trusted_proxies == "10.0.0.0/8"
    assert load_settings({}).trusted_proxies == "127.0.0.1"
