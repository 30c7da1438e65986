"""Conformance of the toxic routes (spec §2.2, §3.6-3.10, §5 attribute shapes, §6), over raw HTTP.

Also holds the compat server's deliberate divergences (400 instead of a crash for slicer and
bandwidth crash inputs, marked ``compat_only``) and their official counterparts (``official_only``).
"""

from __future__ import annotations

import pytest

from compat_http import ApiClient, compact, expect_error, expect_json

UP = "127.0.0.1:9"
TOXICS = "/proxies/p/toxics"


@pytest.fixture
def proxy(api: ApiClient) -> str:
    """A disabled proxy named ``p`` (toxics can be managed without traffic)."""
    api.create_proxy("p", UP, enabled=False)
    return "p"


# -- shapes (§2.2) ------------------------------------------------------------------------------
def test_toxic_json_exact(api: ApiClient, proxy: str) -> None:
    """Creating a toxic is 200 (not 201) with keys attributes, name, type, stream, toxicity and no newline (§2.2, §3.7)."""
    resp = api.post(TOXICS, {"type": "latency", "attributes": {"latency": 300}})
    expect_json(resp, 200)
    expected = ('{"attributes":{"latency":300,"jitter":0},"name":"latency_downstream",'
                '"type":"latency","stream":"downstream","toxicity":1}')
    assert resp.text == expected
    shown = api.get(f"{TOXICS}/latency_downstream")
    expect_json(shown, 200)
    assert shown.text == expected


@pytest.mark.parametrize(("toxic_type", "attributes"), [
    ("latency", '{"latency":0,"jitter":0}'),
    ("bandwidth", '{"rate":0}'),
    ("slow_close", '{"delay":0}'),
    ("timeout", '{"timeout":0}'),
    ("reset_peer", '{"timeout":0}'),
    ("limit_data", '{"bytes":0}'),
    ("noop", "{}"),
])
def test_default_attributes_all_zero(api: ApiClient, proxy: str, toxic_type: str, attributes: str) -> None:
    """A toxic created without attributes lists every attribute of its type at 0 (noop: `{}`) (§2.2, §5)."""
    resp = api.post(TOXICS, {"type": toxic_type})
    assert resp.status == 200, str(resp)
    assert resp.text == (f'{{"attributes":{attributes},"name":"{toxic_type}_downstream",'
                         f'"type":"{toxic_type}","stream":"downstream","toxicity":1}}')


def test_slicer_attribute_order(api: ApiClient, proxy: str) -> None:
    """Slicer attributes are listed as average_size, size_variation, delay (§5.7)."""
    resp = api.post(TOXICS, {"type": "slicer", "attributes": {"delay": 5, "average_size": 10, "size_variation": 2}})
    assert resp.status == 200, str(resp)
    assert resp.json()["attributes"] == {"average_size": 10, "size_variation": 2, "delay": 5}
    assert '"attributes":{"average_size":10,"size_variation":2,"delay":5}' in resp.text


@pytest.mark.official_only
def test_slicer_defaults_accepted_by_official(api: ApiClient, proxy: str) -> None:
    """The official server accepts a slicer with default (all-zero) attributes (§5.7; it crashes once data flows)."""
    resp = api.post(TOXICS, {"type": "slicer"})
    assert resp.status == 200, str(resp)
    assert resp.json()["attributes"] == {"average_size": 0, "size_variation": 0, "delay": 0}


@pytest.mark.compat_only
@pytest.mark.parametrize("toxic", [
    {"type": "slicer"},
    {"type": "slicer", "attributes": {"average_size": 0, "size_variation": 0, "delay": 10}},
    {"type": "slicer", "attributes": {"average_size": 1, "size_variation": 5}},
    {"type": "bandwidth", "attributes": {"rate": -1}},
])
def test_crash_inputs_rejected_on_create(api: ApiClient, proxy: str, toxic: dict) -> None:
    """The compat server answers 400 (error shape) to toxic attributes that crash the official one, creating nothing (§0, §5.3, §5.7)."""
    resp = api.post(TOXICS, toxic)
    assert resp.status == 400, str(resp)
    assert resp.header("Content-Type") == "text/plain; charset=utf-8"
    assert resp.body.endswith(b"\n") and resp.json()["status"] == 400 and resp.json()["error"]
    assert api.get(TOXICS).text == "[]"


