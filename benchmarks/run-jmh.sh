#!/usr/bin/env bash
# Builds benchmarks/target/benchmarks.jar and runs the JMH microbenchmarks in it.
#   benchmarks/run-jmh.sh                       every benchmark, short defaults
#   benchmarks/run-jmh.sh DeviceBus -p ranges=64 -prof gc
#   benchmarks/run-jmh.sh -l                    list them
# Defaults (-f 1 -wi 3 -i 5 -w 1s -r 1s) apply only to options not given on the command line.
# Set JKVM_BENCH_SKIP_BUILD=1 to reuse the jar as it is.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib/jdk.sh"
jkvm_find_jdk
jar="$root/benchmarks/target/benchmarks.jar"
if [ "${JKVM_BENCH_SKIP_BUILD:-0}" != 1 ] || [ ! -f "$jar" ]; then
    # Only what the jar needs (-Dexec.skip: the C test guest is not); quiet unless it fails.
    if ! build_log=$("$root/scripts/mvn" -q -B package -DskipTests -Dexec.skip=true -pl benchmarks -am 2>&1); then
        printf '%s\n' "$build_log" >&2
        exit 1
    fi
fi

# JMH refuses an option given twice, so add a default only when the caller did not give it.
given() {
    local opt=$1 a
    for a in "${@:2}"; do
        case "$a" in
            "$opt" | "$opt"[0-9]*) return 0 ;;
        esac
    done
    return 1
}
defaults=()
for pair in "-f 1" "-wi 3" "-i 5" "-w 1s" "-r 1s"; do
    opt=${pair%% *}
    given "$opt" "$@" || defaults+=("$opt" "${pair#* }")
done
# JMH 1.37 calls sun.misc.Unsafe, which JDK 24+ warns about unless allowed (the forks get the
# same flag from the benchmarks' @Fork).
exec "$JAVA" --sun-misc-unsafe-memory-access=allow -jar "$jar" "${defaults[@]}" "$@"
