#!/usr/bin/env python3
"""How long a live config push stalls Envoy's worker (issue 13): the routewise filter's config pushed by ECDS
(.so and .wasm) against Envoy's own route table of the same size pushed by RDS. Run through scripts/ecds-stall.

Per arm and size N: Envoy (`--concurrency 1`, pinned to CPU 1, as scripts/bench) starts with a 10-rule config
served from a watched directory (routewise: the filter entry is a `config_discovery` of an ECDS file; native: the
route table is an RDS file), the bench's rule shape (scripts/bench.py). A client process on CPU 0 sends requests
one after the other on one keep-alive connection and records each request's start and latency. After
--before seconds the N-rule config is written to the watched file atomically (rename); the script polls Envoy's
admin for the update (ECDS `extension_config_discovery.http_filter.routewise.update_success`, RDS
`http.front.rds.front.update_success`), lets the client run on for --after seconds (at least twice the time the
update took), then checks that requests route by the new config. Reported: the largest request latency between
the push and the end (the stall), the largest before the push, the p50 before, the time from the push to the
update's stat, and for the .wasm the time of each VM's `routewise: configured` line after the push.

Every request is `GET /other<i>/api` with Host t0.bench.test: the catch-all of every config here (the 10-rule
and 10,000-rule configs have one domain `*`, the 100,000-rule config four `t<j>.bench.test`), so it is
answered 200 through the filter, or the native catch-all route, before, during and after the push.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROOT = bench.ROOT
HOST = "t0.bench.test"
ECDS_FILE = "routewise-filter.json"
SETTLE = 0.5
RDS_FILE = "routes.json"
FILTER_TYPES = {
    "routewise": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
    "module": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
}


# ---------------------------------------------------------------------------------------------------------
# Client (a process of its own: no GIL shared with the admin polling)

def client(port, out):
    """Sequential requests on one connection until SIGTERM; then writes [[start (monotonic s), latency s,
    status], ...] to `out`."""
    import signal
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rec = []
    i = 0
    buf = b""

    def recv():
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("client: connection closed")
        return chunk

    while not stop:
        i += 1
        req = (f"GET /other{i}/api HTTP/1.1\r\nHost: {HOST}\r\nx-tenant: nobody-{i}\r\nx-env: prod\r\n\r\n").encode()
        t0 = time.monotonic()
        s.sendall(req)
        while b"\r\n\r\n" not in buf:
            buf += recv()
        head, _, buf = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        while len(buf) < length:
            buf += recv()
        buf = buf[length:]
        t1 = time.monotonic()
        rec.append([t0, t1 - t0, int(head.split(b" ", 2)[1])])
    s.close()
    pathlib.Path(out).write_text(json.dumps(rec))


# ---------------------------------------------------------------------------------------------------------
# Bootstraps with the filter config (ECDS) or the route table (RDS) in a watched directory

def write_atomically(path, text):
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


def front_hcm(boot):
    return boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def resources(kind, n, wasm, version):
    """The watched file's content for N rules."""
    boot = bench.bootstrap(kind, n, wasm, 1, 2, 3)
    hcm = front_hcm(boot)
    if kind == "native":
        res = dict(hcm["route_config"], name="front")
        res["@type"] = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
    else:
        res = {"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", "name": "routewise",
               "typed_config": hcm["http_filters"][0]["typed_config"]}
    return json.dumps({"version_info": version, "resources": [res]}, separators=(",", ":"))


def stall_bootstrap(kind, wasm, port, admin, up, watch):
    boot = bench.bootstrap(kind, 10, wasm, port, admin, up)
    boot["node"] = {"id": "ecds-stall", "cluster": "ecds-stall"}  # required by file-based xDS
    hcm = front_hcm(boot)
    source = lambda f: {"path_config_source": {"path": str(watch / f), "watched_directory": {"path": str(watch)}},
                        "resource_api_version": "V3"}
    if kind == "native":
        del hcm["route_config"]
        hcm["rds"] = {"route_config_name": "front", "config_source": source(RDS_FILE)}
    else:
        hcm["http_filters"][0] = {"name": "routewise", "config_discovery": {
            "config_source": source(ECDS_FILE), "type_urls": [FILTER_TYPES[kind]]}}
    return boot