@pytest.mark.compat_only
@pytest.mark.parametrize(("toxic", "update"), [
    ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 2}}, {"attributes": {"average_size": 0, "size_variation": 0}}),
    ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 2}}, {"attributes": {"size_variation": 11}}),
    ({"type": "bandwidth", "attributes": {"rate": 10}}, {"attributes": {"rate": -5}}),
])
def test_crash_inputs_rejected_on_update(api: ApiClient, proxy: str, toxic: dict, update: dict) -> None:
    """The compat server answers 400 to updates that would make a toxic crash the official server, and keeps the old values (§0)."""
    created = api.add_toxic(proxy, toxic)
    resp = api.patch(f"{TOXICS}/{created['name']}", update)
    assert resp.status == 400, str(resp)
    assert resp.json()["status"] == 400
    assert api.get(f"{TOXICS}/{created['name']}").json() == created


# -- index and ordering (§2.1, §3.6) ------------------------------------------------------------
def test_empty_toxic_list(api: ApiClient, proxy: str) -> None:
    """GET toxics of a proxy without toxics is 200 `[]`; of an unknown proxy it is 404 (§3.6)."""
    resp = api.get(TOXICS)
    expect_json(resp, 200)
    assert resp.text == "[]"
    expect_error(api.get("/proxies/ghost/toxics"), 404, "proxy not found")


