"""A Toxiproxy-compatible server (v2 HTTP API of Toxiproxy 2.12.0) in pure Python asyncio.

Run it with `python -m toxiproxy_compat -host 127.0.0.1 -port 8474 [-config FILE]`. It speaks the
API described in shared/toxiproxy-api.md (checked against the real v2.12.0): the same routes,
JSON shapes and key order (including the stray "Logger":{}), status codes, error bodies,
Go-worded decoder and net errors, and the same toxic semantics (per-link stubs, toxicity rolled
whenever a stub (re)starts, live add/update/remove, no half-close, reset_peer RST via SO_LINGER 0).

Modules: api (routes and handlers), http_server (HTTP/1.1 framing), collection (all proxies,
populate, reset), proxy (one proxy and its listener), connection (one client/upstream pair),
link (fast path and toxic chain of one direction), toxic_collection (a proxy's toxics, JSON
create/update/remove), toxics (the toxic types), gojson (Go encoding/json look-alike),
addresses (Go net address handling), resolver (upstream lookups and dial), errors, logs,
__main__ (CLI).

Deliberate divergences from the real server
-------------------------------------------
1. Crash inputs are refused with 400 instead of crashing the process when data flows:
   slicer with average_size + size_variation < 1 (this includes the default all-zero attributes;
   the real server overflows its stack), slicer with size_variation > average_size (slice-bounds
   panic), and bandwidth with a negative rate (slice-bounds panic). This applies to create and
   update; a refused update changes nothing.
2. Request bodies are limited to 1 MiB: a larger body gets 413 (text/plain) and the API
   connection is closed. The request head is limited to 1 MiB (431). The real server has no body limit.
3. /metrics is not implemented: -proxy-metrics and -runtime-metrics are accepted and ignored, and
   /metrics always answers 404 (the real server registers it when either flag is set).
4. -seed is accepted and has no effect (as in the real server); rolls use Python's `random`.
5. Decoder error texts are produced by mapping Python's JSON errors to Go's wording; the common cases
   (EOF, unexpected EOF, invalid character ... looking for beginning of value / after object key /
   after object key:value pair / after array element / in string literal, and every
   "cannot unmarshal" type error) match, rarer ones may be worded a little differently
   (for example an invalid literal such as `tru` reports the literal's first character).
6. Host-name lookup failures read "lookup HOST: no such host" (Go may add the resolver address).
7. Go channels are unbuffered; here a hand-over between two toxic stages holds one chunk
   (latency keeps its 1024-chunk input buffer). Timing is unaffected; at most one extra chunk is
   in flight inside a toxic chain.
8. With no toxics on a link, data bypasses the chunk pipeline (direct transport writes); the
   observable byte stream and close behaviour are the same.
9. The API listener resolves -host like Go's net.Listen (first IPv4 address of a name) and uses a
   listen backlog of 1024; proxy listeners use a backlog of 4096 (capped by the kernel's somaxconn).
10. Sockets that are being closed while the peer does not read are aborted after 5 s (Go closes them
   at once, letting the kernel deal with the unsent data).
11. Populating over an existing proxy whose listen resolves the same and whose upstream is unchanged
   returns that existing proxy as the doc describes; a request whose handler exceeds 25 s gets 503
   while the operation still completes in the background (as with Go's TimeoutHandler).
12. Upstream names are resolved by the merged, bounded lookups of resolver.py (never asyncio's
   default executor): concurrent lookups of a host share one in-flight lookup while it is younger
   than 0.1 s, a caller waits at most 5 s ("lookup HOST: i/o timeout"), and a success also answers
   the callers of older lookups still running. Go merges lookups too but has no such bounds.
13. A client that closes or resets before sending anything while its upstream is still being
   resolved or dialled abandons that dial (Go dials on and then closes the upstream); a client
   that sent data first is handled as in Go. At most 1024 dials per proxy are pending; a client
   beyond that is closed at once, like a failed dial (Go has no cap).
14. TOXIPROXY_COMPAT_RESOLVER=executor brings back the pre-12 lookups (asyncio's default
   executor); it exists only for bench/compat_recovery_bench.py's before/after comparison.
"""

__version__ = "2.12.0"
