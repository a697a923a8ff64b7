#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine (Debian, root), the way CI needs it:
#   - installs Debian's docker.io and docker-compose (1.29) with apt when they are missing;
#   - starts dockerd when `docker info` does not answer, WITHOUT iptables and WITHOUT the default
#     bridge (this machine's kernel/network allow neither; compose's own networks still work and
#     published ports go through docker-proxy), logging to $DOCKERD_LOG;
#   - waits until `docker info` answers, or fails naming the log.
# Idempotent: a running engine is left alone. It never stops an engine.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-stack.log}
WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}
# Debian's client first: /usr/local/bin may hold another docker client of a different version.
export PATH="/usr/bin:/usr/sbin:$PATH"

say() { echo "ensure_docker: $*" >&2; }

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need_packages+=(docker-compose)
if ((${#need_packages[@]})); then
  [[ $(id -u) == 0 ]] || { say "need root to install ${need_packages[*]}"; exit 1; }
  say "installing ${need_packages[*]} with apt"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_packages[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

[[ $(id -u) == 0 ]] || { say "no Docker engine answers and starting one needs root"; exit 1; }
say "starting dockerd --iptables=false --ip6tables=false --bridge=none (log: $DOCKERD_LOG)"
# setsid: the engine outlives the shell (and make) that started it; it is meant to keep running.
setsid dockerd --iptables=false --ip6tables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null &
for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
  if docker info >/dev/null 2>&1; then
    say "engine up after $((i / 2)) s"
    exit 0
  fi
  sleep 0.5
done
say "dockerd did not answer within ${WAIT_SECONDS}s; last lines of $DOCKERD_LOG:"
tail -n 30 "$DOCKERD_LOG" >&2
exit 1
