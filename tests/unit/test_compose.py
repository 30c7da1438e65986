"""The committed compose files are what the stack definitions generate."""

from harness.stack.compose import COMPOSE_DIR, compose_file, toxiproxy_config


def test_compose_file_matches_the_stack_definitions():
    """compose/docker-compose.yml is regenerated output, not a hand-edited copy."""
    assert (COMPOSE_DIR / "docker-compose.yml").read_text() == compose_file(), \
        "compose/docker-compose.yml drifted: run `python -m harness.stack.compose`"


def test_toxiproxy_config_matches_the_stack_definitions():
    """compose/toxiproxy.json lists one proxy per data service, upstream = its network alias."""
    assert (COMPOSE_DIR / "toxiproxy.json").read_text() == toxiproxy_config(), \
        "compose/toxiproxy.json drifted: run `python -m harness.stack.compose`"
    assert '"upstream": "postgres:5432"' in toxiproxy_config()


def test_compose_pins_exact_tags_and_binds_loopback_only():
    """No image is `latest` and every published port is bound to 127.0.0.1."""
    text = compose_file()
    images = [line.split("image:")[1].strip() for line in text.splitlines() if "image:" in line]
    assert images and all(":" in ref and not ref.endswith(":latest") for ref in images)
    ports = [line for line in text.splitlines() if line.strip().startswith('- "') and ":" in line
             and "/" not in line]
    assert ports and all('"127.0.0.1:' in line for line in ports)


ECHO = COMPOSE_DIR.parent / "tests" / "fixtures" / "echo_service"


def test_a_declared_service_is_exported_as_containers_see_it():
    """A build= service gets its context, its placeholders the proxy aliases, its password a variable."""
    from harness.stack.declare import Ready, ServiceSpec

    echo = ServiceSpec("echo", 8080, build=ECHO, ready=Ready.http("/health"), restart="on-failure",
                       environment={"DEPENDENCY_ADDR": "{redis.host}:{redis.port}",
                                    "DATABASE_URL": "{postgres.url}"})
    text = compose_file([echo])
    block = text.split("  echo:\n")[1].split("\n  toxiproxy:")[0]
    assert "      context: ../tests/fixtures/echo_service" in block
    assert "        BASE_IMAGE: debian:bookworm-slim" in block
    assert "      DEPENDENCY_ADDR: proxy-redis:16379" in block
    assert "postgresql://harness:${POSTGRES_PASSWORD:?" in block and "@proxy-postgres:15432/harness" in block
    assert "    restart: on-failure" in block and "    depends_on: [toxiproxy, redis, postgres]" in block
    assert "aliases: [proxy-postgres, proxy-redis, proxy-echo]" in text
    assert '"127.0.0.1:18080:18080"' in text
    assert '"upstream": "echo:8080"' in toxiproxy_config([echo])


def test_a_local_command_is_listed_with_the_ports_it_reaches():
    """A run= service is no compose service: a comment says how to run it and what it reaches."""
    from harness.stack.declare import ServiceSpec

    web = ServiceSpec("web", 8000, run="uvicorn app:app --port {port}",
                      environment={"REDIS_URL": "{redis.url}"})
    text = compose_file([web])
    assert "# web runs on the workstation: uvicorn app:app --port {port} (reaching redis at 127.0.0.1:16379)" in text
    assert "  web:" not in text and '"name": "web"' not in toxiproxy_config([web])
