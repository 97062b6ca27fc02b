package dev.jkvm.cli;

import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.MachineException;
import dev.jkvm.machine.PcMachine;
import dev.jkvm.vmm.ExitStatus;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Properties;
import java.util.Set;

/**
 * The jkvm command. Exit status: the guest's (QEMU's conventions: isa-debug-exit gives
 * (value << 1) | 1, power-off 0), or 1 with one "jkvm: ..." line when it cannot run.
 */
public final class Main {
    /** QEMU options that jkvm does not have yet: named as such instead of "unknown". */
    private static final Set<String> PLANNED_OPTIONS = Set.of(
            "-bios", "-boot", "-monitor", "-qmp", "-chardev", "-object", "-numa", "-global", "-rtc", "-gdb", "-s", "-S",
            "-incoming", "-daemonize", "-pidfile", "-vga", "-vnc", "-usb", "-usbdevice", "-fda", "-fdb", "-blockdev",
            "-overcommit", "-msg", "-d", "-D", "-trace");

    private Main() {
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        try {
            if (args.length > 0 && args[0].equals("demo")) {
                return Demo.run(java.util.Arrays.copyOfRange(args, 1, args.length), out, err);
            }
            JkvmOptions options = new JkvmOptions();
            CommandLine cl = commandLine(options);
            try {
                cl.parseArgs(args);
            } catch (CommandLine.ParameterException e) {
                throw new CliException(describe(e));
            }
            if (cl.isUsageHelpRequested()) {
                cl.usage(out);
                return 0;
            }
            if (cl.isVersionHelpRequested()) {
                out.println("jkvm version " + version() + " (KVM virtual machine monitor; qemu-system-x86_64 options)");
                return 0;
            }
            return boot(MachineOptions.toConfig(options), err);
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

    static CommandLine commandLine(JkvmOptions options) {
        CommandLine cl = new CommandLine(options);
        // QEMU's options are single-dash words: never read "-mem-path" as "-m em-path".
        cl.setPosixClusteredShortOptionsAllowed(false);
        cl.setOverwrittenOptionsAllowed(true);
        cl.setAllowOptionsAsOptionParameters(true);
        cl.setUnmatchedOptionsArePositionalParams(false);
        return cl;
    }

    /** One line for a parse error, naming the option, as QEMU does. */
    private static String describe(CommandLine.ParameterException e) {
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String arg = u.getUnmatched().get(0);
            if (PLANNED_OPTIONS.contains(arg)) {
                return "option " + arg + " is not supported yet";
            }
            if (arg.startsWith("-")) {
                return "invalid option " + arg + " (see jkvm -h)";
            }
            return "unexpected argument '" + arg + "' (options take the form -name value; see jkvm -h)";
        }
        if (e instanceof CommandLine.MissingParameterException) {
            return e.getMessage().replace("Missing required parameter for option", "option").replace("'", "").trim() + " requires an argument";
        }
        String m = e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    static int boot(MachineConfig config, PrintStream err) {
        PcMachine machine = PcMachine.create(config);
        Thread hook = new Thread(() -> {
            // SIGINT/SIGTERM: stop the guest and let close() restore the terminal before the JVM goes.
            machine.stop("terminated by signal");
            machine.close();
        }, "jkvm-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            machine.start();
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
