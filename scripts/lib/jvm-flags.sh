# The JVM options jkvm runs with, sourced by ./jkvm and scripts/build: the AOT cache is only used
# when the run's GC and heap-layout flags match the training run's, so both take them from here.
#  - SerialGC and a small young generation: jkvm's heap is small and short-lived; a default eden
#    (1/3 of 1/64 of host RAM) would be touched in full before the first collection.
#  - TrimNativeHeapInterval: gives back the malloc memory the JIT frees after start-up.
#  - MALLOC_ARENA_MAX: one glibc arena per vCPU and I/O thread only fragments memory.
#  - -UsePerfData: no hsperfdata file to create at start (jps no longer lists jkvm; jcmd PID works).
JKVM_JVM_OPTS=(-XX:+UseSerialGC -Xms8m -Xmn4m -Xss512k -XX:TrimNativeHeapInterval=5000 -XX:-UsePerfData)
export MALLOC_ARENA_MAX=2
