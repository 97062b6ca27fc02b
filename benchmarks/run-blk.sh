#!/usr/bin/env bash
# virtio-blk throughput, jkvm against QEMU (aio=threads and aio=io_uring) in one run: 4 KiB random
# read/write IOPS at QD1 and QD32, 1 MiB sequential read/write MB/s at QD8, with cache=none and
# cache=writeback, on a fully written raw image in /tmp. The load is the test guest's polling
# blk-bench test; the host times BENCH-START..BENCH-END. Prints BENCH blk lines and a Markdown table.
#
#   benchmarks/run-blk.sh [FILTER...]        e.g. benchmarks/run-blk.sh cache=none mode=randread qd=32
#
# FILTER words are key=v1|v2 over vmm, aio, cache, mode, bs, qd. Knobs (environment):
#   BLK_REPS (5) repetitions per row and VMM, BLK_SECONDS (3) target seconds per run, BLK_WARMUP (0.5)
#   untimed requests before each timed run as a fraction of its count (jkvm's JIT warms up),
#   BLK_IMAGE_MIB (1024) image size, BLK_DIR (/tmp), BLK_OPS (fixed ops instead of the probe),
#   BLK_CACHES (none,writeback), BLK_WORKLOADS (mode:bs:qd,...), BLK_QUIET_CPU (0.15) and
#   BLK_QUIET_WAIT (600): before every run wait up to BLK_QUIET_WAIT s until other processes use
#   less than BLK_QUIET_CPU of a CPU (the benchmark needs both host CPUs); BLK_MAX_OTHER_CPU (0.3)
#   and BLK_RETRIES (2): repeat a run during which other processes used more than that;
#   BLK_LAUNCHER=script runs ./jkvm itself instead of a frozen copy of its jar (see BlockBench).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib/jdk.sh"
jkvm_find_jdk
"$root/scripts/build" >/dev/null
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "run-blk: installing qemu-system-x86" >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi
"$root/scripts/mvn" -q -B -DskipTests package -pl benchmarks -am
props=(-Dblk.reps="${BLK_REPS:-5}" -Dblk.seconds="${BLK_SECONDS:-3}" -Dblk.imageMiB="${BLK_IMAGE_MIB:-1024}"
       -Dblk.dir="${BLK_DIR:-/tmp}")
[ -n "${BLK_OPS:-}" ] && props+=(-Dblk.ops="$BLK_OPS")
[ -n "${BLK_WARMUP:-}" ] && props+=(-Dblk.warmup="$BLK_WARMUP")
[ -n "${BLK_CACHES:-}" ] && props+=(-Dblk.caches="$BLK_CACHES")
[ -n "${BLK_WORKLOADS:-}" ] && props+=(-Dblk.workloads="$BLK_WORKLOADS")
[ -n "${BLK_QUIET_CPU:-}" ] && props+=(-Dblk.quietCpu="$BLK_QUIET_CPU")
[ -n "${BLK_QUIET_WAIT:-}" ] && props+=(-Dblk.quietWait="$BLK_QUIET_WAIT")
[ -n "${BLK_MAX_OTHER_CPU:-}" ] && props+=(-Dblk.maxOtherCpu="$BLK_MAX_OTHER_CPU")
[ -n "${BLK_RETRIES:-}" ] && props+=(-Dblk.retries="$BLK_RETRIES")
[ -n "${BLK_LAUNCHER:-}" ] && props+=(-Dblk.launcher="$BLK_LAUNCHER")
exec "$JAVA" "${props[@]}" -cp "$root/benchmarks/target/classes" dev.jkvm.bench.BlockBench "$root" "$@"
