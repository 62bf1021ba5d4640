"""docker-compose.yml, the Dockerfiles, CONVENTIONS.md and the spec's ports must agree.

CONVENTIONS.md and the spec are read at test time (../shared from the repository root), so a change
on either side that is not mirrored on the other fails here instead of drifting silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, SERVICES

# Variables compose itself interpolates (worker replica counts); they never reach a service.
COMPOSE_ONLY = {"MATCHMAKER_WORKER_REPLICAS", "STATS_WORKER_REPLICAS"}
# Variables of the Python/pip runtime, not of the arcade.
RUNTIME = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_DISABLE_PIP_VERSION_CHECK"}


def expected_ports(spec_ports) -> dict[str, dict[str, int]]:
    """Per service image: the port variables and their spec defaults."""
    return {
        "matchmaker": {
            "PORT": spec_ports.port("matchmaker"),
            "METRICS_PORT": spec_ports.port("matchmaker worker"),
        },
        "stats_tracker": {
            "PORT": spec_ports.port("stats_tracker"),
            "METRICS_PORT": spec_ports.port("stats worker"),
        },
        "game_rps": {
            "CONTROL_PORT": spec_ports.port("game_rps server", "control"),
            "WS_PORT": spec_ports.port("game_rps server", "websocket"),
            "CLIENT_PORT": spec_ports.port("game_rps client"),
        },
    }


def service_of(definition: dict) -> str:
    """Which service folder a compose service is built from."""
    dockerfile = definition["build"]["dockerfile"]
    return dockerfile.split("/")[0]


def app_services(compose: dict) -> dict[str, dict]:
    return {name: d for name, d in compose["services"].items() if name != "redis"}


def test_conventions_are_read(conventions):
    assert set(conventions.commands) == {
        "matchmaker api",
        "stats_tracker api",
        "matchmaker worker",
        "stats_tracker worker",
        "game_rps server",
    }
    assert {"VARCADE_REDIS", "PORT", "METRICS_PORT", "JWT_SECRET"} <= conventions.variables


def test_compose_runs_exactly_the_conventions_start_commands(compose, conventions):
    used = {}
    for name, definition in app_services(compose).items():
        command = definition["command"]
        matches = [key for key, argv in conventions.commands.items() if argv == command]
        assert matches, f"{name}: {command} is not a start command of CONVENTIONS.md"
        assert matches[0].split()[0] == service_of(definition), name
        used[matches[0]] = name
    assert set(used) == set(conventions.commands), "every start command has a compose service"


def test_dockerfile_cmd_is_the_services_main_command(dockerfiles, conventions):
    main = {
        "matchmaker": "matchmaker api",
        "stats_tracker": "stats_tracker api",
        "game_rps": "game_rps server",
    }
    for service, dockerfile in dockerfiles.items():
        assert dockerfile.exec_form("CMD") == conventions.commands[main[service]], service


def test_dockerfile_ports_env_and_expose_match_the_spec(dockerfiles, spec_ports):
    for service, ports in expected_ports(spec_ports).items():
        dockerfile = dockerfiles[service]
        env = dockerfile.env()
        for variable, port in ports.items():
            assert env.get(variable) == str(port), (service, variable)
        [expose] = dockerfile.all("EXPOSE")
        assert sorted(int(p) for p in expose.split()) == sorted(ports.values()), service


def test_healthchecks_probe_healthz_on_the_port_the_command_serves(dockerfiles, compose):
    probe_variable = {"matchmaker": "PORT", "stats_tracker": "PORT", "game_rps": "CONTROL_PORT"}
    for service, dockerfile in dockerfiles.items():
        [health] = dockerfile.all("HEALTHCHECK")
        argv = json.loads(health.split("CMD", 1)[1])
        assert argv[:2] == ["python", "-c"], "a Python one-liner (slim images have no curl)"
        assert "/healthz" in argv[2]
        assert f"os.environ['{probe_variable[service]}']" in argv[2], service
    for name, definition in app_services(compose).items():
        if definition["command"][-1].endswith(".worker"):
            test = definition["healthcheck"]["test"]
            assert test[:3] == ["CMD", "python", "-c"], name
            assert "/healthz" in test[3] and "os.environ['METRICS_PORT']" in test[3], name
        else:
            assert "healthcheck" not in definition, f"{name} uses its image's HEALTHCHECK"


def test_compose_ports_and_variables_match(compose, spec_ports):
    expected = expected_ports(spec_ports)
    for name, definition in app_services(compose).items():
        service = service_of(definition)
        env = definition["environment"]
        is_worker = definition["command"][-1].endswith(".worker")
        wanted = {"METRICS_PORT"} if is_worker else set(expected[service]) - {"METRICS_PORT"}
        for variable in wanted:
            assert env.get(variable) == str(expected[service][variable]), (name, variable)
        published = {int(p.split(":")[-1]) for p in definition.get("ports", [])}
        assert published <= set(expected[service].values()), name
        assert env["VARCADE_REDIS"] == "redis://redis:6379"


def test_every_variable_is_a_conventions_variable(compose, dockerfiles, conventions):
    names = set()
    for definition in app_services(compose).values():
        names.update(definition["environment"])
    for dockerfile in dockerfiles.values():
        names.update(dockerfile.env())
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names.update(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    unknown = names - conventions.variables - COMPOSE_ONLY - RUNTIME
    assert not unknown, f"not in CONVENTIONS.md's environment table: {sorted(unknown)}"
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    # compose reads .env for these: the replica counts, and the services' own variables passed on
    # one by one (each service gets only the secrets it uses)
    assert interpolated <= COMPOSE_ONLY | conventions.variables
    assert interpolated - COMPOSE_ONLY <= names
    assert names >= COMPOSE_ONLY, ".env.example documents the replica settings"


def test_game_servers_registry_points_at_the_game_container(compose, spec_ports):
    for name in ("matchmaker", "matchmaker-worker"):
        [entry] = json.loads(compose["services"][name]["environment"]["GAME_SERVERS"])
        assert set(entry) == {"product_id", "game_server_url", "game_socket_url", "settings"}
        assert entry["game_server_url"] == (
            f"http://game-rps:{spec_ports.port('game_rps server', 'control')}"
        )
        assert entry["game_socket_url"].endswith(
            f":{spec_ports.port('game_rps server', 'websocket')}"
        )
        published = compose["services"]["game-rps"]["ports"]
        assert any(
            p.endswith(f":{spec_ports.port('game_rps server', 'websocket')}") for p in published
        ), "players reach the WebSocket from the host"


def test_compose_redis_services_and_restart_policies(compose):
    redis = compose["services"]["redis"]
    assert redis["command"] == ["redis-server", "--appendonly", "yes"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "redis-data" in compose["volumes"]
    assert "healthcheck" in redis and redis["restart"] == "unless-stopped"
    for name, definition in app_services(compose).items():
        assert definition["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert definition["restart"] in ("unless-stopped", "always"), name
        assert "env_file" not in definition, f"{name}: env_file would hand it every secret"
        if definition["command"][-1].endswith(".worker"):
            assert re.fullmatch(r"\$\{[A-Z_]+_REPLICAS:-1\}", str(definition["deploy"]["replicas"]))
            assert "ports" not in definition, f"{name}: replicas cannot share a host port"


# Each process gets only the secrets it uses (the game server reads JWT_SECRET in development only).
SECRETS_BY_SERVICE = {
    "matchmaker": {"JWT_SECRET", "GAME_SERVER_TOKEN"},
    "matchmaker-worker": {"GAME_SERVER_TOKEN"},
    "stats-tracker": set(),
    "stats-worker": set(),
    "game-rps": {"GAME_SERVER_TOKEN", "JWT_SECRET"},
}


def test_compose_gives_each_service_only_its_own_secrets(compose):
    services = app_services(compose)
    assert set(services) == set(SECRETS_BY_SERVICE)
    for name, definition in services.items():
        given = {k for k in definition["environment"] if "SECRET" in k or "TOKEN" in k}
        assert given == SECRETS_BY_SERVICE[name], name


def test_env_file_is_ignored_and_example_committed():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert (ROOT / ".env.example").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_shape(dockerfiles, service):
    dockerfile = dockerfiles[service]
    bases = dockerfile.all("FROM")
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-[a-z]+)?", bases[-1]), "slim, pinned version"
    [user] = dockerfile.all("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert dockerfile.instructions[-1][0] == "CMD"
    runs = " ".join(dockerfile.all("RUN"))
    assert "pip install --no-cache-dir --only-binary=:all: -r /tmp/build/requirements.txt" in runs
    assert "id=github_token" in runs, "private repositories: a BuildKit secret, never an ARG/ENV"
    assert not any(
        "TOKEN" in args.upper() for args in dockerfile.all("ARG") + dockerfile.all("ENV")
    )
    copies = dockerfile.all("COPY")
    assert f"{service}/requirements.txt tools/release/docker_requirements.py /tmp/build/" in copies
    assert f"{service}/ /app/" in copies


def test_dockerignore_keeps_what_the_dockerfiles_copy():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", "an allowlist: everything is excluded first"
    for kept in (*(f"!{s}/" for s in SERVICES), "!tools/release/docker_requirements.py"):
        assert kept in lines
    assert "**/tests/" in lines


def test_compose_builds_each_image_from_the_repository_root(compose):
    for name, definition in app_services(compose).items():
        assert definition["build"]["context"] == "."
        service = service_of(definition)
        assert Path(ROOT / definition["build"]["dockerfile"]).is_file()
        assert definition["image"] == f"varcade/{service}:local", name