def test_toxics_listed_upstream_then_downstream(api: ApiClient, proxy: str) -> None:
    """Toxics are listed upstream first, then downstream, each in insertion order, in both listings (§2.1)."""
    order = [("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "UPSTREAM")]
    raw = {}
    for name, stream in order:
        raw[name] = api.post(TOXICS, {"name": name, "type": "noop", "stream": stream}).text
    expected = [raw[n] for n in ("u1", "u2", "d1", "d2")]
    assert api.get(TOXICS).text == "[" + ",".join(expected) + "]"
    assert api.get("/proxies/p").text.endswith('"toxics":[' + ",".join(expected) + "]}")


def test_stream_echoed_raw_with_default_name(api: ApiClient, proxy: str) -> None:
    """`stream` is parsed case-insensitively but echoed as sent, and the default name uses the raw string (§2.2, §3.7)."""
    resp = api.post(TOXICS, {"type": "latency", "stream": "UpStream"})
    assert resp.status == 200, str(resp)
    assert (resp.json()["name"], resp.json()["stream"]) == ("latency_UpStream", "UpStream")
    api.post(TOXICS, {"type": "noop"})
    assert [t["name"] for t in api.get(TOXICS).json()] == ["latency_UpStream", "noop_downstream"]


@pytest.mark.parametrize(("sent", "echoed"), [("1.5", "1.5"), ("7", "7"), ("-3", "-3"), ("0.25", "0.25"),
                                              ("0", "0"), ("0.1", "0.1"), ("1.0", "1")])
def test_toxicity_not_range_checked(api: ApiClient, proxy: str, sent: str, echoed: str) -> None:
    """Any toxicity is accepted and echoed as a float32 would print (1.5, 7, -3 included) (§0, §2.2)."""
    resp = api.post(TOXICS, f'{{"type":"noop","toxicity":{sent}}}')
    assert resp.status == 200, str(resp)
    assert resp.text.endswith(f'"toxicity":{echoed}}}')


# -- create errors (§3.7, §6) -------------------------------------------------------------------
LATENCY_FIELD = "Go struct field LatencyToxic.attributes.latency of type int64"


@pytest.mark.parametrize(("body", "message"), [
    ("", "bad request body: EOF"),
    ('{"type":"latency",', "bad request body: unexpected EOF"),
    ('{"type":"latency","toxicity":"1"}',
     "bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.toxicity of type float32"),
    ('{"type":"latency","stream":"sideways"}', "stream was invalid, can be either upstream or downstream"),
    ('{"type":"latency","stream":""}', "stream was invalid, can be either upstream or downstream"),
    ('{"type":"bogus","stream":"sideways"}', "stream was invalid, can be either upstream or downstream"),
    ('{"type":"bogus"}', "invalid toxic type"),
    ("{}", "invalid toxic type"),
    ('{"type":"Latency"}', "invalid toxic type"),
    ('{"type":"latency","attributes":{"latency":"300"}}', f"bad request body: json: cannot unmarshal string into {LATENCY_FIELD}"),
    ('{"type":"latency","attributes":{"latency":1.5}}', f"bad request body: json: cannot unmarshal number 1.5 into {LATENCY_FIELD}"),
])
def test_create_toxic_rejects(api: ApiClient, proxy: str, body: str, message: str) -> None:
    """Bad toxic bodies get 400 with the exact message, stream checked before type, and nothing is added (§3.7, §6)."""
    expect_error(api.post(TOXICS, body), 400, message)
    assert api.get(TOXICS).text == "[]"


@pytest.mark.parametrize(("toxic_type", "attribute"), [
    ("bandwidth", "rate"), ("slow_close", "delay"), ("timeout", "timeout"), ("reset_peer", "timeout"),
    ("limit_data", "bytes"), ("slicer", "average_size"), ("latency", "jitter"),
])
def test_float_rejected_for_int_attribute(api: ApiClient, proxy: str, toxic_type: str, attribute: str) -> None:
    """A float for any integer attribute is 400 `bad request body: json: cannot unmarshal number 2.5 into ... int` (§3.7, §5)."""
    resp = api.post(TOXICS, f'{{"type":"{toxic_type}","attributes":{{"{attribute}":2.5}}}}')
    assert resp.status == 400, str(resp)
    error = resp.json()["error"]
    assert error.startswith("bad request body: json: cannot unmarshal number 2.5 into Go struct field "), error
    assert f".attributes.{attribute} of type int" in error, error
    assert api.get(TOXICS).text == "[]"


def test_create_toxic_unknown_proxy_404_first(api: ApiClient) -> None:
    """Adding a toxic to an unknown proxy is 404 even with a bad body (§3.7)."""
    expect_error(api.post("/proxies/ghost/toxics", "{bad"), 404, "proxy not found")


def test_duplicate_toxic_name_across_streams_409(api: ApiClient, proxy: str) -> None:
    """Toxic names are unique per proxy across both streams: a duplicate is 409 (§3.7, §6)."""
    api.add_toxic(proxy, {"name": "t", "type": "latency", "stream": "downstream"})
    expect_error(api.post(TOXICS, {"name": "t", "type": "noop", "stream": "upstream"}), 409, "toxic already exists")


def test_unknown_attribute_keys_ignored(api: ApiClient, proxy: str) -> None:
    """Unknown attribute keys are ignored and defaults fill the rest (§3.7)."""
    resp = api.post(TOXICS, {"type": "latency", "attributes": {"jitter": 5, "colour": "red"}, "extra": 1})
    assert resp.status == 200, str(resp)
    assert resp.json()["attributes"] == {"latency": 0, "jitter": 5}


# -- show / update / delete (§3.8-3.10) ---------------------------------------------------------
def test_show_toxic_404s(api: ApiClient, proxy: str) -> None:
    """GET of a toxic on an unknown proxy or an unknown toxic is the matching 404 (§3.8)."""
    expect_error(api.get("/proxies/ghost/toxics/t"), 404, "proxy not found")
    expect_error(api.get(f"{TOXICS}/ghost"), 404, "toxic not found")


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_toxic_partial(api: ApiClient, proxy: str, method: str) -> None:
    """An update merges attributes in place and keeps toxicity unless given (deprecated POST too) (§3.9)."""
    api.add_toxic(proxy, {"name": "lat", "type": "latency", "toxicity": 0.5, "attributes": {"latency": 300, "jitter": 10}})
    resp = api.request(method, f"{TOXICS}/lat", {"attributes": {"jitter": 20}})
    expect_json(resp, 200)
    assert resp.text == ('{"attributes":{"latency":300,"jitter":20},"name":"lat","type":"latency",'
                         '"stream":"downstream","toxicity":0.5}')
    resp = api.request(method, f"{TOXICS}/lat", {"toxicity": 0.25})
    assert resp.json()["toxicity"] == 0.25 and resp.json()["attributes"] == {"latency": 300, "jitter": 20}


def test_update_toxic_ignores_name_type_stream(api: ApiClient, proxy: str) -> None:
    """`name`, `type` and `stream` in an update body are silently ignored (§3.9)."""
    api.add_toxic(proxy, {"name": "lat", "type": "latency"})
    resp = api.patch(f"{TOXICS}/lat", {"name": "x", "type": "bandwidth", "stream": "upstream",
                                       "attributes": {"latency": 5}})
    assert resp.status == 200, str(resp)
    assert resp.text == compact({"attributes": {"latency": 5, "jitter": 0}, "name": "lat", "type": "latency",
                                 "stream": "downstream", "toxicity": 1})
    expect_error(api.get(f"{TOXICS}/x"), 404, "toxic not found")


def test_update_toxic_null_attributes_change_nothing(api: ApiClient, proxy: str) -> None:
    """`"attributes": null` in an update changes nothing (§3.9)."""
    created = api.post(TOXICS, {"name": "lat", "type": "latency", "attributes": {"latency": 7}}).text
    resp = api.patch(f"{TOXICS}/lat", '{"attributes":null}')
    assert (resp.status, resp.text) == (200, created)


def test_update_toxic_bad_bodies(api: ApiClient, proxy: str) -> None:
    """Empty and syntactically broken update bodies are 400 and change nothing (§3.9)."""
    created = api.post(TOXICS, {"name": "lat", "type": "latency", "attributes": {"latency": 7}}).text
    expect_error(api.patch(f"{TOXICS}/lat", ""), 400, "bad request body: EOF")
    expect_error(api.patch(f"{TOXICS}/lat", '{"attributes":{"latency":5'), 400, "bad request body: unexpected EOF")
    assert api.get(f"{TOXICS}/lat").text == created


def test_update_toxic_type_error_stores_other_fields(api: ApiClient, proxy: str) -> None:
    """A type error in an update is 400, yet the other attributes are stored in place and toxicity is unchanged (§3.9)."""
    api.add_toxic(proxy, {"name": "lat", "type": "latency", "attributes": {"latency": 100}})
    resp = api.patch(f"{TOXICS}/lat", {"attributes": {"latency": 300, "jitter": "x"}, "toxicity": 0.5})
    assert resp.status == 400, str(resp)
    assert resp.json()["error"].startswith("bad request body: json: cannot unmarshal string into Go struct field ")
    shown = api.get(f"{TOXICS}/lat").json()
    assert (shown["attributes"]["latency"], shown["toxicity"]) == (300, 1)


def test_update_toxic_float_for_int_400(api: ApiClient, proxy: str) -> None:
    """A float for an integer attribute in an update is 400 (§3.9, §5)."""
    api.add_toxic(proxy, {"name": "lim", "type": "limit_data", "attributes": {"bytes": 10}})
    resp = api.patch(f"{TOXICS}/lim", {"attributes": {"bytes": 1.5}})
    assert resp.status == 400, str(resp)
    assert api.get(f"{TOXICS}/lim").json()["attributes"] == {"bytes": 10}


def test_update_toxic_404s_before_body(api: ApiClient, proxy: str) -> None:
    """Updating a toxic of an unknown proxy, or an unknown toxic, is 404 even with a bad body (§3.9)."""
    expect_error(api.patch("/proxies/ghost/toxics/t", "{bad"), 404, "proxy not found")
    expect_error(api.patch(f"{TOXICS}/ghost", "{bad"), 404, "toxic not found")
    expect_error(api.post(f"{TOXICS}/ghost", ""), 404, "toxic not found")


def test_delete_toxic(api: ApiClient, proxy: str) -> None:
    """DELETE of a toxic is 204 empty; then it is gone, and further deletes are 404 (§3.10)."""
    api.add_toxic(proxy, {"name": "lat", "type": "latency"})
    resp = api.delete(f"{TOXICS}/lat")
    assert (resp.status, resp.body) == (204, b"")
    expect_error(api.get(f"{TOXICS}/lat"), 404, "toxic not found")
    expect_error(api.delete(f"{TOXICS}/lat"), 404, "toxic not found")
    expect_error(api.delete("/proxies/ghost/toxics/lat"), 404, "proxy not found")
    assert api.get(TOXICS).text == "[]"
