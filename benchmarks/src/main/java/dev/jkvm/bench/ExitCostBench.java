package dev.jkvm.bench;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.ExitStatus;
import dev.jkvm.vmm.Vm;
import dev.jkvm.vmm.boot.X86BootCpu;
import dev.jkvm.vmm.device.BusDevice;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cost of one guest exit through jkvm's real exit path (Vm, VcpuRunner, DeviceBus, a BusDevice)
 * next to the cheapest C loop over KVM_RUN (benchmarks/src/main/c/exit-floor.c), both running the
 * same guest bytes, alternated in one run so that both see the same machine weather.
 *
 * <p>Per round and per exit kind (PIO, MMIO) it runs the C floor once and jkvm once, in an order
 * that flips every round; after the rounds it prints, per kind, the medians and their ratio:
 * <pre>
 * BENCH exit-cost kind=pio jkvm_ns=... c_ns=... ratio=...        (wall-clock time per exit)
 * BENCH exit-cost-cpu kind=pio jkvm_ns=... c_ns=... ratio=...    (CPU time of the vCPU thread per exit)
 * </pre>
 * and, as # lines, each round, the median of the per-round ratios, and their geometric mean with
 * a 95% confidence interval, which says whether the run could tell a ratio from, say, 1.05.
 *
 * <p>Wall clock: jkvm's time runs from just before {@link Vm#start()} to the guest's final
 * {@code out} to the stop port, whose device takes the time stamp and calls {@link Vm#requestStop};
 * that includes starting the vCPU thread, which is noise next to 50k exits. C's time runs from
 * just before its first KVM_RUN to the return of the last one. Both are divided by the exits made
 * (N + 1). CPU time: the vCPU thread's own CPU time over the same exits, which leaves out the time
 * other processes held the CPU; on a machine shared with builds and tests it is the steadier number.
 *
 * <p>Options: {@code --rounds R} (31), {@code --exits N} (50000), {@code --warmup W} (2 rounds
 * of each side, at least 200k exits each, not counted), {@code --root DIR} (the repository, to
 * find and build the C floor; default: system property jkvm.root or the working directory),
 * {@code --floor PATH} (a prebuilt exit-floor), {@code --kinds pio,mmio}, {@code --c-args ARGS}
 * (extra arguments for the C floor, e.g. "--irqchip --sigmask"), {@code --matched} (also run the
 * C floor with jkvm's VM configuration: in-kernel irqchip, PIT and a KVM signal mask, printed as
 * kind=pio-matched etc.), {@code --jkvm-only} (run only jkvm, rounds + warm-up times, for
 * profiling; prints no BENCH line).
 */
public final class ExitCostBench {
    static final int NOISE_PORT = 0x80;
    static final int STOP_PORT = 0xf4;
    static final long MMIO_BASE = 0xd000_0000L;
    static final long RAM_BYTES = 16L << 20;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private ExitCostBench() {
    }

    /**
     * One run's result.
     *
     * @param wallNs         wall-clock ns per exit
     * @param cpuNs          CPU ns per exit of the thread that ran KVM_RUN
     * @param allocPerExit   heap bytes the vCPU thread allocated per exit (jkvm only; NaN for C)
     */
    record Sample(double wallNs, double cpuNs, double allocPerExit) {
    }

    // ---- devices on jkvm's buses; they run on the vCPU thread ----

    /** Notes the vCPU thread's CPU time and allocation at the first loop exit. */
    abstract static class FirstExitProbe {
        long cpuAtFirst;
        long allocatedAtFirst;

        final void firstExit() {
            cpuAtFirst = THREADS.getCurrentThreadCpuTime();
            allocatedAtFirst = THREADS.getCurrentThreadAllocatedBytes();
        }
    }

    /** The port the guest loop writes to: does nothing but count. */
    static final class CountingPort extends FirstExitProbe implements BusDevice {
        long writes;

        @Override
        public long read(long offset, int size) {
            return 0xff;
        }

        @Override
        public void write(long offset, int size, long value) {
            if (writes++ == 0) {
                firstExit();
            }
        }
    }

    /** The MMIO window the guest loop reads from: answers zero and counts. */
    static final class CountingMmio extends FirstExitProbe implements BusDevice {
        long reads;

        @Override
        public long read(long offset, int size) {
            if (reads++ == 0) {
                firstExit();
            }
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {
        }
    }

    /** Like isa-debug-exit: stamps the time and stops the VM. */
    static final class StopPort implements BusDevice {
        private final Vm vm;
        long stoppedAt;
        long cpuAtStop;
        long allocatedAtStop;

        StopPort(Vm vm) {
            this.vm = vm;
        }

        @Override
        public long read(long offset, int size) {
            return 0xff;
        }

        @Override
        public void write(long offset, int size, long value) {
            stoppedAt = System.nanoTime();
            cpuAtStop = THREADS.getCurrentThreadCpuTime();
            allocatedAtStop = THREADS.getCurrentThreadAllocatedBytes();
            vm.requestStop(ExitStatus.debugExit(value));
        }
    }

    // ---- one measurement each ----

    /** One jkvm VM making {@code exits} loop exits plus the stop exit. */
    static Sample runJkvm(ExitKind kind, int exits) throws InterruptedException {
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(RAM_BYTES);
        try (GuestRam ram = GuestRam.allocate(layout.ramSize(), RamOptions.DEFAULT)) {
            GuestMemory memory = GuestMemory.of(ram, layout);
            byte[] code = GuestProgram.exitLoop(kind, exits, NOISE_PORT, MMIO_BASE, STOP_PORT);
            memory.write(GuestProgram.ENTRY, code, 0, code.length);
            try (Vm vm = Vm.create(memory, new int[] {0})) {
                CountingPort noise = new CountingPort();
                CountingMmio window = new CountingMmio();
                StopPort stop = new StopPort(vm);
                vm.pio().register(NOISE_PORT, 1, "bench-noise", noise);
                vm.pio().register(STOP_PORT, 1, "bench-stop", stop);
                vm.mmio().register(MMIO_BASE, 0x1000, "bench-mmio", window);
                X86BootCpu.enterLongMode(vm.vcpus().get(0), memory, layout.topOfRam(), GuestProgram.ENTRY, 0);

                long start = System.nanoTime();
                vm.start();
                Optional<ExitStatus> status = vm.awaitExit(Duration.ofMinutes(5));
                if (status.isEmpty()) {
                    throw new IllegalStateException("jkvm " + kind.label() + " guest did not stop within 5 minutes");
                }
                if (status.get().reason() != ExitStatus.Reason.DEBUG_EXIT) {
                    throw new IllegalStateException("jkvm " + kind.label() + " guest stopped for another reason: " + status.get());
                }
                FirstExitProbe probe = kind == ExitKind.PIO ? noise : window;
                long seen = kind == ExitKind.PIO ? noise.writes : window.reads;
                if (seen != exits) {
                    throw new IllegalStateException("jkvm " + kind.label() + ": expected " + exits + " loop exits, devices saw " + seen);
                }
                // Between the first loop exit and the stop exit lie exactly `exits` KVM_RUN round trips.
                return new Sample((stop.stoppedAt - start) / (double) (exits + 1),
                        (stop.cpuAtStop - probe.cpuAtFirst) / (double) exits,
                        (stop.allocatedAtStop - probe.allocatedAtFirst) / (double) exits);
            }
        }
    }

    private static final Pattern FLOOR_OUTPUT = Pattern.compile("ns_per_exit=([0-9.]+) cpu_ns_per_exit=([0-9.]+)");

    /** One run of the C floor. */
    static Sample runFloor(Path floor, ExitKind kind, int exits, List<String> extraArgs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(floor.toString(), kind.label(), Integer.toString(exits)));
        cmd.addAll(extraArgs);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IllegalStateException(cmd + " did not finish");
        }
        String text = new String(out, StandardCharsets.UTF_8);
        Matcher m = FLOOR_OUTPUT.matcher(text);
        if (p.exitValue() != 0 || !m.find()) {
            throw new IllegalStateException(cmd + " failed (status " + p.exitValue() + "): " + text.strip());
        }
        return new Sample(Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)), Double.NaN);
    }

    // ---- building the C floor ----

    /** Compiles exit-floor.c into benchmarks/target/ unless the binary there is newer than the source. */
    static Path buildFloor(Path root) throws IOException, InterruptedException {
        Path source = root.resolve("benchmarks/src/main/c/exit-floor.c");
        Path binary = root.resolve("benchmarks/target/exit-floor");
        if (!Files.isRegularFile(source)) {
            throw new IllegalStateException(source + " not found; pass --root <repository> or -Djkvm.root=<repository>");
        }
        if (Files.isExecutable(binary) && Files.getLastModifiedTime(binary).compareTo(Files.getLastModifiedTime(source)) > 0) {
            return binary;
        }
        Files.createDirectories(binary.getParent());
        List<String> cmd = List.of(System.getenv().getOrDefault("CC", "gcc"), "-O2", "-Wall", "-Wextra", "-o", binary.toString(), source.toString());
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("building the C floor failed: " + String.join(" ", cmd));
        }
        return binary;
    }

    // ---- driver ----

    static double median(List<Double> xs) {
        double[] a = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = a.length;
        return n % 2 == 1 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
    }

    static double median(List<Sample> xs, ToDoubleFunction<Sample> f) {
        return median(xs.stream().map(s -> f.applyAsDouble(s)).toList());
    }

    private static String fmt(double ns) {
        return String.format(Locale.ROOT, "%.0f", ns);
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "?";
        }
    }

    /** Only jkvm, nothing else in the process's way: for profiling the exit path (perf, JFR). */
    private static void runJkvmOnly(List<ExitKind> kinds, int runs, int exits) throws InterruptedException {
        for (int r = 0; r < runs; r++) {
            for (ExitKind kind : kinds) {
                Sample s = runJkvm(kind, exits);
                System.out.printf(Locale.ROOT, "# jkvm-only run %d kind=%s jkvm_ns=%s jkvm_cpu_ns=%s vcpu_alloc_bytes_per_exit=%.3f%n",
                        r + 1, kind.label(), fmt(s.wallNs()), fmt(s.cpuNs()), s.allocPerExit());
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = 31;
        int exits = 50_000;
        int warmup = 2;
        Path root = Path.of(System.getProperty("jkvm.root", "."));
        Path floor = null;
        List<ExitKind> kinds = List.of(ExitKind.PIO, ExitKind.MMIO);
        List<String> cArgs = List.of();
        boolean matched = false;
        boolean jkvmOnly = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--exits" -> exits = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--root" -> root = Path.of(args[++i]);
                case "--floor" -> floor = Path.of(args[++i]);
                case "--kinds" -> kinds = Arrays.stream(args[++i].split(","))
                        .map(k -> ExitKind.valueOf(k.strip().toUpperCase(Locale.ROOT))).toList();
                case "--c-args" -> cArgs = Arrays.stream(args[++i].trim().split("\\s+")).filter(s -> !s.isEmpty()).toList();
                case "--matched" -> matched = true;
                case "--jkvm-only" -> jkvmOnly = true;
                case "-h", "--help" -> {
                    System.out.println("usage: ExitCostBench [--rounds R] [--exits N] [--warmup W] [--root DIR] [--floor PATH]"
                            + " [--kinds pio,mmio] [--c-args ARGS] [--matched] [--jkvm-only]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + a + " (try --help)");
            }
        }
        if (rounds < 1 || exits < 1 || warmup < 0) {
            throw new IllegalArgumentException("--rounds and --exits must be positive, --warmup not negative");
        }
        if (jkvmOnly) {
            runJkvmOnly(kinds, rounds + warmup, exits);
            return;
        }
        if (floor == null) {
            floor = buildFloor(root.toAbsolutePath().normalize());
        }
        List<String> matchedArgs = List.of("--irqchip", "--sigmask");

        System.out.printf(Locale.ROOT, "# exit-cost: %d rounds x %d exits, %d warm-up round(s); java %s; C floor %s; load average %s%n",
                rounds, exits, warmup, Runtime.version(), String.join(" ", List.of(floor.toString(), String.join(" ", cArgs))).strip(),
                loadAverage());
        // Warm-up runs are at least 200k exits long, so that C2 has compiled the exit path (and
        // settled after its first deoptimisations) before anything is counted.
        int warmupExits = Math.max(exits, 200_000);
        for (int w = 0; w < warmup; w++) {
            for (ExitKind kind : kinds) {
                Sample j = runJkvm(kind, warmupExits);
                Sample c = runFloor(floor, kind, warmupExits, cArgs);
                System.out.printf(Locale.ROOT, "# warm-up kind=%s jkvm_ns=%s c_ns=%s%n", kind.label(), fmt(j.wallNs()), fmt(c.wallNs()));
            }
        }

        Map<ExitKind, List<Sample>> jkvm = new EnumMap<>(ExitKind.class);
        Map<ExitKind, List<Sample>> c = new EnumMap<>(ExitKind.class);
        Map<ExitKind, List<Sample>> cMatched = new EnumMap<>(ExitKind.class);
        for (ExitKind kind : kinds) {
            jkvm.put(kind, new ArrayList<>());
            c.put(kind, new ArrayList<>());
            cMatched.put(kind, new ArrayList<>());
        }
        for (int r = 0; r < rounds; r++) {
            for (ExitKind kind : kinds) {
                // Alternate who goes first, so that a slow drift of the machine does not favour one side.
                Sample j;
                Sample f;
                Sample fm = null;
                if (r % 2 == 0) {
                    f = runFloor(floor, kind, exits, cArgs);
                    j = runJkvm(kind, exits);
                    if (matched) {
                        fm = runFloor(floor, kind, exits, matchedArgs);
                    }
                } else {
                    if (matched) {
                        fm = runFloor(floor, kind, exits, matchedArgs);
                    }
                    j = runJkvm(kind, exits);
                    f = runFloor(floor, kind, exits, cArgs);
                }
                jkvm.get(kind).add(j);
                c.get(kind).add(f);
                if (matched) {
                    cMatched.get(kind).add(fm);
                }
                System.out.printf(Locale.ROOT, "# round %d kind=%s jkvm_ns=%s c_ns=%s ratio=%.3f jkvm_cpu_ns=%s c_cpu_ns=%s cpu_ratio=%.3f"
                                + " vcpu_alloc_bytes_per_exit=%.3f%s%n",
                        r + 1, kind.label(), fmt(j.wallNs()), fmt(f.wallNs()), j.wallNs() / f.wallNs(),
                        fmt(j.cpuNs()), fmt(f.cpuNs()), j.cpuNs() / f.cpuNs(), j.allocPerExit(),
                        matched ? String.format(Locale.ROOT, " c_matched_ns=%s c_matched_cpu_ns=%s", fmt(fm.wallNs()), fmt(fm.cpuNs())) : "");
            }
        }
        System.out.printf(Locale.ROOT, "# load average at the end %s%n", loadAverage());
        for (ExitKind kind : kinds) {
            // Each round's two runs sit next to each other in time, so the median of their ratios is
            // less sensitive to the machine drifting over the run than the ratio of the medians.
            List<Double> wallRatios = new ArrayList<>();
            List<Double> cpuRatios = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                wallRatios.add(jkvm.get(kind).get(r).wallNs() / c.get(kind).get(r).wallNs());
                cpuRatios.add(jkvm.get(kind).get(r).cpuNs() / c.get(kind).get(r).cpuNs());
            }
            System.out.printf(Locale.ROOT, "# kind=%s median of per-round ratios: wall %.3f (min %.3f, max %.3f), cpu %.3f (min %.3f, max %.3f)%n",
                    kind.label(), median(wallRatios), min(wallRatios), max(wallRatios), median(cpuRatios), min(cpuRatios), max(cpuRatios));
            System.out.printf(Locale.ROOT, "# kind=%s geometric mean of per-round ratios with 95%% confidence interval: wall %s, cpu %s (n=%d)%n",
                    kind.label(), geoMeanInterval(wallRatios), geoMeanInterval(cpuRatios), rounds);
        }
        for (ExitKind kind : kinds) {
            double j = median(jkvm.get(kind), Sample::wallNs);
            double f = median(c.get(kind), Sample::wallNs);
            System.out.printf(Locale.ROOT, "BENCH exit-cost kind=%s jkvm_ns=%s c_ns=%s ratio=%.3f%n", kind.label(), fmt(j), fmt(f), j / f);
        }
        for (ExitKind kind : kinds) {
            double j = median(jkvm.get(kind), Sample::cpuNs);
            double f = median(c.get(kind), Sample::cpuNs);
            System.out.printf(Locale.ROOT, "BENCH exit-cost-cpu kind=%s jkvm_ns=%s c_ns=%s ratio=%.3f%n", kind.label(), fmt(j), fmt(f), j / f);
        }
        if (matched) {
            for (ExitKind kind : kinds) {
                double j = median(jkvm.get(kind), Sample::cpuNs);
                double f = median(cMatched.get(kind), Sample::cpuNs);
                System.out.printf(Locale.ROOT, "BENCH exit-cost-cpu kind=%s-matched jkvm_ns=%s c_ns=%s ratio=%.3f%n",
                        kind.label(), fmt(j), fmt(f), j / f);
            }
        }
    }

    /** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
    private static final double[] T975 = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
        2.056, 2.052, 2.048, 2.045, 2.042};

    /**
     * The geometric mean of paired ratios and its 95% confidence interval (a t interval on the log
     * ratios), e.g. "1.031 [0.998, 1.065]": when the interval holds 1.05, this run cannot tell
     * jkvm's overhead from 5%.
     */
    static String geoMeanInterval(List<Double> ratios) {
        int n = ratios.size();
        double[] logs = ratios.stream().mapToDouble(Math::log).toArray();
        double mean = Arrays.stream(logs).average().orElseThrow();
        if (n < 2) {
            return String.format(Locale.ROOT, "%.3f", Math.exp(mean));
        }
        double var = Arrays.stream(logs).map(x -> (x - mean) * (x - mean)).sum() / (n - 1);
        double t = n - 1 <= T975.length ? T975[n - 2] : 1.96;
        double half = t * Math.sqrt(var / n);
        return String.format(Locale.ROOT, "%.3f [%.3f, %.3f]", Math.exp(mean), Math.exp(mean - half), Math.exp(mean + half));
    }

    private static double min(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
    }

    private static double max(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
    }
}
