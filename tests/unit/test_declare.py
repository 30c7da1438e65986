"""Service declarations are checked before anything starts: each mistake is one line naming the
service and the fix; placeholders, dependencies, start order and proxy ports follow the rules."""

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.stack import catalog
from harness.stack.declare import (Endpoint, Ready, ServiceSpec, assign_proxy_ports, check_declared,
                                   command_args, placeholders, render)

ECHO = Path(__file__).resolve().parents[1] / "fixtures" / "echo_service"


def web(**kw) -> ServiceSpec:
    fields = {"image": "example/web:1", "ready": Ready.http("/health"),
              "environment": {"DATABASE_URL": "{postgres.url}"}} | kw
    return ServiceSpec("web", 8080, **fields)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_exactly_one_form_is_declared():
    """Two forms (or none) is one line naming the service and the three forms."""
    with pytest.raises(ConfigError) as caught:
        ServiceSpec("web", 8080, image="example/web:1", run="python3 app.py --port {port}")
    text = one_line(caught)
    assert text.startswith("service 'web': declare exactly one of image=, build= or run=")
    assert "found: image, run" in text
    with pytest.raises(ConfigError, match="found: none"):
        ServiceSpec("web", 8080)


def test_build_directory_needs_a_dockerfile(tmp_path: Path):
    """build= pointing at a directory without a Dockerfile names the directory."""
    with pytest.raises(ConfigError) as caught:
        ServiceSpec("web", 8080, build=tmp_path)
    assert f"build directory {str(tmp_path)!r} has no Dockerfile" in one_line(caught)
    assert ServiceSpec("web", 8080, build=ECHO).build == ECHO


def test_local_command_must_receive_its_port():
    """A local command that never gets {port} (in run= or its environment) is refused."""
    with pytest.raises(ConfigError) as caught:
        ServiceSpec("web", 8080, run="python3 app.py")
    assert "{port}" in one_line(caught)
    assert ServiceSpec("web", 8080, run="python3 app.py", environment={"PORT": "{port}"}).local


@pytest.mark.parametrize("bad, needle", [
    ({"restart": "sometimes"}, "restart must be one of no, on-failure, always, unless-stopped"),
    ({"depends_on": "postgres"}, "write depends_on=('postgres',)"),
    ({"kind": "mysql"}, "kind must be one of"),
])
def test_bad_fields_are_one_line(bad, needle):
    """A bad restart policy, a string for depends_on or an unknown kind: one line with the fix."""
    with pytest.raises(ConfigError) as caught:
        web(**bad)
    assert needle in one_line(caught) and one_line(caught).startswith("service 'web'")


def test_bad_names_are_refused():
    """Names become aliases and proxy names: upper case, dots and reserved words are refused."""
    for name in ("Web", "a.b", "toxiproxy", ""):
        with pytest.raises(ConfigError, match="rename the service"):
            ServiceSpec(name, 80, image="x:1")


def test_unknown_dependency_names_service_and_declared_ones():
    """depends_on naming no declared service: the line names both and says what to do."""
    with pytest.raises(ConfigError) as caught:
        check_declared([catalog.postgres(), catalog.redis(), web(depends_on=("postgress",))])
    text = one_line(caught)
    assert text.startswith("service 'web' depends on 'postgress', which the stack does not declare")
    assert "declared: postgres, redis, web" in text and "fix the name" in text


@pytest.mark.parametrize("value, needle", [
    ("{postgress.url}", "the stack declares no service 'postgress'"),
    ("{postgres.uri}", "a service has no 'uri'"),
    ("{hostname}", "which is not a placeholder of this stack"),
    ("{postgres.url", "unbalanced brace"),
])
def test_unknown_placeholder_is_one_line(value, needle):
    """Each kind of placeholder mistake is one line naming the service, the variable and the fix."""
    with pytest.raises(ConfigError) as caught:
        check_declared([catalog.postgres(), web(environment={"DATABASE_URL": value})])
    text = one_line(caught)
    assert needle in text
    if "brace" not in needle:
        assert text.startswith("service 'web': environment DATABASE_URL refers to")


def test_placeholders_make_dependencies_and_start_order():
    """A service named by a placeholder is a dependency: it starts in an earlier level."""
    levels = check_declared([catalog.postgres(), catalog.redis(),
                             web(environment={"R": "{redis.url}"}, depends_on=("postgres",))])
    assert [[s.name for s in level] for level in levels] == [["postgres", "redis"], ["web"]]
    assert web(environment={"R": "{redis.url}"}).dependencies() == ("redis",)
    assert placeholders("a {{literal}} {postgres.host}:{port}") == ["postgres.host", "port"]


