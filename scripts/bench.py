#!/usr/bin/env python3
"""routewise vs Envoy's own routing, on loopback, with wrk. Run through scripts/bench (it builds the filter
and finds Envoy); see bench/README.md for the method and the latest results.

Configurations (one Envoy process each, `--concurrency 1` pinned to CPU 1, wrk pinned to CPU 0):
  bare           one route `prefix: /` -> cluster svc
  native-N       Envoy's route table with the same N rules as routewise-N (path-separated prefix /svc<k> AND
                 x-tenant exact/prefix/suffix/contains AND, for odd k, x-env), in priority order, then a
                 catch-all -> cluster fallback
  routewise-N    the filter with the same N rules (+ a catch-all rule); Envoy routes only on the cluster header
  module-N       the same filter and config as the dynamic module (libroutewise_module.so, Envoy's
                 DynamicModuleFilter, loaded from ENVOY_DYNAMIC_MODULES_SEARCH_PATH = --module-dir)
  candidate-N    routewise-N with another build of the module (--candidate PATH): an optimisation measured
                 against the current module in the same rounds (ratios candidate/routewise)
Every cluster points at the same upstream: a second listener of the same Envoy answering `direct_response`
200, so all configurations do the same proxying work and only the routing differs. Each route adds a
response header `x-rule` (the native route's rule id, or the filter state `rule_id`: `wasm.routewise.rule_id`
for routewise.wasm, `routewise.rule_id` for the dynamic module), which is how
every request of the mix is checked against the rule it must hit before anything is measured.

Request mix: a fixed, seeded list of requests (seed 42) for each N: a quarter hits rules at the start of the
priority order (first 10 %), a quarter the middle (45-55 %), a quarter the end (last 10 %), a quarter matches
no rule (catch-all). wrk cycles through the list (a Lua script with pre-formatted requests).

Rounds: every configuration is started, checked, warmed up and measured once per round; the order reverses
every other round, so slow drifts of this shared machine hit all configurations alike. Ratios are taken
within a round, then the median over rounds is reported.

Arms: --arms (alias --configs) picks the kinds to run, e.g. `--arms bare,module` or `--arms bare,routewise,module`
(default all four); a smoke test of the harness: `--sizes 10 --rounds 1 --duration 1 --warmup 0
--latency-duration 1` (scripts/bench --smoke).
"""

import argparse
import datetime
import json
import os
import pathlib
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 42
MIX_SIZE = 100
CLUSTER_HEADER = "x-routewise-cluster"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The kinds of configuration --arms picks from (candidate-N comes with --candidate).
ARMS = ("bare", "native", "routewise", "module")


# ---------------------------------------------------------------------------------------------------------
# Rules: the shape of shared/bench-baseline.md and filter/benches/routing.rs.

def tenant_rule(k):
    """(kind, envoy string, routewise glob, a value that matches) for rule k's x-tenant condition."""
    return [
        ("exact", f"tenant-{k}", f"tenant-{k}", f"tenant-{k}"),
        ("prefix", f"tenant-{k}-", f"tenant-{k}-*", f"tenant-{k}-x"),
        ("suffix", f"-{k}.example.com", f"*-{k}.example.com", f"a-{k}.example.com"),
        ("contains", f".{k}.", f"*.{k}.*", f"zone.{k}.eu"),
    ][k % 4]


def env_rule(k):
    return [
        ("exact", "prod", "prod", "prod"),
        ("prefix", "prod-", "prod-*", "prod-1"),
        ("suffix", "-prod", "*-prod", "eu-prod"),
        ("contains", "prod", "*prod*", "eu-prod-1"),
    ][k % 4]


def rule_headers(k):
    """[(header, kind, envoy string, glob, matching value)] of rule k."""
    out = [("x-tenant",) + tenant_rule(k)]
    if k % 2 == 1:
        out.append(("x-env",) + env_rule(k))
    return out


# issue 14's limits (filter/src/engine): at most MAX_ITEMS rules, mappings and routes in one config, and at most
# MAX_CONTAINS_GLOB_BYTES of contains-glob literals (`*v*`) per domain. Up to SHARD rules the config is one domain
# `*` (every N of the throughput runs, as before). Above it (N = 100,000) the rules are spread over
# ceil(N / SHARD) domains `t<j>.bench.test` of SHARD rules each, as a user with that many tenants would split
# them by host (one domain of 100,000 rules holds ~272 KB of contains literals, over the limit; a domain of
# 25,000 ~68 KB); each domain ends with its own catch-all, and the numbered rules are cut so that rules plus
# catch-alls stay within MAX_ITEMS (N = 100,000: 99,996 numbered rules + 4 catch-alls = 100,000 rules).
# The native configuration gets the same split: one virtual host per domain.
MAX_ITEMS = 100_000
SHARD = 25_000


