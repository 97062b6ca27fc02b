package dev.jkvm.cli;

import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.MachineException;
import dev.jkvm.machine.PcMachine;
import dev.jkvm.vmm.ExitStatus;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Properties;

/**
 * The jkvm command. Exit status: the guest's (QEMU's conventions: isa-debug-exit gives
 * (value << 1) | 1, power-off 0), or 1 with one "jkvm: ..." line when it cannot run.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        NativePreload.start();
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        try {
            if (args.length > 0 && args[0].equals("demo")) {
                return Demo.run(java.util.Arrays.copyOfRange(args, 1, args.length), out, err);
            }
            StartupTrace.mark("main");
            JkvmOptions options = JkvmOptions.parse(args);
            if (options.help) {
                QemuOptionParser.usage(out, "jkvm", JkvmOptions.SUMMARY, JkvmOptions.OPTIONS, JkvmOptions.FOOTER);
                return 0;
            }
            if (options.version) {
                out.println("jkvm version " + version() + " (KVM virtual machine monitor; qemu-system-x86_64 options)");
                return 0;
            }
            MachineConfig config = MachineOptions.toConfig(options);
            StartupTrace.mark("options parsed");
            return boot(config, err);
        } catch (CliException | MachineException e) {
            err.println("jkvm: " + e.getMessage());
            return 1;
        } catch (RuntimeException e) {
            err.println("jkvm: internal error: " + e + (debug() ? "" : " (set JKVM_DEBUG=1 for a stack trace)"));
            if (debug()) {
                e.printStackTrace(err);
            }
            return 1;
        }
    }

    static int boot(MachineConfig config, PrintStream err) {
        PcMachine machine = PcMachine.create(config);
        StartupTrace.mark("machine built");
        Thread hook = new Thread(() -> {
            // SIGINT/SIGTERM: stop the guest and let close() restore the terminal before the JVM goes.
            machine.stop("terminated by signal");
            machine.close();
        }, "jkvm-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            machine.start();
            StartupTrace.mark("vCPUs started");
            ExitStatus status;
            try {
                status = machine.awaitExit(Duration.ofDays(365 * 100)).orElseThrow();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                status = ExitStatus.hostStop("interrupted");
            }
            machine.close();
            if (status.reason() == ExitStatus.Reason.ERROR) {
                err.println("jkvm: " + status.detail());
            }
            return status.code();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running and will close the machine
            }
            machine.close();
        }
    }

    static String version() {
        try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static boolean debug() {
        return System.getenv("JKVM_DEBUG") != null;
    }
}
