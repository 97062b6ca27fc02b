package dev.jkvm.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * virtio-net over tap, jkvm against QEMU's user-space virtio-net (vhost=off) in one run: packets per
 * second with 64-byte frames both ways, Gbit/s with 1514-byte frames both ways and with 64 KiB TSO
 * frames from the guest.
 *
 * <p>The load is the test guest's {@code net-bench} test (guest/tests/net_bench.c): a polling
 * virtio-net driver that keeps the transmit ring full of one prepared frame, or keeps every
 * receive buffer posted, for one phase after another in one boot; it ends a phase when the host
 * types a byte on its serial port. What is compared is counted on the host, identically for both
 * VMMs, from the tap's own counters over a window inside the phase:
 * <ul>
 *   <li>tx (guest to host): the tap's rx_packets / rx_bytes, counted by the kernel as the VMM
 *       writes each frame (a 64 KiB TSO frame counts once, with all its bytes). Frames go to the
 *       tap's address: UDP to port 9 (no listener: the kernel drops them, its ICMP replies are rate
 *       limited), or TCP to port 9 for TSO (each gets a RST).</li>
 *   <li>rx (host to guest): the tap's tx_packets / tx_bytes, which the kernel counts when the VMM
 *       reads a frame. The frames come from benchmarks/src/main/c/net-blast.c (an AF_PACKET socket
 *       on the tap, paced by those counters so that about 256 frames always wait in the tap's
 *       queue and none is dropped).</li>
 * </ul>
 * The guest's own frame count for the whole phase is printed next to the tap's for the same span
 * as a cross-check. Each VMM's CPU use in the window is split into the vCPU thread (it polls, so
 * about one CPU) and the rest (device threads, QEMU's main loop), the "device CPU".
 *
 * <p>Each phase has a warm-up (3 s by default) before its window, so that jkvm is measured
 * after its JIT compiled that direction's path. Rounds alternate the order (jkvm first in even rounds, QEMU first in odd ones). Output:
 * {@code #} lines per run, then per phase
 * <pre>
 * BENCH net dir=tx size=64 jkvm_pps=... qemu_pps=... jkvm_gbps=... qemu_gbps=... ratio=... ratio_min=... ratio_max=... rounds=N
 * </pre>
 * (medians over rounds; ratio = jkvm / QEMU of the medians; min/max of the per-round ratios), and
 * a Markdown table.
 *
 * <p>Usage: {@code NetBench ROOT [--quick] [--rounds N] [--warmup S] [--window S] [--phases tx:64,...]
 * [--vmm jkvm,qemu] [--blast-max N] [--quiet-wait S]}. System properties: net.blast (the net-blast
 * binary), net.jvmOpts (the JVM options jkvm runs with, from scripts/lib/jvm-flags.sh). Needs root
 * and /dev/net/tun; prints a SKIPPED line and exits 0 without them.
 */
public final class NetBench {
    static final String GUEST_MAC = "52:54:00:12:34:56";
    static final String HOST_IP = "10.211.77.1";
    static final String GUEST_IP = "10.211.77.2";
    private static final Pattern END = Pattern.compile(
            "BENCH-END phase=(\\d+) dir=(\\w+) size=(\\d+) frames=(\\d+) bytes=(\\d+) kicks=(\\d+) batches=(\\d+) bad=(\\d+)");
    private static final Pattern SENT = Pattern.compile("net-blast sent=(\\d+)");

    record Phase(boolean tx, int size) {
        static Phase parse(String s) {
            String[] p = s.split(":");
            if (p.length != 2 || !(p[0].equals("tx") || p[0].equals("rx"))) {
                throw new IllegalArgumentException("phase '" + s + "': want tx:SIZE or rx:SIZE");
            }
            return new Phase(p[0].equals("tx"), Integer.parseInt(p[1]));
        }

        String key() {
            return (tx ? "tx" : "rx") + ":" + size;
        }

        /** Small frames are about packets per second, large ones about throughput. */
        boolean ppsMetric() {
            return size < 1000;
        }
    }

    /** The tap's counters (as the host sees them: rx = from the VMM, tx = to the VMM) and CPU time, at one instant. */
    record Sample(long nanos, long rxPackets, long rxBytes, long txPackets, long txBytes, long txDropped, long vmmTicks,
                  long vcpuTicks, long busyTicks, long blastTicks) {
    }

    /** One phase of one VMM run. */
    record Result(String vmm, int round, Phase phase, double pps, double gbps, double devCpu, double vcpuCpu,
                  double otherCpu, long guestFrames, long tapFrames, long kicks, long batches, long drops) {
    }

    private final Path root;
    private final Path blast;
    private final List<String> jvmOpts;
    private int rounds = 5;
    // Long enough for C2 to compile a direction's path before its window: jkvm's steady state is
    // what a VM running for hours sees, and on 2 CPUs the compiler threads would otherwise take
    // CPU from the vCPU and the device threads inside the window (QEMU has nothing to warm up).
    private double warmup = 3.0;
    private double window = 3.0;
    private int blastMax = 256;
    private double quietWait = 60;
    private List<Phase> phases = List.of(Phase.parse("tx:64"), Phase.parse("tx:1514"), Phase.parse("tx:65536"),
            Phase.parse("rx:64"), Phase.parse("rx:1514"));
    private List<String> vmms = List.of("jkvm", "qemu");
    private final String tap = "jkbench" + ProcessHandle.current().pid() % 10000;
    private String tapMac;
    private Path snapshot;
    private final List<Result> results = new ArrayList<>();
    private final List<String> failures = new ArrayList<>();

    private NetBench(Path root) {
        this.root = root;
        this.blast = Path.of(System.getProperty("net.blast", root.resolve("benchmarks/target/net-blast").toString()));
        String opts = System.getProperty("net.jvmOpts", "-XX:+UseSerialGC -Xms8m -Xmn4m -Xss512k").trim();
        this.jvmOpts = opts.isEmpty() ? List.of() : List.of(opts.split("\\s+"));
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        NetBench b = new NetBench(root);
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> {
                    b.rounds = 1;
                    b.warmup = 0.5;
                    b.window = 1.0;
                }
                case "--rounds" -> b.rounds = Integer.parseInt(args[++i]);
                case "--warmup" -> b.warmup = Double.parseDouble(args[++i]);
                case "--window" -> b.window = Double.parseDouble(args[++i]);
                case "--phases" -> b.phases = Arrays.stream(args[++i].split(",")).map(Phase::parse).toList();
                case "--vmm" -> b.vmms = List.of(args[++i].split(","));
                case "--blast-max" -> b.blastMax = Integer.parseInt(args[++i]);
                case "--quiet-wait" -> b.quietWait = Double.parseDouble(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (--quick --rounds N --warmup S --window S --phases tx:64,... --vmm jkvm,qemu --blast-max N --quiet-wait S)");
            }
        }
        String skip = b.missing();
        if (skip != null) {
            System.out.println("BENCH net SKIPPED: " + skip);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            ProcessHandle.current().descendants().forEach(ProcessHandle::destroy);
            b.teardown();
        }));
        b.run();
    }

    /** Why this machine cannot run the benchmark, or null. */
    private String missing() throws IOException {
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            return "no /dev/net/tun";
        }
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("Uid:") && !l.split("\\s+")[1].equals("0")) {
                return "not root (creating and configuring a tap needs CAP_NET_ADMIN)";
            }
        }
        if (!Files.isExecutable(Path.of("/usr/sbin/ip")) && !Files.isExecutable(Path.of("/sbin/ip")) && !Files.isExecutable(Path.of("/usr/bin/ip"))) {
            return "no ip(8) (iproute2)";
        }
        if (vmms.contains("qemu") && !onPath("qemu-system-x86_64")) {
            return "no qemu-system-x86_64";
        }
        if (phases.stream().anyMatch(p -> !p.tx()) && !Files.isExecutable(blast)) {
            return "no " + blast + " (benchmarks/run-net.sh builds it)";
        }
        return null;
    }

    private static boolean onPath(String cmd) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, cmd))) {
                return true;
            }
        }
        return false;
    }

    private void run() throws Exception {
        Path elf = root.resolve("guest/build/testguest.elf");
        Path jar = root.resolve("cli/target/jkvm.jar");
        if (!Files.isRegularFile(elf) || (vmms.contains("jkvm") && !Files.isRegularFile(jar))) {
            throw new IllegalStateException(elf + " or " + jar + " is missing; run scripts/build first");
        }
        // Freeze what is measured: others rebuild the tree while this runs.
        snapshot = Files.createTempDirectory("jkvm-net-bench-");
        Files.copy(elf, snapshot.resolve("testguest.elf"));
        if (vmms.contains("jkvm")) {
            Files.copy(jar, snapshot.resolve("jkvm.jar"));
        }
        setupTap();
        System.out.printf(Locale.ROOT, "# net bench: tap %s (%s, host %s, guest %s %s), %d rounds, phases %s, warm-up %.1f s, window %.1f s%n",
                tap, tapMac, HOST_IP, GUEST_IP, GUEST_MAC, rounds, phases.stream().map(Phase::key).toList(), warmup, window);
        System.out.printf(Locale.ROOT, "# %s; jkvm: %s (%s) with %s; %s; load average %s%n", hostInfo(), jar,
                Files.getLastModifiedTime(jar), String.join(" ", jvmOpts), qemuVersion(), loadAverage());
        try {
            for (int r = 0; r < rounds; r++) {
                List<String> order = new ArrayList<>(vmms);
                if (r % 2 == 1) {
                    java.util.Collections.reverse(order);
                }
                for (String vmm : order) {
                    waitForQuiet();
                    runVmm(vmm, r);
                }
            }
        } finally {
            teardown();
        }
        System.out.println("# load average at the end: " + loadAverage());
        summarize();
    }

    // ---- the tap ----

    private void setupTap() throws IOException, InterruptedException {
        sh("ip", "link", "del", tap);   // left over from a killed run with the same name
        check(sh("ip", "tuntap", "add", "dev", tap, "mode", "tap"), "ip tuntap add " + tap);
        Path v6 = Path.of("/proc/sys/net/ipv6/conf", tap, "disable_ipv6");
        if (Files.exists(v6)) {
            Files.writeString(v6, "1");     // no router solicitations or MLD reports into the guest
        }
        check(sh("ip", "addr", "add", HOST_IP + "/24", "dev", tap), "ip addr add");
        check(sh("ip", "link", "set", tap, "up"), "ip link set up");
        // The guest never answers ARP while it runs; replies (ICMP, RST) go straight to its MAC.
        check(sh("ip", "neigh", "replace", GUEST_IP, "lladdr", GUEST_MAC, "dev", tap, "nud", "permanent"), "ip neigh replace");
        tapMac = Files.readString(Path.of("/sys/class/net", tap, "address")).strip();
    }

    private synchronized void teardown() {
        try {
            if (Files.exists(Path.of("/sys/class/net", tap))) {
                sh("ip", "link", "del", tap);
            }
            if (snapshot != null) {
                try (var files = Files.list(snapshot)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(snapshot);
                snapshot = null;
            }
        } catch (IOException | InterruptedException e) {
            // best effort
        }
    }

    private static int sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        return p.waitFor();
    }

    private static void check(int status, String what) {
        if (status != 0) {
            throw new IllegalStateException(what + " failed with status " + status);
        }
    }

    // ---- one VMM run: every phase in one boot ----

    private List<String> command(String vmm) {
        String elf = snapshot.resolve("testguest.elf").toString();
        String append = "tests=net-bench bench.phases=" + String.join(",", phases.stream().map(Phase::key).toList())
                + " net.ip=" + GUEST_IP + " net.gw=" + HOST_IP + " bench.dstmac=" + tapMac;
        String netdev = "tap,id=n0,ifname=" + tap + ",script=no,downscript=no,vnet_hdr=on";
        List<String> cmd = new ArrayList<>();
        if (vmm.equals("jkvm")) {
            cmd.add(ProcessHandle.current().info().command().orElse("java"));
            cmd.addAll(jvmOpts);
            cmd.addAll(List.of("-jar", snapshot.resolve("jkvm.jar").toString(), "-serial", "stdio"));
            cmd.addAll(List.of("-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,mac=" + GUEST_MAC));
        } else {
            // debug-threads: the vCPU thread is "CPU 0/KVM", so its CPU time can be told from the main loop's.
            cmd.addAll(List.of("qemu-system-x86_64", "-enable-kvm", "-machine", "pc", "-nographic", "-no-reboot", "-nic", "none",
                    "-name", "net-bench,debug-threads=on"));
            cmd.addAll(List.of("-netdev", netdev + ",vhost=off", "-device", "virtio-net-pci,netdev=n0,romfile=,mac=" + GUEST_MAC));
        }
        cmd.addAll(List.of("-m", "256M", "-smp", "1", "-kernel", elf, "-append", append,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1"));
        return cmd;
    }

    private void runVmm(String vmm, int round) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command(vmm)).redirectErrorStream(true).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        StringBuilder log = new StringBuilder();
        Thread reader = Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.ISO_8859_1))) {
                String l;
                while ((l = in.readLine()) != null) {
                    l = l.replace("\r", "");
                    synchronized (log) {
                        log.append(l).append('\n');
                    }
                    lines.add(l);
                }
            } catch (IOException e) {
                // the process went away
            }
            lines.add("\u0000EOF");
        });
        OutputStream stdin = p.getOutputStream();
        try {
            for (int i = 0; i < phases.size(); i++) {
                Phase ph = phases.get(i);
                String start = waitFor(lines, "BENCH-START phase=" + i + " ", i == 0 ? 90 : 30);
                if (start == null) {
                    throw new IOException("no BENCH-START for phase " + i);
                }
                Sample atStart = sample(p.pid(), vmm, -1);
                Process blaster = null;
                Path blastLog = null;
                if (!ph.tx()) {
                    blastLog = Files.createTempFile("net-blast", ".log");
                    blaster = new ProcessBuilder(blast.toString(), tap, GUEST_MAC, tapMac, HOST_IP, GUEST_IP,
                            Integer.toString(ph.size()), Integer.toString(blastMax)).redirectErrorStream(true)
                            .redirectOutput(blastLog.toFile()).start();
                }
                long bpid = blaster == null ? -1 : blaster.pid();
                sleep(warmup);
                Sample a = sample(p.pid(), vmm, bpid);
                sleep(window);
                Sample b = sample(p.pid(), vmm, bpid);
                String sent = null;
                if (blaster != null) {
                    blaster.destroy();      // SIGTERM: it prints what it sent and exits
                    blaster.waitFor(10, TimeUnit.SECONDS);
                    Matcher m = SENT.matcher(Files.readString(blastLog, StandardCharsets.ISO_8859_1));
                    sent = m.find() ? m.group(1) : "?";
                    Files.deleteIfExists(blastLog);
                    sleep(0.2);     // let the guest take what is still queued
                }
                stdin.write('n');
                stdin.flush();
                String end = waitFor(lines, "BENCH-END phase=" + i + " ", 30);
                Sample atEnd = sample(p.pid(), vmm, -1);
                Matcher m = end == null ? null : END.matcher(end);
                if (m == null || !m.find()) {
                    throw new IOException("no BENCH-END for phase " + i);
                }
                record(vmm, round, ph, a, b, atStart, atEnd, m, sent);
            }
            if (waitFor(lines, "RESULT ", 30) == null) {
                throw new IOException("no RESULT line");
            }
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                throw new IOException("did not exit");
            }
        } catch (IOException e) {
            String tail;
            synchronized (log) {
                tail = log.length() > 800 ? log.substring(log.length() - 800) : log.toString();
            }
            String msg = vmm + " round " + round + ": " + e.getMessage() + "; output ends: " + tail.replace('\n', '|');
            failures.add(msg);
            System.out.println("# FAILED " + msg);
        } finally {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            reader.join(5000);
        }
    }

    private void record(String vmm, int round, Phase ph, Sample a, Sample b, Sample atStart, Sample atEnd, Matcher end, String sent) {
        double dt = (b.nanos() - a.nanos()) / 1e9;
        long packets = ph.tx() ? b.rxPackets() - a.rxPackets() : b.txPackets() - a.txPackets();
        long bytes = ph.tx() ? b.rxBytes() - a.rxBytes() : b.txBytes() - a.txBytes();
        double tick = 0.01;     // USER_HZ
        double vmmCpu = (b.vmmTicks() - a.vmmTicks()) * tick / dt;
        double vcpuCpu = (b.vcpuTicks() - a.vcpuTicks()) * tick / dt;
        double blastCpu = (b.blastTicks() - a.blastTicks()) * tick / dt;
        double other = (b.busyTicks() - a.busyTicks()) * tick / dt - vmmCpu - blastCpu;
        long tapFrames = ph.tx() ? atEnd.rxPackets() - atStart.rxPackets() : atEnd.txPackets() - atStart.txPackets();
        long drops = ph.tx() ? 0 : atEnd.txDropped() - atStart.txDropped();
        Result r = new Result(vmm, round, ph, packets / dt, bytes * 8 / dt / 1e9, vmmCpu - vcpuCpu, vcpuCpu, other,
                Long.parseLong(end.group(4)), tapFrames, Long.parseLong(end.group(6)), Long.parseLong(end.group(7)), drops);
        results.add(r);
        System.out.printf(Locale.ROOT, "# round=%d vmm=%s phase=%s pps=%.0f gbps=%.3f dev_cpu=%.2f vcpu_cpu=%.2f blast_cpu=%.2f other_cpu=%.2f"
                        + " guest_frames=%d tap_frames=%d%s tap_drops=%d kicks=%d batches=%d bad=%s%n",
                round, vmm, ph.key(), r.pps(), r.gbps(), r.devCpu(), vcpuCpu, blastCpu, other, r.guestFrames(), tapFrames,
                sent == null ? "" : " blast_sent=" + sent, drops, r.kicks(), r.batches(), end.group(8));
    }

    private static String waitFor(BlockingQueue<String> lines, String prefix, double seconds) throws InterruptedException {
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        while (true) {
            long left = deadline - System.nanoTime();
            String l = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
            if (l == null || l.startsWith("\u0000EOF")) {
                return null;
            }
            int at = l.indexOf(prefix);
            if (at >= 0) {
                return l.substring(at);
            }
        }
    }

    private static void sleep(double seconds) throws InterruptedException {
        Thread.sleep((long) (seconds * 1000));
    }

    // ---- counters ----

    private Sample sample(long pid, String vmm, long blastPid) {
        long t = System.nanoTime();
        long[] c = new long[5];
        String[] names = {"rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_dropped"};
        for (int i = 0; i < names.length; i++) {
            c[i] = readLong(Path.of("/sys/class/net", tap, "statistics", names[i]));
        }
        long vmmTicks = 0;
        long vcpuTicks = 0;
        String vcpuName = vmm.equals("jkvm") ? "vcpu-" : "CPU ";
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                String st = readString(task.resolve("stat"));
                if (st == null) {
                    continue;
                }
                long ticks = ticks(st);
                vmmTicks += ticks;
                String comm = st.substring(st.indexOf('(') + 1, st.lastIndexOf(')'));
                if (comm.startsWith(vcpuName)) {
                    vcpuTicks += ticks;
                }
            }
        } catch (IOException | RuntimeException e) {
            // the process is gone
        }
        long blastTicks = 0;
        if (blastPid > 0) {
            String st = readString(Path.of("/proc", Long.toString(blastPid), "stat"));
            blastTicks = st == null ? 0 : ticks(st);
        }
        return new Sample(t, c[0], c[1], c[2], c[3], c[4], vmmTicks, vcpuTicks, busyTicks(), blastTicks);
    }

    /** utime + stime of a /proc/.../stat line. */
    private static long ticks(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** All CPUs' busy ticks (/proc/stat: everything but idle and iowait). */
    private static long busyTicks() {
        String s = readString(Path.of("/proc/stat"));
        if (s == null) {
            return 0;
        }
        String[] f = s.substring(0, s.indexOf('\n')).trim().split("\\s+");
        long busy = 0;
        for (int i = 1; i < f.length && i <= 8; i++) {
            if (i != 4 && i != 5) {
                busy += Long.parseLong(f[i]);
            }
        }
        return busy;
    }

    private static long readLong(Path p) {
        String s = readString(p);
        return s == null ? 0 : Long.parseLong(s.strip());
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return null;
        }
    }

    /** Waits (up to --quiet-wait s) until other processes use less than 0.3 CPU over a second. */
    private void waitForQuiet() throws InterruptedException {
        long t0 = System.nanoTime();
        while (true) {
            long a = busyTicks();
            long ta = System.nanoTime();
            sleep(1);
            double busy = (busyTicks() - a) * 0.01 / ((System.nanoTime() - ta) / 1e9);
            double waited = (System.nanoTime() - t0) / 1e9;
            if (busy < 0.3 || waited >= quietWait) {
                if (waited > 3) {
                    System.out.printf(Locale.ROOT, "# waited %.0f s for a quiet machine (others use %.2f CPUs now)%n", waited, busy);
                }
                return;
            }
        }
    }

    // ---- summary ----

    private void summarize() {
        List<String> table = new ArrayList<>();
        table.add("| direction | frame bytes | metric | jkvm | QEMU | jkvm / QEMU | per-round ratio min-max | geo-mean [95% CI] "
                + "| device CPU jkvm / QEMU |");
        table.add("|---|---:|---|---:|---:|---:|---|---|---|");
        for (Phase ph : phases) {
            Map<String, List<Result>> by = new LinkedHashMap<>();
            for (String v : List.of("jkvm", "qemu")) {
                by.put(v, results.stream().filter(r -> r.vmm().equals(v) && r.phase().equals(ph)).toList());
            }
            List<Result> j = by.get("jkvm");
            List<Result> q = by.get("qemu");
            List<Double> ratios = new ArrayList<>();
            for (Result rj : j) {
                for (Result rq : q) {
                    if (rq.round() == rj.round() && rq.pps() > 0) {
                        ratios.add(rj.pps() / rq.pps());
                    }
                }
            }
            double jp = med(j, Result::pps);
            double qp = med(q, Result::pps);
            double jg = med(j, Result::gbps);
            double qg = med(q, Result::gbps);
            String ratio = qp > 0 && jp > 0 ? String.format(Locale.ROOT, "%.3f", jp / qp) : "-";
            String min = ratios.isEmpty() ? "-" : String.format(Locale.ROOT, "%.3f", ratios.stream().mapToDouble(d -> d).min().orElse(0));
            String max = ratios.isEmpty() ? "-" : String.format(Locale.ROOT, "%.3f", ratios.stream().mapToDouble(d -> d).max().orElse(0));
            String geo = ratios.isEmpty() ? "-" : ExitCostBench.geoMeanInterval(ratios);
            System.out.printf(Locale.ROOT, "BENCH net dir=%s size=%d jkvm_pps=%.0f qemu_pps=%.0f jkvm_gbps=%.3f qemu_gbps=%.3f ratio=%s "
                            + "ratio_min=%s ratio_max=%s rounds=%d%n",
                    ph.tx() ? "tx" : "rx", ph.size(), jp, qp, jg, qg, ratio, min, max, ratios.size());
            double jd = med(j, Result::devCpu);
            double qd = med(q, Result::devCpu);
            System.out.printf(Locale.ROOT, "# %s: device CPU (CPUs, median) jkvm %.2f QEMU %.2f; device CPU us per frame jkvm %.2f QEMU %.2f;"
                            + " geo-mean of per-round ratios %s%n",
                    ph.key(), jd, qd, jp > 0 ? jd / jp * 1e6 : 0, qp > 0 ? qd / qp * 1e6 : 0, geo);
            boolean pps = ph.ppsMetric();
            table.add(String.format(Locale.ROOT, "| %s | %d%s | %s | %s | %s | %s | %s-%s | %s | %.2f / %.2f |",
                    ph.tx() ? "guest to host" : "host to guest", ph.size(), ph.size() > 1514 ? " (TSO)" : "",
                    pps ? "packets/s" : "Gbit/s", pps ? fmtPps(jp) : String.format(Locale.ROOT, "%.2f", jg),
                    pps ? fmtPps(qp) : String.format(Locale.ROOT, "%.2f", qg), ratio, min, max, geo, jd, qd));
        }
        if (!failures.isEmpty()) {
            System.out.println("# " + failures.size() + " run(s) failed: " + failures);
        }
        System.out.println("# table (medians over rounds)");
        table.forEach(System.out::println);
    }

    private static double med(List<Result> rs, java.util.function.ToDoubleFunction<Result> f) {
        return rs.isEmpty() ? 0 : ExitCostBench.median(rs.stream().map(r -> f.applyAsDouble(r)).toList());
    }

    private static String fmtPps(double pps) {
        return String.format(Locale.ROOT, "%,.0f", pps);
    }

    private static String loadAverage() {
        String s = readString(Path.of("/proc/loadavg"));
        return s == null ? "?" : String.join(" ", Arrays.copyOf(s.trim().split("\\s+"), 3));
    }

    private static String hostInfo() {
        return Runtime.getRuntime().availableProcessors() + " CPUs, kernel " + System.getProperty("os.version");
    }

    private static String qemuVersion() {
        try {
            Process p = new ProcessBuilder("qemu-system-x86_64", "--version").redirectErrorStream(true).start();
            String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            return s.lines().findFirst().orElse("qemu ?").strip();
        } catch (IOException | InterruptedException e) {
            return "qemu not found";
        }
    }
}