def domain_count(n):
    return max(1, -(-n // SHARD))


def rule_count(n):
    """Numbered rules r0..r<count-1> for size N (N, or fewer where the catch-alls would pass MAX_ITEMS)."""
    return min(n, MAX_ITEMS - domain_count(n))


def domain_of(n, k):
    """(domain name, Host header or None) of rule k, or of catch-all request k, at size N."""
    d = domain_count(n)
    if d == 1:
        return "*", None
    j = min(k // SHARD, d - 1)
    return f"t{j}.bench.test", f"t{j}.bench.test"


def rule(k):
    return {
        "id": f"r{k}",
        "priority": k + 1,
        "conditions": {
            "base_path": f"svc{k}",
            "headers": [{"header": h, "value_glob": g} for h, _, _, g, _ in rule_headers(k)],
        },
        "action": {"invoke_api": {"api": "svc", "stage": "prod"}},
    }


def routewise_config(n):
    domains = {}
    for k in range(rule_count(n)):
        domains.setdefault(domain_of(n, k)[0], []).append(rule(k))
    for j in range(domain_count(n)):
        name = domain_of(n, j * SHARD)[0]
        rules = domains.setdefault(name, [])
        rules.append({"id": "catchall", "priority": len(rules) and rules[-1]["priority"] + 1 or 1,
                      "action": {"invoke_api": {"api": "fallback", "stage": "prod"}}})
    return {
        "domains": [{"name": name, "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rules}
                    for name, rules in domains.items()],
        "apis": [
            {"id": "svc", "stages": {"prod": {"integration": {"type": "http", "cluster": "svc"}}}},
            {"id": "fallback", "stages": {"prod": {"integration": {"type": "http", "cluster": "fallback"}}}},
        ],
    }


def request_mix(n):
    """The seeded request list for N rules: [(path, headers, expected x-rule)]. Above SHARD rules each request
    also names its rule's domain in Host (the draws of the RNG are the same as before for every N)."""
    rng = random.Random(f"{SEED}-{n}")
    q = MIX_SIZE // 4
    count = rule_count(n)

    def host(k):
        h = domain_of(n, k)[1]
        return [("host", h)] if h else []

    def hit(k):
        return (f"/svc{k}/api", host(k) + [(h, v) for h, _, _, _, v in rule_headers(k)], f"r{k}")

    def band(lo, hi):
        lo, hi = int(lo), max(int(hi), int(lo) + 1)
        return [hit(rng.randrange(lo, min(hi, count))) for _ in range(q)]

    mix = band(0, n * 0.1) + band(n * 0.45, n * 0.55) + band(n * 0.9, n)
    for j in range(MIX_SIZE - len(mix)):
        i = rng.randrange(1_000_000)
        mix.append((f"/other{i}/api", host((j % domain_count(n)) * SHARD) + [("x-tenant", f"nobody-{i}"), ("x-env", "prod")], "catchall"))
    rng.shuffle(mix)
    return mix


# ---------------------------------------------------------------------------------------------------------
# Envoy bootstraps (JSON: YAML parsing of 10,000 routes takes ~0.75 s, see bench-baseline.md).

def static_cluster(name, port):
    return {
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


def hcm(stat_prefix, routes, http_filters):
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            # The same normalisation as envoy/routewise.yaml.tmpl, in every configuration.
            "normalize_path": True,
            "merge_slashes": True,
            "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
            "http_filters": http_filters + [{
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }],
            "route_config": route_config(stat_prefix, routes),
        },
    }


def route_config(name, routes):
    """A RouteConfiguration: `routes` is a list (one virtual host `*`) or {domain: routes} (one virtual host
    per domain, as native-N above SHARD rules)."""
    if isinstance(routes, list):
        routes = {"*": routes}
    return {"name": name, "virtual_hosts": [{"name": f"{name}-{i}", "domains": [d], "routes": r}
                                            for i, (d, r) in enumerate(routes.items())]}


def x_rule(value):
    return [{"header": {"key": "x-rule", "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]


# The dynamic module's filter-state keys carry no prefix (render_bootstrap.py FILTER_STATE_PREFIX); the wasm
# filter's are stored by Envoy as wasm.<key>.
FILTER_STATE_PREFIX = {"routewise": "wasm.", "module": ""}


def bootstrap(kind, n, wasm, port, admin_port, upstream_port, filter_state=None):
    """The Envoy bootstrap of one configuration (`candidate` is `routewise` with another module; `module` is
    the dynamic module, whose .so Envoy finds in ENVOY_DYNAMIC_MODULES_SEARCH_PATH, see Envoy.__init__).
    `filter_state`: the routewise config's `filter_state` (a list of keys), else absent (every key)."""
    if kind == "bare":
        routes = [{"match": {"prefix": "/"}, "route": {"cluster": "svc"}, "response_headers_to_add": x_rule("bare")}]
        filters = []
    elif kind == "native":
        vhosts = {}
        for k in range(rule_count(n)):
            headers = [{"name": h, "string_match": {kind_: s}} for h, kind_, s, _, _ in rule_headers(k)]
            vhosts.setdefault(domain_of(n, k)[0], []).append({
                "match": {"path_separated_prefix": f"/svc{k}", "headers": headers},
                "route": {"cluster": "svc"},
                "response_headers_to_add": x_rule(f"r{k}"),
            })
        for j in range(domain_count(n)):
            vhosts.setdefault(domain_of(n, j * SHARD)[0], []).append(
                {"match": {"prefix": "/"}, "route": {"cluster": "fallback"}, "response_headers_to_add": x_rule("catchall")})
        routes = vhosts
        filters = []
    else:
        routes = [{
            "match": {"prefix": "/"},
            "route": {"cluster_header": CLUSTER_HEADER, "timeout": "30s"},
            "response_headers_to_add": x_rule(f"%FILTER_STATE({FILTER_STATE_PREFIX[kind]}routewise.rule_id:PLAIN)%"),
        }]
        rw = routewise_config(n)
        if filter_state is not None:
            rw = {"filter_state": filter_state, **rw}
        configuration = {"@type": "type.googleapis.com/google.protobuf.StringValue",
                         "value": json.dumps(rw, separators=(",", ":"))}
    if kind == "module":
        # As the template's `routewise:build dynamic-module` entry (envoy/routewise.yaml.tmpl).
        filters = [{
            "name": "routewise",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
                "dynamic_module_config": {"name": "routewise_module", "do_not_close": True},
                "filter_name": "routewise",
                "filter_config": configuration,
            },
        }]
    elif kind == "routewise":
        filters = [{
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "routewise",
                    "root_id": "",
                    "configuration": configuration,
                    "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(wasm)}}},
                    "failure_policy": "FAIL_CLOSED",
                    "allow_on_headers_stop_iteration": True,
                },
            },
        }]
    upstream = hcm("upstream", [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}], [])
    out = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [
                {"name": "front", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                 "filter_chains": [{"filters": [hcm("front", routes, filters)]}]},
                {"name": "upstream", "address": {"socket_address": {"address": "127.0.0.1", "port_value": upstream_port}},
                 "filter_chains": [{"filters": [upstream]}]},
            ],
            "clusters": [static_cluster("svc", upstream_port), static_cluster("fallback", upstream_port)],
        },
    }
    if kind == "module":
        # The template's runtime flag (stat names only: Prometheus shows the counters as routewise_*).
        out["layered_runtime"] = {"layers": [{"name": "static", "static_layer": {
            "envoy.reloadable_features.dynamic_modules_strip_custom_stat_prefix": True}}]}
    return out


# ---------------------------------------------------------------------------------------------------------
# wrk

