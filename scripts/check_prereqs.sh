#!/usr/bin/env bash
# Checks what `make` needs before it builds anything, with one clear line per missing piece.
set -u
python=${1:-python3}
fail=0
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.11 or newer (or run: make PYTHON=/path/to/python3.11)" >&2
  fail=1
elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $python is Python $("$python" -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed (make PYTHON=/path/to/python3.11)" >&2
  fail=1
fi
java_bin=java
[ -n "${JAVA_HOME:-}" ] && java_bin="$JAVA_HOME/bin/java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "error: Java not found; Spark needs Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)" >&2
  fail=1
else
  major=$("$java_bin" -version 2>&1 | sed -nE 's/.*version "([0-9]+)(\.[0-9]+)*.*/\1/p' | head -1)
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    echo "error: Java ${major:-?} found at $(command -v "$java_bin"); Spark needs Java 17 or newer (set JAVA_HOME)" >&2
    fail=1
  fi
fi
if ! command -v unshare >/dev/null 2>&1; then
  echo "error: unshare not found; the local backend isolates each job with it (Debian/Ubuntu: apt-get install util-linux)" >&2
  fail=1
fi
exit $fail
