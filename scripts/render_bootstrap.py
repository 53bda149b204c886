#!/usr/bin/env python3
"""Renders envoy/routewise.yaml.tmpl into an Envoy bootstrap for one routewise config.

    render_bootstrap.py --config envoy/examples/products.json --wasm /abs/routewise.wasm \
        --listen-port 10000 --admin-port 9901 --clusters-from-port 18081 --out .work/run/envoy.yaml

Builds: `--build wasm` (default) loads routewise.wasm (`--wasm`) under V8; `--build dynamic-module` loads
libroutewise_module.so, which Envoy finds in $ENVOY_DYNAMIC_MODULES_SEARCH_PATH (set it when starting Envoy;
`--wasm` is then not needed). The template holds both filter entries; the other one is removed.

Filters before routewise: `--filter-before FILE` (repeatable) puts FILE's http_filters entries (a YAML list,
e.g. envoy/examples/jwt-authn-filter.yaml: Envoy's jwt_authn, for a Lambda integration's `jwt`) before the
routewise filter, in either build and with `--ecds-dir`.

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

Live config updates (ECDS, extension config discovery from a watched file):

    render_bootstrap.py --config C --wasm W --ecds-dir /etc/routewise/ecds [--ecds-out DIR] --out envoy.yaml
    render_bootstrap.py --config C2 --wasm W --ecds-dir /etc/routewise/ecds [--ecds-out DIR] --ecds-update

The first renders the bootstrap with the routewise filter as `config_discovery` of the file
`<ecds-dir>/routewise-filter.yaml` (Envoy watches the directory) and writes that file: the filter block of the
template between its `routewise:filter` markers, as an ECDS `TypedExtensionConfig` resource. The second only
rewrites the file (for a running Envoy). `--ecds-out` is where the file is written when Envoy sees the directory
under another path (a container's mount); default `--ecds-dir`. The file is replaced atomically (write, then
rename in the same directory, the move Envoy's `watched_directory` reacts to), and its `version_info` is the
first 12 hex digits of the SHA-256 of the filter entry (config, module path, settings), shown by Envoy as
`extension_config_discovery.http_filter.routewise.version_text`. Envoy checks each version by running the
filter's `on_configure` on its main thread: a rejected config is NACKed (`update_rejected`, the filter's errors
in Envoy's log) and the previous one keeps serving.
"""

import argparse
import hashlib
import json
import os
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "envoy" / "routewise.yaml.tmpl"
DEFAULT_CLUSTER_HEADER = "x-routewise-cluster"


def integration_clusters(node, kind, found):
    """Every `{"type": KIND, "cluster": NAME}` integration in the config (iterative: any depth)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == kind and isinstance(node.get("cluster"), str):
                found.add(node["cluster"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def http_clusters(node, found):
    """Every `{"type": "http", "cluster": NAME}` integration in the config."""
    return integration_clusters(node, "http", found)


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
    return integration_clusters(node, "lambda", found)


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


def render(config_text, wasm_path, listen_port, admin_port, clusters, lambdas=(), build="wasm", filters_before=()):
    """The bootstrap text. `config_text` is passed to the filter verbatim, as a JSON string literal.
    `filters_before`: YAML texts of http_filters entries put before routewise's (`--filter-before`)."""
    try:
        header = json.loads(config_text).get("cluster_header", DEFAULT_CLUSTER_HEADER)
    except (ValueError, AttributeError, RecursionError):
        header = DEFAULT_CLUSTER_HEADER  # an invalid config is still rendered: the filter must reject it
    values = {
        "ADMIN_PORT": str(admin_port),
        "LISTEN_PORT": str(listen_port),
        "WASM_PATH": str(wasm_path),
        "FS": FILTER_STATE_PREFIX[build],
        "ROUTEWISE_CONFIG": json.dumps(config_text),
        "CLUSTER_HEADER": json.dumps(header),
        "CLUSTERS": json.dumps([cluster(n, p) for n, p in clusters] + [lambda_cluster(*l) for l in lambdas]),
    }
    text = insert_filters_before(select_build(TEMPLATE.read_text(), build), filters_before)
    out = re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], text)
    assert "{{" not in out, "unfilled placeholder"
    return out


