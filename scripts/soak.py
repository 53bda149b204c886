#!/usr/bin/env python3
"""routewise soak: mixed traffic through a real Envoy with live config pushes, for a fixed time. Run through
scripts/soak (it builds the filter, the CLI and lambda-mock, and finds Envoy); not part of CI.

Per build (wasm, then dynamic-module with --build both), in OUT/<build>/:
  - Envoy (--concurrency 2) as `scripts/run --ecds` starts it: the bootstrap from envoy/routewise.yaml.tmpl
    rendered by scripts/render_bootstrap.py with the filter's config served by ECDS from OUT/<build>/ecds/, one
    echo upstream per http cluster (scripts/echo_upstream.py) and lambda-mock for the Lambda clusters. The
    modules are copies taken at the start (a rebuild in the tree during the soak changes nothing).
  - The config: envoy/examples/products.json plus what the soak needs to reach every kind of route (an API
    with key-auth, proxy-rewrite and response-rewrite, APISIX `paths`/`methods`/`vars` routes, a Lambda
    payload 1.0 integration and a function that raises); written to OUT/<build>/configs/.
  - Traffic: CONNECTIONS keep-alive connections, each sending requests of weighted classes (`CLASSES`
    below), each class with the answer it must get (status, and the upstream, upstream path, headers or
    Lambda event that prove the route); about 4 % are hostile (long and many headers, long paths and
    values, odd methods, CONNECT). Anything else is counted by kind: unexpected_status, wrong_answer,
    socket_error (connect), reset, timeout.
  - Pushes every PUSH_EVERY seconds after the warm-up, alternately a valid variant (variant B adds a
    routing rule, variant A removes it again) and an invalid config (rotating through INVALID). Each is first
    checked with `routewise validate` (it must agree), then pushed with `scripts/ecds-push --no-validate
    --dir`; Envoy's ECDS counters (update_success / update_rejected), version_text, /config_dump's
    ecds_filters version and a probe request whose answer depends on the variant say whether it was taken.
  - RSS of the Envoy process every second (/proc), start = after the warm-up.
  - At the end: Envoy still alive and LIVE, its log scanned for traps, panics and crashes, the filter's
    counters from /stats compared with the requests that reached it.
Writes OUT/results.{md,json}; exits 1 if anything unexpected happened.
"""

import argparse
import asyncio
import collections
import copy
import datetime
import faulthandler
import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench import proc_status_kib  # noqa: E402  (the bench's /proc reader)

EXAMPLE = ROOT / "envoy" / "examples" / "products.json"
ECDS_STATS = "extension_config_discovery.http_filter.routewise"
COUNTER_PREFIX = {"wasm": "wasmcustom.routewise.", "dynamic-module": "dynamicmodulescustom.routewise."}
SOAK_KEY = "soak-key"
LAMBDA_FUNCTIONS = ["lambda-busy=throttle", "lambda-error=error"]
TIMEOUT_S = 10.0

# ---------------------------------------------------------------------------------------------------------
# Configs


def base_config():
    """products.json plus an API with plugins and APISIX-style routes, and Lambda payload 1.0 routes."""
    cfg = json.loads(EXAMPLE.read_text())
    api_domain = next(d for d in cfg["domains"] if d["name"] == "api.example.com")
    api_domain["api_mappings"][-1:-1] = [
        {"id": "secure", "base_path": "secure", "api": "secure", "stage": "prod"},
        {"id": "fn1", "base_path": "fn1", "api": "fn-v1", "stage": "prod"},
    ]
    cfg["apis"] += [
        {
            "id": "secure",
            "stages": {"prod": {"integration": {"type": "http", "cluster": "secure"}}},
            "services": [{"id": "assets-svc", "plugins": {
                "response-rewrite": {"headers": {"set": {"x-soak-rewritten": "yes"}}}}}],
            "routes": [
                {"id": "secure-item", "key": "GET /items/{id}", "plugins": {
                    "key-auth": {},
                    "proxy-rewrite": {"regex_uri": ["^/items/(.*)", "/internal/items/$1"],
                                      "headers": {"set": {"x-soak": "1"}}}}},
                {"id": "assets", "paths": ["/assets/*"], "methods": ["GET", "HEAD"], "service": "assets-svc",
                 "vars": [["http_x_env", "==", "prod"]]},
            ],
        },
        {
            "id": "fn-v1",
            "stages": {"prod": {"variables": {"env": "soak"}, "integration": {
                "type": "lambda", "cluster": "lambda-v1", "payload_format_version": "1.0"}}},
            "routes": [
                {"id": "v1-get-pet", "key": "GET /pets/{id}"},
                {"id": "oops", "key": "GET /oops", "integration": {
                    "type": "lambda", "cluster": "lambda-error", "payload_format_version": "1.0"}},
            ],
        },
    ]
    cfg["consumers"] = [{"username": "soak", "plugins": {"key-auth": {
        "key_sha256": hashlib.sha256(SOAK_KEY.encode()).hexdigest()}}}]
    return cfg


def variant_b(cfg):
    """Variant B: one more routing rule in domain `*` (x-soak-variant: b* -> tenant)."""
    cfg = copy.deepcopy(cfg)
    star = next(d for d in cfg["domains"] if d["name"] == "*")
    star["routing_rules"].append({
        "id": "soak-added", "priority": 50,
        "conditions": {"headers": [{"header": "x-soak-variant", "value_glob": "b*"}]},
        "action": {"invoke_api": {"api": "tenant", "stage": "prod"}}})
    return cfg


def invalid_configs(cfg):
    """(name, text) of configs the filter must reject; each keeps the rest of the config valid."""
    out = []

    def mutate(name, fn):
        c = copy.deepcopy(cfg)
        fn(c)
        out.append((name, json.dumps(c, indent=1)))

    def rules(c):
        return next(d for d in c["domains"] if d["name"] == "api.example.com")["routing_rules"]

    def api(c, i):
        return next(a for a in c["apis"] if a["id"] == i)

    mutate("bad-glob", lambda c: rules(c)[0]["conditions"]["headers"][0].update(value_glob="v*2"))
    mutate("unknown-api", lambda c: rules(c)[1]["action"]["invoke_api"].update(api="nope"))
    mutate("duplicate-route-key", lambda c: api(c, "orders")["routes"].append({"id": "dup", "key": "GET /{orderId}"}))
    mutate("priority-0", lambda c: rules(c)[2].update(priority=0))
    mutate("rewrite-content-length", lambda c: api(c, "secure")["routes"][0]["plugins"]["proxy-rewrite"]["headers"]
           .update(set={"content-length": "5"}))
    mutate("cluster-header-transfer-encoding", lambda c: c.update(cluster_header="transfer-encoding"))
    mutate("unknown-field", lambda c: c.update(domainz=[]))
    out.append(("not-json", json.dumps(cfg)[:-40]))
    return out


