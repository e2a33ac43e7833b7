#!/usr/bin/env bash
# Issue 13, point 1: how long the leak path takes (a live heap dump of this JVM, then the search for
# the shortest strong path to a leaked class loader) with 100 MB and 1 GB of live objects: one JVM
# per size (dev.unloadguard.bench.process.LeakPathTiming). Build first:
#   mvn -B -o -q package -DskipTests
#   benchmarks/leak-path.sh                 # SIZES="100 1024"
# Environment: JAVA (default java on PATH, 17+), SIZES (live MB per run), XMX (default 6g). The dumps
# go to java.io.tmpdir and are deleted; each is about as large as the live heap.
set -euo pipefail
cd "$(dirname "$0")/.."
JAVA=${JAVA:-java}
SIZES=${SIZES:-"100 1024"}
XMX=${XMX:-6g}
CLI=cli/target/unloadguard-cli.jar
for f in "$CLI" benchmarks/target/classes/dev/unloadguard/bench/process/LeakPathTiming.class; do
  [[ -f $f ]] || { echo "benchmarks/leak-path.sh: $f is missing: run mvn -B -o -q package -DskipTests first" >&2; exit 2; }
done
RUN=$(mktemp -d "${TMPDIR:-/tmp}/unloadguard-leakpath.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
cp "$CLI" "$RUN/cli.jar"              # a copy: a rebuild during a long run does not pull the jar from under it
cp -r benchmarks/target/classes "$RUN/classes"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(uptime | sed 's/.*load average: //')"
for mb in $SIZES; do
  "$JAVA" -Xmx"$XMX" -cp "$RUN/cli.jar:$RUN/classes" dev.unloadguard.bench.process.LeakPathTiming "$mb"
done
echo "load after: $(uptime | sed 's/.*load average: //')"
