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
