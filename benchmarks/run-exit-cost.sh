#!/usr/bin/env bash
# Exit cost of jkvm's vCPU loop next to a minimal C KVM_RUN loop, alternated in one run.
# Prints one line per exit kind:
#   BENCH exit-cost kind=pio jkvm_ns=... c_ns=... ratio=...
#   BENCH exit-cost kind=mmio jkvm_ns=... c_ns=... ratio=...
# (lines starting with # are per-round details). Options go to dev.jkvm.bench.ExitCostBench:
#   --rounds R (31)  --exits N (50000)  --warmup W (2)  --kinds pio,mmio  --matched  --c-args "..."
# Set JKVM_BENCH_SKIP_BUILD=1 to reuse benchmarks/target/benchmarks.jar as it is.
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
command -v "${CC:-gcc}" >/dev/null || { echo "run-exit-cost: ${CC:-gcc} is needed to build the C floor" >&2; exit 1; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "run-exit-cost: /dev/kvm is not usable by $(id -un)" >&2; exit 1; }
# The harness compiles benchmarks/src/main/c/exit-floor.c into benchmarks/target/exit-floor when needed.
exec "$JAVA" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Djkvm.root="$root" \
    -cp "$jar" dev.jkvm.bench.ExitCostBench "$@"
