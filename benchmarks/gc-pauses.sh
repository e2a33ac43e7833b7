#!/usr/bin/env bash
# Issue 11, target 1: the host's GC pauses during N unloads with LIVE_MB of live heap, with the
# collection check asynchronous (the default) and synchronous (awaitCollection(true)), on G1,
# Parallel and ZGC: one JVM per collector and mode (dev.unloadguard.bench.process.GcPauses), each
# with -javaagent, -Xms2g -Xmx2g and -Xlog:gc,gc+phases to a file it reads back. Prints one table
# row per run and keeps the logs in benchmarks/target/gc-pauses/. Build first:
#   mvn -B -o -q package -DskipTests
#   benchmarks/gc-pauses.sh                 # N=100, LIVE_MB=400, G1 Parallel Z, async and sync
#   N=20 COLLECTORS="G1" benchmarks/gc-pauses.sh
# Environment: JAVA (default java on PATH, 17+), N, LIVE_MB, COLLECTORS (G1 Parallel Z),
# MODES (async sync), EXTRA (more JVM flags, e.g. -XX:+ExplicitGCInvokesConcurrent), DEADLINE_S
# (the collection timeout, default 5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
JAVA=${JAVA:-java}
N=${N:-100}
LIVE_MB=${LIVE_MB:-400}
COLLECTORS=${COLLECTORS:-"G1 Parallel Z"}
MODES=${MODES:-"async sync"}
EXTRA=${EXTRA:-}
DEADLINE_S=${DEADLINE_S:-5}
AGENT=agent/target/unloadguard-agent.jar
CLI=cli/target/unloadguard-cli.jar
for f in "$AGENT" "$CLI" benchmarks/target/classes/dev/unloadguard/bench/process/GcPauses.class; do
  [[ -f $f ]] || { echo "benchmarks/gc-pauses.sh: $f is missing: run mvn -B -o -q package -DskipTests first" >&2; exit 2; }
done
RUN=$(mktemp -d "${TMPDIR:-/tmp}/unloadguard-gcpauses.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
cp "$AGENT" "$RUN/agent.jar"
cp "$CLI" "$RUN/cli.jar"
mkdir -p "$RUN/probe" benchmarks/target/gc-pauses
(cd benchmarks/target/classes && cp --parents dev/unloadguard/bench/process/*.class \
  'META-INF/services/java.lang.System$LoggerFinder' "$RUN/probe/")
echo "| collector | mode | deadline (s) | java | unloads (s) | checks end (s) | collected/leaked | pauses | longest pause (ms) | longest young (ms) | pause sum (ms) | full GCs | System.gc() GCs |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for gc in $COLLECTORS; do
  for mode in $MODES; do
    log="$RUN/gc-$gc-$mode.log"
    out=$("$JAVA" -javaagent:"$RUN/agent.jar" -XX:+Use${gc}GC -Xms2g -Xmx2g $EXTRA -Dunloadguard.bench.collectionTimeoutSeconds="$DEADLINE_S" \
      -Xlog:gc,gc+phases:file="$log" -cp "$RUN/cli.jar:$RUN/probe" \
      dev.unloadguard.bench.process.GcPauses "$mode" "$N" "$LIVE_MB" "$RUN/work" "$log")
    cp "$log" "benchmarks/target/gc-pauses/"
    v() { grep "^$1=" <<<"$out" | head -1 | cut -d= -f2-; }
    echo "| $gc$([[ -n $EXTRA ]] && echo " $EXTRA") | $mode | $(v collectionTimeout.s) | $(v java) | $(v unloads.s) | $(v checks.s) | $(v collected)/$(v leaked) | $(v pauses) | $(v pause.max.ms) | $(v pause.young.max.ms) | $(v pause.sum.ms) | $(v fullGcs) | $(v systemGcs) |"
    echo "  longest: $(v longest)" >&2
  done
done
