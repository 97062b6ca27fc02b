#!/usr/bin/env bash
# virtio-net over tap, jkvm against QEMU's user-space virtio-net (vhost=off) in one run: packets/s
# with 64-byte frames both ways, Gbit/s with 1514-byte frames both ways and with 64 KiB TSO frames
# from the guest. The load is the test guest's polling net-bench test; the host counts frames on
# the tap's own counters over a window. Prints # lines per run, BENCH net lines and a Markdown table.
#
#   benchmarks/run-net.sh [--quick] [--rounds N] [--warmup S] [--window S] [--phases tx:64,rx:1514,...]
#                         [--vmm jkvm,qemu] [--blast-max N] [--quiet-wait S]
#
# Defaults: 5 rounds (jkvm and QEMU alternating, order flipped every round), phases
# tx:64,tx:1514,tx:65536,rx:64,rx:1514, 3 s warm-up (jkvm's JIT compiles that direction's path)
# and a 3 s window per phase: about 6-7 minutes.
# --quick: 1 round, 0.5 s + 1 s per phase (a smoke test, under a minute).
# Needs root and /dev/net/tun (it creates, configures and deletes a tap named jkbenchNNNN on
# 10.211.77.0/24); without them it prints "BENCH net SKIPPED: ..." and exits 0.
# Set JKVM_BENCH_SKIP_BUILD=1 to measure cli/target/jkvm.jar and guest/build as they are.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib/jdk.sh"
source "$root/scripts/lib/jvm-flags.sh"
jkvm_find_jdk
if [ "$(id -u)" != 0 ] || [ ! -e /dev/net/tun ]; then
    echo "BENCH net SKIPPED: needs root and /dev/net/tun (it creates a tap)"
    exit 0
fi
if [ "${JKVM_BENCH_SKIP_BUILD:-0}" != 1 ]; then
    "$root/scripts/build" >/dev/null
    if ! build_log=$("$root/scripts/mvn" -q -B package -DskipTests -Dexec.skip=true -pl benchmarks -am 2>&1); then
        printf '%s\n' "$build_log" >&2
        exit 1
    fi
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "run-net: installing qemu-system-x86" >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi
blast="$root/benchmarks/target/net-blast"
src="$root/benchmarks/src/main/c/net-blast.c"
if [ ! -x "$blast" ] || [ "$src" -nt "$blast" ]; then
    mkdir -p "$(dirname "$blast")"
    "${CC:-gcc}" -O2 -Wall -Wextra -o "$blast" "$src"
fi
exec "$JAVA" -XX:+UseSerialGC -Dnet.blast="$blast" -Dnet.jvmOpts="${JKVM_JVM_OPTS[*]}" \
    -cp "$root/benchmarks/target/benchmarks.jar" dev.jkvm.bench.NetBench "$root" "$@"
