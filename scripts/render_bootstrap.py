#!/usr/bin/env python3
"""Renders envoy/routewise.yaml.tmpl into an Envoy bootstrap for one routewise config.

    render_bootstrap.py --config envoy/examples/products.json --wasm /abs/routewise.wasm \
        --listen-port 10000 --admin-port 9901 --clusters-from-port 18081 --out .work/run/envoy.yaml

Clusters: `--cluster NAME=PORT` (repeatable) adds a STATIC cluster at 127.0.0.1:PORT; `--clusters-from-port N`
gives every `http` integration cluster named in the config (sorted by name) consecutive ports from N.
`--print-clusters` prints `NAME PORT` lines on stdout (scripts/run starts one echo upstream per line).

Lambda clusters (Envoy's `aws_lambda` filter as an upstream filter: SigV4 signing, the Invoke call of one
function): `--lambda NAME=PORT,ARN` (repeatable) adds one on 127.0.0.1:PORT; `--lambda-port N` gives every
`lambda` integration cluster named in the config that has no `--lambda` one on port N, invoking the function
`--lambda-function NAME=FUNCTION` names (default `echo`) in the Lambda mock's account and region
(`lambda-mock`, tests/src/bin). They sign with `--lambda-credentials KEY:SECRET` (default: the mock's).
The same placeholders are filled by tests/src/envoy.rs (`LambdaCluster` there writes the same cluster); keep
both in step with the template.
"""

import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "envoy" / "routewise.yaml.tmpl"
DEFAULT_CLUSTER_HEADER = "x-routewise-cluster"


def http_clusters(node, found):
    """Every `{"type": "http", "cluster": NAME}` integration in the config."""
    if isinstance(node, dict):
        if node.get("type") == "http" and isinstance(node.get("cluster"), str):
            found.add(node["cluster"])
        for v in node.values():
            http_clusters(v, found)
    elif isinstance(node, list):
        for v in node:
            http_clusters(v, found)
    return found


def cluster(name, port):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
            ],
        },
    }


# The Lambda mock's defaults (tests/src/lambda_mock.rs: ACCESS_KEY, SECRET, REGION, ACCOUNT).
MOCK_ACCESS_KEY = "AKIDEXAMPLE"
MOCK_SECRET = "routewise/K7MDENG+bPxRfiCYEXAMPLEKEY"
MOCK_ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"


def lambda_clusters(node, found):
    """Every `{"type": "lambda", "cluster": NAME}` integration in the config."""
    if isinstance(node, dict):
        if node.get("type") == "lambda" and isinstance(node.get("cluster"), str):
            found.add(node["cluster"])
        for v in node.values():
            lambda_clusters(v, found)
    elif isinstance(node, list):
        for v in node:
            lambda_clusters(v, found)
    return found


def lambda_cluster(name, port, arn, access_key, secret):
    """A cluster whose upstream `aws_lambda` filter signs and rewrites each request into the Invoke call of
    `arn` (payload passthrough: the body is the event routewise built), HTTP/1.1 to 127.0.0.1:`port`."""
    c = cluster(name, port)
    c["typed_extension_protocol_options"] = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": {}},
            "http_filters": [
                {
                    "name": "envoy.filters.http.aws_lambda",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.Config",
                        "arn": arn,
                        "payload_passthrough": True,
                        "invocation_mode": "SYNCHRONOUS",
                        "credentials": {"access_key_id": access_key, "secret_access_key": secret},
                    },
                },
                {
                    "name": "envoy.filters.http.upstream_codec",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
                    },
                },
            ],
        }
    }
    return c


def render(config_text, wasm_path, listen_port, admin_port, clusters, lambdas=()):
    """The bootstrap text. `config_text` is passed to the filter verbatim, as a JSON string literal."""
    try:
        header = json.loads(config_text).get("cluster_header", DEFAULT_CLUSTER_HEADER)
    except (ValueError, AttributeError):
        header = DEFAULT_CLUSTER_HEADER  # an invalid config is still rendered: the filter must reject it
    values = {
        "ADMIN_PORT": str(admin_port),
        "LISTEN_PORT": str(listen_port),
        "WASM_PATH": str(wasm_path),
        "ROUTEWISE_CONFIG": json.dumps(config_text),
        "CLUSTER_HEADER": json.dumps(header),
        "CLUSTERS": json.dumps([cluster(n, p) for n, p in clusters] + [lambda_cluster(*l) for l in lambdas]),
    }
    text = TEMPLATE.read_text()
    out = re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], text)
    assert "{{" not in out, "unfilled placeholder"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, type=pathlib.Path)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--listen-port", type=int, default=10000)
    ap.add_argument("--admin-port", type=int, default=9901)
    ap.add_argument("--cluster", action="append", default=[], metavar="NAME=PORT")
    ap.add_argument("--clusters-from-port", type=int, metavar="N")
    ap.add_argument("--lambda", dest="lambdas", action="append", default=[], metavar="NAME=PORT,ARN")
    ap.add_argument("--lambda-port", type=int, metavar="N")
    ap.add_argument("--lambda-function", action="append", default=[], metavar="NAME=FUNCTION")
    ap.add_argument("--lambda-credentials", default=MOCK_ACCESS_KEY + ":" + MOCK_SECRET, metavar="KEY:SECRET")
    ap.add_argument("--out", type=pathlib.Path)
    ap.add_argument("--print-clusters", action="store_true")
    args = ap.parse_args()

    text = args.config.read_text()
    clusters = []
    for c in args.cluster:
        name, _, port = c.partition("=")
        clusters.append((name, int(port)))
    if args.clusters_from_port is not None:
        named = {n for n, _ in clusters}
        auto = sorted(http_clusters(json.loads(text), set()) - named)
        clusters += [(n, args.clusters_from_port + i) for i, n in enumerate(auto)]

    access_key, _, secret = args.lambda_credentials.partition(":")
    lambdas = []
    for spec in args.lambdas:
        name, _, rest = spec.partition("=")
        port, _, arn = rest.partition(",")
        if not (name and port.isdigit() and arn):
            ap.error("--lambda %r: expected NAME=PORT,ARN" % spec)
        lambdas.append((name, int(port), arn, access_key, secret))
    if args.lambda_port is not None:
        functions = dict(f.partition("=")[::2] for f in args.lambda_function)
        named = {l[0] for l in lambdas}
        for n in sorted(lambda_clusters(json.loads(text), set()) - named):
            arn = MOCK_ARN_PREFIX + functions.get(n, "echo")
            lambdas.append((n, args.lambda_port, arn, access_key, secret))

    out = render(text, args.wasm, args.listen_port, args.admin_port, clusters, lambdas)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(out)
    elif not args.print_clusters:
        sys.stdout.write(out)
    if args.print_clusters:
        for n, p in clusters:
            print(n, p)


if __name__ == "__main__":
    main()