# ECDS (see the module docstring). The resource name is what Envoy subscribes to and names its stats after.
ECDS_NAME = "routewise"
ECDS_FILE = "routewise-filter.yaml"
FILTER_BEGIN = "# routewise:filter-begin"
FILTER_END = "# routewise:filter-end"
BUILD_MARK = "# routewise:build "
# The filter's type by build (ECDS subscribes to it) and the filter-state key prefix Envoy gives its keys.
FILTER_TYPES = {
    "wasm": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
    "dynamic-module": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
}
FILTER_STATE_PREFIX = {"wasm": "wasm.", "dynamic-module": ""}


def insert_filters_before(text, filters):
    """`filters` (YAML lists of http_filters entries, e.g. envoy/examples/jwt-authn-filter.yaml; comment lines
    dropped) inserted before the routewise filter, indented as the template's list."""
    if not filters:
        return text
    at = text.index(FILTER_BEGIN)
    start = text.rindex("\n", 0, at) + 1
    indent = text[start:at]
    entries = "".join(indent + line + "\n" for f in filters for line in f.splitlines()
                      if line.strip() and not line.lstrip().startswith("#"))
    return text[:start] + entries + text[start:]


def select_build(text, build):
    """The template with only `build`'s filter entry between the routewise:filter markers (each entry starts
    at its `# routewise:build NAME` line and runs to the next such line or the end marker)."""
    out, keep, inside = [], True, False
    for line in text.splitlines(keepends=True):
        mark = line.strip()
        if mark.startswith(FILTER_BEGIN):
            inside = True
        elif mark.startswith(FILTER_END):
            inside, keep = False, True
        elif inside and mark.startswith(BUILD_MARK):
            keep = mark[len(BUILD_MARK):].strip() == build
        if keep:
            out.append(line)
    return "".join(out)


def filter_block(bootstrap):
    """(start, end, lines) of the routewise filter entry between the template's markers (marker lines
    excluded)."""
    lines = bootstrap.splitlines(keepends=True)
    begin = [i for i, l in enumerate(lines) if l.strip().startswith(FILTER_BEGIN)]
    end = [i for i, l in enumerate(lines) if l.strip().startswith(FILTER_END)]
    if len(begin) != 1 or len(end) != 1 or end[0] <= begin[0]:
        raise SystemExit("render_bootstrap.py: the template must have one %s ... %s block" % (FILTER_BEGIN, FILTER_END))
    return begin[0], end[0], lines


def ecds_bootstrap(bootstrap, ecds_dir, build="wasm"):
    """The bootstrap with the filter entry replaced by a `config_discovery` of the ECDS file."""
    b, e, lines = filter_block(bootstrap)
    indent = lines[b][: len(lines[b]) - len(lines[b].lstrip())]
    path = "%s/%s" % (ecds_dir.rstrip("/"), ECDS_FILE)
    entry = [
        "- name: %s" % ECDS_NAME,
        "  # ECDS: the filter's config is the resource in %s, reloaded when that file is replaced." % path,
        "  config_discovery:",
        "    config_source:",
        "      path_config_source:",
        "        path: %s" % json.dumps(path),
        "        watched_directory: { path: %s }" % json.dumps(ecds_dir),
        "    type_urls: [%s]" % json.dumps(FILTER_TYPES[build]),
    ]
    return "".join(lines[:b] + [indent + l + "\n" for l in entry] + lines[e + 1 :])


def ecds_resource(bootstrap, version):
    """The ECDS file: the template's filter entry (its `typed_config`) as a TypedExtensionConfig resource."""
    b, e, lines = filter_block(bootstrap)
    body = lines[b + 1 : e]
    at = [i for i, l in enumerate(body) if l.strip() == "typed_config:"]
    if not at:
        raise SystemExit("render_bootstrap.py: the routewise filter block has no `typed_config:`")
    config = [l for l in body[at[0] + 1 :] if l.strip()]
    cut = min(len(l) - len(l.lstrip()) for l in config)
    out = [
        "# ECDS resource for the routewise filter, written by scripts/render_bootstrap.py. Replace the file\n",
        "# atomically (write another file in this directory, then rename it over this one) to reload the filter.\n",
        "version_info: %s\n" % json.dumps(version),
        "resources:\n",
        '- "@type": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig\n',
        "  name: %s\n" % ECDS_NAME,
        "  typed_config:\n",
    ]
    out += ["    " + l[cut:] if l.strip() else l for l in config]
    return "".join(out)


