#!/usr/bin/env bash
# Base images of the compose stack, with or without a registry.
#
# For each base image the stack uses (the official Airflow image the stack's Dockerfile builds FROM,
# PostgreSQL, SeaweedFS for S3; names from ../../.env):
#   1. present locally (official, or a stand-in built from the current recipe) -> used as is;
#   2. else `docker pull` answers                                             -> the official image;
#   3. else an OFFLINE STAND-IN is built here from Debian packages (debootstrap) plus PyPI, and
#      TAGGED WITH THE OFFICIAL NAME so that docker-compose.yaml and docker/Dockerfile stay the ones
#      a user with internet runs. A stand-in is NOT the official image: it carries the label
#      org.sm-processing.standin=<recipe hash> and reproduces only what this stack relies on
#      (see the Dockerfile of each in this folder and the README, "Local Airflow stack").
#
# Cached: the debootstrap rootfs (a tarball under $STANDIN_CACHE) and the images themselves; a second
# run with nothing changed takes seconds. STANDINS=rebuild forces the stand-ins to be rebuilt,
# STANDINS=never fails instead of building one (e.g. to insist on the official images).
set -euo pipefail
export PATH="/usr/bin:/usr/sbin:$PATH"  # Debian's docker client first (see scripts/stack/ensure_docker.sh)

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sm-processing-stack}
MODE=${STANDINS:-auto}
PULL_TIMEOUT=${STANDIN_PULL_TIMEOUT:-30}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=sm-processing-standin/debian:$SUITE  # our own name: no official image pretends to be this

say() { echo "standins: $*" >&2; }

# Image names and versions: the same .env docker-compose reads (environment variables win).
env_value() {
  local name=$1 default=$2
  if [[ -n ${!name:-} ]]; then echo "${!name}"; return; fi
  local line
  line=$(grep -E "^${name}=" "$ROOT/.env" 2>/dev/null | tail -n 1 || true)
  echo "${line#*=}" | sed -e 's/^"//' -e 's/"$//' | grep . || echo "$default"
}
AIRFLOW_VERSION=$(env_value AIRFLOW_VERSION 3.3.2)
AIRFLOW_PYTHON=$(env_value AIRFLOW_PYTHON_VERSION 3.11)
AIRFLOW_BASE=apache/airflow:${AIRFLOW_VERSION}-python${AIRFLOW_PYTHON}
POSTGRES_IMAGE=$(env_value POSTGRES_IMAGE postgres:16)
SEAWEEDFS_IMAGE=$(env_value SEAWEEDFS_IMAGE chrislusf/seaweedfs:4.48)

recipe_hash() {  # what a stand-in is built from: its folder and the build args (and the base's suite)
  { echo "$SUITE $MIRROR"; find "$HERE/$1" -type f -print0 | sort -z | xargs -0 cat; echo "${*:2}"; } |
    sha256sum | cut -c1-16
}

standin_label() {
  docker image inspect --format '{{ index .Config.Labels "org.sm-processing.standin" }}' "$1" 2>/dev/null || true
}

# The Debian rootfs every stand-in starts from, imported once; the tarball survives `docker rmi`.
ensure_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  local tarball="$CACHE/debian-$SUITE-minbase.tar"
  if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || {
      say "installing debootstrap with apt"
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
    }
    local rootfs="$CACHE/rootfs-$SUITE.tmp"
    rm -rf "$rootfs" && mkdir -p "$rootfs"
    say "debootstrap $SUITE (minbase) from $MIRROR"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
SOURCES
    # Trust what this machine trusts (e.g. a TLS-inspecting egress proxy's CA), so pip inside the
    # builds reaches PyPI as the host does. Only certificates the host added itself are copied.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
      chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  say "importing $tarball as $BASE_IMAGE"
  docker import --change 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
}

# $1 official name, $2 recipe folder, then --build-arg values.
ensure_image() {
  local image=$1 recipe=$2
  shift 2
  local hash label
  hash=$(recipe_hash "$recipe" "$image" "$@")
  label=$(standin_label "$image")
  if docker image inspect "$image" >/dev/null 2>&1 && [[ $MODE != rebuild || -z $label ]]; then
    if [[ -z $label ]]; then say "$image: present (official)"; return; fi
    if [[ $label == "$hash" ]]; then say "$image: OFFLINE STAND-IN, up to date"; return; fi
    say "$image: stand-in recipe changed, rebuilding"
  elif [[ $MODE != rebuild ]] && timeout "$PULL_TIMEOUT" docker pull -q "$image" >/dev/null 2>&1; then
    say "$image: pulled (official)"
    return
  fi
  if [[ $MODE == never ]]; then
    say "$image: not present, not pullable, and STANDINS=never"
    exit 1
  fi
  ensure_base
  say "$image: building an OFFLINE STAND-IN from Debian packages ($recipe/)"
  local args=(--network host --build-arg "BASE=$BASE_IMAGE" --label "org.sm-processing.standin=$hash")
  local arg
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  local log="$CACHE/build-$recipe.log"
  local started=$SECONDS
  if ! docker build --force-rm "${args[@]}" -t "$image" "$HERE/$recipe" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "$image: stand-in build failed (full log: $log)"
    exit 1
  fi
  say "$image: stand-in built in $((SECONDS - started)) s"
}

mkdir -p "$CACHE"
ensure_image "$AIRFLOW_BASE" airflow "AIRFLOW_VERSION=$AIRFLOW_VERSION" "PYTHON_VERSION=$AIRFLOW_PYTHON"
ensure_image "$POSTGRES_IMAGE" postgres "PG_MAJOR=${POSTGRES_IMAGE##*:}"
ensure_image "$SEAWEEDFS_IMAGE" seaweedfs "SEAWEEDFS_VERSION=${SEAWEEDFS_IMAGE##*:}"
