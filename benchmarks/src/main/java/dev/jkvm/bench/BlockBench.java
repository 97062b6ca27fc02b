package dev.jkvm.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * virtio-blk throughput, jkvm and QEMU side by side in one run, on a raw image file.
 *
 * <p>The load comes from the test guest's {@code blk-bench} test (guest/tests/blk_bench.c), a
 * polling virtio-blk driver that keeps {@code qd} requests in flight without interrupts. The guest
 * prints {@code BENCH-START} right before its first request and {@code BENCH-END ops=N bytes=M
 * errors=E} after its last completion; this harness times those two lines from the host (the
 * guest's TSC is not calibrated), so VMM start-up and guest boot are not counted.
 *
 * <p>Per row (cache mode x workload) it writes a fresh image fully (reads of unwritten blocks would
 * cost the host nothing), warms the page cache for cache=writeback, picks a fixed operation count
 * from a jkvm probe run so that a run takes about {@code blk.seconds}, then runs every VMM variant
 * {@code blk.reps} times, alternating the variants and rotating their order every repetition, with
 * an fsync of the image after every run (outside the timed window) so that one run's dirty pages
 * are not written back during the next. Prints one line per row and variant:
 * <pre>
 * BENCH blk vmm=jkvm cache=none aio=threads mode=randread bs=4096 qd=32 iops=... mbps=... ratio_vs_qemu_threads=... ...
 * </pre>
 * (medians; mbps is 10^6 bytes per second) and a Markdown table at the end.
 *
 * <p>Usage: {@code BlockBench ROOT [FILTER...]} where each FILTER word is {@code key=v1|v2} over
 * the keys vmm, aio, cache, mode, bs, qd (all words must match). System properties:
 * blk.reps (5), blk.seconds (3), blk.warmup (0.5: untimed requests before each timed run, as a fraction of its count), blk.imageMiB (1024), blk.dir (/tmp), blk.caches (none,writeback),
 * blk.workloads (randread:4096:1,randread:4096:32,randwrite:4096:1,randwrite:4096:32,read:1048576:8,write:1048576:8),
 * blk.ops (fixed operation count for every row instead of the probe), blk.timeout (seconds per run, 180),
 * blk.quietCpu (0.15) and blk.quietWait (600): before each run, wait until other processes use less CPU than that,
 * blk.maxOtherCpu (0.3) and blk.retries (2): repeat a run during which other processes used more CPU than that,
 * blk.launcher (snapshot): run a frozen copy of cli/target/jkvm.jar with ./jkvm's java options, or "script" for ./jkvm.
 */
public final class BlockBench {
    private static final Pattern END = Pattern.compile("BENCH-END ops=(\\d+) bytes=(\\d+) errors=(\\d+)");
    private static final Pattern KICKS = Pattern.compile("BENCH-STATS kicks=(\\d+) kicks_saved=(\\d+)");

    record Workload(String mode, int bs, int qd) {
        String key() {
            return "mode=" + mode + " bs=" + bs + " qd=" + qd;
        }

        boolean big() {
            return bs >= 65536;
        }
    }

    record Variant(String vmm, String aio) {
        String key() {
            return "vmm=" + vmm + " aio=" + aio;
        }

        String label() {
            return (vmm.equals("jkvm") ? "jkvm" : "QEMU") + " " + aio;
        }
    }

    static final Variant JKVM_THREADS = new Variant("jkvm", "threads");
    static final Variant JKVM_URING = new Variant("jkvm", "io_uring");
    static final Variant QEMU_THREADS = new Variant("qemu", "threads");
    static final Variant QEMU_URING = new Variant("qemu", "io_uring");
    static final List<Variant> VARIANTS = List.of(JKVM_THREADS, JKVM_URING, QEMU_THREADS, QEMU_URING);

    /** One timed run. */
    record Run(double seconds, long ops, long bytes, long errors, long kicks, double vmmCpu, double otherCpu) {
        double iops() {
            return ops / seconds;
        }

        double mbps() {
            return bytes / seconds / 1e6;
        }
    }

    /** Why a run did not produce a result. */
    static final class RunFailed extends Exception {
        final boolean unsupported;

        RunFailed(String message, boolean unsupported) {
            super(message);
            this.unsupported = unsupported;
        }
    }

    record Summary(Variant variant, int runs, double iops, double mbps, double minIops, double maxIops, double kicksPerOp,
                   double vmmCpu, double otherCpu) {
    }

    private final Path root;
    private Path elf;
    /** The java command that runs the jkvm snapshot, or null to run ./jkvm itself. */
    private List<String> jkvmJava;
    private Path snapshotDir;
    private final Map<String, List<String>> filter;
    private final int reps = Integer.getInteger("blk.reps", 5);
    private final double seconds = Double.parseDouble(System.getProperty("blk.seconds", "3"));
    /**
     * Untimed requests before each timed run, as a fraction of its operation count (the guest's
     * bench.warmup): jkvm's JIT compiles the request path during the first second or so, and a
     * VMM that runs for hours only sees the compiled path. Both VMMs run the same guest command.
     */
    private final double warmupFraction = Double.parseDouble(System.getProperty("blk.warmup", "0.5"));
    private final long imageMiB = Long.getLong("blk.imageMiB", 1024);
    private final Path dir = Path.of(System.getProperty("blk.dir", "/tmp"));
    private final long fixedOps = Long.getLong("blk.ops", 0);
    private final long timeoutSeconds = Long.getLong("blk.timeout", 180);
    /** A run during which other processes used more CPU than this is repeated (up to blk.retries times). */
    private final double maxOtherCpu = Double.parseDouble(System.getProperty("blk.maxOtherCpu", "0.3"));
    private final int maxRetries = Integer.getInteger("blk.retries", 2);
    private final Map<Variant, String> unsupported = new LinkedHashMap<>();
    private volatile Path currentImage;
    private final List<String> table = new ArrayList<>();

    private BlockBench(Path root, Map<String, List<String>> filter) {
        this.root = root;
        this.elf = root.resolve("guest/build/testguest.elf");
        this.filter = filter;
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        Map<String, List<String>> filter = new LinkedHashMap<>();
        for (int i = 1; i < args.length; i++) {
            for (String word : args[i].trim().split("\\s+")) {
                if (word.isEmpty()) {
                    continue;
                }
                int eq = word.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("filter word '" + word + "' is not key=value (keys: vmm aio cache mode bs qd)");
                }
                filter.put(word.substring(0, eq), List.of(word.substring(eq + 1).split("\\|")));
            }
        }
        BlockBench bench = new BlockBench(root, filter);
        // On Ctrl-C / SIGTERM: stop the VMM this harness started and remove the image.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            ProcessHandle.current().descendants().forEach(ProcessHandle::destroy);
            bench.deleteSnapshot();
            Path image = bench.currentImage;
            if (image != null) {
                try {
                    Files.deleteIfExists(image);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }));
        bench.run();
    }

    private void run() throws Exception {
        if (!Files.isRegularFile(elf)) {
            throw new IllegalStateException(elf + " is missing; run scripts/build first");
        }
        snapshot();
        List<String> caches = List.of(System.getProperty("blk.caches", "none,writeback").split(","));
        List<Workload> workloads = new ArrayList<>();
        for (String w : System.getProperty("blk.workloads",
                "randread:4096:1,randread:4096:32,randwrite:4096:1,randwrite:4096:32,read:1048576:8,write:1048576:8").split(",")) {
            String[] p = w.split(":");
            workloads.add(new Workload(p[0], Integer.parseInt(p[1]), Integer.parseInt(p[2])));
        }
        System.out.printf(Locale.ROOT, "# blk bench: image %d MiB in %s, %d reps, ~%.1f s per run, %s, host %s%n",
                imageMiB, dir, reps, seconds, qemuVersion(), hostInfo());
        table.add("| cache | workload | jkvm threads | jkvm io_uring | QEMU threads | QEMU io_uring | jkvm thr / QEMU thr | jkvm uring / QEMU uring "
                + "| best jkvm / best QEMU | min-max: jkvm thr; jkvm uring; QEMU thr; QEMU uring |");
        table.add("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for (String cache : caches) {
            for (Workload w : workloads) {
                List<Variant> selected = new ArrayList<>();
                for (Variant v : VARIANTS) {
                    if (matches(v, cache, w)) {
                        selected.add(v);
                    }
                }
                if (!selected.isEmpty()) {
                    row(cache, w, selected);
                }
            }
        }
        for (Map.Entry<Variant, String> e : unsupported.entrySet()) {
            System.out.println("# skipped " + e.getKey().key() + ": " + e.getValue());
        }
        System.out.println("# table (IOPS for 4 KiB rows, MB/s for 1 MiB rows; medians)");
        table.forEach(System.out::println);
        deleteSnapshot();
    }

    private boolean matches(Variant v, String cache, Workload w) {
        Map<String, String> cell = Map.of("vmm", v.vmm(), "aio", v.aio(), "cache", cache, "mode", w.mode(),
                "bs", Integer.toString(w.bs()), "qd", Integer.toString(w.qd()));
        for (Map.Entry<String, List<String>> f : filter.entrySet()) {
            String have = cell.get(f.getKey());
            if (have == null) {
                throw new IllegalArgumentException("unknown filter key " + f.getKey() + " (vmm aio cache mode bs qd)");
            }
            if (!f.getValue().contains(have)) {
                return false;
            }
        }
        return true;
    }

    // ---- one row ----

    private void row(String cache, Workload w, List<Variant> selected) throws Exception {
        Path image = dir.resolve("jkvm-blk-bench-" + ProcessHandle.current().pid() + ".img");
        currentImage = image;
        try {
            long t = System.nanoTime();
            createImage(image, imageMiB << 20, cache.equals("writeback"));
            System.out.printf(Locale.ROOT, "# row cache=%s %s: image written%s in %.1f s%n", cache, w.key(),
                    cache.equals("writeback") ? " and read back (page cache warm)" : "", (System.nanoTime() - t) / 1e9);
            List<Variant> active = new ArrayList<>();
            for (Variant v : selected) {
                if (!unsupported.containsKey(v)) {
                    active.add(v);
                }
            }
            long ops = fixedOps > 0 ? fixedOps : calibrate(image, cache, w, active);
            Map<Variant, List<Run>> runs = new LinkedHashMap<>();
            for (int rep = 0; rep < reps; rep++) {
                for (int k = 0; k < active.size(); k++) {
                    Variant v = active.get((k + rep) % active.size());
                    if (unsupported.containsKey(v)) {
                        continue;
                    }
                    try {
                        Run r = runOnce(v, image, cache, w, ops);
                        for (int retry = 0; retry < maxRetries && r.otherCpu() > maxOtherCpu; retry++) {
                            System.out.printf(Locale.ROOT, "# run %d %s discarded: other processes used %.2f CPUs during it (%.0f IOPS); again%n",
                                    rep + 1, v.key(), r.otherCpu(), r.iops());
                            sync(image);
                            r = runOnce(v, image, cache, w, ops);
                        }
                        runs.computeIfAbsent(v, x -> new ArrayList<>()).add(r);
                        System.out.printf(Locale.ROOT, "# run %d %s cache=%s %s ops=%d s=%.3f iops=%.0f mbps=%.1f kicks_per_op=%.3f vmm_cpus=%.2f other_cpus=%.2f%n",
                                rep + 1, v.key(), cache, w.key(), r.ops(), r.seconds(), r.iops(), r.mbps(), (double) r.kicks() / r.ops(),
                                r.vmmCpu(), r.otherCpu());
                    } catch (RunFailed e) {
                        if (e.unsupported) {
                            unsupported.put(v, e.getMessage());
                            System.out.println("# " + v.key() + " not available, skipped from now on: " + e.getMessage());
                        } else {
                            System.out.println("# run " + (rep + 1) + " " + v.key() + " FAILED: " + e.getMessage());
                        }
                    }
                    sync(image);
                }
            }
            report(cache, w, ops, runs);
        } finally {
            Files.deleteIfExists(image);
            currentImage = null;
        }
    }

    /** A jkvm (or first available variant) probe that grows until it takes 0.5 s; scaled to the target time. */
    private long calibrate(Path image, String cache, Workload w, List<Variant> active) throws Exception {
        long ops = w.big() ? 200 : 2000;
        for (Variant v : active) {
            try {
                for (int i = 0; i < 8; i++) {
                    Run r = runOnce(v, image, cache, w, ops);
                    sync(image);
                    if (r.seconds() >= 0.5 || i == 7) {
                        long target = (long) (ops * seconds / r.seconds());
                        long rounded = round2(Math.max(target, 100));
                        System.out.printf(Locale.ROOT, "# probe %s: %d ops in %.3f s -> %d ops per run%n", v.key(), ops, r.seconds(), rounded);
                        return rounded;
                    }
                    ops *= Math.max(2, Math.min(8, (long) Math.ceil(0.6 / Math.max(r.seconds(), 0.01))));
                }
            } catch (RunFailed e) {
                if (e.unsupported) {
                    unsupported.put(v, e.getMessage());
                    System.out.println("# " + v.key() + " not available, skipped from now on: " + e.getMessage());
                } else {
                    throw new IllegalStateException("probe run failed: " + e.getMessage());
                }
            }
        }
        throw new IllegalStateException("no VMM variant could run the probe");
    }

    /** Rounds to two significant digits. */
    private static long round2(long v) {
        long scale = 1;
        while (v / scale >= 100) {
            scale *= 10;
        }
        return Math.round((double) v / scale) * scale;
    }

    private void report(String cache, Workload w, long ops, Map<Variant, List<Run>> runs) {
        Map<Variant, Summary> s = new LinkedHashMap<>();
        for (Map.Entry<Variant, List<Run>> e : runs.entrySet()) {
            List<Run> rs = e.getValue();
            double[] iops = rs.stream().mapToDouble(Run::iops).toArray();
            double[] mbps = rs.stream().mapToDouble(Run::mbps).toArray();
            double[] kicks = rs.stream().mapToDouble(r -> (double) r.kicks() / r.ops()).toArray();
            s.put(e.getKey(), new Summary(e.getKey(), rs.size(), median(iops), median(mbps),
                    Arrays.stream(iops).min().orElse(0), Arrays.stream(iops).max().orElse(0), median(kicks),
                    median(rs.stream().mapToDouble(Run::vmmCpu).toArray()), median(rs.stream().mapToDouble(Run::otherCpu).toArray())));
        }
        for (Summary x : s.values()) {
            Variant v = x.variant();
            StringBuilder line = new StringBuilder();
            line.append(String.format(Locale.ROOT, "BENCH blk vmm=%s cache=%s aio=%s mode=%s bs=%d qd=%d iops=%.0f mbps=%.1f",
                    v.vmm(), cache, v.aio(), w.mode(), w.bs(), w.qd(), x.iops(), x.mbps()));
            line.append(" ratio_vs_qemu_threads=").append(ratio(x, s.get(QEMU_THREADS)));
            line.append(" ratio_vs_qemu_io_uring=").append(ratio(x, s.get(QEMU_URING)));
            line.append(String.format(Locale.ROOT, " runs=%d ops=%d min_iops=%.0f max_iops=%.0f spread_pct=%.1f kicks_per_op=%.3f vmm_cpus=%.2f other_cpus=%.2f",
                    x.runs(), ops, x.minIops(), x.maxIops(), x.iops() > 0 ? 100 * (x.maxIops() - x.minIops()) / x.iops() : 0, x.kicksPerOp(),
                    x.vmmCpu(), x.otherCpu()));
            System.out.println(line);
        }
        String unit = w.big() ? "MB/s" : "IOPS";
        String name = (w.mode().startsWith("rand") ? w.mode() + " " + (w.bs() / 1024) + " KiB" : "seq " + w.mode() + " " + (w.bs() >> 20) + " MiB")
                + " QD" + w.qd() + " (" + unit + ")";
        Summary jt = s.get(JKVM_THREADS);
        Summary ju = s.get(JKVM_URING);
        Summary qt = s.get(QEMU_THREADS);
        Summary qu = s.get(QEMU_URING);
        table.add(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s; %s; %s; %s |", cache, name,
                value(jt, w), value(ju, w), value(qt, w), value(qu, w), ratio(jt, qt), ratio(ju, qu),
                ratio(best(jt, ju), best(qt, qu)), range(jt, w), range(ju, w), range(qt, w), range(qu, w)));
    }

    private static Summary best(Summary a, Summary b) {
        return a == null ? b : b == null ? a : a.iops() >= b.iops() ? a : b;
    }

    private static String value(Summary x, Workload w) {
        if (x == null) {
            return "-";
        }
        return w.big() ? String.format(Locale.ROOT, "%.0f", x.mbps()) : String.format(Locale.ROOT, "%.0f", x.iops());
    }

    private static String range(Summary x, Workload w) {
        if (x == null) {
            return "-";
        }
        double f = w.big() ? (double) w.bs() / 1e6 : 1;
        return String.format(Locale.ROOT, "%.0f-%.0f", x.minIops() * f, x.maxIops() * f);
    }

    private static String ratio(Summary x, Summary base) {
        if (x == null || base == null || base.iops() <= 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.3f", x.iops() / base.iops());
    }

    /**
     * Freezes what is measured. Other engineers edit the sources while a run of this harness takes
     * an hour or more, and ./jkvm rebuilds itself whenever a source is newer than its jar, so runs
     * would measure different builds (or wait for a build). Unless blk.launcher=script, the harness
     * copies cli/target/jkvm.jar and the guest ELF into a temporary directory, trains an AOT cache
     * for the copy exactly as scripts/build does, and runs the copy with the java options ./jkvm
     * uses. Both VMMs boot the copied ELF.
     */
    private void snapshot() throws IOException, InterruptedException {
        snapshotDir = Files.createTempDirectory("jkvm-blk-bench-");
        Path guest = snapshotDir.resolve("testguest.elf");
        Files.copy(elf, guest);
        elf = guest;
        if (System.getProperty("blk.launcher", "snapshot").equals("script")) {
            System.out.println("# jkvm: ./jkvm (rebuilds itself when sources change)");
            return;
        }
        Path jar = snapshotDir.resolve("jkvm.jar");
        Path aot = snapshotDir.resolve("jkvm.aot");
        Files.copy(root.resolve("cli/target/jkvm.jar"), jar);
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> train = List.of(java, "-XX:+UseSerialGC", "-Xss512k", "-XX:AOTCacheOutput=" + aot, "-Xlog:aot=off",
                "-Xlog:cds=off", "-jar", jar.toString(), "-kernel", guest.toString(), "-append", "tests=serial", "-serial", "null",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1");
        Process p = new ProcessBuilder(train).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor(300, TimeUnit.SECONDS);
        jkvmJava = new ArrayList<>(List.of(java, "-XX:+UseSerialGC", "-Xss512k", "-XX:TieredStopAtLevel=4"));
        if (Files.isRegularFile(aot)) {
            jkvmJava.addAll(List.of("-XX:AOTCache=" + aot, "-Xlog:aot=off", "-Xlog:cds=off"));
        }
        jkvmJava.addAll(List.of("-jar", jar.toString()));
        System.out.println("# jkvm: snapshot of cli/target/jkvm.jar (" + Files.getLastModifiedTime(root.resolve("cli/target/jkvm.jar"))
                + ") run as: " + String.join(" ", jkvmJava) + (Files.isRegularFile(aot) ? "" : " (AOT training failed)"));
    }

    private void deleteSnapshot() {
        if (snapshotDir == null) {
            return;
        }
        try (var files = Files.list(snapshotDir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(snapshotDir);
        } catch (IOException ignored) {
            // best effort
        }
    }

    // ---- one VMM run ----

    private List<String> command(Variant v, Path image, String cache, Workload w, long ops) {
        String append = "tests=blk-bench bench.mode=" + w.mode() + " bench.bs=" + w.bs() + " bench.qd=" + w.qd() + " bench.ops=" + ops
                + " bench.warmup=" + Math.round(ops * warmupFraction);
        String drive = "file=" + image + ",if=none,id=d0,format=raw,cache=" + cache;
        List<String> cmd = new ArrayList<>();
        if (v.vmm().equals("jkvm")) {
            if (jkvmJava != null) {
                cmd.addAll(jkvmJava);
            } else {
                cmd.add(root.resolve("jkvm").toString());
            }
            cmd.addAll(List.of("-m", "256M", "-smp", "2", "-kernel", elf.toString(),
                    "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1"));
            if (!v.aio().equals("threads")) {
                drive += ",aio=" + v.aio();
            }
        } else {
            cmd.addAll(List.of("qemu-system-x86_64", "-enable-kvm", "-machine", "pc", "-m", "256M", "-smp", "2",
                    "-nographic", "-no-reboot", "-nic", "none", "-kernel", elf.toString(),
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=1"));
            drive += ",aio=" + v.aio();
        }
        cmd.addAll(List.of("-drive", drive, "-device", "virtio-blk-pci,drive=d0,num-queues=1", "-append", append));
        return cmd;
    }

    private Run runOnce(Variant v, Path image, String cache, Workload w, long ops) throws IOException, InterruptedException, RunFailed {
        waitForQuiet();
        List<String> cmd = command(v, image, cache, w, ops);
        Path err = Files.createTempFile("blk-bench", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            InputStream in = p.getInputStream();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            long lineStart = 0;
            long start = -1;
            long end = -1;
            String endLine = null;
            String statsLine = null;
            CpuSample cpuAtStart = null;
            CpuSample cpuAtEnd = null;
            byte[] buf = new byte[4096];
            int n;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
            Thread watchdog = Thread.ofPlatform().daemon(true).start(() -> {
                try {
                    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                    }
                } catch (InterruptedException ignored) {
                    // the run finished first
                }
            });
            while ((n = in.read(buf)) > 0) {
                long now = System.nanoTime();
                all.write(buf, 0, n);
                for (int i = 0; i < n; i++) {
                    byte b = buf[i];
                    if (line.size() == 0) {
                        lineStart = now;
                    }
                    if (b == '\n') {
                        String s = line.toString(StandardCharsets.ISO_8859_1).replace("\r", "");
                        // BENCH-START: the guest submits right after its newline. BENCH-END: its
                        // first byte follows the last completion.
                        if (s.endsWith("BENCH-START")) {
                            start = now;
                            cpuAtStart = CpuSample.take(p.pid());
                        } else if (s.startsWith("BENCH-END")) {
                            end = lineStart;
                            endLine = s;
                            cpuAtEnd = CpuSample.take(p.pid());
                        } else if (s.startsWith("BENCH-STATS")) {
                            statsLine = s;
                        }
                        line.reset();
                    } else {
                        line.write(b);
                    }
                }
            }
            watchdog.interrupt();
            boolean timedOut = System.nanoTime() > deadline;
            p.waitFor(30, TimeUnit.SECONDS);
            String out = all.toString(StandardCharsets.ISO_8859_1);
            String errText = Files.readString(err, StandardCharsets.ISO_8859_1);
            if (errText.contains("not supported yet") || errText.contains("io_uring") && !out.contains("BENCH-START")) {
                throw new RunFailed(firstLine(errText), true);
            }
            if (timedOut) {
                throw new RunFailed("timed out after " + timeoutSeconds + " s: " + tail(out), false);
            }
            if (start < 0 || end < 0 || endLine == null) {
                throw new RunFailed("no BENCH-START/BENCH-END (exit " + p.exitValue() + "): " + tail(out) + " " + firstLine(errText), false);
            }
            if (!out.contains("RESULT 1 passed, 0 failed")) {
                throw new RunFailed("guest test failed: " + tail(out), false);
            }
            Matcher m = END.matcher(endLine);
            if (!m.find()) {
                throw new RunFailed("bad BENCH-END line: " + endLine, false);
            }
            long kicks = 0;
            if (statsLine != null) {
                Matcher k = KICKS.matcher(statsLine);
                if (k.find()) {
                    kicks = Long.parseLong(k.group(1));
                }
            }
            double vmmCpu = CpuSample.vmmCpus(cpuAtStart, cpuAtEnd);
            double otherCpu = CpuSample.otherCpus(cpuAtStart, cpuAtEnd);
            return new Run((end - start) / 1e9, Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)), kicks,
                    vmmCpu, otherCpu);
        } finally {
            Files.deleteIfExists(err);
        }
    }

    private static String firstLine(String s) {
        for (String l : s.split("\n")) {
            if (!l.isBlank() && !l.contains("host doesn't support requested feature")) {
                return l.strip();
            }
        }
        return s.strip();
    }

    private static String tail(String s) {
        String t = s.replace("\r", "").strip();
        return t.length() > 600 ? "..." + t.substring(t.length() - 600) : t;
    }

    /**
     * Waits (up to blk.quietWait seconds, default 600) until other processes use less than
     * blk.quietCpu (default 0.15) of a CPU over one second: this benchmark needs both host CPUs
     * (a polling vCPU and the device's threads) and anything else running distorts it.
     */
    private void waitForQuiet() throws InterruptedException {
        double limit = Double.parseDouble(System.getProperty("blk.quietCpu", "0.15"));
        long maxWait = Long.getLong("blk.quietWait", 600);
        long t0 = System.nanoTime();
        double busy = 0;
        while (true) {
            CpuSample a = CpuSample.take(-1);
            Thread.sleep(1000);
            CpuSample b = CpuSample.take(-1);
            busy = CpuSample.otherCpus(a, b);
            if (busy < limit) {
                break;
            }
            if (System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(maxWait)) {
                System.out.printf(Locale.ROOT, "# machine still busy (%.2f CPUs used by others) after %d s, running anyway%n", busy, maxWait);
                return;
            }
        }
        double waited = (System.nanoTime() - t0) / 1e9;
        if (waited > 3) {
            System.out.printf(Locale.ROOT, "# waited %.0f s for a quiet machine%n", waited);
        }
    }

    /** Host CPU time (/proc/stat, all CPUs) and one process's CPU time (/proc/PID/stat), in clock ticks. */
    record CpuSample(long nanos, long busyTicks, long procTicks) {
        static final double TICK = 0.01;    // USER_HZ is 100 on Linux

        static CpuSample take(long pid) {
            long busy = 0;
            long proc = 0;
            try {
                String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
                // cpu user nice system idle iowait irq softirq (steal, guest: not counted): busy = all but idle and iowait
                for (int i = 1; i < f.length && i <= 7; i++) {
                    if (i != 4 && i != 5) {
                        busy += Long.parseLong(f[i]);
                    }
                }
                if (pid > 0) {
                    String st = Files.readString(Path.of("/proc/" + pid + "/stat"));
                    String[] g = st.substring(st.lastIndexOf(')') + 2).split(" ");
                    proc = Long.parseLong(g[11]) + Long.parseLong(g[12]);     // utime, stime (fields 14, 15)
                }
            } catch (IOException | RuntimeException e) {
                return null;
            }
            return new CpuSample(System.nanoTime(), busy, proc);
        }

        /** CPUs (1.0 = one CPU busy all the time) the process used between a and b. */
        static double vmmCpus(CpuSample a, CpuSample b) {
            if (a == null || b == null || b.nanos <= a.nanos) {
                return -1;
            }
            return (b.procTicks - a.procTicks) * TICK / ((b.nanos - a.nanos) / 1e9);
        }

        /** CPUs everything else used between a and b. */
        static double otherCpus(CpuSample a, CpuSample b) {
            if (a == null || b == null || b.nanos <= a.nanos) {
                return -1;
            }
            return ((b.busyTicks - a.busyTicks) - (b.procTicks - a.procTicks)) * TICK / ((b.nanos - a.nanos) / 1e9);
        }
    }

    // ---- image ----

    /**
     * Writes the whole image with pseudo-random data (no holes, no unwritten extents, nothing a
     * zero-detecting layer could skip) and fsyncs it; for cache=writeback also reads it once so
     * every block is in the host page cache before the first run.
     */
    private static void createImage(Path image, long bytes, boolean warm) throws IOException {
        Files.deleteIfExists(image);
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        SplittableRandom rnd = new SplittableRandom(0x6a09e667f3bcc908L);
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
            for (long off = 0; off < bytes; off += buf.capacity()) {
                buf.clear();
                while (buf.hasRemaining()) {
                    buf.putLong(rnd.nextLong());
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf, off + buf.position());
                }
            }
            ch.force(true);
            if (warm) {
                for (long off = 0; off < bytes; off += buf.capacity()) {
                    buf.clear();
                    while (buf.hasRemaining() && ch.read(buf, off + buf.position()) > 0) {
                        // read it all
                    }
                }
            }
        }
    }

    private static void sync(Path image) throws IOException {
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    // ---- helpers ----

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length == 0 ? 0 : v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static String qemuVersion() {
        try {
            Process p = new ProcessBuilder("qemu-system-x86_64", "--version").redirectErrorStream(true).start();
            String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            return firstLine(s);
        } catch (IOException | InterruptedException e) {
            return "qemu not found";
        }
    }

    private static String hostInfo() {
        return Runtime.getRuntime().availableProcessors() + " cpus, kernel " + System.getProperty("os.version");
    }
}