def write_atomically(path, text):
    """Writes `text` to `path` through a temporary file in the same directory and a rename (an IN_MOVED_TO
    for Envoy's watched directory, never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".%s." % path.name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def filter_version(bootstrap):
    """Content-derived: the same filter config (routewise config, module path, settings) gives the same
    version, so a re-push of an unchanged config is a no-op for Envoy."""
    b, e, lines = filter_block(bootstrap)
    return hashlib.sha256("".join(lines[b + 1 : e]).encode()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, type=pathlib.Path)
    ap.add_argument("--wasm", default="", help="routewise.wasm as Envoy sees it (the wasm build)")
    ap.add_argument("--build", choices=sorted(FILTER_TYPES), default="wasm")
    ap.add_argument("--listen-port", type=int, default=10000)
    ap.add_argument("--admin-port", type=int, default=9901)
    ap.add_argument("--cluster", action="append", default=[], metavar="NAME=PORT")
    ap.add_argument("--clusters-from-port", type=int, metavar="N")
    ap.add_argument("--lambda", dest="lambdas", action="append", default=[], metavar="NAME=PORT,ARN")
    ap.add_argument("--lambda-port", type=int, metavar="N")
    ap.add_argument("--lambda-function", action="append", default=[], metavar="NAME=FUNCTION")
    ap.add_argument("--lambda-credentials", default=MOCK_ACCESS_KEY + ":" + MOCK_SECRET, metavar="KEY:SECRET")
    ap.add_argument("--filter-before", action="append", default=[], type=pathlib.Path, metavar="FILE",
                    help="HTTP filter entries (a YAML list) to run before routewise, e.g. "
                         "envoy/examples/jwt-authn-filter.yaml (repeatable)")
    ap.add_argument("--out", type=pathlib.Path)
    ap.add_argument("--print-clusters", action="store_true")
    ap.add_argument("--ecds-dir", metavar="DIR", help="serve the filter config by ECDS from DIR (as Envoy sees it)")
    ap.add_argument("--ecds-out", type=pathlib.Path, metavar="DIR", help="where to write the ECDS file (default --ecds-dir)")
    ap.add_argument("--ecds-update", action="store_true", help="only rewrite the ECDS file (a running Envoy reloads it)")
    args = ap.parse_args()
    if (args.ecds_out or args.ecds_update) and not args.ecds_dir:
        ap.error("--ecds-out and --ecds-update need --ecds-dir")
    if args.build == "wasm" and not args.wasm:
        ap.error("--build wasm needs --wasm")

    try:
        text = args.config.read_bytes().decode("utf-8")
    except OSError as e:
        raise SystemExit("render_bootstrap.py: cannot read %s: %s" % (args.config, e.strerror or e))
    except UnicodeDecodeError as e:
        raise SystemExit("render_bootstrap.py: %s is not UTF-8 text (byte %d); the filter takes a UTF-8 JSON "
                         "document" % (args.config, e.start))
    try:
        document = json.loads(text)
    except RecursionError:
        print("render_bootstrap.py: %s nests too deeply to read its clusters; rendered as it is (the filter "
              "will say what is wrong)" % args.config, file=sys.stderr)
        document = {}
    except ValueError as e:
        print("render_bootstrap.py: %s is not JSON (%s); rendered as it is (the filter will reject it)"
              % (args.config, e), file=sys.stderr)
        document = {}
    clusters = []
    for c in args.cluster:
        name, _, port = c.partition("=")
        clusters.append((name, int(port)))
    if args.clusters_from_port is not None:
        named = {n for n, _ in clusters}
        auto = sorted(http_clusters(document, set()) - named)
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
        for n in sorted(lambda_clusters(document, set()) - named):
            arn = MOCK_ARN_PREFIX + functions.get(n, "echo")
            lambdas.append((n, args.lambda_port, arn, access_key, secret))

    filters_before = [f.read_text() for f in args.filter_before]
    out = render(text, args.wasm, args.listen_port, args.admin_port, clusters, lambdas, args.build, filters_before)
    if args.ecds_dir:
        version = filter_version(out)
        target = (args.ecds_out or pathlib.Path(args.ecds_dir)) / ECDS_FILE
        write_atomically(target, ecds_resource(out, version))
        print("ecds: %s version %s" % (target, version), file=sys.stderr)
        if args.ecds_update:
            return
        out = ecds_bootstrap(out, args.ecds_dir, args.build)
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
