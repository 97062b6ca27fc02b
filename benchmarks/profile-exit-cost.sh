#!/usr/bin/env bash
# Where an exit's time goes, jkvm's vCPU thread next to the C floor, from perf samples.
#   benchmarks/profile-exit-cost.sh [pio|mmio] [exits per run]      (default: pio 200000)
# Wall-clock ratios on a PVM host move by +-10% from run to run; the split between user space
# and kernel inside one run does not, so this is the sharper way to see what jkvm adds: the
# difference in user-space share is the Java exit path (JIT code, FFM downcall stub, errno
# capture), and the signal-mask lines are the kernel cost of KVM_SET_SIGNAL_MASK.
# Needs perf (linux-perf) and permission to use it. Prints PROFILE lines and the top symbols.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=${1:-pio}
exits=${2:-200000}
case "$kind" in pio | mmio) ;; *) echo "usage: $0 [pio|mmio] [exits]" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "profile-exit-cost: perf is needed (apt-get install linux-perf)" >&2; exit 1; }
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
floor="$root/benchmarks/target/exit-floor"
src="$root/benchmarks/src/main/c/exit-floor.c"
if [ ! -x "$floor" ] || [ "$src" -nt "$floor" ]; then
    "${CC:-gcc}" -O2 -Wall -Wextra -o "$floor" "$src"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/jkvm-exit-profile.XXXXXX")
trap 'rm -rf "$work"' EXIT

# jkvm: 2 warm-up runs and 6 measured ones in one JVM; only the last 70% of the samples count,
# which leaves out start-up and JIT warm-up. The perf map names JIT-compiled methods.
perf record -q -F 4000 -o "$work/jkvm.data" -- "$JAVA" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC \
    -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit \
    -cp "$jar" dev.jkvm.bench.ExitCostBench --jkvm-only --kinds "$kind" --warmup 2 --rounds 6 --exits "$exits" \
    >"$work/jkvm.log" 2>&1
perf record -q -F 4000 -o "$work/c.data" -- "$floor" "$kind" $((exits * 6)) >"$work/c.log" 2>&1

report() { # data-file, extra perf-report args...
    local data=$1
    shift
    perf report -i "$data" --percentage relative --stdio --no-children -g none "$@" 2>/dev/null | grep '%' | grep -v '^#'
}
# Samples are on-CPU time, so the shares are scaled by CPU ns per exit (median of the 6 measured jkvm runs).
jkvm_ns=$(sed -n 's/.*jkvm_cpu_ns=\([0-9]*\).*/\1/p' "$work/jkvm.log" | tail -6 | sort -n | sed -n 3p)
c_ns=$(sed -n 's/.*cpu_ns_per_exit=\([0-9.]*\).*/\1/p' "$work/c.log")
jkvm_args=(--comms vcpu-0 --time 30%-100%)

summarise() { # side, ns-per-exit, data-file, args...
    local side=$1 ns=$2 data=$3
    shift 3
    report "$data" "$@" --sort dso >"$work/$side.dso"
    report "$data" "$@" --sort sym >"$work/$side.sym"
    awk -v side="$side" -v kind="$kind" -v ns="$ns" -v symfile="$work/$side.sym" '
        { pct = $1; sub(/%/, "", pct); dso = $2; for (i = 3; i <= NF; i++) dso = dso " " $i
          if (dso ~ /kernel/) kernel += pct; else if (dso ~ /^\[JIT\]/) jit += pct;
          else if (dso ~ /libjvm/) jvm += pct; else if (dso ~ /libc/) libc += pct; else other += pct }
        END {
          while ((getline line < symfile) > 0) {
            split(line, f, " "); p = f[1]; sub(/%/, "", p)
            if (line ~ /\] (_raw_spin_lock_irq|_raw_spin_unlock_irq|sigprocmask|kvm_sigset_activate|kvm_sigset_deactivate)$/) sig += p
          }
          user = jit + jvm + libc + other
          printf "PROFILE exit-cost kind=%s side=%s cpu_ns_per_exit=%s kernel_pct=%.2f user_pct=%.2f jit_pct=%.2f libjvm_pct=%.2f libc_pct=%.2f other_user_pct=%.2f sigmask_kernel_pct=%.2f user_ns=%.0f\n",
                 kind, side, ns, kernel, user, jit, jvm, libc, other, sig, user * ns / 100
        }' "$work/$side.dso"
}
summarise c "$c_ns" "$work/c.data"
summarise jkvm "$jkvm_ns" "$work/jkvm.data" "${jkvm_args[@]}"
echo "# top user-space symbols, jkvm vCPU thread (percent of its samples):"
grep -v '\[k\]' "$work/jkvm.sym" | head -12 | sed 's/^/#   /'
echo "# top user-space symbols, C floor:"
grep -v '\[k\]' "$work/c.sym" | head -5 | sed 's/^/#   /'
