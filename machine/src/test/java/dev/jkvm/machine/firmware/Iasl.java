package dev.jkvm.machine.firmware;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs ACPICA's iasl (Debian's acpica-tools), installing it with apt-get when it is missing. */
final class Iasl {
    /** What one {@code iasl -d} run said and wrote. */
    record Disassembly(int status, String output, String dsl) {
    }

    private static boolean installTried;

    private Iasl() {
    }

    static synchronized Path executable() throws IOException, InterruptedException {
        Path found = find();
        if (found == null && !installTried) {
            installTried = true;
            // As scripts/test does; only reached when the test runs outside it.
            if (run(List.of("apt-get", "install", "-y", "acpica-tools"), Path.of("."), 600).status() != 0) {
                run(List.of("apt-get", "update"), Path.of("."), 600);
                run(List.of("apt-get", "install", "-y", "acpica-tools"), Path.of("."), 600);
            }
            found = find();
        }
        if (found == null) {
            throw new IllegalStateException("iasl is not installed and 'apt-get install -y acpica-tools' did not install it");
        }
        return found;
    }

    private static Path find() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, "iasl");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** Writes {@code table} to {@code dir/name.dat}, runs {@code iasl -d} on it and reads back the .dsl it wrote. */
    static Disassembly disassemble(Path dir, String name, byte[] table) throws IOException, InterruptedException {
        Path dat = dir.resolve(name + ".dat");
        Files.write(dat, table);
        Disassembly d = run(List.of(executable().toString(), "-d", dat.getFileName().toString()), dir, 60);
        Path dsl = dir.resolve(name + ".dsl");
        return new Disassembly(d.status(), d.output(), Files.isRegularFile(dsl) ? Files.readString(dsl, StandardCharsets.ISO_8859_1) : "");
    }

    /**
     * Runs ACPICA's interpreter ({@code acpiexec}, from the same package) on table files in {@code dir}
     * with a batch of debugger commands; it builds its own RSDP and XSDT around them.
     */
    static Disassembly acpiexec(Path dir, String commands, List<String> files) throws IOException, InterruptedException {
        executable();
        Path exe = executable().resolveSibling("acpiexec");
        List<String> cmd = new java.util.ArrayList<>(List.of(exe.toString(), "-b", commands));
        cmd.addAll(files);
        return run(cmd, dir, 60);
    }

    /** Compiles {@code dir/name.dsl} (ASL or a data-table source) with {@code iasl}; the output is {@code dir/name.aml}. */
    static Disassembly compile(Path dir, String name) throws IOException, InterruptedException {
        Disassembly d = run(List.of(executable().toString(), name + ".dsl"), dir, 60);
        return new Disassembly(d.status(), d.output(), "");
    }

    private static Disassembly run(List<String> command, Path dir, int timeoutSeconds) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            return new Disassembly(-1, e.getMessage(), "");
        }
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Disassembly(-1, "timed out: " + command, "");
        }
        return new Disassembly(p.exitValue(), new String(out, StandardCharsets.UTF_8), "");
    }
}
