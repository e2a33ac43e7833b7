#!/usr/bin/env bash
# Agent start-up for plugins of 200, 2,000 and 10,000 classes (issue 11, target 5): the JVM starts,
# loads a generated plugin whose driver touches every class, unloads it and exits (the probe's
# `startup`), with and without -javaagent, in alternating runs; wall and CPU (user+sys) seconds
# from /usr/bin/time; prints the median of each and the median of the per-pair ratios.
#
#   benchmarks/startup.sh [RUNS] [SIZES...]     # default: 11 runs each of 200 2000 10000
#   SCOPE=RELEASE_PATHS benchmarks/startup.sh   # the narrower guard scope
#   CACHE=cold benchmarks/startup.sh            # the woven-class cache directory emptied before every run
#   CACHE=off benchmarks/startup.sh             # no woven-class cache on disk (cacheDir=off)
#   AGENT=/path/to/unloadguard-agent.jar benchmarks/startup.sh   # another build of the agent
#   BASE_AGENT=/path/to/other/unloadguard-agent.jar benchmarks/startup.sh
#                                               # a third arm in the same runs: that build (e.g. main's), with its own
#                                               # cache directory; its host and probe are this build's
#   BASE_AGENT=... BASE_HOST=/path/to/other/unloadguard-cli.jar benchmarks/startup.sh
#                                               # the third arm with that build's host jar too. Needed to compare
#                                               # weavers: the host jar (the cli jar) bundles the weave classes and
#                                               # comes first on the class path, so without BASE_HOST both agents
#                                               # weave with this build's weaver
#
# The agent keeps woven classes on disk across starts (docs/agent.md): by default (CACHE=warm) the
# runs share a cache directory of their own, filled by the uncounted first run, so each counted run
# with the agent defines stored woven classes; CACHE=cold empties it before each run with the agent
# (every class woven, and the file written at exit).
#
# Run it on an otherwise idle machine: it prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-11}
shift || true
SIZES=("$@")
(( ${#SIZES[@]} )) || SIZES=(200 2000 10000)
JAVA=${JAVA:-java}
[[ -x /usr/bin/time ]] || { echo "benchmarks/startup.sh needs /usr/bin/time (Debian package: time)" >&2; exit 2; }
for f in agent/target/unloadguard-agent.jar cli/target/unloadguard-cli.jar benchmarks/target/benchmarks.jar; do
  [[ -f $f ]] || { echo "building: mvn -B -q package -DskipTests"; mvn -B -q package -DskipTests; break; }
done
RUN=$(mktemp -d "${TMPDIR:-/tmp}/unloadguard-startup.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
cp "${AGENT:-agent/target/unloadguard-agent.jar}" "$RUN/agent.jar"
MODES=(with without)
if [[ -n ${BASE_AGENT:-} ]]; then
  cp "$BASE_AGENT" "$RUN/base-agent.jar"
  cp "${BASE_HOST:-cli/target/unloadguard-cli.jar}" "$RUN/base-host.jar"
  MODES+=(base)
fi
cp cli/target/unloadguard-cli.jar "$RUN/host.jar"
mkdir -p "$RUN/probe"
(cd benchmarks/target/classes && cp --parents dev/unloadguard/bench/process/*.class \
  'META-INF/services/java.lang.System$LoggerFinder' "$RUN/probe/")
CACHE=${CACHE:-warm}
case $CACHE in
  warm|cold) AGENT_OPTS="=cacheDir=$RUN/cache"; BASE_OPTS="=cacheDir=$RUN/base-cache" ;;
  off) AGENT_OPTS="=cacheDir=off"; BASE_OPTS="=cacheDir=off" ;;
  *) echo "CACHE=$CACHE: use warm (default), cold or off" >&2; exit 2 ;;
esac
SCOPE_ARG=()
[[ -n ${SCOPE:-} ]] && SCOPE_ARG=("-Dunloadguard.bench.scope=$SCOPE")
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; java: $("$JAVA" -version 2>&1 | head -1); scope: ${SCOPE:-ENTRIES}; woven-class cache: $CACHE"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-34s %-34s %-18s %-18s\n' classes "wall s with / without (median)" "cpu s with / without (median)" "wall ratio" "cpu ratio"
for n in "${SIZES[@]}"; do
  jar=$("$JAVA" -cp benchmarks/target/benchmarks.jar dev.unloadguard.bench.process.PluginJars "$RUN/gen" "g$n" "$n" "$RUN/host.jar")
  : > "$RUN/with.txt"; : > "$RUN/without.txt"; : > "$RUN/base.txt"
  for ((i = 0; i <= RUNS; i++)); do   # run 0 warms the file cache and is not counted
    for mode in "${MODES[@]}"; do
      agent=(); [[ $mode == with ]] && agent=("-javaagent:$RUN/agent.jar$AGENT_OPTS")
      [[ $mode == base ]] && agent=("-javaagent:$RUN/base-agent.jar$BASE_OPTS")
      [[ $mode == with && $CACHE == cold ]] && rm -rf "$RUN/cache"
      [[ $mode == base && $CACHE == cold ]] && rm -rf "$RUN/base-cache"
      host=host.jar; [[ $mode == base ]] && host=base-host.jar
      /usr/bin/time -f '%e %U %S' -o "$RUN/t" "$JAVA" "${agent[@]}" "${SCOPE_ARG[@]}" \
        -cp "$RUN/$host:$RUN/probe" dev.unloadguard.bench.process.Probe startup "$jar" > /dev/null 2> "$RUN/err" \
        || { cat "$RUN/err" >&2; exit 1; }
      (( i > 0 )) && awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$RUN/t" >> "$RUN/$mode.txt"
    done
  done
  paste -d' ' "$RUN/with.txt" "$RUN/without.txt" | awk -v n="$n" '
    function median(a, k,   i, j, t) { for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                       return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2 }
    { k++; ww[k] = $1; wc[k] = $2; ow[k] = $3; oc[k] = $4; rw[k] = $1 / $3; rc[k] = $2 / $4 }
    END { printf "%-8s %-34s %-34s %-18s %-18s\n", n, sprintf("%.3f / %.3f", median(ww, k), median(ow, k)),
            sprintf("%.3f / %.3f", median(wc, k), median(oc, k)), sprintf("%.2fx", median(rw, k)), sprintf("%.2fx", median(rc, k)) }'
  if [[ -s $RUN/base.txt ]]; then
    paste -d' ' "$RUN/base.txt" "$RUN/without.txt" "$RUN/with.txt" | awk -v n="$n" '
      function median(a, k,   i, j, t) { for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                         return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2 }
      { k++; bw[k] = $1; bc[k] = $2; rw[k] = $1 / $3; rc[k] = $2 / $4; tw[k] = $5 / $1; tc[k] = $6 / $2 }
      END { printf "%-8s BASE_AGENT: wall %.3f s, cpu %.3f s; over without: wall %.2fx, cpu %.2fx; this build over it: wall %.2fx, cpu %.2fx\n",
              n, median(bw, k), median(bc, k), median(rw, k), median(rc, k), median(tw, k), median(tc, k) }'
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
