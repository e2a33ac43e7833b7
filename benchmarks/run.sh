#!/usr/bin/env bash
# Runs unloadguard's whole benchmark set and writes its results (also printed) to
# benchmarks/target/results.md, or to FILE with --out FILE, or to the tracked
# benchmarks/results.md with --update-results:
#   JMH (1 fork per benchmark, 3x1 s warmup, 8x1 s measurement; threads 1 and 2; the epoch on
#   virtual threads if a JDK 21+ is found; the per-plugin epoch's binding and barrier isolation) and the whole-process timings (startup with and
#   without the agent, load/unload cycles, unload latency, a barrier waiting for a parked reader).
# Takes about 6-8 minutes on 2 cores. Run it on an otherwise idle machine; nothing runs in the
# background afterwards.
#
#   benchmarks/run.sh                      # full run
#   benchmarks/run.sh --quick              # smoke run, rough figures, under 2 minutes (measured: 1 min 41 s
#                                          # on 2 cores with load 9-11 from other work)
#   benchmarks/run.sh --only per-plugin    # only the per-plugin epoch benchmarks of issue 8 (binding
#                                          # alternatives, barrier isolation; about 4 minutes): rewrites
#                                          # their section of the results file, leaves the rest as it is
#   benchmarks/run.sh --update-results     # full run, written to benchmarks/results.md (tracked)
#   benchmarks/run.sh --versus-pf4j [ROUNDS [N [WARMUP]]]
#                                          # only issue 11 target 2: load+unload cycles per second of
#                                          # PluginLoader against the real PF4J's DefaultPluginManager
#                                          # (load/start/stop/unload), the same trivial plugin, one JVM
#                                          # with the agent, alternating rounds (default 10 rounds of 500
#                                          # cycles after 3000 warm-up cycles each; about 1 minute);
#                                          # prints both figures and the ratio (and, as a diagnosis,
#                                          # PluginLoader with its close audit off), writes no results file
#   benchmarks/run.sh --quick --out /tmp/r.md
#
# One run at a time: a second run.sh fails at once (lock ${TMPDIR:-/tmp}/unloadguard-bench.lock), and
# so does a run while any other JMH run holds JMH's own lock (/tmp/jmh.lock): the numbers of two
# CPU-heavy runs on one machine mean nothing.
#
# Environment: JAVA (default: java on PATH, 17+), UG_VT_JAVA (a JDK 21+ java for the virtual-
# thread run; default: the newest one under /usr/lib/jvm, if any; "none" to skip).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=benchmarks/target/results.md
SUITE_ARGS=()
VERSUS_PF4J=()
while (( $# )); do
  case $1 in
    --versus-pf4j)
      shift; VERSUS_PF4J=(on)
      while (( $# )) && [[ $1 =~ ^[0-9]+$ ]]; do VERSUS_PF4J+=("$1"); shift; done ;;
    --out)
      [[ $# -ge 2 && -n $2 ]] || { echo "benchmarks/run.sh: --out needs a file name" >&2; exit 2; }
      OUT=$2; shift 2 ;;
    --update-results) OUT=benchmarks/results.md; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) SUITE_ARGS+=("$1"); shift ;;
  esac
done
mkdir -p "$(dirname "$OUT")"

LOCK=${TMPDIR:-/tmp}/unloadguard-bench.lock
if command -v flock >/dev/null; then
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    echo "benchmarks/run.sh: another benchmarks/run.sh is running (it holds $LOCK): wait for it to finish" >&2
    exit 1
  fi
fi

JAVA=${JAVA:-java}
AGENT=agent/target/unloadguard-agent.jar
CLI=cli/target/unloadguard-cli.jar
BENCH=benchmarks/target/benchmarks.jar

# Build if a jar is missing or a source or pom is newer than it (package does not run the
# integration tests; -DskipTests skips the unit tests too).
if [[ ! -f $AGENT || ! -f $CLI || ! -f $BENCH ]] \
    || [[ -n $(find pom.xml */pom.xml */src -newer "$BENCH" -type f -print -quit) ]]; then
  echo "building: mvn -B -q package -DskipTests"
  mvn -B -q package -DskipTests
fi

major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }

VT_JAVA=${UG_VT_JAVA:-}
if [[ -z $VT_JAVA ]]; then
  best=0
  for j in /usr/lib/jvm/*/bin/java; do
    [[ -x $j ]] || continue
    m=$(major "$j" || echo 0)
    if [[ $m =~ ^[0-9]+$ ]] && (( m >= 21 && m > best )); then best=$m; VT_JAVA=$j; fi
  done
fi
VT_ARGS=()
if [[ -n $VT_JAVA && $VT_JAVA != none ]]; then
  VT_ARGS=(--vt-java "$VT_JAVA" --vt-version "$(major "$VT_JAVA")")
fi

# Run from private copies: others may rebuild the tree (mvn package/verify) while this runs.
RUN=$(mktemp -d "${TMPDIR:-/tmp}/unloadguard-bench.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
cp "$AGENT" "$RUN/unloadguard-agent.jar"
cp "$CLI" "$RUN/unloadguard-cli.jar"   # the host library (api, runtime, host) for the probe JVMs
cp "$BENCH" "$RUN/benchmarks.jar"
mkdir -p "$RUN/probe"
(cd benchmarks/target/classes && cp --parents dev/unloadguard/bench/process/*.class \
  'META-INF/services/java.lang.System$LoggerFinder' "$RUN/probe/")

if (( ${#VERSUS_PF4J[@]} )); then
  # One JVM, the agent attached (it weaves only unloadguard's plugin loaders), PF4J and its slf4j
  # (slf4j-nop: no logging) beside the host library: both hosts under the same flags.
  cp -r benchmarks/target/pf4j-lib "$RUN/pf4j-lib"
  "$JAVA" -javaagent:"$RUN/unloadguard-agent.jar" \
    -cp "$RUN/unloadguard-cli.jar:$RUN/probe:$RUN/pf4j-lib/*" \
    dev.unloadguard.bench.process.VersusPf4j "$RUN/work" "${VERSUS_PF4J[@]:1}"
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

"$JAVA" -cp "$RUN/benchmarks.jar" dev.unloadguard.bench.Suite \
  --agent "$RUN/unloadguard-agent.jar" \
  --probe-cp "$RUN/unloadguard-cli.jar:$RUN/probe" \
  --work "$RUN/work" \
  --out "$OUT" \
  "${VT_ARGS[@]}" "${SUITE_ARGS[@]}"
# Keep the raw JMH results (JSON) and the probes' stderr next to the build output.
mkdir -p benchmarks/target/bench-results
cp "$RUN"/work/*.json "$RUN"/work/*.err benchmarks/target/bench-results/ 2>/dev/null || true