# ---------------------------------------------------------------------------------------------------------
# Request classes: (name, weight, reaches the filter, builder). A builder takes a Random and returns
# (method, host, path, headers, body, expect); expect: status, and optionally upstream / upath (the echo
# upstream that must answer and the path it must receive), headers (response headers that must be there),
# lambda (fields of the Lambda event the echo function must have received), no_upstream_headers.

API = "api.example.com"


def c_product(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/products/{n}", [], None, {"status": 200, "upstream": "products-v1", "upath": f"/products/{n}"}


def c_rule_v2(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/products/{n}", [("x-version", "v2-beta")], None, \
        {"status": 200, "upstream": "products-v2", "upath": f"/products/{n}"}


def c_rule_v1_falls_through(rng):
    return "GET", API, "/products", [("x-version", "v1")], None, {"status": 200, "upstream": "products-v1", "upath": "/products"}


def c_rule_shop(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/shop/products/{n}?color=red", [], None, \
        {"status": 200, "upstream": "products-v1", "upath": f"/products/{n}?color=red"}


def c_rule_legacy(rng):
    return "GET", API, "/legacy/items/7", [], None, {"status": 200, "upstream": "legacy", "upath": "/legacy/items/7"}


def c_orders_get(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/orders/{n}", [], None, {"status": 200, "upstream": "orders", "upath": f"/{n}"}


def c_orders_post(rng):
    return "POST", API, "/orders", [("content-type", "application/json")], b'{"item":1}', \
        {"status": 200, "upstream": "orders", "upath": "/"}


def c_static_paths(rng):
    return "GET", API, "/static/css/app.css", [], None, {"status": 200, "upstream": "products-v1", "upath": "/static/css/app.css"}


def c_wildcard_domain(rng):
    return "GET", "shop.example.com", "/anything/at/all", [], None, {"status": 200, "upstream": "tenant", "upath": "/anything/at/all"}


def c_star_rule(rng):
    return "GET", "other.test", "/hello", [("x-tenant", "acme")], None, {"status": 200, "upstream": "tenant", "upath": "/hello"}


def c_no_api_403(rng):
    return "GET", "other.test", "/hello", [], None, {"status": 403}


def c_no_route_404(rng):
    return "GET", API, "/orders/17", [("x-version", "v2")], None, {"status": 404}


def c_spoofed_cluster(rng):
    return "GET", API, "/products/42", [("x-routewise-cluster", "orders")], None, \
        {"status": 200, "upstream": "products-v1", "upath": "/products/42"}


def c_lambda_v2(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/zoo/pets/{n}?size=small", [], None, {"status": 200, "headers": {"x-function": "echo"}, "lambda": {
        "version": "2.0", "routeKey": "GET /pets/{id}", "rawPath": f"/pets/{n}", "pathParameters": {"id": str(n)}}}


def c_lambda_throttled(rng):
    return "GET", API, "/zoo/busy", [], None, {"status": 500, "headers": {
        "x-envoy-lambda-statuscode": "429",
        "x-envoy-lambda-statusreason": "ReservedFunctionConcurrentInvocationLimitExceeded"}}


def c_lambda_v1(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/fn1/pets/{n}", [], None, {"status": 200, "headers": {"x-function": "echo"}, "lambda": {
        "resource": "/pets/{id}", "httpMethod": "GET", "path": f"/pets/{n}", "pathParameters": {"id": str(n)},
        "stageVariables": {"env": "soak"}}}


def c_lambda_function_error(rng):
    return "GET", API, "/fn1/oops", [], None, {"status": 502}


def c_key_good(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/secure/items/{n}", [("apikey", SOAK_KEY)], None, \
        {"status": 200, "upstream": "secure", "upath": f"/internal/items/{n}", "no_upstream_headers": ["apikey"],
         "upstream_headers": {"x-soak": "1"}}


def c_key_query(rng):
    n = rng.randrange(1, 10_000)
    return "GET", API, f"/secure/items/{n}?apikey={SOAK_KEY}&x=1", [], None, \
        {"status": 200, "upstream": "secure", "upath": f"/internal/items/{n}?x=1", "no_upstream_headers": ["apikey"]}


def c_key_bad(rng):
    return "GET", API, "/secure/items/1", [("apikey", "wrong-%d" % rng.randrange(1000))], None, {"status": 401}


def c_key_missing(rng):
    return "GET", API, "/secure/items/1", [], None, {"status": 401}


def c_vars_match(rng):
    return "GET", API, "/secure/assets/logo.png", [("x-env", "prod")], None, \
        {"status": 200, "upstream": "secure", "upath": "/assets/logo.png", "headers": {"x-soak-rewritten": "yes"}}


def c_vars_miss(rng):
    return "GET", API, "/secure/assets/logo.png", [("x-env", "dev")], None, {"status": 404}


def c_method_not_on_route(rng):
    return "DELETE", API, "/zoo/pets/7", [], None, {"status": 404}


# Hostile (Envoy's limits: 60 KiB of request headers, 100 headers; both give 431 before the filter runs).
def h_long_value(rng):
    return "GET", API, "/products/1", [("x-long", "a" * 40_000)], None, {"status": 200, "upstream": "products-v1", "upath": "/products/1"}


def h_too_long_value(rng):
    return "GET", API, "/products/1", [("x-long", "a" * 70_000)], None, {"status": 431}


def h_many_headers(rng):
    return "GET", API, "/products/1", [("x-h%d" % i, "v") for i in range(80)], None, \
        {"status": 200, "upstream": "products-v1", "upath": "/products/1"}


def h_too_many_headers(rng):
    return "GET", API, "/products/1", [("x-h%d" % i, "v") for i in range(150)], None, {"status": 431}


def h_long_glob_value(rng):
    return "GET", API, "/products/3", [("x-version", "v2" + "x" * 8000), ("x-tenant", "*" * 4000)], None, \
        {"status": 200, "upstream": "products-v2", "upath": "/products/3"}


def h_long_path(rng):
    seg = "p" * 4000
    return "GET", API, f"/products/{seg}", [], None, {"status": 200, "upstream": "products-v1", "upath": f"/products/{seg}"}


def h_odd_method(rng):
    m = rng.choice(["PROPFIND", "PATCH", "OPTIONS", "PURGE"])
    return m, API, "/products/9", [], None, {"status": 200, "upstream": "products-v1", "upath": "/products/9"}


def h_odd_bytes(rng):
    return "GET", API, "/products/5", [("x-version", "v2\xe9\xff"), ("x-tenant", "\x80acme")], None, \
        {"status": 200, "upstream": "products-v2", "upath": "/products/5"}


def h_connect(rng):
    # No path: the filter forwards it to products' $default route; Envoy's router has no CONNECT route: 404.
    return "CONNECT", API, "api.example.com:443", [], None, {"status": 404}


CLASSES = [
    ("product-mapping", 10, True, c_product),
    ("rule-header-v2", 8, True, c_rule_v2),
    ("rule-header-miss", 4, True, c_rule_v1_falls_through),
    ("rule-base-path-strip", 8, True, c_rule_shop),
    ("rule-base-path-keep", 4, True, c_rule_legacy),
    ("mapping-orders-get", 8, True, c_orders_get),
    ("mapping-orders-post", 4, True, c_orders_post),
    ("apisix-paths-route", 4, True, c_static_paths),
    ("domain-wildcard", 4, True, c_wildcard_domain),
    ("domain-star-rule", 4, True, c_star_rule),
    ("no-api-403", 4, True, c_no_api_403),
    ("no-route-404", 4, True, c_no_route_404),
    ("spoofed-cluster-header", 4, True, c_spoofed_cluster),
    ("lambda-2.0", 8, True, c_lambda_v2),
    ("lambda-1.0", 6, True, c_lambda_v1),
    ("lambda-throttled-500", 4, True, c_lambda_throttled),
    ("lambda-function-error-502", 2, True, c_lambda_function_error),
    ("key-auth-good-header", 6, True, c_key_good),
    ("key-auth-good-query", 3, True, c_key_query),
    ("key-auth-bad-401", 3, True, c_key_bad),
    ("key-auth-missing-401", 2, True, c_key_missing),
    ("vars-match-response-rewrite", 3, True, c_vars_match),
    ("vars-miss-404", 2, True, c_vars_miss),
    ("method-not-on-route-404", 2, True, c_method_not_on_route),
    ("hostile-40k-header-value", 1, True, h_long_value),
    ("hostile-70k-header-value-431", 1, False, h_too_long_value),
    ("hostile-80-headers", 1, True, h_many_headers),
    ("hostile-150-headers-431", 1, False, h_too_many_headers),
    ("hostile-8k-glob-value", 1, True, h_long_glob_value),
    ("hostile-4k-path-segment", 1, True, h_long_path),
    ("hostile-odd-method", 1, True, h_odd_method),
    ("hostile-non-ascii-bytes", 1, True, h_odd_bytes),
    ("hostile-connect-404", 1, True, h_connect),
]


# ---------------------------------------------------------------------------------------------------------
# HTTP/1.1 client (asyncio streams; keep-alive; a response is read whole before the next request)

class Unexpected(Exception):
    pass


def encode_request(method, host, path, headers, body, tag):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"x-log-tag: {tag}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def read_response(reader, method):
    line = await reader.readline()
    if not line:
        raise EOFError("connection closed before a response")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise Unexpected("malformed status line %r" % line[:100])
    status = int(parts[1])
    headers = collections.defaultdict(list)
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("connection closed in the headers")
        if line in (b"\r\n", b"\n"):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()].append(v.strip())
    if method in ("HEAD", "CONNECT") and status < 300 or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(chunks)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"][0]))
    else:
        body = await reader.read()
    return status, headers, body


def check_answer(expect, status, headers, body):
    """None if the answer is the expected one, else (kind, detail)."""
    if status != expect["status"]:
        return "unexpected_status", "status %d, expected %d: %r" % (status, expect["status"], body[:200])
    for k, v in expect.get("headers", {}).items():
        if v not in headers.get(k, []):
            return "wrong_answer", "response header %s: %r, expected %r" % (k, headers.get(k), v)
    if "upstream" in expect:
        try:
            doc = json.loads(body)
        except ValueError:
            return "wrong_answer", "not an echo answer: %r" % body[:200]
        if doc.get("upstream") != expect["upstream"]:
            return "wrong_answer", "upstream %r, expected %r" % (doc.get("upstream"), expect["upstream"])
        if doc.get("path") != expect["upath"]:
            return "wrong_answer", "upstream path %r, expected %r" % (doc.get("path")[:200], expect["upath"][:200])
        uh = doc.get("headers", {})
        if uh.get("x-routewise-cluster") != expect["upstream"]:
            return "wrong_answer", "upstream saw x-routewise-cluster %r" % uh.get("x-routewise-cluster")
        for h in expect.get("no_upstream_headers", []):
            if h in uh:
                return "wrong_answer", "upstream saw %s" % h
        for k, v in expect.get("upstream_headers", {}).items():
            if uh.get(k) != v:
                return "wrong_answer", "upstream header %s: %r, expected %r" % (k, uh.get(k), v)
    if "lambda" in expect:
        try:
            doc = json.loads(body)
        except ValueError:
            return "wrong_answer", "not a Lambda event: %r" % body[:200]
        wrong = {k: doc.get(k) for k, v in expect["lambda"].items() if doc.get(k) != v}
        if wrong:
            return "wrong_answer", "event fields %r, expected %r" % (wrong, expect["lambda"])
    return None


class Stats:
    def __init__(self):
        self.by_class = {name: {"sent": 0, "ok": 0, "status": collections.Counter(), "unexpected": collections.Counter()}
                         for name, *_ in CLASSES}
        self.samples = []  # the first unexpected answers, with details
        self.latencies = []
        self.filter_answers = 0  # answered requests of classes that reach the filter

    def record(self, cls, reaches_filter, status, kind, detail, latency, t):
        c = self.by_class[cls]
        c["sent"] += 1
        if status is not None:
            c["status"][status] += 1
            if reaches_filter:
                self.filter_answers += 1
        if kind is None:
            c["ok"] += 1
            self.latencies.append(latency)
        else:
            c["unexpected"][kind] += 1
            if len(self.samples) < 30:
                self.samples.append({"t_s": round(t, 2), "class": cls, "kind": kind, "detail": detail})


async def one_request(conn, port, method, host, path, headers, body, tag):
    """Sends one request on conn (a [reader, writer] list, reopened when needed); (status, headers, body)."""
    if conn[0] is None:
        try:
            conn[0], conn[1] = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        except OSError as e:
            raise ConnectionRefusedError(str(e))
    conn[1].write(encode_request(method, host, path, headers, body, tag))
    await conn[1].drain()
    return await read_response(conn[0], method)


def close(conn):
    if conn[1] is not None:
        conn[1].close()
    conn[0] = conn[1] = None


async def exchange(conn, port, cls, build_req, rng, t0):
    """One request of class cls; (status or None, error kind or None, detail)."""
    method, host, path, headers, body, expect = build_req(rng)
    try:
        status, rh, rbody = await asyncio.wait_for(one_request(conn, port, method, host, path, headers, body, cls), TIMEOUT_S)
    except asyncio.TimeoutError:
        close(conn)
        return None, "timeout", "no answer within %.0f s" % TIMEOUT_S
    except ConnectionRefusedError as e:
        close(conn)
        return None, "socket_error", "connect: %s" % e
    except (ConnectionResetError, BrokenPipeError, EOFError, asyncio.IncompleteReadError) as e:
        close(conn)
        return None, "reset", "%s: %s" % (type(e).__name__, e)
    except (Unexpected, ValueError, OSError) as e:
        close(conn)
        return None, "socket_error", "%s: %s" % (type(e).__name__, e)
    if "close" in ",".join(rh.get("connection", [])).lower():
        close(conn)
    problem = check_answer(expect, status, rh, rbody)
    if problem:
        return status, problem[0], "%s %s %s: %s" % (method, host, path[:80], problem[1])
    return status, None, None


async def traffic_worker(i, port, stats, stop_at, seed, t0):
    rng = random.Random("%s-%d" % (seed, i))
    names = [c[0] for c in CLASSES]
    weights = [c[1] for c in CLASSES]
    by_name = {c[0]: c for c in CLASSES}
    conn = [None, None]
    while time.monotonic() < stop_at:
        name = rng.choices(names, weights)[0]
        _, _, reaches, build_req = by_name[name]
        start = time.monotonic()
        status, kind, detail = await exchange(conn, port, name, build_req, rng, t0)
        stats.record(name, reaches, status, kind, detail, time.monotonic() - start, start - t0)
    close(conn)


# ---------------------------------------------------------------------------------------------------------
# Envoy admin

def admin_get(admin_port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}{path}", timeout=timeout) as r:
        return r.read().decode("utf-8", "replace")


def stats_dict(admin_port, regex):
    out = {}
    for line in admin_get(admin_port, "/stats?filter=" + urllib.request.quote(regex)).splitlines():
        k, sep, v = line.partition(": ")
        if sep:
            v = v.strip()
            out[k.strip()] = int(v) if v.isdigit() else v.strip('"')
    return out


def ecds_state(admin_port):
    s = stats_dict(admin_port, "^" + ECDS_STATS.replace(".", r"\.") + r"\.")
    p = ECDS_STATS + "."
    return {"success": s.get(p + "update_success", 0), "rejected": s.get(p + "update_rejected", 0),
            "failure": s.get(p + "update_failure", 0), "version": s.get(p + "version_text", "")}


def config_dump_ecds(admin_port):
    """(version_info, routewise config text) of the routewise ECDS filter in /config_dump."""
    doc = json.loads(admin_get(admin_port, "/config_dump", timeout=10))
    for c in doc.get("configs", []):
        if c.get("@type", "").endswith("EcdsConfigDump"):
            for f in c.get("ecds_filters", []):
                ef = f.get("ecds_filter", {})
                if ef.get("name") == "routewise":
                    tc = ef.get("typed_config", {})
                    value = (tc.get("filter_config") or tc.get("config", {}).get("configuration") or {}).get("value")
                    return f.get("version_info"), value
    return None, None


# ---------------------------------------------------------------------------------------------------------
# One build


class Soak:
    def __init__(self, args, build):
        self.args, self.build = args, build
        self.dir = args.out / build
        self.procs = []
        self.events = []  # (t, text): the timeline printed at the end of the build
        self.pushes = []

    def log(self, text):
        t = time.monotonic() - self.t0 if hasattr(self, "t0") else 0.0
        self.events.append((round(t, 1), text))
        print("   [%s %6.1fs] %s" % (self.build, t, text), flush=True)

    # -- setup
    def prepare(self):
        if self.dir.exists():
            shutil.rmtree(self.dir)
        (self.dir / "configs").mkdir(parents=True)
        (self.dir / "ecds").mkdir()
        a = base_config()
        self.cfg_a = self.dir / "configs" / "variant-a.json"
        self.cfg_b = self.dir / "configs" / "variant-b.json"
        self.cfg_a.write_text(json.dumps(a, indent=1))
        self.cfg_b.write_text(json.dumps(variant_b(a), indent=1))
        self.invalid = []
        for name, text in invalid_configs(a):
            p = self.dir / "configs" / f"invalid-{name}.json"
            p.write_text(text)
            self.invalid.append(p)
        # The modules as they are now: a rebuild in the tree during the soak must not reach this Envoy.
        mods = self.dir / "modules"
        mods.mkdir()
        self.wasm = mods / "routewise.wasm"
        shutil.copy(self.args.wasm, self.wasm)
        shutil.copy(self.args.module_dir / "libroutewise_module.so", mods / "libroutewise_module.so")
        self.module_dir = mods
        for c in [self.cfg_a, self.cfg_b]:
            r = subprocess.run([self.args.cli, "validate", str(c)], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit("soak: %s is invalid:\n%s%s" % (c, r.stdout, r.stderr))

    def start(self):
        a = self.args
        self.port, self.admin_port, up_base, self.lambda_port = (free_port() for _ in range(4))
        cmd = [sys.executable, str(ROOT / "scripts" / "render_bootstrap.py"), "--config", str(self.cfg_a),
               "--build", self.build, "--wasm", str(self.wasm), "--listen-port", str(self.port),
               "--admin-port", str(self.admin_port), "--clusters-from-port", str(up_base),
               "--lambda-port", str(self.lambda_port), "--ecds-dir", str(self.dir / "ecds"),
               "--out", str(self.dir / "envoy.yaml"), "--print-clusters"]
        for f in LAMBDA_FUNCTIONS:
            cmd += ["--lambda-function", f]
        clusters = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split("\n")
        ups = ["%s=%s" % tuple(l.split()) for l in clusters if l.strip()]
        self.procs.append(subprocess.Popen([sys.executable, "-u", str(ROOT / "scripts" / "echo_upstream.py")] + ups,
                                           stdout=open(self.dir / "upstreams.log", "w"), stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen([a.lambda_mock, "--port", str(self.lambda_port)],
                                           stdout=open(self.dir / "lambda.log", "w"), stderr=subprocess.STDOUT))
        env = dict(os.environ, ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(self.module_dir))
        self.envoy = subprocess.Popen(
            [a.envoy, "-c", str(self.dir / "envoy.yaml"), "--disable-hot-restart", "--concurrency", "2",
             "--log-level", "info", "--file-flush-interval-msec", "100"],
            stdout=open(self.dir / "access.log", "w"), stderr=open(self.dir / "envoy.log", "w"), env=env)
        self.procs.append(self.envoy)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.envoy.poll() is not None:
                raise SystemExit("soak: Envoy exited (%s); see %s" % (self.envoy.returncode, self.dir / "envoy.log"))
            try:
                if admin_get(self.admin_port, "/ready", 1).strip() == "LIVE":
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("soak: Envoy not ready within 60 s; see %s" % (self.dir / "envoy.log"))
        # The upstreams and lambda-mock must accept connections before the first request.
        ports = [int(u.rsplit("=", 1)[1]) for u in ups] + [self.lambda_port]
        deadline = time.monotonic() + 30
        while ports and time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise SystemExit("soak: an upstream or lambda-mock exited; see %s" % self.dir)
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
                ports.pop(0)
            except OSError:
                time.sleep(0.1)
        if ports:
            raise SystemExit("soak: nothing listens on 127.0.0.1:%s after 30 s; see %s" % (ports, self.dir))
        self.version_a = ecds_state(self.admin_port)["version"]
        print("==> %s: Envoy ready on 127.0.0.1:%d (admin %d, pid %d), upstreams %s, lambda-mock :%d" % (
            self.build, self.port, self.admin_port, self.envoy.pid, " ".join(ups), self.lambda_port), flush=True)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # -- the run
    async def preflight(self):
        """Every class once, in order: printed, so a wrong expectation shows before the long run."""
        rng = random.Random(1)
        conn = [None, None]
        bad = 0
        for name, _, reaches, build_req in CLASSES:
            status, kind, detail = await exchange(conn, self.port, name, build_req, rng, self.t0)
            self.stats.record(name, reaches, status, kind, detail, 0.0, time.monotonic() - self.t0)
            if kind:
                bad += 1
                print("   preflight FAIL %-30s %s %s" % (name, kind, detail), flush=True)
        close(conn)
        print("   preflight: %d classes, %d unexpected" % (len(CLASSES), bad), flush=True)

    async def rss_sampler(self, stop_at):
        while time.monotonic() < stop_at and self.envoy.poll() is None:
            try:
                self.rss.append((round(time.monotonic() - self.t0, 1), proc_status_kib(self.envoy.pid, "VmRSS")))
            except OSError:
                break
            await asyncio.sleep(1)

    async def probe(self, variant):
        """The variant's probe: other.test /hello with x-soak-variant: b is 200 (tenant) in B, 403 in A."""
        expect = {"status": 200, "upstream": "tenant", "upath": "/hello"} if variant == "b" else {"status": 403}
        conn = [None, None]
        try:
            status, kind, detail = await exchange(
                conn, self.port, "probe", lambda _: ("GET", "other.test", "/hello", [("x-soak-variant", "b1")], None, expect),
                None, self.t0)
        finally:
            close(conn)
        self.probes += 1
        return kind is None, status, detail

    async def wait_probe(self, variant, seconds):
        """Polls the probe until it answers as `variant` (workers take a new config shortly after the main
        thread); (ok, seconds taken, last detail)."""
        start = time.monotonic()
        while True:
            ok, status, detail = await self.probe(variant)
            if ok or time.monotonic() - start > seconds:
                return ok, time.monotonic() - start, detail or status
            await asyncio.sleep(0.1)

    async def push(self, n, path, valid, variant):
        loop = asyncio.get_running_loop()
        rec = {"n": n, "t_s": round(time.monotonic() - self.t0, 1), "config": path.name, "valid": valid, "problems": []}
        # Subprocesses run in the executor's threads with a timeout (nothing here may block the event loop).
        v = await loop.run_in_executor(None, lambda: subprocess.run(
            [self.args.cli, "validate", str(path)], capture_output=True, timeout=60))
        rec["validate_exit"] = v.returncode
        if (rec["validate_exit"] == 0) != valid:
            rec["problems"].append("routewise validate exit %d" % rec["validate_exit"])
        before = await loop.run_in_executor(None, ecds_state, self.admin_port)
        rec["wall_start"] = time.time()
        p = await loop.run_in_executor(None, lambda: subprocess.run(
            [str(ROOT / "scripts" / "ecds-push"), "--no-validate", "--dir", str(self.dir / "ecds"), str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, env=dict(os.environ, ROUTEWISE_WASM=str(self.wasm))))
        out = p.stdout.decode(errors="replace")
        if p.returncode != 0:
            rec["problems"].append("ecds-push exit %d: %s" % (p.returncode, out.strip()[-300:]))
        m = re.search(r"version ([0-9a-f]{12})", out)
        rec["version"] = m.group(1) if m else None
        # Envoy's answer: update_success or update_rejected moves (bounded wait).
        deadline = time.monotonic() + 30
        after = before
        while time.monotonic() < deadline:
            after = await loop.run_in_executor(None, ecds_state, self.admin_port)
            if after["success"] != before["success"] or after["rejected"] != before["rejected"] \
                    or after["failure"] != before["failure"]:
                break
            await asyncio.sleep(0.1)
        rec["taken_s"] = round(time.monotonic() - self.t0 - rec["t_s"], 2)
        d_ok, d_rej = after["success"] - before["success"], after["rejected"] - before["rejected"]
        rec["envoy"] = "accepted" if (d_ok, d_rej) == (1, 0) else "rejected" if (d_ok, d_rej) == (0, 1) else \
            "no answer" if (d_ok, d_rej) == (0, 0) else "success+%d rejected+%d" % (d_ok, d_rej)
        if after["failure"] != before["failure"]:
            rec["problems"].append("update_failure moved (%d -> %d)" % (before["failure"], after["failure"]))
        want_version = rec["version"] if valid else before["version"]
        if rec["envoy"] != ("accepted" if valid else "rejected"):
            rec["problems"].append("Envoy: %s" % rec["envoy"])
        rec["version_after"] = after["version"]
        if after["version"] != want_version:
            rec["problems"].append("version_text %s, expected %s" % (after["version"], want_version))
        if valid:
            self.active = variant
        # /config_dump: after a valid push it must hold that config, byte for byte. After a rejected one, Envoy
        # 1.40 shows the rejected config and its version_info there (as envoyproxy/envoy#7939 describes for RDS)
        # while the previous one keeps serving (version_text, the probe): recorded, not counted as a failure.
        rec["config_dump_version"], dump_config = await loop.run_in_executor(None, config_dump_ecds, self.admin_port)
        active_text = (self.cfg_b if self.active == "b" else self.cfg_a).read_text()
        rec["config_dump_holds"] = "the active config" if dump_config == active_text else \
            "the rejected config" if dump_config == path.read_text() else "another config"
        if rec["config_dump_holds"] == "another config" or (valid and rec["config_dump_holds"] != "the active config"):
            rec["problems"].append("config_dump holds %s, not variant %s" % (
                "no routewise config" if dump_config is None else "another config (%d bytes)" % len(dump_config),
                self.active.upper()))
        ok, took, detail = await self.wait_probe(self.active, 5)
        rec["probe_s"] = round(took, 2)
        if not ok:
            rec["problems"].append("probe for variant %s: %s" % (self.active.upper(), detail))
        rec["wall_end"] = time.time()
        rec["result"] = ("accepted" if valid else "rejected as expected") if not rec["problems"] else "unexpected"
        self.pushes.append(rec)
        self.log("push %d %s (%s): Envoy %s, version_text %s, config_dump version %s (%s)%s" % (
            n, path.name, "valid" if valid else "invalid", rec["envoy"], after["version"], rec["config_dump_version"],
            rec["config_dump_holds"],
            "" if not rec["problems"] else " UNEXPECTED: " + "; ".join(rec["problems"])))

    async def pusher(self, start_at, stop_at):
        n, k = 0, 0
        next_at = start_at + self.args.push_every
        while next_at < stop_at - 5:
            await asyncio.sleep(max(0, next_at - time.monotonic()))
            n += 1
            if n % 2 == 1:
                variant = "b" if self.active == "a" else "a"
                await self.push(n, self.cfg_b if variant == "b" else self.cfg_a, True, variant)
            else:
                await self.push(n, self.invalid[k % len(self.invalid)], False, None)
                k += 1
            next_at += self.args.push_every

    async def run_async(self):
        a = self.args
        self.stats = Stats()
        self.rss = []
        self.probes = 0
        self.active = "a"
        self.t0 = time.monotonic()
        await self.preflight()
        warm_at = time.monotonic() + a.warmup
        stop_at = time.monotonic() + a.duration
        self.stop_at = stop_at
        self.log("traffic: %d connections for %d s (warm-up %d s), pushes every %d s" % (
            a.connections, a.duration, a.warmup, a.push_every))
        workers = [asyncio.create_task(traffic_worker(i, self.port, self.stats, stop_at, a.seed, self.t0))
                   for i in range(a.connections)]
        sampler = asyncio.create_task(self.rss_sampler(stop_at + 1))
        await asyncio.sleep(max(0, warm_at - time.monotonic()))
        self.rss_start = proc_status_kib(self.envoy.pid, "VmRSS") if self.envoy.poll() is None else None
        self.rss_start_t = round(time.monotonic() - self.t0, 1)
        self.log("warm-up done: RSS %.1f MiB, %d requests so far" % (
            (self.rss_start or 0) / 1024, sum(c["sent"] for c in self.stats.by_class.values())))
        pusher = asyncio.create_task(self.pusher(time.monotonic(), stop_at))
        last = time.monotonic()
        while time.monotonic() < stop_at:
            # A stalled event loop would stop everything silently: Python's stacks go to stderr after 120 s.
            faulthandler.dump_traceback_later(120, exit=False)
            await asyncio.sleep(min(30, max(0.1, stop_at - time.monotonic())))
            if time.monotonic() - last >= 29 or time.monotonic() >= stop_at:
                last = time.monotonic()
                tot = sum(c["sent"] for c in self.stats.by_class.values())
                bad = sum(sum(c["unexpected"].values()) for c in self.stats.by_class.values())
                self.log("%d requests, %d unexpected, RSS %.1f MiB" % (tot, bad, (self.rss[-1][1] if self.rss else 0) / 1024))
        await asyncio.wait_for(asyncio.gather(*workers), TIMEOUT_S + 30)
        await asyncio.wait_for(pusher, 180)
        await asyncio.wait_for(sampler, 30)
        faulthandler.cancel_dump_traceback_later()
        self.elapsed = time.monotonic() - self.t0

    # -- the end
    def finish(self):
        r = {"build": self.build, "duration_s": self.args.duration, "elapsed_s": round(self.elapsed, 1)}
        alive = self.envoy.poll() is None
        try:
            live = admin_get(self.admin_port, "/ready", 2).strip() == "LIVE"
        except OSError:
            live = False
        r["envoy_alive"], r["envoy_live"] = alive, live
        r["rss_end_kib"] = proc_status_kib(self.envoy.pid, "VmRSS") if alive else None
        counters, ecds, server = {}, {}, {}
        if alive:
            counters = stats_dict(self.admin_port, "^" + COUNTER_PREFIX[self.build].replace(".", r"\."))
            ecds = ecds_state(self.admin_port)
            server = stats_dict(self.admin_port, r"^(http\.routewise\.downstream_rq_[1-5]xx|http\.routewise\.downstream_rq_total"
                                r"|http\.routewise\.downstream_cx_protocol_error|wasm\..*|server\.(worker_\d+\.watchdog_.*|envoy_bug_failures|"
                                r"dynamic_unknown_fields|static_unknown_fields|memory_allocated|memory_heap_size))$")
        r["filter_counters"] = {k[len(COUNTER_PREFIX[self.build]):]: v for k, v in sorted(counters.items()) if v}
        r["envoy_stats"] = server
        r["ecds"] = ecds
        # Requests by class.
        st = self.stats
        r["classes"] = {n: {"sent": c["sent"], "ok": c["ok"], "status": dict(sorted(c["status"].items())),
                            "unexpected": dict(c["unexpected"])} for n, c in st.by_class.items()}
        r["requests"] = sum(c["sent"] for c in st.by_class.values())
        r["answered_as_expected"] = sum(c["ok"] for c in st.by_class.values())
        status = collections.Counter()
        unexpected = collections.Counter()
        for c in st.by_class.values():
            status.update(c["status"])
            unexpected.update(c["unexpected"])
        r["by_status"] = {str(k): v for k, v in sorted(status.items())}
        expected_non2xx = collections.Counter()
        for name, w, reaches, fn in CLASSES:
            exp = fn(random.Random(0))[5]["status"]
            if not 200 <= exp < 300:
                expected_non2xx[str(exp)] += st.by_class[name]["ok"]
        r["non_2xx_as_expected"] = dict(sorted(expected_non2xx.items()))
        r["unexpected"] = {k: unexpected.get(k, 0) for k in ("unexpected_status", "wrong_answer", "socket_error", "reset", "timeout")}
        r["unexpected_samples"] = st.samples
        r["throughput_rps"] = round(r["requests"] / self.args.duration, 1)
        lat = sorted(st.latencies)
        if lat:
            r["latency_ms"] = {"p50": round(lat[len(lat) // 2] * 1000, 2), "p99": round(lat[int(len(lat) * 0.99)] * 1000, 2),
                               "max": round(lat[-1] * 1000, 1)}
        # The filter's own count of the requests it saw: every answered request of a class that reaches it,
        # the preflight's and the probes (a request that got no answer may or may not have reached it).
        seen = sum(v for k, v in counters.items() if k.startswith(COUNTER_PREFIX[self.build] + "requests."))
        want = st.filter_answers + self.probes
        errs = sum(r["unexpected"][k] for k in ("socket_error", "reset", "timeout"))
        r["filter_requests_counted"], r["filter_requests_expected"] = seen, want
        r["filter_count_ok"] = seen == want if errs == 0 else want <= seen <= want + errs
        # Pushes.
        r["pushes"] = self.pushes
        r["push_summary"] = {
            "total": len(self.pushes),
            "accepted": sum(p["result"] == "accepted" for p in self.pushes),
            "rejected_as_expected": sum(p["result"] == "rejected as expected" for p in self.pushes),
            "unexpected": sum(p["result"] == "unexpected" for p in self.pushes),
        }
        # RSS.
        rs = [k for _, k in self.rss]
        r["rss_mib"] = {
            "start_after_warmup": mib(self.rss_start), "start_t_s": self.rss_start_t, "end": mib(r["rss_end_kib"]),
            "max": mib(max(rs)) if rs else None, "min_after_warmup": mib(min((k for t, k in self.rss if t >= self.rss_start_t), default=None)),
        }
        if self.rss_start and r["rss_end_kib"]:
            r["rss_mib"]["drift"] = round((r["rss_end_kib"] - self.rss_start) / 1024, 1)
            r["rss_mib"]["drift_pct"] = round(100.0 * (r["rss_end_kib"] - self.rss_start) / self.rss_start, 1)
            # The second half alone: a leak keeps growing there, a warm-up effect does not.
            mid_t = (self.rss_start_t + self.rss[-1][0]) / 2 if self.rss else None
            mid = next((k for t, k in self.rss if t >= mid_t), None) if self.rss else None
            if mid:
                r["rss_mib"]["second_half_drift"] = round((r["rss_end_kib"] - mid) / 1024, 1)
        r["rss_series"] = self.rss[:: max(1, len(self.rss) // 120)]
        # Envoy's log.
        r["log"] = scan_log(self.dir / "envoy.log", [(p["wall_start"] - 1, p["wall_end"] + 1)
                                                      for p in self.pushes if not p["valid"] and "wall_start" in p])
        r["access_log"] = summarize_access_log(self.dir / "access.log")
        # Verdict.
        problems = []
        if not alive or not live:
            problems.append("Envoy is %s" % ("not LIVE" if alive else "dead (exit %s)" % self.envoy.returncode))
        if sum(r["unexpected"].values()):
            problems.append("%d unexpected answers" % sum(r["unexpected"].values()))
        if r["push_summary"]["unexpected"]:
            problems.append("%d pushes went unexpectedly" % r["push_summary"]["unexpected"])
        if r["log"]["traps"]:
            problems.append("%d trap/panic/crash lines in Envoy's log" % r["log"]["traps"])
        if r["filter_counters"].get("requests.internal_error"):
            problems.append("requests.internal_error = %d" % r["filter_counters"]["requests.internal_error"])
        if not r["filter_count_ok"]:
            problems.append("the filter counted %d requests, %d expected" % (seen, want))
        drift = r["rss_mib"].get("drift_pct")
        if drift is not None and drift > self.args.max_drift_pct:
            problems.append("RSS drift %.1f %% > %.1f %%" % (drift, self.args.max_drift_pct))
        r["problems"] = problems
        # The access log is large: keep its summary and last lines.
        acc = self.dir / "access.log"
        if acc.exists() and not self.args.keep_access_log:
            tail = subprocess.run(["tail", "-n", "200", str(acc)], capture_output=True, text=True).stdout
            (self.dir / "access.log.tail").write_text(tail)
            acc.unlink()
        return r


def mib(kib):
    return None if kib is None else round(kib / 1024, 1)


TRAP_PATTERNS = [
    r"Function: proxy_on_\w+ failed", r"panicked", r"VM failed", r"Plugin configured to fail closed",
    r"wasm trap", r"Uncaught", r"RuntimeError", r"unreachable", r"memory allocation of", r"capacity overflow",
    r"Caught (Segmentation|Abort|Bus)", r"\]\[backtrace\]", r"\[critical\]", r"ENVOY_BUG", r"assert failure",
]


# What Envoy's wasm extension logs when a pushed config fails the filter's on_configure (the NACK path): on
# the main thread and on each worker, within the push. Elsewhere they would be failures.
REJECTION_LINES = [r"Wasm VM failed Failed to configure base Wasm plugin", r"Plugin routewise failed to load",
                   r"Plugin configured to fail closed failed to load"]


def scan_log(path, rejection_windows=()):
    """Counts of trap-like lines (those the wasm extension logs while a pushed config is being rejected are
    counted apart), and Envoy's warning/error lines grouped by message (numbers folded)."""
    traps, trap_lines, on_rejection = 0, [], 0
    groups = collections.Counter()
    wasm_lines = 0
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        if "wasm log" in line or "[dynamic_modules]" in line:
            wasm_lines += 1
        if any(re.search(p, line) for p in TRAP_PATTERNS):
            m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]", line)
            ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() if m else None
            if ts is not None and any(re.search(p, line) for p in REJECTION_LINES) and \
                    any(a <= ts <= b for a, b in rejection_windows):
                on_rejection += 1
                continue
            traps += 1
            if len(trap_lines) < 20:
                trap_lines.append(line[:400])
        m = re.match(r"\[[^\]]*\]\[\d+\]\[(warning|error|critical)\]\[(\w+)\] (?:\[[^\]]*\] )?(.*)", line)
        if m:
            msg = re.sub(r"\d+", "N", m.group(3))[:160]
            groups["%s %s: %s" % (m.group(1), m.group(2), msg)] += 1
    return {"lines": len(text.splitlines()), "bytes": len(text), "filter_lines": wasm_lines, "traps": traps,
            "plugin_load_failures_on_rejected_pushes": on_rejection,
            "trap_lines": trap_lines, "warning_error_groups": dict(groups.most_common(25))}


def summarize_access_log(path):
    """Envoy's view: lines by (tag, status) and the filter outcomes."""
    by = collections.Counter()
    outcomes = collections.Counter()
    n = 0
    if not path.exists():
        return {}
    with open(path, errors="replace") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            n += 1
            by["%s %s" % (e.get("tag"), e.get("status"))] += 1
            outcomes[str(e.get("outcome"))] += 1
    return {"lines": n, "by_tag_status": dict(sorted(by.items())), "outcomes": dict(outcomes)}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------------------------------------------------
# Report

def report_md(meta, results):
    L = []
    L.append("# routewise soak, %s" % meta["date"])
    L.append("")
    L.append("Command: `%s`; commit %s%s; Envoy %s; machine: %d CPUs, shared; %d connections, pushes every %d s, "
             "warm-up %d s." % (meta["command"], meta["commit"], " (working tree: %s)" % meta["dirty"] if meta["dirty"] else "",
                                meta["envoy_version"], os.cpu_count(), meta["connections"], meta["push_every"], meta["warmup"]))
    L.append("Modules: `%s` sha256 %s, `%s/libroutewise_module.so` sha256 %s (copied before the run).%s" % (
        meta["wasm"], meta["wasm_sha256"][:12], meta["module_dir"], meta["so_sha256"][:12],
        " " + meta["note"] if meta["note"] else ""))
    L.append("")
    L.append("| | " + " | ".join(r["build"] for r in results) + " |")
    L.append("|---|" + "---|" * len(results))

    def row(name, f):
        L.append("| %s | %s |" % (name, " | ".join(f(r) for r in results)))

    row("duration", lambda r: "%d s" % r["duration_s"])
    row("requests (throughput)", lambda r: "%d (%.0f/s)" % (r["requests"], r["throughput_rps"]))
    row("answered as expected", lambda r: "%d" % r["answered_as_expected"])
    row("expected non-2xx", lambda r: ", ".join("%s: %d" % kv for kv in r["non_2xx_as_expected"].items()))
    row("unexpected (status / wrong answer / socket error / reset / timeout)",
        lambda r: "%d / %d / %d / %d / %d" % tuple(r["unexpected"][k] for k in
                                                   ("unexpected_status", "wrong_answer", "socket_error", "reset", "timeout")))
    row("latency p50 / p99 / max", lambda r: "%s / %s / %s ms" % (r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["max"])
        if "latency_ms" in r else "-")
    row("config pushes: accepted / rejected as expected / unexpected",
        lambda r: "%d / %d / %d" % (r["push_summary"]["accepted"], r["push_summary"]["rejected_as_expected"], r["push_summary"]["unexpected"]))
    row("RSS after warm-up → end (max)", lambda r: "%s → %s MiB (%s)" % (r["rss_mib"]["start_after_warmup"], r["rss_mib"]["end"], r["rss_mib"]["max"]))
    row("RSS drift (of which in the second half)", lambda r: "%+.1f MiB (%+.1f %%) (%+.1f MiB)" % (
        r["rss_mib"]["drift"], r["rss_mib"]["drift_pct"], r["rss_mib"].get("second_half_drift", 0.0)) if "drift" in r["rss_mib"] else "-")
    row("traps / panics / crashes in Envoy's log", lambda r: "%d" % r["log"]["traps"])
    row("plugin-load failure lines during rejected pushes (expected)", lambda r: "%d" % r["log"]["plugin_load_failures_on_rejected_pushes"])
    row("/config_dump after a rejected push holds", lambda r: ", ".join("%s: %d" % kv for kv in sorted(collections.Counter(
        p.get("config_dump_holds") for p in r["pushes"] if not p["valid"]).items())) or "-")
    row("Envoy alive and LIVE at the end", lambda r: "yes" if r["envoy_alive"] and r["envoy_live"] else "NO")
    row("filter's requests.* counters vs requests that reached it", lambda r: "%d vs %d" % (r["filter_requests_counted"], r["filter_requests_expected"]))
    row("verdict", lambda r: "ok" if not r["problems"] else "**" + "; ".join(r["problems"]) + "**")
    L.append("")
    for r in results:
        L.append("## %s" % r["build"])
        L.append("")
        L.append("| class | sent | as expected | statuses | unexpected |")
        L.append("|---|---|---|---|---|")
        for n, c in r["classes"].items():
            L.append("| %s | %d | %d | %s | %s |" % (n, c["sent"], c["ok"], ", ".join("%s: %d" % kv for kv in c["status"].items()),
                                                   ", ".join("%s: %d" % kv for kv in c["unexpected"].items()) or "-"))
        L.append("")
        L.append("Filter counters (`%s*`, non-zero): %s" % (COUNTER_PREFIX[r["build"]], ", ".join(
            "%s %d" % kv for kv in r["filter_counters"].items())))
        L.append("")
        L.append("Pushes:")
        L.append("")
        for p in r["pushes"]:
            L.append("- %5.1f s `%s` (%s): validate exit %d, Envoy %s in %.1f s, version_text %s, config_dump %s, "
                     "probe %.1f s → %s%s" % (
                p["t_s"], p["config"], "valid" if p["valid"] else "invalid", p["validate_exit"], p["envoy"], p["taken_s"],
                p.get("version_after"), p.get("config_dump_holds"), p.get("probe_s", -1), p["result"], "" if not p["problems"] else " (" + "; ".join(p["problems"]) + ")"))
        L.append("")
        L.append("Envoy's log: %d lines, %d from the filter, %d trap/panic/crash lines; warning/error lines by message:" % (
            r["log"]["lines"], r["log"]["filter_lines"], r["log"]["traps"]))
        L.append("")
        for k, v in r["log"]["warning_error_groups"].items():
            L.append("- %d × `%s`" % (v, k.replace("`", "'")))
        for l in r["log"]["trap_lines"]:
            L.append("- trap line: `%s`" % l.replace("`", "'"))
        if r["unexpected_samples"]:
            L.append("")
            L.append("First unexpected answers:")
            L.append("")
            for s in r["unexpected_samples"][:15]:
                L.append("- %.1f s %s %s: %s" % (s["t_s"], s["class"], s["kind"], str(s["detail"]).replace("`", "'")[:300]))
        L.append("")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=300)
    ap.add_argument("--build", choices=["wasm", "dynamic-module", "both"], default="both")
    ap.add_argument("--push-every", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=None, help="seconds before RSS start and the first push (default min(20, duration/6))")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seed", default="42")
    ap.add_argument("--max-drift-pct", type=float, default=10.0, help="RSS drift above this is a failure")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "results" / "soak")
    ap.add_argument("--keep-access-log", action="store_true")
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", type=pathlib.Path, required=True)
    ap.add_argument("--module-dir", type=pathlib.Path, required=True)
    ap.add_argument("--cli", required=True, help="the routewise CLI (validate)")
    ap.add_argument("--lambda-mock", required=True)
    ap.add_argument("--command", default="scripts/soak")
    ap.add_argument("--note", default="", help="a line for the report (e.g. where the modules were built from)")
    args = ap.parse_args()
    # SIGTERM / SIGINT end the run through the `finally` that stops Envoy and the upstreams; SIGUSR1 prints
    # Python's stacks (a stuck run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    faulthandler.register(signal.SIGUSR1)
    if args.warmup is None:
        args.warmup = min(20, args.duration // 6)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    builds = ["wasm", "dynamic-module"] if args.build == "both" else [args.build]

    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT)] + list(a), capture_output=True, text=True).stdout.strip()

    dirty = [l[3:] for l in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": args.command, "commit": git("rev-parse", "--short=12", "HEAD"),
        "dirty": ", ".join(d for d in dirty if d.startswith(("filter/", "Cargo"))),
        "envoy_version": (re.search(r"/(\d+\.\d+\.\d+)/", subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout)
                          or [None, "?"])[1],
        "note": args.note, "wasm": str(args.wasm), "module_dir": str(args.module_dir),
        "connections": args.connections, "push_every": args.push_every, "warmup": args.warmup, "duration": args.duration,
        "wasm_sha256": hashlib.sha256(args.wasm.read_bytes()).hexdigest(),
        "so_sha256": hashlib.sha256((args.module_dir / "libroutewise_module.so").read_bytes()).hexdigest(),
    }
    results = []
    for b in builds:
        s = Soak(args, b)
        print("==> soak %s: %d s, pushes every %d s, out %s" % (b, args.duration, args.push_every, s.dir), flush=True)
        s.prepare()
        try:
            s.start()
            asyncio.run(s.run_async())
            results.append(s.finish())
        finally:
            s.stop()
        r = results[-1]
        print("==> %s: %d requests, %d as expected, unexpected %s; pushes %s; RSS %s; traps %d; %s" % (
            b, r["requests"], r["answered_as_expected"], r["unexpected"], r["push_summary"], r["rss_mib"], r["log"]["traps"],
            "ok" if not r["problems"] else "PROBLEMS: " + "; ".join(r["problems"])), flush=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    md = report_md(meta, results)
    (args.out / "results.md").write_text(md)
    print()
    print(md)
    print("written: %s, %s" % (args.out / "results.md", args.out / "results.json"))
    sys.exit(1 if any(r["problems"] for r in results) else 0)


if __name__ == "__main__":
    main()
