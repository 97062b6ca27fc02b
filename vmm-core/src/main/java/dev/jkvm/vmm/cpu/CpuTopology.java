package dev.jkvm.vmm.cpu;

/**
 * The -smp topology: how many vCPUs run now, how many could, and how they are arranged into
 * sockets, cores and threads. APIC IDs pack thread, core and socket into bit fields, each as wide
 * as its count needs, as on real hardware; so a 3-core socket leaves a gap in the IDs.
 */
public record CpuTopology(int cpus, int sockets, int cores, int threads, int maxCpus) {
    public CpuTopology {
        if (cpus < 1 || sockets < 1 || cores < 1 || threads < 1) {
            throw new IllegalArgumentException("CPU topology values must be at least 1");
        }
        long socketsTimesCores = (long) sockets * cores;   // exact; times threads is exact when this fits an int
        if (socketsTimesCores > Integer.MAX_VALUE || socketsTimesCores * threads != maxCpus) {
            throw new IllegalArgumentException("Invalid CPU topology: product of the hierarchy must match maxcpus: sockets ("
                    + sockets + ") * cores (" + cores + ") * threads (" + threads + ") != maxcpus (" + maxCpus + ")");
        }
        if (cpus > maxCpus) {
            throw new IllegalArgumentException("Invalid CPU topology: maxcpus must be equal to or greater than smp: "
                    + "sockets (" + sockets + ") * cores (" + cores + ") * threads (" + threads + ") == maxcpus (" + maxCpus
                    + ") < smp_cpus (" + cpus + ")");
        }
    }

    public static CpuTopology single() {
        return new CpuTopology(1, 1, 1, 1, 1);
    }

    /**
     * Fills in what -smp left out the way QEMU 7.2 does for the pc machine (it prefers cores over
     * sockets, then sockets over threads, and computes threads last); 0 means "not given".
     */
    public static CpuTopology resolve(int cpus, int sockets, int cores, int threads, int maxCpus) {
        if (cpus < 0 || sockets < 0 || cores < 0 || threads < 0 || maxCpus < 0) {
            throw new IllegalArgumentException("CPU topology values must not be negative");
        }
        // In long: each value is below 2^31, so a product of two is exact, and the division
        // below never sees a product that wrapped to 0.
        long s = sockets;
        long c = cores;
        long t = threads;
        long max = maxCpus;
        if (cpus == 0 && maxCpus == 0) {
            s = s > 0 ? s : 1;
            c = c > 0 ? c : 1;
            t = t > 0 ? t : 1;
        } else {
            max = max > 0 ? max : cpus;
            if (c == 0) {
                s = s > 0 ? s : 1;
                t = t > 0 ? t : 1;
                c = Math.max(1, max / (s * t));
            } else if (s == 0) {
                t = t > 0 ? t : 1;
                s = Math.max(1, max / (c * t));
            }
            if (t == 0) {
                t = Math.max(1, max / (s * c));
            }
        }
        long sc = s * c;
        if (sc > Integer.MAX_VALUE || sc * t > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Invalid CPU topology: sockets (" + s + ") * cores (" + c + ") * threads (" + t
                    + ") is more than " + Integer.MAX_VALUE + " CPUs");
        }
        int total = (int) (sc * t);
        int resolvedMax = max > 0 ? (int) max : total;
        return new CpuTopology(cpus > 0 ? cpus : resolvedMax, (int) s, (int) c, (int) t, resolvedMax);
    }

    static int bitsFor(int count) {
        return count <= 1 ? 0 : 32 - Integer.numberOfLeadingZeros(count - 1);
    }

    public int threadBits() {
        return bitsFor(threads);
    }

    public int coreBits() {
        return bitsFor(cores);
    }

    /** The APIC ID of the vCPU with this index (0-based, in creation order). */
    public int apicId(int index) {
        int thread = index % threads;
        int core = (index / threads) % cores;
        int socket = index / (threads * cores);
        return (socket << (coreBits() + threadBits())) | (core << threadBits()) | thread;
    }

    /** APIC IDs of the vCPUs that start now. */
    public int[] apicIds() {
        int[] ids = new int[cpus];
        for (int i = 0; i < cpus; i++) {
            ids[i] = apicId(i);
        }
        return ids;
    }

    public int logicalPerSocket() {
        return cores * threads;
    }
}
