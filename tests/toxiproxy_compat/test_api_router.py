"""Conformance of the router (spec §1.1, §3.13): status codes, content types, browser block, path cleaning, JSON decoding rules.

Bodies are compared as raw strings, so spacing and trailing newlines are checked too.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from compat_http import ApiClient, compact, raw_exchange

UP = "127.0.0.1:9"  # never dialled: no client connects through proxies that use it


# -- router (§1.1, §3.13) -----------------------------------------------------------------------
def test_version_body_and_content_type(api: ApiClient) -> None:
    """GET /version answers `{"version": "2.12.0"}\\n` as application/json;charset=utf-8 with a request id (§3.13)."""
    resp = api.get("/version")
    assert (resp.status, resp.text) == (200, '{"version": "2.12.0"}\n')
    assert resp.header("Content-Type") == "application/json;charset=utf-8"
    assert resp.header("X-Toxiproxy-Request-Id")


@pytest.mark.parametrize("path", ["/nope", "/proxies/", "/version/", "/proxies/a/toxics/b/c", "/reset/x", "/metrics"])
def test_unknown_path_is_plain_404(api: ApiClient, path: str) -> None:
    """An unknown path (and /metrics without metrics flags) gets 404 `404 page not found\\n`, text/plain, no request id (§1.1, §3)."""
    resp = api.get(path)
    assert (resp.status, resp.text) == (404, "404 page not found\n")
    assert resp.header("Content-Type") == "text/plain; charset=utf-8"
    assert resp.header("X-Toxiproxy-Request-Id") is None


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/proxies"), ("DELETE", "/proxies"), ("GET", "/populate"), ("GET", "/reset"),
    ("POST", "/version"), ("HEAD", "/version"), ("OPTIONS", "/proxies"), ("PUT", "/proxies/x"),
    ("PUT", "/proxies/x/toxics"), ("DELETE", "/proxies/x/toxics"), ("PUT", "/proxies/x/toxics/y"),
])
def test_wrong_method_is_empty_405(api: ApiClient, method: str, path: str) -> None:
    """A known path with the wrong method (HEAD and OPTIONS included) gets 405 with no body and no Content-Type (§1.1)."""
    resp = api.request(method, path)
    assert (resp.status, resp.body) == (405, b"")
    assert resp.header("Content-Type") is None
    assert resp.header("X-Toxiproxy-Request-Id") is None


def test_mozilla_with_wrong_method_is_405(api: ApiClient) -> None:
    """A method mismatch is not a matched route, so a browser UA gets 405 there, not 403 (§1.1)."""
    assert api.request("PUT", "/proxies", headers={"User-Agent": "Mozilla/5.0"}).status == 405


def test_keep_alive_connection_serves_several_requests(api: ApiClient) -> None:
    """One HTTP/1.1 connection carries several requests in a row, bodies included (§1)."""
    conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
    try:
        answers = []
        for method, path, body in [("GET", "/version", None), ("POST", "/proxies", '{"name":"k","upstream":"127.0.0.1:9",'
                                   '"listen":"127.0.0.1:0","enabled":false}'), ("GET", "/proxies/k", None),
                                   ("DELETE", "/proxies/k", None), ("GET", "/proxies", None)]:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            answers.append((resp.status, resp.read()))
    finally:
        conn.close()
    assert [status for status, _ in answers] == [200, 201, 200, 204, 200]
    assert answers[-1][1] == b"{}"


@pytest.mark.parametrize(("method", "path"), [("GET", "/proxies"), ("GET", "/version"), ("POST", "/reset")])
def test_mozilla_user_agent_gets_403(api: ApiClient, method: str, path: str) -> None:
    """A User-Agent starting with `Mozilla/` gets 403 `User agent not allowed\\n` on matched routes (§1.1)."""
    resp = api.request(method, path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert (resp.status, resp.text) == (403, "User agent not allowed\n")
    assert resp.header("Content-Type") == "text/plain; charset=utf-8"


def test_mozilla_block_does_not_create(api: ApiClient) -> None:
    """A blocked browser POST /proxies creates nothing, and a non-prefix Mozilla UA is allowed (§1.1)."""
    body = {"name": "m", "listen": "127.0.0.1:0", "upstream": UP, "enabled": False}
    assert api.post("/proxies", body, headers={"User-Agent": "Mozilla/5.0"}).status == 403
    assert api.get("/proxies").text == "{}"
    assert api.get("/proxies", headers={"User-Agent": "curl/8 Mozilla/5.0"}).status == 200


def test_mozilla_on_unknown_path_is_404(api: ApiClient) -> None:
    """The browser block runs only on matched routes, so an unknown path still gives 404 (§1.1)."""
    assert api.get("/nope", headers={"User-Agent": "Mozilla/5.0"}).status == 404


@pytest.mark.parametrize(("path", "clean"), [("//proxies", "/proxies"), ("/proxies/../version", "/version"),
                                             ("/./version", "/version")])
def test_unclean_path_redirects_301(api: ApiClient, path: str, clean: str) -> None:
    """A non-clean path is answered with a 301 to the cleaned path (§1.1)."""
    resp = api.get(path)
    assert resp.status == 301
    assert urlsplit(resp.header("Location") or "").path == clean


def test_percent_encoded_proxy_name(api: ApiClient) -> None:
    """Percent-encoding in {proxy} is decoded, so `/proxies/with%20space` reaches proxy "with space" (§1.1)."""
    api.create_proxy("with space", UP, enabled=False)
    assert api.get("/proxies/with%20space").json()["name"] == "with space"
    assert api.delete("/proxies/with%20space").status == 204


def test_request_content_type_ignored(api: ApiClient) -> None:
    """The request Content-Type is ignored: a JSON body sent as text/plain is accepted (§1.1)."""
    body = {"name": "ct", "listen": "127.0.0.1:0", "upstream": UP, "enabled": False}
    assert api.post("/proxies", body, headers={"Content-Type": "text/plain"}).status == 201


def test_only_first_json_value_is_read(api: ApiClient) -> None:
    """Trailing garbage after the first JSON value is ignored (§1.1)."""
    body = '{"name":"first","listen":"127.0.0.1:0","upstream":"127.0.0.1:9","enabled":false} }}garbage{'
    resp = api.post("/proxies", body)
    assert resp.status == 201, str(resp)
    assert resp.json()["name"] == "first"


def test_keys_are_case_insensitive(api: ApiClient) -> None:
    """Object keys match case-insensitively: `{"NAME":..,"UPSTREAM":..}` creates the proxy (§1.1)."""
    resp = api.post("/proxies", '{"NAME":"ci","UPSTREAM":"127.0.0.1:9","Listen":"127.0.0.1:0","ENABLED":false}')
    assert resp.status == 201, str(resp)
    assert resp.text == compact({"name": "ci", "listen": "127.0.0.1:0", "upstream": UP, "enabled": False,
                                 "Logger": {}, "toxics": []})


def test_null_and_unknown_keys(api: ApiClient) -> None:
    """A JSON null keeps the default (enabled true) and unknown keys are ignored (§1.1, §3.2)."""
    resp = api.post("/proxies", '{"name":"n","listen":"127.0.0.1:0","upstream":"127.0.0.1:9","enabled":null,"x":[1]}')
    assert resp.status == 201, str(resp)
    assert resp.json()["enabled"] is True


def test_lone_surrogate_escape_becomes_replacement_char(isolated_api: ApiClient) -> None:
    """A lone surrogate escape decodes to U+FFFD like Go, and \\u0000 and \\n are re-escaped (§1.1, §2.1)."""
    resp = isolated_api.post("/proxies", '{"name":"esc\\u0000\\ud800x\\n","upstream":"127.0.0.1:9","enabled":false}')
    listing = isolated_api.get("/proxies")
    assert (resp.status, listing.status) == (201, 200), f"create: {resp}; list: {listing}"
    assert resp.text.startswith('{"name":"esc\\u0000\ufffdx\\n","listen":"",')


def test_invalid_utf8_becomes_replacement_char(api: ApiClient) -> None:
    """An invalid UTF-8 byte inside a JSON string decodes to U+FFFD like Go (§1.1)."""
    resp = api.post("/proxies", b'{"name":"bad\xff","upstream":"127.0.0.1:9","enabled":false}')
    assert resp.status == 201, str(resp)
    assert resp.text.startswith('{"name":"bad\ufffd",')


def test_html_characters_escaped_in_output(api: ApiClient) -> None:
    """Output JSON escapes <, >, & and U+2028 as Go's encoder does (§2.1)."""
    resp = api.post("/proxies", '{"name":"x<y>&z\\u2028","upstream":"127.0.0.1:9","enabled":false}')
    assert resp.status == 201, str(resp)
    assert resp.text.startswith('{"name":"x\\u003cy\\u003e\\u0026z\\u2028",')


def test_query_string_ignored_and_pipelining(api: ApiClient) -> None:
    """A query string does not affect routing, and two pipelined requests on one connection get two answers (§1.1)."""
    assert api.get("/proxies?verbose=1").text == "{}"
    raw = raw_exchange(api, (b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n"
                             b"GET /proxies HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), timeout_s=10)
    assert raw.count(b"HTTP/1.1 200 OK\r\n") == 2 and raw.endswith(b"\r\n\r\n{}"), raw