def stat(admin, name):
    """A counter from Envoy's admin (served by the main thread: while it parses a large update, the answer
    waits; None when none came within 60 s)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats?filter=^{re.escape(name)}$", timeout=60) as r:
            for line in r.read().decode().splitlines():
                k, _, v = line.partition(": ")
                if k == name:
                    return int(v)
    except TimeoutError:
        return None
    return 0


def run_one(args, kind, n, work, rd):
    watch = work / f"watch-{kind}-{n}"
    watch.mkdir(parents=True, exist_ok=True)
    for f in watch.iterdir():
        f.unlink()
    watched = watch / (RDS_FILE if kind == "native" else ECDS_FILE)
    write_atomically(watched, resources(kind, args.start, args.wasm, f"n{args.start}"))
    # The N-rule resource is rendered before Envoy starts (rendering 100,000 rules takes seconds of Python).
    pushed = resources(kind, n, args.wasm, f"n{n}")
    port, admin, up = bench.free_port(), bench.free_port(), bench.free_port()
    cfg = work / f"stall-{kind}-{n}.json"
    cfg.write_text(json.dumps(stall_bootstrap(kind, args.wasm, port, admin, up, watch)))
    # One log per round: the .wasm's tick and read lines of every round stay to be read.
    log = work / f"stall-{kind}-{n}-r{rd + 1}.log"
    envoy = bench.Envoy(args.envoy, cfg, log, admin, module_dir=args.module_dir if kind == "module" else None,
                        timeout=120)
    prefix = "http.front.rds.front" if kind == "native" else "extension_config_discovery.http_filter.routewise"
    out = work / f"stall-{kind}-{n}.client.json"
    cl = None
    try:
        before_ok = stat(admin, f"{prefix}.update_success")
        cl = subprocess.Popen(["taskset", "-c", "0", sys.executable, __file__, "--client", str(port), str(out)])
        time.sleep(args.before)
        t_push_wall = time.time()
        t_push = time.monotonic()
        write_atomically(watched, pushed)
        t_applied = None
        while time.monotonic() < t_push + 300:
            if (stat(admin, f"{prefix}.update_success") or 0) > before_ok:
                t_applied = time.monotonic()
                break
            if stat(admin, f"{prefix}.update_rejected") or stat(admin, f"{prefix}.update_failure"):
                raise SystemExit(f"{kind}-{n}: Envoy rejected the update, log {log}")
            time.sleep(0.02)
        if t_applied is None:
            raise SystemExit(f"{kind}-{n}: no update within 300 s, log {log}")
        time.sleep(max(args.after, 2 * (t_applied - t_push)))
        t_end = time.monotonic()
        cl.terminate()
        cl.wait(60)
        if cl.returncode:
            raise SystemExit(f"{kind}-{n}: the client failed ({cl.returncode})")
        cl = None
        # After the push, a request that hits a numbered rule of the new config routes by it.
        k = bench.rule_count(n) - 1
        mix = [m for m in bench.request_mix(n) if m[2] == f"r{k}"] or [
            (f"/svc{k}/api", [("host", h) for h in [bench.domain_of(n, k)[1]] if h]
             + [(h, v) for h, _, _, _, v in bench.rule_headers(k)], f"r{k}")]
        bad = bench.verify(port, mix[:1])
        if bad:
            raise SystemExit(f"{kind}-{n}: the pushed config is not in use: {bad[0]}")
        rss = bench.proc_status_kib(envoy.proc.pid, "VmRSS") / 1024
        peak = bench.proc_status_kib(envoy.proc.pid, "VmHWM") / 1024
    finally:
        if cl is not None:
            cl.kill()
            cl.wait()
        envoy.stop()
    rec = json.loads(out.read_text())
    configured = [s - t_push_wall for s in bench.wasm_log_times(log) if s >= t_push_wall - 0.01]
    # The .wasm logs how long each VM took to read the pushed document (on_configure: it cannot be sliced).
    reads = [float(m) for m in re.findall(r"\d+ bytes read in ([\d.]+) ms", log.read_text(errors="replace"))]
    # The push's work is over when the update's stat is up and every VM has logged its configure; the window
    # of the stall runs SETTLE s beyond that; what follows is the same noise measure as before the push.
    t_settled = max([t_applied] + [t_push + c for c in configured]) + SETTLE
    before = [lat for t, lat, _ in rec if t + lat < t_push]
    during = [(t, lat) for t, lat, _ in rec if t + lat >= t_push and t <= t_settled]
    after = [lat for t, lat, _ in rec if t > t_settled and t <= t_end]
    statuses = sorted({st for _, _, st in rec})
    worst = max(during, key=lambda x: x[1]) if during else (t_push, 0.0)
    return {
        "arm": kind, "n": n, "requests_before": len(before), "requests_during": len(during),
        "p50_before_ms": statistics.median(before) * 1e3 if before else None,
        "max_before_ms": max(before) * 1e3 if before else None,
        "stall_ms": worst[1] * 1e3, "stall_starts_after_push_s": worst[0] - t_push,
        "applied_after_s": t_applied - t_push, "window_s": t_end - t_push,
        "over_10ms_during": sum(1 for _, lat in during if lat > 0.010),
        "settled_after_s": t_settled - t_push, "max_after_ms": max(after) * 1e3 if after else None,
        "p50_after_ms": statistics.median(after) * 1e3 if after else None,
        "configured_after_push_s": configured, "document_read_ms": reads, "statuses": statuses, "from": args.start,
        "log": str(log.relative_to(ROOT)), "rss_after_mib": rss, "peak_rss_mib": peak, "loadavg": bench.loadavg_now(),
    }


NAMES = {"native": "native Envoy, RDS route table", "module": "routewise .so, ECDS", "routewise": "routewise .wasm, ECDS"}


def fmt(v, f="{:.1f}"):
    return "–" if v is None else f.format(v)


def markdown(meta, results):
    out = [f"# Config push stall — {meta['started']}", "",
           f"`{meta['command']}` · Envoy {meta['envoy_version']} `--concurrency 1` (CPU 1), client on CPU 0 · "
           f"{meta['rounds']} round(s) · load average at start {meta['loadavg']} · git {meta['git']}", "",
           "Envoy starts with the {start}-rule config. "
           "One client, one connection, sequential requests (the catch-all of every config); the N-rule config is "
           "pushed after {before} s of requests. Stall = the largest request latency from the push until "
           "0.5 s after the push's work is over (the update's stat is up and every `routewise: configured` line "
           "is logged); max / p50 before and after = the same client before the push and from then to the end "
           "of the run (at least {after} s): this machine's noise. Applied = push → Envoy's update_success stat (ECDS or RDS). Configured = push → each "
           "`routewise: configured` line (.wasm: Envoy's canary on the main thread, then each worker's VM; the main thread's own VM keeps a push unbuilt, running no stream; .so: one, config_new on the "
           "main thread). Read = each VM's copy of the pushed document in `on_configure` (.wasm; logged by the VM).".format(**meta), "",
           "| arm | N | stall (max latency) | starts after push | requests > 10 ms | max / p50 before | max / p50 after | applied after | configured after | read | RSS after | load avg |",
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in results:
        out.append(f"| {NAMES[r['arm']]} | {r['n']:,} | **{r['stall_ms']:.1f} ms** | {r['stall_starts_after_push_s']:.2f} s | "
                   f"{r['over_10ms_during']} | {r['max_before_ms']:.1f} / {r['p50_before_ms']:.2f} ms | "
                   f"{fmt(r['max_after_ms'])} / {fmt(r['p50_after_ms'], '{:.2f}')} ms | "
                   f"{r['applied_after_s']:.2f} s | " + (", ".join(f"{x:.2f} s" for x in r["configured_after_push_s"]) or "–")
                   + " | " + (", ".join(f"{x:.1f} ms" for x in r.get("document_read_ms") or []) or "–")
                   + f" | {r['rss_after_mib']:.0f} MiB | {r['loadavg']:.2f} |")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(int(sys.argv[2]), sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", type=pathlib.Path, help="routewise.wasm (arm routewise)")
    ap.add_argument("--module-dir", type=pathlib.Path, help="directory of libroutewise_module.so (arm module)")
    ap.add_argument("--arms", default="native,module,routewise")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--from", dest="start", type=int, default=10,
                    help="rules of the config Envoy starts with (default 10); e.g. 99990 before a 100000 push is "
                         "an edit of a large config (6 rules added), where the VM reuses memory the last document freed")
    ap.add_argument("--before", type=float, default=2.0, help="seconds of requests before the push")
    ap.add_argument("--after", type=float, default=3.0, help="seconds of requests after the update is applied (at least)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "results" / "ecds-stall")
    ap.add_argument("--command", default="scripts/ecds-stall")
    args = ap.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if "routewise" in arms and not (args.wasm and args.wasm.is_file()):
        ap.error("arm routewise needs --wasm")
    if "module" in arms and not (args.module_dir and (args.module_dir / "libroutewise_module.so").is_file()):
        ap.error("arm module needs --module-dir holding libroutewise_module.so")
    if args.module_dir:
        args.module_dir = args.module_dir.resolve()
    work = ROOT / ".work" / "ecds-stall"
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout
    meta = {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": args.command, "envoy_version": (re.search(r"/(\d+\.\d+\.\d+)/", version) or [None, "?"])[1],
        "rounds": args.rounds, "start": args.start, "before": args.before, "after": args.after, "arms": arms,
        "loadavg": pathlib.Path("/proc/loadavg").read_text().split()[0],
        "git": subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip(),
        "wasm_bytes": args.wasm.stat().st_size if args.wasm and args.wasm.is_file() else None,
    }
    results = []
    for rd in range(args.rounds):
        for n in [int(x) for x in args.sizes.split(",")]:
            for kind in arms:
                r = run_one(args, kind, n, work, rd)
                r["round"] = rd
                results.append(r)
                print(f"round {rd + 1} {kind:>9}-{n}: stall {r['stall_ms']:.1f} ms at +{r['stall_starts_after_push_s']:.2f} s; "
                      f"before: max {r['max_before_ms']:.1f} ms p50 {r['p50_before_ms']:.2f} ms; after: max {fmt(r['max_after_ms'])} ms; applied +{r['applied_after_s']:.2f} s; "
                      f"configured " + ", ".join(f"+{x:.2f} s" for x in r["configured_after_push_s"])
                      + f"; statuses {r['statuses']}; load {r['loadavg']}", flush=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(meta, results))
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
