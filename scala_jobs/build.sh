#!/usr/bin/env bash
# Builds scala_jobs/target/abalone-jobs.jar offline with the Scala 2.13 compiler and the Spark jars
# shipped in the pyspark wheel (no sbt/Maven download). Rebuilds only when a source is newer than the jar.
# Usage: scala_jobs/build.sh [python-with-pyspark]   (default: the repo's .venv/bin/python, then python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
jar_path="$here/target/abalone-jobs.jar"
src_dir="$here/src/main/scala"

python="${1:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python="python3"; fi
fi

mapfile -t sources < <(find "$src_dir" -name '*.scala' | sort)
if [[ ${#sources[@]} -eq 0 ]]; then
  echo "build.sh: no Scala sources under $src_dir" >&2; exit 1
fi
for tool in java jar; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: '$tool' not found on PATH; install a JDK 17 (e.g. apt-get install openjdk-17-jdk-headless)" >&2
    exit 1
  fi
done
if ! pyspark_dir="$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null)"; then
  echo "build.sh: pyspark is not importable with $python; run 'make venv' (or pass a Python that has pyspark)" >&2
  exit 1
fi
if ! compgen -G "$pyspark_dir/jars/scala-compiler-*.jar" >/dev/null; then
  echo "build.sh: $pyspark_dir/jars has no scala-compiler jar; this pyspark wheel cannot compile Scala" >&2
  exit 1
fi

if [[ -f "$jar_path" ]] && [[ -z "$(find "$src_dir" "$here/build.sh" -newer "$jar_path" -type f | head -1)" ]]; then
  echo "build.sh: $jar_path is up to date"; exit 0
fi

work="$(mktemp -d "$here/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/classes"
echo "build.sh: compiling ${#sources[@]} Scala sources against $pyspark_dir/jars"
java -Xss8m -cp "$pyspark_dir/jars/*" scala.tools.nsc.Main \
  -usejavacp -deprecation -feature -release 17 \
  -classpath "$pyspark_dir/jars/*" -d "$work/classes" "${sources[@]}"
mkdir -p "$here/target"
jar cf "$work/abalone-jobs.jar" -C "$work/classes" .
mv -f "$work/abalone-jobs.jar" "$jar_path"   # atomic: a failed build never leaves a half-written jar
echo "build.sh: built $jar_path"
