#!/usr/bin/env python3
"""Where Envoy's CPU goes with routewise loaded, per shared object and per function (issue 13: the dynamic
module's per-hook profile, bench-only: nothing in the shipped module is instrumented). Starts one
configuration of scripts/bench.py (`module`, `routewise` or `bare`, N rules, one worker pinned to CPU 1), drives
it with wrk on CPU 0 (16 connections, the bench's request mix), samples Envoy with `perf record` for
--seconds, and prints perf's report by shared object (envoy, kernel, libc, libroutewise_module.so) and the
module's functions by self time (its symbols are kept: the `dynamic-module` profile strips debug info only).
Envoy's own binary is stripped, so its part is one line.

  python3 scripts/bench_perf.py --envoy ENVOY --module-dir target/dynamic-module [--kind module] [--n 10]

Needs perf (linux-perf) and root or kernel.perf_event_paranoid <= 1.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--kind", default="module", choices=["module", "routewise", "bare"])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--module-dir", type=pathlib.Path, default=bench.ROOT / "target" / "dynamic-module")
    ap.add_argument("--wasm", type=pathlib.Path, help="routewise.wasm (kind routewise)")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--out", type=pathlib.Path, default=bench.ROOT / ".work" / "bench" / "perf.data")
    args = ap.parse_args()
    work = args.out.parent
    work.mkdir(parents=True, exist_ok=True)
    port, admin, up = bench.free_port(), bench.free_port(), bench.free_port()
    cfg = work / f"perf-{args.kind}.json"
    cfg.write_text(json.dumps(bench.bootstrap(args.kind, args.n, args.wasm, port, admin, up)))
    mix = bench.request_mix(args.n)
    lua = work / f"perf-{args.kind}.lua"
    bench.write_lua(lua, mix)
    envoy = bench.Envoy(args.envoy, cfg, work / f"perf-{args.kind}.log", admin,
                        module_dir=args.module_dir.resolve() if args.kind == "module" else None)
    try:
        if args.kind != "bare" and bench.verify(port, mix):
            raise SystemExit("the configuration does not route the mix as expected")
        wrk = subprocess.Popen(["taskset", "-c", "0", "wrk", "-t1", "-c16", f"-d{args.seconds + 3}s", "-s", str(lua),
                                f"http://127.0.0.1:{port}"], stdout=subprocess.DEVNULL)
        time.sleep(1)
        subprocess.run(["perf", "record", "-F", "2999", "-p", str(envoy.proc.pid), "-o", str(args.out), "--",
                        "sleep", str(args.seconds)], check=True, capture_output=True)
        wrk.wait()
    finally:
        envoy.stop()
    report = ["perf", "report", "-i", str(args.out), "--stdio", "--no-children"]
    for extra in (["--sort", "dso"], ["--dsos", "libroutewise_module.so", "--sort", "sym"]):
        out = subprocess.run(report + extra, capture_output=True, text=True).stdout
        lines = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
        print("\n".join(lines[:30]))
        print()


if __name__ == "__main__":
    main()
