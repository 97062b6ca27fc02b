#!/usr/bin/env bash
# Start-up time (process start to the guest's first serial byte, JVM included) and VMM memory
# overhead (RSS minus resident guest RAM), jkvm and QEMU side by side. Prints BENCH lines.
#   benchmarks/run-startup.sh [rounds]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib/jdk.sh"
jkvm_find_jdk
"$root/scripts/build" >/dev/null
command -v qemu-system-x86_64 >/dev/null || apt-get install -y qemu-system-x86 >/dev/null 2>&1 || true
exec "$JAVA" -cp "$root/benchmarks/target/classes" dev.jkvm.bench.StartupBench "$root" "${1:-10}"
