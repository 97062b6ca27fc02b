package dev.jkvm.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Start-up time and memory overhead, jkvm and QEMU side by side in one run.
 * <ul>
 *   <li>startup: from spawning {@code ./jkvm -kernel guest/build/testguest.elf ...} (JVM start
 *       included) to the first byte the guest prints, and to its banner line; QEMU's first byte
 *       is SeaBIOS's, so the banner is the fair comparison.</li>
 *   <li>rss: the VMM's resident memory minus the resident part of guest RAM, read from
 *       /proc/PID/smaps while the guest waits (test "wait") after touching memory.</li>
 * </ul>
 * Prints {@code BENCH ...} lines. Usage: StartupBench ROOT [rounds]
 */
public final class StartupBench {
    private static final String BANNER = "jkvm-testguest";

    private StartupBench() {
    }

    record Timing(double firstByteMs, double bannerMs) {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        Path elf = root.resolve("guest/build/testguest.elf");
        boolean qemu = Files.isExecutable(Path.of("/usr/bin/qemu-system-x86_64"));

        List<String> jkvm = List.of(root.resolve("jkvm").toString(), "-m", "64M", "-kernel", elf.toString(),
                "-append", "tests=serial", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1");
        List<String> qemuCmd = List.of("qemu-system-x86_64", "-enable-kvm", "-machine", "pc", "-m", "64M", "-nographic",
                "-no-reboot", "-nic", "none", "-kernel", elf.toString(), "-append", "tests=serial",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1");

        time(jkvm); // builds on first use and warms the page cache; not counted
        List<Timing> j = new ArrayList<>();
        List<Timing> q = new ArrayList<>();
        for (int i = 0; i < rounds; i++) {
            j.add(time(jkvm));
            if (qemu && i < Math.max(3, rounds / 3)) {
                q.add(time(qemuCmd));
            }
        }
        double jFirst = median(j.stream().mapToDouble(Timing::firstByteMs).toArray());
        double jBanner = median(j.stream().mapToDouble(Timing::bannerMs).toArray());
        System.out.printf(Locale.ROOT, "BENCH startup vmm=jkvm runs=%d first_byte_ms=%.1f banner_ms=%.1f min_first_byte_ms=%.1f%n",
                j.size(), jFirst, jBanner, j.stream().mapToDouble(Timing::firstByteMs).min().orElse(0));
        if (!q.isEmpty()) {
            double qFirst = median(q.stream().mapToDouble(Timing::firstByteMs).toArray());
            double qBanner = median(q.stream().mapToDouble(Timing::bannerMs).toArray());
            System.out.printf(Locale.ROOT, "BENCH startup vmm=qemu runs=%d first_byte_ms=%.1f banner_ms=%.1f%n", q.size(), qFirst, qBanner);
            System.out.printf(Locale.ROOT, "BENCH startup banner_ratio_jkvm_over_qemu=%.3f%n", jBanner / qBanner);
        }

        List<String> jkvmRss = List.of(root.resolve("jkvm").toString(), "-m", "128M", "-kernel", elf.toString(),
                "-append", "tests=memory,wait", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1");
        rss("jkvm", jkvmRss, 128);
        if (qemu) {
            List<String> qemuRss = new ArrayList<>(qemuCmd);
            qemuRss.set(qemuRss.indexOf("64M"), "128M");
            qemuRss.set(qemuRss.indexOf("tests=serial"), "tests=memory,wait");
            rss("qemu", qemuRss, 128);
        }
    }

    private static Timing time(List<String> cmd) throws IOException, InterruptedException {
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        p.getOutputStream().close();
        InputStream in = p.getInputStream();
        double first = -1;
        double banner = -1;
        StringBuilder seen = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0) {
            long now = System.nanoTime();
            if (first < 0) {
                first = (now - start) / 1e6;
            }
            seen.append((char) c);
            if (banner < 0 && seen.indexOf(BANNER) >= 0) {
                banner = (now - start) / 1e6;
            }
        }
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("timed out: " + cmd);
        }
        if (banner < 0) {
            throw new IllegalStateException("no guest banner from " + cmd + ":\n" + seen);
        }
        return new Timing(first, banner);
    }

    /** Starts the VMM, waits for the guest's WAITING line, reads /proc, then lets the guest finish. */
    private static void rss(String name, List<String> cmd, long guestMiB) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        InputStream in = p.getInputStream();
        StringBuilder seen = new StringBuilder();
        int c;
        while (seen.indexOf("WAITING") < 0 && (c = in.read()) >= 0) {
            seen.append((char) c);
        }
        if (seen.indexOf("WAITING") < 0) {
            throw new IllegalStateException(name + " never reached the wait test:\n" + seen);
        }
        long pid = p.pid();
        long totalKb = statusKb(pid, "VmRSS:");
        long guestKb = guestRamRssKb(pid, guestMiB * 1024);
        // Where the overhead lives: private memory (heap, JIT code, thread stacks) or pages of
        // files (libjvm.so, the CDS/AOT archive) that other processes on the host share.
        long anonKb = statusKb(pid, "RssAnon:");
        long fileKb = statusKb(pid, "RssFile:") + statusKb(pid, "RssShmem:");
        OutputStream out = p.getOutputStream();
        out.write('x');
        out.flush();
        in.transferTo(OutputStream.nullOutputStream());
        p.waitFor(60, TimeUnit.SECONDS);
        System.out.printf(Locale.ROOT, "BENCH rss vmm=%s guest_ram_mib=%d vmm_rss_mib=%.1f guest_resident_mib=%.1f overhead_mib=%.1f"
                        + " overhead_anon_mib=%.1f overhead_file_mib=%.1f%n",
                name, guestMiB, totalKb / 1024.0, guestKb / 1024.0, (totalKb - guestKb) / 1024.0,
                (anonKb - guestKb) / 1024.0, fileKb / 1024.0);
    }

    private static long statusKb(long pid, String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException(key + " not in /proc/" + pid + "/status");
    }

    /**
     * Resident kB of the mapping(s) that back guest RAM: those whose size is the guest RAM size
     * (QEMU may add a 2 MiB alignment tail, so a little more is accepted).
     */
    private static long guestRamRssKb(long pid, long guestKb) throws IOException {
        long rss = 0;
        long size = -1;
        long best = 0;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                if (size >= guestKb && size <= guestKb + 4096) {
                    best = Math.max(best, rss);
                }
                size = -1;
                rss = 0;
            } else if (line.startsWith("Size:")) {
                size = Long.parseLong(line.replaceAll("[^0-9]", ""));
            } else if (line.startsWith("Rss:")) {
                rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        if (size >= guestKb && size <= guestKb + 4096) {
            best = Math.max(best, rss);
        }
        return best;
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length == 0 ? 0 : v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

}
