#!/usr/bin/env python3
"""The example requests for envoy/examples/products.json, shared by `scripts/run` (which prints them as curl
commands) and `scripts/run --check` (which sends them and checks the answers).

    try_examples.py print PORT
    try_examples.py check PORT ACCESS_LOG
    try_examples.py check-log ENVOY_LOG BUILD

`check` sends each request to 127.0.0.1:PORT, prints the status, the upstream that answered and the path it
received (or the local reply body, or for a Lambda route the event the function received and the headers
expected), then reads the Envoy access log (one JSON object per line) and checks the
rule/mapping/route the filter recorded in filter state. It exits 1 if anything differs from what is expected.
`check-log` checks Envoy's own log: the filter's configure-time line, and for the dynamic module that Envoy
matched its ABI version (no deprecation warning).
"""

import http.client
import json
import sys
import time

# (what it shows, method, host, path, extra headers, expected status, expected upstream or local reply body
#  or {"lambda_event": fields the echoed Lambda event must have}, path the upstream must receive, filter state
#  expected in the access log[, response headers expected])
EXAMPLES = [
    ("mapping (none) -> products API, route GET /products/{id} (R9, P2)",
     "GET", "api.example.com", "/products/42", {}, 200, "products-v1", "/products/42",
     {"rule_id": "-", "mapping_id": "catch-all", "api": "products", "route_id": "get-product", "consumer": "-",
      "lambda_statuscode": None}),
    ("header rule x-version: v2* wins before the mappings (R3, R8 ROUTING_RULE_THEN_API_MAPPING)",
     "GET", "api.example.com", "/products/42", {"x-version": "v2-beta"}, 200, "products-v2", "/products/42",
     {"rule_id": "v2-by-header", "mapping_id": "-", "api": "products-v2", "route_id": "v2-get-product"}),
    ("x-version: v1 does not match v2* -> falls through to the mapping (R3)",
     "GET", "api.example.com", "/products/42", {"x-version": "v1"}, 200, "products-v1", "/products/42",
     {"rule_id": "-", "mapping_id": "catch-all"}),
    ("base-path rule with strip_base_path: /shop/products/7 reaches products as /products/7 (R6, R7)",
     "GET", "api.example.com", "/shop/products/7?color=red", {}, 200, "products-v1", "/products/7?color=red",
     {"rule_id": "shop-stripped", "route_id": "get-product"}),
    ("base-path rule without strip: the path is forwarded unchanged (R6)",
     "GET", "api.example.com", "/legacy/items/7", {}, 200, "legacy", "/legacy/items/7",
     {"rule_id": "legacy-kept", "route_id": "legacy-any"}),
    ("API mapping 'orders' (mapped base paths are stripped) -> GET /{orderId} (R9)",
     "GET", "api.example.com", "/orders/17", {}, 200, "orders", "/17",
     {"rule_id": "-", "mapping_id": "orders", "route_id": "get-order"}),
    ("POST /orders -> orders API sees POST / (R9)",
     "POST", "api.example.com", "/orders", {"content-type": "application/json"}, 200, "orders", "/",
     {"mapping_id": "orders", "route_id": "create-order"}),
    ("wildcard domain *.example.com -> tenant API, implicit $default route (D1, D3)",
     "GET", "shop.example.com", "/anything/at/all", {}, 200, "tenant", "/anything/at/all",
     {"domain": "*.example.com", "mapping_id": "tenants", "api": "tenant"}),
    ("any other host: domain '*' (ROUTING_RULE_ONLY) with the x-tenant rule (D3, R8)",
     "GET", "other.test", "/hello", {"x-tenant": "acme"}, 200, "tenant", "/hello",
     {"domain": "*", "rule_id": "acme-by-header"}),
    ("any other host without the header: no rule -> 403 Forbidden (R10)",
     "GET", "other.test", "/hello", {}, 403, {"message": "Forbidden"}, None,
     {"domain": "*", "rule_id": "-", "mapping_id": "-"}),
    ("v2 rule selects products-v2, which has no route for /orders/17 -> 404 Not Found (P8)",
     "GET", "api.example.com", "/orders/17", {"x-version": "v2"}, 404, {"message": "Not Found"}, None,
     {"rule_id": "v2-by-header", "api": "products-v2"}),
    ("a client's own x-routewise-cluster header is ignored: the filter sets its own",
     "GET", "api.example.com", "/products/42", {"x-routewise-cluster": "orders"}, 200, "products-v1",
     "/products/42", {"mapping_id": "catch-all"}),
    # Lambda integrations (lambda.md): the filter builds the API Gateway event, Envoy's aws_lambda filter signs
    # the Invoke call (SigV4) to the local Lambda endpoint (lambda-mock), the filter unwraps the answer.
    ("mapping 'zoo' -> pets API, GET /pets/{id} -> Lambda function 'echo' (format 2.0), which answers with the "
     "event it received; the filter unwraps it (L2, U5, U10)",
     "GET", "api.example.com", "/zoo/pets/7?size=small", {}, 200,
     {"lambda_event": {"version": "2.0", "routeKey": "GET /pets/{id}", "rawPath": "/pets/7",
                       "rawQueryString": "size=small", "pathParameters": {"id": "7"},
                       "stageVariables": {"env": "example"}}},
     None, {"mapping_id": "zoo", "api": "pets", "route_id": "get-pet"}, {"x-function": "echo"}),
    ("GET /busy -> Lambda function 'throttle', which Lambda throttles (429): API Gateway's 500 with the Lambda "
     "status and reason (U1)",
     "GET", "api.example.com", "/zoo/busy", {}, 500, {"message": "Internal server error"}, None,
     {"mapping_id": "zoo", "route_id": "busy", "lambda_outcome": "throttled", "lambda_status": "429",
      "lambda_statuscode": "429", "lambda_statusreason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
     {"x-envoy-lambda-statuscode": "429",
      "x-envoy-lambda-statusreason": "ReservedFunctionConcurrentInvocationLimitExceeded"}),
]


def unpack(example):
    """The 9 fields every example has, and the response headers expected (a 10th, optional)."""
    return example[:9], (example[9] if len(example) > 9 else {})


def curl(port, method, host, path, headers, show_headers=False):
    parts = ["curl", "-si" if show_headers else "-s"]
    if method != "GET":
        parts += ["-X", method]
    parts += ["-H", "'Host: %s'" % host]
    for k, v in headers.items():
        parts += ["-H", "'%s: %s'" % (k, v)]
    parts.append("'localhost:%d%s'" % (port, path))
    return " ".join(parts)


def print_examples(port):
    for i, example in enumerate(EXAMPLES, 1):
        (what, method, host, path, headers, status, expect, upath, _), want_headers = unpack(example)
        print("%2d. %s" % (i, what))
        print("      %s" % curl(port, method, host, path, headers, bool(want_headers)))
        if isinstance(expect, str):
            print("      -> %d from upstream '%s', which receives %s %s" % (status, expect, method, upath))
        elif "lambda_event" in expect:
            print("      -> %d, body: the event the function received (%s)" % (
                status, ", ".join("%s %s" % (k, json.dumps(v)) for k, v in expect["lambda_event"].items())))
        else:
            print("      -> %d %s (answered by the filter)%s" % (
                status, json.dumps(expect, separators=(",", ":")),
                "".join(", %s: %s" % kv for kv in want_headers.items())))


def send(port, method, host, path, headers, tag):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = {"Host": host, "x-log-tag": tag, **headers}
    body = b'{"example":true}' if method == "POST" else None
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, resp.getheaders()


def check(port, access_log):
    failed = set()
    for i, example in enumerate(EXAMPLES, 1):
        (what, method, host, path, headers, status, expect, upath, _), want_headers = unpack(example)
        got_status, data, got_headers = send(port, method, host, path, headers, "example-%d" % i)
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        problems = []
        if got_status != status:
            problems.append("status %d, expected %d" % (got_status, status))
        if isinstance(expect, str):
            if not isinstance(doc, dict) or doc.get("upstream") != expect:
                problems.append("upstream %r, expected %r" % (doc.get("upstream") if isinstance(doc, dict) else None, expect))
            elif doc.get("path") != upath:
                problems.append("upstream path %r, expected %r" % (doc.get("path"), upath))
            elif doc.get("headers", {}).get("x-routewise-cluster") != expect:
                problems.append("upstream saw x-routewise-cluster %r" % doc.get("headers", {}).get("x-routewise-cluster"))
            shown = "upstream=%s path=%s" % (doc.get("upstream"), doc.get("path")) if isinstance(doc, dict) else data[:200]
        elif "lambda_event" in expect:
            want = expect["lambda_event"]
            wrong = {k: v for k, v in want.items() if not isinstance(doc, dict) or doc.get(k) != v}
            if wrong:
                problems.append("event %s, expected %r" % (data[:300], wrong))
            shown = "Lambda event %s" % " ".join(
                "%s=%s" % (k, json.dumps(doc.get(k))) for k in ("version", "routeKey", "rawPath")) \
                if isinstance(doc, dict) else data[:200]
        else:
            if doc != expect:
                problems.append("body %r, expected %r" % (data[:200], expect))
            shown = data.decode("utf-8", "replace").strip()
        got = {}
        for k, v in got_headers:
            got.setdefault(k.lower(), v)
        for k, v in want_headers.items():
            if got.get(k) != v:
                problems.append("header %s: %r, expected %r" % (k, got.get(k), v))
            else:
                shown += " [%s: %s]" % (k, v)
        print("%s %2d. %s %s %s%s -> %d %s" % ("ok  " if not problems else "FAIL", i, method, host, path,
                                              "".join(" [%s: %s]" % kv for kv in headers.items()), got_status, shown))
        for p in problems:
            print("        " + p)
        if problems:
            failed.add(i)

    # The access log: one line per example, tagged example-N, with the filter state the filter recorded (R11).
    lines = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = {}
        with open(access_log, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and str(entry.get("tag", "")).startswith("example-"):
                    lines[entry["tag"]] = entry
        if len(lines) >= len(EXAMPLES):
            break
        time.sleep(0.2)
    for i, example in enumerate(EXAMPLES, 1):
        entry = lines.get("example-%d" % i)
        if entry is None:
            print("FAIL %2d. no access log line tagged example-%d" % (i, i))
            failed.add(i)
            continue
        wrong = {k: (entry.get(k), v) for k, v in example[8].items() if entry.get(k) != v}
        if wrong:
            failed.add(i)
            print("FAIL %2d. access log: %s" % (i, ", ".join("%s=%r (expected %r)" % (k, g, e) for k, (g, e) in wrong.items())))
    print("access log: %d lines checked" % len(lines))
    print("examples: %d passed, %d failed" % (len(EXAMPLES) - len(failed), len(failed)))
    return 1 if failed else 0


def check_log(envoy_log, build):
    with open(envoy_log, encoding="utf-8", errors="replace") as f:
        log = f.read()
    # The dynamic module says which ABI it was built for (v0.2.0, Envoy 1.40); Envoy 1.40 logs "matched",
    # 1.39 loads it with a deprecation warning.
    wanted = ["routewise: configured: "]
    if build == "dynamic-module":
        wanted.append("Dynamic module ABI version v0.2.0 ")
    missing = [w for w in wanted if w not in log]
    for w in wanted:
        line = next((l for l in log.splitlines() if w in l), None)
        print("%s envoy log: %s" % ("ok  " if line else "FAIL", line.split("] ")[-1] if line else "no line with %r" % w))
    return 1 if missing else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "print":
        print_examples(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(int(sys.argv[2]), sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "check-log":
        sys.exit(check_log(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