def test_a_circle_of_dependencies_is_refused():
    """Two services that need each other cannot start: one line naming both."""
    a = ServiceSpec("a", 80, image="x:1", depends_on=("b",))
    b = ServiceSpec("b", 80, image="x:1", environment={"A": "{a.url}"})
    with pytest.raises(ConfigError, match="services a, b depend on each other in a circle"):
        check_declared([a, b])


def test_a_container_cannot_depend_on_a_local_command():
    """Containers reach only the run's network, so a local dependency is a declaration mistake."""
    local = ServiceSpec("api", 9000, run="python3 api.py --port {port}")
    with pytest.raises(ConfigError, match="'web' runs in a container but depends on 'api'"):
        check_declared([local, web(environment={"API": "{api.url}"})])


def test_duplicate_names_differing_are_refused():
    """The same name declared twice with different fields is a mistake; the same twice is not."""
    with pytest.raises(ConfigError, match="declared twice"):
        check_declared([web(), web(restart="always")])
    assert len(check_declared([catalog.postgres(), web(), web()])[-1]) == 1


def test_proxy_ports_follow_the_service_ports():
    """port + 10000 by default, the declared proxy_port when given, 20000 upwards on collision."""
    other = ServiceSpec("other", 8080, image="x:1")
    local = ServiceSpec("api", 9000, run="api --port {port}")
    ports = assign_proxy_ports([catalog.postgres(), catalog.redis(), web(), other, local])
    assert ports == {"postgres": 15432, "redis": 16379, "web": 18080, "other": 20000}
    with pytest.raises(ConfigError, match="proxy_port 15432 is already used"):
        assign_proxy_ports([catalog.postgres(), ServiceSpec("x", 1, image="x:1", proxy_port=15432)])


def test_render_fills_endpoints_and_own_fields():
    """Placeholders become the endpoint as the client sees it; {{ stays a literal brace."""
    spec = web(environment={"DATABASE_URL": "{postgres.url}"})
    pg = catalog.postgres()
    seen = Endpoint("proxy-postgres", 15432, "s3cret", pg.user, pg.dbname, pg.url)
    own = Endpoint("web", 8080, "mine")
    assert render(spec, "{postgres.url}", own=own, endpoints={"postgres": seen}) == \
        "postgresql://harness:s3cret@proxy-postgres:15432/harness"
    assert render(spec, "--port {port} {{x}} {password}", own=own, endpoints={}) == "--port 8080 {x} mine"
    assert command_args(spec, "uvicorn app:app --port '8 0'") == ["uvicorn", "app:app", "--port", "8 0"]


def test_ready_checks_give_their_probe_bytes():
    """The fault probes' hello follows the readiness check; an explicit hello wins."""
    assert web().probe_bytes == b"GET /health HTTP/1.0\r\n\r\n"
    assert catalog.redis().probe_bytes == b"PING\r\n"
    assert catalog.postgres().probe_bytes == catalog.POSTGRES_HELLO
    assert str(Ready.sql()) == "SQL SELECT 1"
    with pytest.raises(ConfigError, match="must start with '/'"):
        Ready.http("health")


def test_data_services_follow_their_images_contracts():
    """Generated credentials reach the servers by placeholder; Elasticsearch is one secured-off node."""
    assert catalog.postgres().environment["POSTGRES_PASSWORD"] == "{password}"
    assert "{password}" in catalog.redis().command
    assert catalog.postgres(data_tmpfs_mb=160).tmpfs == {catalog.POSTGRES_DATA: "160m"}
    es = catalog.elasticsearch(heap_mb=256).environment
    assert es["discovery.type"] == "single-node" and es["xpack.security.enabled"] == "false"
    assert es["ES_JAVA_OPTS"] == "-Xms256m -Xmx256m" and es["path.repo"] == catalog.ELASTICSEARCH_REPO


def test_reference_app_reaches_its_dependencies_through_their_proxies():
    """The reference service is declared like any other: proxied URLs, /ready, a restart policy;
    its fragile mode is APP_FRAGILE=1 with no restart policy; with search it depends on that too."""
    sound, fragile = catalog.reference_app(), catalog.reference_app(fragile=True)
    assert (sound.environment["DATABASE_URL"], sound.environment["REDIS_URL"]) == ("{postgres.url}", "{redis.url}")
    assert (sound.environment["APP_FRAGILE"], sound.restart, str(sound.ready)) == ("0", "on-failure", "HTTP GET /ready")
    assert (fragile.environment["APP_FRAGILE"], fragile.restart) == ("1", "no")
    levels = check_declared([catalog.postgres(), catalog.redis(), sound])
    assert [[s.name for s in level] for level in levels] == [["postgres", "redis"], ["app"]]
    searching = catalog.reference_app(name="search-app", search="elasticsearch")
    assert searching.environment["ELASTICSEARCH_URL"] == "{elasticsearch.url}"
    assert "elasticsearch" in searching.dependencies()
