#!/usr/bin/env python3
"""Tiny echo upstreams for trying routewise by hand: every request is answered 200 with JSON

    {"upstream": NAME, "method": ..., "path": ..., "headers": {name: value or [values]}, "body": ...}

so a curl through Envoy shows which backend got the request and what it received (path after strip_base_path,
headers the filter added or removed). One process serves several upstreams:

    echo_upstream.py legacy=18081 orders=18082 ...

Python standard library only (ThreadingHTTPServer, HTTP/1.1 keep-alive for Envoy's connection pool).
"""

import http.server
import json
import signal
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-upstream"
    upstream = "?"

    def __getattr__(self, name):
        if name.startswith("do_"):  # any method: GET, POST, DELETE, PATCH, custom ones
            return self.answer
        raise AttributeError(name)

    def read_body(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def answer(self):
        body = self.read_body()
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            if k in headers:
                headers[k] = (headers[k] if isinstance(headers[k], list) else [headers[k]]) + [v]
            else:
                headers[k] = v
        doc = {
            "upstream": self.upstream,
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
        }
        out = (json.dumps(doc, indent=2) + "\n").encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.send_header("x-upstream", self.upstream)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def log_message(self, fmt, *args):
        sys.stderr.write("[%s] %s\n" % (self.upstream, fmt % args))


def main():
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit("usage: echo_upstream.py NAME=PORT [NAME=PORT ...]")
    servers = []
    for arg in sys.argv[1:]:
        name, _, port = arg.partition("=")
        handler = type("Handler_" + name, (Handler,), {"upstream": name})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
        srv.daemon_threads = True
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        print("echo upstream %s on 127.0.0.1:%s" % (name, port), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for srv in servers:
        srv.shutdown()


if __name__ == "__main__":
    main()
