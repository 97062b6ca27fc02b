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
        if ((long) sockets * cores * threads != maxCpus) {
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
     * sockets); 0 means "not given".
     */
    public static CpuTopology resolve(int cpus, int sockets, int cores, int threads, int maxCpus) {
        if (cpus < 0 || sockets < 0 || cores < 0 || threads < 0 || maxCpus < 0) {
            throw new IllegalArgumentException("CPU topology values must not be negative");
        }
        if (cpus == 0 && maxCpus == 0) {
            sockets = sockets > 0 ? sockets : 1;
            cores = cores > 0 ? cores : 1;
            threads = threads > 0 ? threads : 1;
        } else {
            maxCpus = maxCpus > 0 ? maxCpus : cpus;
            sockets = sockets > 0 ? sockets : 1;
            if (cores == 0) {
                threads = threads > 0 ? threads : 1;
                cores = Math.max(1, maxCpus / (sockets * threads));
            } else if (threads == 0) {
                threads = Math.max(1, maxCpus / (sockets * cores));
            }
        }
        int total = sockets * cores * threads;
        maxCpus = maxCpus > 0 ? maxCpus : total;
        cpus = cpus > 0 ? cpus : maxCpus;
        return new CpuTopology(cpus, sockets, cores, threads, maxCpus);
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