LUA = """-- generated by scripts/bench.py: cycles through a fixed request list
local reqs = {}
local i = 0
init = function(args)
%s
end
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  io.write(string.format("BENCHJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"errors\\":%%d,\\"non2xx\\":%%d,\\"p50\\":%%d,\\"p90\\":%%d,\\"p99\\":%%d,\\"max\\":%%d,\\"mean\\":%%.1f}\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_lua(path, mix):
    lines = []
    for p, headers, _ in mix:
        h = ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in headers)
        lines.append(f"  reqs[#reqs + 1] = wrk.format(\"GET\", {lua_str(p)}, {{{h}}})")
    path.write_text(LUA % "\n".join(lines))


def run_wrk(url, lua, duration, connections):
    cmd = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", "-s", str(lua), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"^BENCHJSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"no result from wrk:\n{out}")
    return json.loads(m.group(1))


# ---------------------------------------------------------------------------------------------------------
# Envoy process

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_cpu_s(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_status_kib(pid, key):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Envoy:
    def __init__(self, envoy, cfg_path, log_path, admin_port, module_dir=None, workers=1, cpus="1", timeout=60):
        """module_dir: the directory of libroutewise_module.so (ENVOY_DYNAMIC_MODULES_SEARCH_PATH), for the
        dynamic-module arm; its `routewise: configured` line is logged under `dynamic_modules`. workers:
        Envoy's --concurrency; cpus: taskset's CPU list for Envoy (None: not pinned)."""
        self.admin_port = admin_port
        env, components = None, "wasm:info"
        if module_dir is not None:
            env = dict(os.environ, ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(module_dir))
            components = "wasm:info,dynamic_modules:info"
        self.log = open(log_path, "w")
        self.t0 = time.monotonic()
        self.started_wall = time.time()
        self.proc = subprocess.Popen(
            (["taskset", "-c", cpus] if cpus else []) + [envoy, "-c", str(cfg_path), "--concurrency", str(workers), "--disable-hot-restart",
             "--log-level", "warn", "--component-log-level", components],
            stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        self.ready_s = None
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Envoy exited ({self.proc.returncode}), log {log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=1) as r:
                    if r.status == 200:
                        self.ready_s = time.monotonic() - self.t0
                        return
            except OSError:
                pass
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"Envoy not ready within {timeout} s, log {log_path}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def verify(port, mix, check_rule=True):
    """Every request of the mix must be answered 200 by the rule it is meant to hit (by any, unchecked)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    bad = []
    for p, headers, want in mix:
        conn.request("GET", p, headers=dict(headers))
        r = conn.getresponse()
        r.read()
        got = r.getheader("x-rule")
        if r.status != 200 or (check_rule and got != want):
            bad.append(f"{p} {headers}: status {r.status}, x-rule {got!r}, want {want!r}")
    conn.close()
    return bad


def wasm_log_times(log_path):
    """Wall-clock times of the `routewise: configured` lines (wasm: one per VM; dynamic module: one per
    config_new, i.e. per filter config, shared by the workers). Envoy's log is in local time."""
    stamps = []
    for line in pathlib.Path(log_path).read_text(errors="replace").splitlines():
        m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]", line)
        if m and "routewise: configured" in line:
            stamps.append(datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp())
    return stamps


# ---------------------------------------------------------------------------------------------------------
# Reporting

def fmt_us(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def summarise(runs, configs, sizes):
    """Medians over rounds per config, and ratios taken within each round (then the median)."""
    by = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    rows = {}
    for c in configs:
        rs = by.get(c, [])
        if not rs:
            continue
        med = lambda key: statistics.median(r[key] for r in rs)
        rows[c] = {
            "config": c, "rounds": len(rs), "rps": med("rps"), "p50_us": med("p50"), "p99_us": med("p99"),
            "cpu_per_req_us": med("cpu_per_req_us"), "ready_s": med("ready_s"),
            "rss_ready_mib": med("rss_ready_mib"), "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
            "vm_configured_s": [r["vm_configured_s"] for r in rs],
        }
        if all(r.get("c1") for r in rs):
            rows[c]["c1_p50_us"] = statistics.median(r["c1"]["p50"] for r in rs)
            rows[c]["c1_p99_us"] = statistics.median(r["c1"]["p99"] for r in rs)
    per_round = {}
    for r in runs:
        per_round.setdefault(r["round"], {})[r["config"]] = r

    def compare(a, b):
        """Per round in which both ran: a/b req/s, b/a CPU per request (a's throughput ratio by CPU), and a
        minus b for CPU/req, c16 p99, c1 p50 and c1 p99."""
        out = {"rps": [], "cpu": [], "cpu_d": [], "p99_d": [], "c1_p50_d": [], "c1_p99_d": []}
        for rd in per_round.values():
            if a in rd and b in rd:
                x, y = rd[a], rd[b]
                out["rps"].append(x["rps"] / y["rps"])
                out["cpu"].append(y["cpu_per_req_us"] / x["cpu_per_req_us"])
                out["cpu_d"].append(x["cpu_per_req_us"] - y["cpu_per_req_us"])
                out["p99_d"].append(x["p99"] - y["p99"])
                if x.get("c1") and y.get("c1"):
                    out["c1_p50_d"].append(x["c1"]["p50"] - y["c1"]["p50"])
                    out["c1_p99_d"].append(x["c1"]["p99"] - y["c1"]["p99"])
        return out

    med = lambda xs: statistics.median(xs) if xs else None
    ratios = {}
    for n in sizes:
        rw, nat, cand, mod = f"routewise-{n}", f"native-{n}", f"candidate-{n}", f"module-{n}"
        b, v = compare(rw, "bare"), compare(rw, nat)
        ratios[n] = {
            "routewise_over_bare": med(b["rps"]),
            "routewise_over_native": med(v["rps"]),
            # The same ratios from Envoy's CPU time per request: what the throughput ratio is when Envoy has its
            # core to itself (on a shared machine, req/s also measures how much of the core Envoy got).
            "routewise_over_bare_by_cpu": med(b["cpu"]),
            "routewise_over_native_by_cpu": med(v["cpu"]),
            "p99_added_over_bare_us": med(b["p99_d"]),
            "cpu_added_over_bare_us": med(b["cpu_d"]),
            "c1_p50_added_over_bare_us": med(b["c1_p50_d"]),
            "c1_p99_added_over_bare_us": med(b["c1_p99_d"]),
            "routewise_over_bare_per_round": [round(x, 3) for x in b["rps"]],
        }
        nb = compare(nat, "bare")
        if nb["rps"]:
            ratios[n].update({"native_over_bare": med(nb["rps"]), "native_over_bare_by_cpu": med(nb["cpu"])})
        if any(mod in rd for rd in per_round.values()):
            # The dynamic module: the same ratios, prefixed module_, and against routewise.wasm in the same rounds.
            mb, mn, mr = compare(mod, "bare"), compare(mod, nat), compare(mod, rw)
            ratios[n].update({
                "module_over_bare": med(mb["rps"]),
                "module_over_native": med(mn["rps"]),
                "module_over_bare_by_cpu": med(mb["cpu"]),
                "module_over_native_by_cpu": med(mn["cpu"]),
                "module_p99_added_over_bare_us": med(mb["p99_d"]),
                "module_cpu_added_over_bare_us": med(mb["cpu_d"]),
                "module_c1_p50_added_over_bare_us": med(mb["c1_p50_d"]),
                "module_c1_p99_added_over_bare_us": med(mb["c1_p99_d"]),
                "module_over_bare_per_round": [round(x, 3) for x in mb["rps"]],
                "module_over_routewise": med(mr["rps"]),
                "module_over_routewise_by_cpu": med(mr["cpu"]),
                "module_cpu_minus_routewise_us": med(mr["cpu_d"]),
            })
        mk = compare(f"modcandidate-{n}", mod)
        if mk["rps"]:
            ratios[n].update({
                "modcandidate_over_module": med(mk["rps"]),
                "modcandidate_over_module_by_cpu": med(mk["cpu"]),
                "modcandidate_cpu_minus_module_us": med(mk["cpu_d"]),
                "modcandidate_per_round": [round(x, 3) for x in mk["rps"]],
                "modcandidate_cpu_delta_per_round_us": [round(x, 1) for x in mk["cpu_d"]],
                "modcandidate_over_bare_per_round": [round(x, 3) for x in compare(f"modcandidate-{n}", "bare")["rps"]],
                "modcandidate_over_bare": med(compare(f"modcandidate-{n}", "bare")["rps"]),
                "modcandidate_over_bare_by_cpu": med(compare(f"modcandidate-{n}", "bare")["cpu"]),
            })
        k = compare(cand, rw)
        if k["rps"]:
            ratios[n].update({
                "candidate_over_routewise": med(k["rps"]),
                "candidate_over_routewise_by_cpu": med(k["cpu"]),
                "candidate_cpu_minus_routewise_us": med(k["cpu_d"]),
                "candidate_per_round": [round(x, 3) for x in k["rps"]],
                "candidate_cpu_delta_per_round_us": [round(x, 1) for x in k["cpu_d"]],
            })
    return rows, ratios


def loadavg_now():
    return float(pathlib.Path("/proc/loadavg").read_text().split()[0])


def memory_table(runs, load_runs, sizes, kinds):
    """Per arm kind and N (throughput rounds and the --load-sizes pass together): medians of ready time,
    last `routewise: configured` line, RSS at ready and peak RSS; RSS added over bare (when bare ran) and
    per rule (the slope from the arm's smallest N)."""
    by = {}
    for r in runs + load_runs:
        by.setdefault(r["config"], []).append(r)
    bare = statistics.median(r["rss_ready_mib"] for r in by["bare"]) if "bare" in by else None
    out = []
    for kind in ("native", "routewise", "module", "candidate", "modcandidate"):
        pts = []
        for n in sorted(set(sizes)):
            rs = by.get(f"{kind}-{n}")
            if not rs:
                continue
            conf = [r["vm_configured_s"][-1] for r in rs if r["vm_configured_s"]]
            pts.append({"kind": kind, "n": n, "rounds": len(rs),
                        "ready_s": statistics.median(r["ready_s"] for r in rs),
                        "configured_s": statistics.median(conf) if conf else None,
                        "rss_ready_mib": statistics.median(r["rss_ready_mib"] for r in rs),
                        "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
                        "loadavg": [r.get("loadavg") for r in rs]})
        for p in pts:
            p["rss_over_bare_mib"] = None if bare is None else p["rss_ready_mib"] - bare
            base = pts[0]
            p["kib_per_rule"] = ((p["rss_ready_mib"] - base["rss_ready_mib"]) * 1024 / (p["n"] - base["n"])
                                 if p["n"] > base["n"] else None)
        out += pts
    return {"bare_rss_ready_mib": bare, "rows": out}


def memory_markdown(memory, meta):
    if not memory["rows"]:
        return ""
    names = {"native": "native (Envoy routes)", "routewise": "routewise.wasm", "module": "dynamic module (.so)",
             "candidate": "candidate .wasm", "modcandidate": "candidate .so"}
    out = ["", "Load and memory per N" + (f" (N = {', '.join(f'{n:,}' for n in meta['load_sizes'])}: load-only "
                                           f"pass, {meta['load_rounds']} round(s), no wrk)" if meta.get("load_sizes") else "")
           + f", Envoy --concurrency {meta.get('workers', 1)}. Configured = exec → the last `routewise: configured` line "
           "(.wasm: one per VM, main thread and each worker; .so: one per filter config). Per rule = (RSS at ready − "
           "RSS at the arm's smallest N) ÷ (N − that N)."
           + (f" Bare Envoy: {memory['bare_rss_ready_mib']:.1f} MiB at ready." if memory["bare_rss_ready_mib"] else ""), "",
           "| arm | N | ready after | configured | RSS at ready | added over bare | peak RSS | per rule | load avg |",
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for p in memory["rows"]:
        out.append(f"| {names[p['kind']]} | {p['n']:,} | {p['ready_s']:.2f} s | "
                   + ("–" if p["configured_s"] is None else f"{p['configured_s']:.2f} s")
                   + f" | {p['rss_ready_mib']:.1f} MiB | "
                   + ("–" if p["rss_over_bare_mib"] is None else f"{p['rss_over_bare_mib']:+.1f} MiB")
                   + f" | {p['peak_rss_mib']:.1f} MiB | "
                   + ("–" if p["kib_per_rule"] is None else f"{p['kib_per_rule']:.2f} KiB")
                   + " | " + ", ".join(f"{x:.2f}" for x in p["loadavg"] if x is not None) + " |")
    return "\n".join(out) + "\n"


def markdown(meta, rows, ratios, sizes):
    out = [f"# routewise bench — {meta['started']}", "",
           f"`{meta['command']}` · Envoy {meta['envoy_version']} · wrk `-t1 -c{meta['connections']} -d{meta['duration_s']}s` "
           f"(CPU 0), Envoy `--concurrency {meta.get('workers', 1)}` (CPU {meta.get('envoy_cpus', '1')}) · {meta['rounds']} round(s), alternating · request mix of "
           f"{MIX_SIZE} seeded requests (¼ start, ¼ middle, ¼ end of the rule order, ¼ no rule) · "
           + (f"routewise.wasm {meta['wasm_bytes']:,} bytes · " if meta.get("wasm_bytes") is not None
              and {"routewise", "candidate"} & set(meta.get("arms", ["routewise"])) else "")
           + (f"libroutewise_module.so {meta['module_bytes']:,} bytes · " if meta.get("module_bytes") is not None else "")
           + f"load average at start {meta['loadavg']} · "
           f"git {meta['git']}" + (f" · {meta['note']}" if meta["note"] else ""), "",
           "Medians over rounds. CPU/req = Envoy's utime+stime during the run ÷ requests (Envoy's worker is "
           "saturated, so it is ≈ 1/throughput; it includes the upstream listener's work, the same in every "
           "config). p50/p99 are wrk's: with 16 connections (c16, the throughput run; mostly queueing) and with one "
           "connection (c1, unloaded latency). Ready after = exec → admin /ready.", "",
           "| config | req/s (c16) | p50 / p99 (c16) | p50 / p99 (c1) | Envoy CPU/req | ready after | RSS at ready | peak RSS |",
           "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for c, r in rows.items():
        c1 = f"{fmt_us(r['c1_p50_us'])} / {fmt_us(r['c1_p99_us'])}" if "c1_p50_us" in r else "–"
        out.append(f"| {c} | {r['rps']:,.0f} | {fmt_us(r['p50_us'])} / {fmt_us(r['p99_us'])} | {c1} | {r['cpu_per_req_us']:.1f} µs | "
                   f"{r['ready_s']:.2f} s | {r['rss_ready_mib']:.1f} MiB | {r['peak_rss_mib']:.1f} MiB |")
    f = lambda v, s="{:.3f}": "–" if v is None else s.format(v)
    has_rw = any(c.startswith("routewise-") for c in rows)
    if has_rw:
        out += ["", "Ratios taken within each round (median over rounds). In brackets: the same ratio from Envoy's CPU "
                "time per request (bare CPU/req ÷ routewise CPU/req), i.e. the throughput ratio when Envoy has its core "
                "to itself; on a shared machine req/s also measures how much of the core Envoy was given.", "",
                "| N | routewise / bare: req/s (by CPU/req) | routewise / native: req/s (by CPU/req) | p99 added over bare (c16) | p50 / p99 added over bare (c1) | CPU/req added over bare |",
                "|--:|--:|--:|--:|--:|--:|"]
        for n in sizes:
            q = ratios[n]
            out.append(f"| {n:,} | {f(q['routewise_over_bare'])} ({f(q['routewise_over_bare_by_cpu'])}) | "
                       f"{f(q['routewise_over_native'])} ({f(q['routewise_over_native_by_cpu'])}) | "
                       f"{f(q['p99_added_over_bare_us'], '{:+.0f} µs')} | {f(q['c1_p50_added_over_bare_us'], '{:+.0f} µs')} / "
                       f"{f(q['c1_p99_added_over_bare_us'], '{:+.0f} µs')} | {f(q['cpu_added_over_bare_us'], '{:+.1f} µs')} |")
    if any("module_over_bare" in ratios[n] for n in sizes):
        out += ["", "The dynamic module (`module-N`: libroutewise_module.so, the same filter and config natively, no "
                "V8), the same ratios within each round (median over rounds; in brackets by Envoy CPU/req), and "
                "against routewise.wasm in the same rounds:", "",
                "| N | module / bare: req/s (by CPU/req) | module / native: req/s (by CPU/req) | p99 added over bare (c16) | p50 / p99 added over bare (c1) | CPU/req added over bare | module / routewise.wasm: req/s (by CPU/req) |",
                "|--:|--:|--:|--:|--:|--:|--:|"]
        for n in sizes:
            q = ratios[n]
            if "module_over_bare" not in q:
                continue
            out.append(f"| {n:,} | {f(q['module_over_bare'])} ({f(q['module_over_bare_by_cpu'])}) | "
                       f"{f(q['module_over_native'])} ({f(q['module_over_native_by_cpu'])}) | "
                       f"{f(q['module_p99_added_over_bare_us'], '{:+.0f} µs')} | {f(q['module_c1_p50_added_over_bare_us'], '{:+.0f} µs')} / "
                       f"{f(q['module_c1_p99_added_over_bare_us'], '{:+.0f} µs')} | {f(q['module_cpu_added_over_bare_us'], '{:+.1f} µs')} | "
                       f"{f(q['module_over_routewise'])} ({f(q['module_over_routewise_by_cpu'])}) |")
        per_round = [f"N={n:,} " + " / ".join(f"{x:.2f}" for x in ratios[n]["module_over_bare_per_round"])
                     for n in sizes if ratios[n].get("module_over_bare_per_round")]
        if per_round:
            out += ["", "Per round (req/s ratio module/bare): " + "; ".join(per_round) + "."]
    if any("candidate_over_routewise" in ratios[n] for n in sizes):
        out += ["", f"Candidate module ({meta['candidate']}, {meta['candidate_bytes']:,} bytes"
                + (f", {meta['candidate_note']}" if meta.get("candidate_note") else "") + ") against routewise.wasm, "
                "within each round (median; per round in brackets):", "",
                "| N | candidate / routewise req/s | by CPU/req | CPU/req candidate − routewise |", "|--:|--:|--:|--:|"]
        for n in sizes:
            q = ratios[n]
            if "candidate_over_routewise" in q:
                out.append(f"| {n:,} | {q['candidate_over_routewise']:.3f} ({', '.join(map(str, q['candidate_per_round']))}) | "
                           f"{q['candidate_over_routewise_by_cpu']:.3f} | {q['candidate_cpu_minus_routewise_us']:+.1f} µs "
                           f"({', '.join(f'{x:+.1f}' for x in q['candidate_cpu_delta_per_round_us'])}) |")
    if any("modcandidate_over_module" in ratios[n] for n in sizes):
        out += ["", f"Candidate dynamic module ({meta['module_candidate']}, {meta['module_candidate_bytes']:,} bytes"
                + (f", {meta['candidate_note']}" if meta.get("candidate_note") else "") + ") against the module, "
                "within each round (median; per round in brackets):", "",
                "| N | candidate / module req/s | by CPU/req | CPU/req candidate − module | candidate / bare req/s (by CPU) | module / bare req/s, per round |",
                "|--:|--:|--:|--:|--:|--:|"]
        for n in sizes:
            q = ratios[n]
            if "modcandidate_over_module" in q:
                out.append(f"| {n:,} | {q['modcandidate_over_module']:.3f} ({', '.join(map(str, q['modcandidate_per_round']))}) | "
                           f"{q['modcandidate_over_module_by_cpu']:.3f} | {q['modcandidate_cpu_minus_module_us']:+.1f} µs "
                           f"({', '.join(f'{x:+.1f}' for x in q['modcandidate_cpu_delta_per_round_us'])}) | "
                           f"{f(q.get('modcandidate_over_bare'))} ({f(q.get('modcandidate_over_bare_by_cpu'))}; "
                           f"{', '.join(map(str, q['modcandidate_over_bare_per_round']))}) | "
                           f"{', '.join(map(str, q.get('module_over_bare_per_round', [])))} |")
    vm = [(c, r["vm_configured_s"]) for c, r in rows.items() if c.startswith(("routewise", "candidate", "module", "modcandidate"))]
    if vm:
        out += ["", "VM / module start: time from starting Envoy to each `routewise: configured` line in Envoy's log, "
                "per round; compare `ready after` above (Envoy /ready). routewise.wasm: one line per VM that ran "
                "on_configure (Envoy configures the module on the main thread first, then in a VM per worker). "
                "Dynamic module: one line per filter config (config_new on the main thread; the config is shared by "
                "the workers).", ""]
        for c, v in vm:
            out.append(f"* {c}: " + "; ".join(", ".join(f"{x * 1000:.0f} ms" for x in rd) for rd in v))
    return "\n".join(out) + "\n"


def svg_plot(rows, sizes, ratios=None):
    """Log-log panels of throughput and p99 against N, one line per configuration kind; with `ratios`, a third
    panel: req/s over bare within each round (median), per kind, against the targets (linear scale)."""
    import math
    PAD = 60
    panels = [("throughput (req/s)", "rps"), ("p99 latency (µs)", "p99_us")]
    kinds_ratio = [k for k in ("native", "routewise", "module") if ratios and any(ratios[n].get(f"{k}_over_bare") for n in sizes)]
    if kinds_ratio:
        panels.append(("req/s ÷ bare, same round (median)", None))
    W, H = 60 + 420 * len(panels), 380  # 900 wide with two panels, as before
    colors = {"bare": "#777777", "native": "#d62728", "routewise": "#1f77b4", "module": "#2ca02c"}
    present = [k for k in colors if k == "bare" and "bare" in rows or any(f"{k}-{n}" in rows for n in sizes)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    pw = (W - (len(panels) + 1) * PAD) / len(panels)
    ph = H - 2 * PAD
    xs = [math.log10(n) for n in sizes]
    for i, (title, key) in enumerate(panels):
        x0 = PAD + i * (pw + PAD)
        X = lambda n: x0 + (math.log10(n) - min(xs)) / (max(xs) - min(xs)) * pw
        parts.append(f'<text x="{x0 + pw / 2}" y="{PAD - 25}" text-anchor="middle" font-size="14">{title}</text>')
        parts.append(f'<rect x="{x0}" y="{PAD}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
        if key is None:
            series = {k: [(n, ratios[n][f"{k}_over_bare"]) for n in sizes if ratios[n].get(f"{k}_over_bare")] for k in kinds_ratio}
            top = max(1.0, max(v for pts in series.values() for _, v in pts)) * 1.05
            top = math.ceil(top * 10) / 10
            Y = lambda v: PAD + ph - v / top * ph
            step = 0.1 if top <= 1.2 else 0.2
            for j in range(int(round(top / step)) + 1):
                v = j * step
                parts.append(f'<line x1="{x0}" y1="{Y(v):.1f}" x2="{x0 + pw}" y2="{Y(v):.1f}" stroke="#ddd"/>')
                parts.append(f'<text x="{x0 - 5}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
            # The targets: module >= 0.90 x bare at N=10 and >= 0.85 at N=10,000; wasm >= 0.70.
            for v, label in ((0.90, "0.90"), (0.85, "0.85"), (0.70, "0.70")):
                parts.append(f'<line x1="{x0}" y1="{Y(v):.1f}" x2="{x0 + pw}" y2="{Y(v):.1f}" stroke="#999" stroke-dasharray="2,3"/>')
                parts.append(f'<text x="{x0 + pw - 3}" y="{Y(v) - 3:.1f}" text-anchor="end" fill="#999" font-size="10">target {label}</text>')
        else:
            series = {"bare": [(n, rows["bare"][key]) for n in sizes] if "bare" in rows else []}
            for kind in ("native", "routewise", "module"):
                series[kind] = [(n, rows[f"{kind}-{n}"][key]) for n in sizes if f"{kind}-{n}" in rows]
            vals = [v for s in series.values() for _, v in s if v > 0]
            lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
            hi = max(hi, lo + 1)
            Y = lambda v: PAD + ph - (math.log10(v) - lo) / (hi - lo) * ph
            for e in range(lo, hi + 1):
                y = Y(10 ** e)
                parts.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + pw}" y2="{y}" stroke="#ddd"/>')
                parts.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{10 ** e:,}</text>')
        for n in sizes:
            parts.append(f'<text x="{X(n)}" y="{PAD + ph + 18}" text-anchor="middle">N={n:,}</text>')
        for kind, pts in series.items():
            if not pts:
                continue
            d = " ".join(f"{X(n):.1f},{Y(v):.1f}" for n, v in pts)
            dash = ' stroke-dasharray="6,4"' if kind == "bare" else ""
            parts.append(f'<polyline points="{d}" fill="none" stroke="{colors[kind]}" stroke-width="2"{dash}/>')
            for n, v in pts:
                parts.append(f'<circle cx="{X(n):.1f}" cy="{Y(v):.1f}" r="3.5" fill="{colors[kind]}"/>')
    labels = {"module": "module (dynamic module)"}
    for j, kind in enumerate(present):
        x = PAD + j * 140
        parts.append(f'<line x1="{x}" y1="{H - 15}" x2="{x + 25}" y2="{H - 15}" stroke="{colors[kind]}" stroke-width="2"/>')
        parts.append(f'<text x="{x + 30}" y="{H - 11}">{labels.get(kind, kind)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", type=pathlib.Path, help="routewise.wasm (arm routewise-N)")
    ap.add_argument("--module-dir", type=pathlib.Path,
                    default=pathlib.Path(os.environ.get("ROUTEWISE_MODULE_DIR") or ROOT / "target" / "dynamic-module"),
                    help="directory of libroutewise_module.so (arm module-N; Envoy's ENVOY_DYNAMIC_MODULES_SEARCH_PATH); "
                         "default $ROUTEWISE_MODULE_DIR, else target/dynamic-module")
    ap.add_argument("--sizes", default="10,1000,10000")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of discarded load before each run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--latency-duration", type=int, default=3,
                    help="seconds of an extra 1-connection run per config (unloaded latency); 0 skips it")
    ap.add_argument("--note", default="", help="free text recorded in the results (e.g. which build of the module)")
    ap.add_argument("--arms", "--configs", dest="configs", default=",".join(ARMS),
                    help="comma-separated kinds to run, of " + ", ".join(ARMS) + " (default all; e.g. bare,module)")
    ap.add_argument("--candidate", type=pathlib.Path, help="another routewise.wasm, run as candidate-N beside routewise-N")
    ap.add_argument("--candidate-note", default="", help="what the candidate module is")
    ap.add_argument("--candidate-unchecked", action="store_true",
                    help="do not check that the candidate (.wasm or module) answers each request with its rule "
                         "(ablation builds that do less than routewise); its answers must still be 200")
    ap.add_argument("--candidate-module-dir", type=pathlib.Path,
                    help="another build of the dynamic module (a directory holding libroutewise_module.so), run as "
                         "modcandidate-N beside module-N (ratios modcandidate/module)")
    ap.add_argument("--candidate-filter-state", default=None, metavar="KEYS",
                    help="run modcandidate-N as the same dynamic module with the routewise config's filter_state set "
                         "to these comma-separated keys ('' = none besides rule_id and mapping_id, which R11 always "
                         "writes): the cost of the filter-state writes, same run; with --candidate X.wasm, that "
                         "candidate runs with this filter_state instead (X may be routewise.wasm itself)")
    ap.add_argument("--load-sizes", default="",
                    help="N of a load-and-memory-only pass after the throughput rounds (e.g. 100000): per arm (not bare) "
                         "start Envoy, time /ready and the `routewise: configured` lines, read RSS, check the 100 "
                         "requests of the mix, stop; no wrk")
    ap.add_argument("--load-rounds", type=int, default=1, help="rounds of the --load-sizes pass")
    ap.add_argument("--workers", type=int, default=1,
                    help="Envoy's --concurrency; with W > 1 Envoy is pinned to CPUs 1..W when the machine has more "
                         "than W CPUs, else not pinned (wrk stays on CPU 0)")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "results" / "bench")
    ap.add_argument("--command", default="scripts/bench")
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in args.configs.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in ARMS]
    if unknown:
        ap.error(f"unknown arm(s) {', '.join(unknown)}: choose from {', '.join(ARMS)}")
    if args.candidate:
        kinds.append("candidate")
    cand_state = None
    if args.candidate_filter_state is not None:
        cand_state = [k for k in args.candidate_filter_state.split(",") if k]
        if args.candidate:
            # A .wasm candidate (it may be routewise.wasm itself) runs with this filter_state.
            args.candidate_note = args.candidate_note or f"config filter_state {cand_state}"
        else:
            if args.candidate_module_dir:
                ap.error("--candidate-filter-state runs the module itself as the candidate: drop --candidate-module-dir")
            args.candidate_module_dir = args.module_dir
            args.candidate_note = args.candidate_note or f"the same .so, config filter_state {cand_state}"
    if args.candidate_module_dir:
        if not (args.candidate_module_dir / "libroutewise_module.so").is_file():
            ap.error(f"--candidate-module-dir needs {args.candidate_module_dir}/libroutewise_module.so")
        kinds.append("modcandidate")
    if ("routewise" in kinds or "candidate" in kinds) and not (args.wasm and args.wasm.is_file()):
        ap.error(f"arm routewise needs --wasm (a routewise.wasm), got {args.wasm}")
    module_dir = args.module_dir.resolve()
    module_so = module_dir / "libroutewise_module.so"
    if "module" in kinds and not module_so.is_file():
        ap.error(f"arm module needs {module_so} (scripts/build-modules, or --module-dir / ROUTEWISE_MODULE_DIR)")
    load_sizes = [int(s) for s in args.load_sizes.split(",") if s.strip()]
    every_kind = ("native", "routewise", "module", "candidate", "modcandidate")
    configs = (["bare"] if "bare" in kinds and sizes else []) + [f"{k}-{n}" for n in sizes for k in every_kind if k in kinds]
    load_configs = [f"{k}-{n}" for n in load_sizes for k in every_kind if k in kinds]
    if load_configs and not sizes and "bare" in kinds:
        load_configs.insert(0, "bare")  # a load-only run: bare's RSS is the base of "added over bare"
    if args.workers == 1:
        envoy_cpus = "1"
    else:
        envoy_cpus = f"1-{args.workers}" if (os.cpu_count() or 1) > args.workers else None
    work = ROOT / ".work" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout
    meta = {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": args.command, "envoy_version": (re.search(r"/(\d+\.\d+\.\d+)/", version) or [None, "?"])[1],
        "duration_s": args.duration, "rounds": args.rounds if sizes else 0, "connections": args.connections, "sizes": sizes,
        "arms": kinds, "warmup_s": args.warmup,
        "wasm": str(args.wasm) if args.wasm else None,
        "wasm_bytes": args.wasm.stat().st_size if args.wasm and args.wasm.is_file() else None,
        "seed": SEED, "mix_size": MIX_SIZE,
        "loadavg": pathlib.Path("/proc/loadavg").read_text().split()[0],
        "git": subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip(),
        "note": args.note, "latency_duration_s": args.latency_duration,
        "workers": args.workers, "envoy_cpus": envoy_cpus or "not pinned", "load_sizes": load_sizes,
        "load_rounds": args.load_rounds if load_sizes else 0,
    }
    if "module" in kinds:
        meta.update({"module_dir": str(module_dir), "module_bytes": module_so.stat().st_size})
    if args.candidate:
        meta.update({"candidate": str(args.candidate), "candidate_bytes": args.candidate.stat().st_size,
                     "candidate_note": args.candidate_note})
    if args.candidate_module_dir:
        cand_so = args.candidate_module_dir.resolve() / "libroutewise_module.so"
        meta.update({"module_candidate": str(cand_so), "module_candidate_bytes": cand_so.stat().st_size,
                     "candidate_note": args.candidate_note})

    def start(c, n, kind, port, admin, up, timeout=60):
        """Writes the bootstrap of config c and starts its Envoy."""
        cfg = work / f"{c}.json"
        module = args.candidate if kind == "candidate" else args.wasm
        boot_kind = {"candidate": "routewise", "modcandidate": "module"}.get(kind, kind)
        cfg.write_text(json.dumps(bootstrap(boot_kind, n, module, port, admin, up,
                                            filter_state=cand_state if kind in ("modcandidate", "candidate") else None)))
        mdir = {"module": module_dir, "modcandidate": args.candidate_module_dir and args.candidate_module_dir.resolve()}.get(kind)
        return Envoy(args.envoy, cfg, work / f"{c}.log", admin, module_dir=mdir, workers=args.workers, cpus=envoy_cpus,
                     timeout=timeout)

    mixes = {n: request_mix(n) for n in sizes + load_sizes}
    bare_mix = mixes[max(sizes or load_sizes)]
    runs = []
    for rd in range(args.rounds):
        order = configs if rd % 2 == 0 else list(reversed(configs))
        for c in order:
            kind, _, n = c.partition("-")
            n = int(n) if n else 0
            mix = mixes[n] if n else [(p, h, "bare") for p, h, _ in bare_mix]
            port, admin, up = free_port(), free_port(), free_port()
            lua = work / f"{c}.lua"
            write_lua(lua, mix)
            log = work / f"{c}.log"
            envoy = start(c, n, kind, port, admin, up)
            try:
                pid = envoy.proc.pid
                rss_ready = proc_status_kib(pid, "VmRSS") / 1024
                bad = verify(port, mix, check_rule=not (kind in ("candidate", "modcandidate") and args.candidate_unchecked))
                if bad:
                    raise SystemExit(f"{c}: {len(bad)} requests did not hit their rule, e.g.\n  " + "\n  ".join(bad[:5]))
                url = f"http://127.0.0.1:{port}"
                if args.warmup > 0:
                    subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{args.connections}", f"-d{max(1, round(args.warmup))}s",
                                    "-s", str(lua), url], capture_output=True, check=True)
                cpu0 = proc_cpu_s(pid)
                w = run_wrk(url, lua, args.duration, args.connections)
                cpu = proc_cpu_s(pid) - cpu0
                w1 = run_wrk(url, lua, args.latency_duration, 1) if args.latency_duration > 0 else None
                peak = proc_status_kib(pid, "VmHWM") / 1024
            finally:
                envoy.stop()
            stamps = wasm_log_times(log)
            rps = w["requests"] / (w["duration_us"] / 1e6)
            r = {
                "round": rd, "config": c, "rps": rps, "p50": w["p50"], "p90": w["p90"], "p99": w["p99"], "max": w["max"],
                "requests": w["requests"], "errors": w["errors"], "non2xx": w["non2xx"],
                "cpu_per_req_us": cpu / w["requests"] * 1e6, "ready_s": envoy.ready_s, "rss_ready_mib": rss_ready,
                "peak_rss_mib": peak, "c1": w1, "vm_configured_s": [s - envoy.started_wall for s in stamps],
                "loadavg": loadavg_now(),
            }
            if w["errors"] or w["non2xx"] or (w1 and (w1["errors"] or w1["non2xx"])):
                print(f"warning: {c}: socket errors or non-2xx answers during the run", file=sys.stderr)
            runs.append(r)
            print(f"round {rd + 1}/{args.rounds} {c:>16}: {rps:9,.0f} req/s  p50 {fmt_us(w['p50']):>8}  p99 {fmt_us(w['p99']):>8}  "
                  f"cpu/req {r['cpu_per_req_us']:6.1f} µs  ready {envoy.ready_s:.2f} s  peak RSS {peak:.1f} MiB"
                  + (f"  c1 p50 {fmt_us(w1['p50'])} p99 {fmt_us(w1['p99'])}" if w1 else "")
                  + (f"  ERRORS {w['errors']} non2xx {w['non2xx']}" if w["errors"] or w["non2xx"] else ""), flush=True)
    load_runs = []
    for rd in range(args.load_rounds if load_configs else 0):
        for c in (load_configs if rd % 2 == 0 else list(reversed(load_configs))):
            kind, _, n = c.partition("-")
            n = int(n) if n else 0
            mix = mixes[n] if n else [(p, h, "bare") for p, h, _ in bare_mix]
            port, admin, up = free_port(), free_port(), free_port()
            envoy = start(c, n, kind, port, admin, up, timeout=300)
            try:
                pid = envoy.proc.pid
                rss_ready = proc_status_kib(pid, "VmRSS") / 1024
                bad = verify(port, mix, check_rule=not (kind in ("candidate", "modcandidate") and args.candidate_unchecked))
                if bad:
                    raise SystemExit(f"{c}: {len(bad)} requests did not hit their rule, e.g.\n  " + "\n  ".join(bad[:5]))
                rss_after = proc_status_kib(pid, "VmRSS") / 1024
                peak = proc_status_kib(pid, "VmHWM") / 1024
            finally:
                envoy.stop()
            stamps = wasm_log_times(work / f"{c}.log")
            r = {"round": rd, "config": c, "ready_s": envoy.ready_s, "rss_ready_mib": rss_ready,
                 "rss_after_mix_mib": rss_after, "peak_rss_mib": peak,
                 "vm_configured_s": [s - envoy.started_wall for s in stamps], "loadavg": loadavg_now()}
            load_runs.append(r)
            print(f"load {rd + 1}/{args.load_rounds} {c:>18}: ready {envoy.ready_s:.2f} s  RSS {rss_ready:.1f} MiB  "
                  f"after mix {rss_after:.1f} MiB  peak {peak:.1f} MiB  configured "
                  + ", ".join(f"{x:.2f} s" for x in r["vm_configured_s"]), flush=True)
    rows, ratios = summarise(runs, configs, sizes)
    memory = memory_table(runs, load_runs, sizes + load_sizes, kinds)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "summary": rows, "ratios": {str(k): v for k, v in ratios.items()},
                                                        "memory": memory, "runs": runs, "load_runs": load_runs},
                                                       indent=1) + "\n")
    (args.out / "results.md").write_text((markdown(meta, rows, ratios, sizes) if rows else
                                          f"# routewise load and memory — {meta['started']}\n\n`{meta['command']}` · "
                                          f"Envoy {meta['envoy_version']} · load average at start {meta['loadavg']} · "
                                          f"git {meta['git']}\n") + memory_markdown(memory, meta))
    if "bare" in rows and len(sizes) > 1:
        (args.out / "plot.svg").write_text(svg_plot(rows, sizes, ratios))
    print((args.out / "results.md").read_text())
    print(f"results: {args.out}/results.{{md,json}}" + (", plot.svg" if (args.out / "plot.svg").exists() else ""))


if __name__ == "__main__":
    main()
