package dev.jkvm.devices.legacy.serial;

import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Puts a terminal into raw mode for a guest console and puts it back afterwards. Output
 * post-processing (LF to CR LF) stays on, as QEMU leaves it, so guest lines do not staircase.
 */
final class RawTerminal {
    private static final long C_OFLAG = 4;
    private static final long C_LFLAG = 12;
    private static final int OPOST = 0x1;
    private static final int ONLCR = 0x4;
    private static final int ISIG = 0x1;

    private final int fd;
    private final MemorySegment saved;
    private final Thread hook = new Thread(this::restore, "restore-terminal");
    private boolean restored;

    private RawTerminal(int fd, MemorySegment saved) {
        this.fd = fd;
        this.saved = saved;
    }

    /** Raw mode on {@code fd} if it is a terminal; null otherwise. {@code keepSignals} leaves Ctrl-C to the host. */
    static RawTerminal enter(int fd, boolean keepSignals) {
        if (!Libc.isatty(fd)) {
            return null;
        }
        Arena arena = Arena.ofAuto();
        MemorySegment saved = arena.allocate(Libc.TERMIOS_BYTES, 4);
        Libc.tcgetattr(fd, saved);
        MemorySegment raw = arena.allocate(Libc.TERMIOS_BYTES, 4);
        raw.copyFrom(saved);
        Libc.cfmakeraw(raw);
        raw.set(ValueLayout.JAVA_INT, C_OFLAG, raw.get(ValueLayout.JAVA_INT, C_OFLAG) | OPOST | ONLCR);
        if (keepSignals) {
            raw.set(ValueLayout.JAVA_INT, C_LFLAG, raw.get(ValueLayout.JAVA_INT, C_LFLAG) | ISIG);
        }
        Libc.tcsetattr(fd, Libc.TCSANOW, raw);
        RawTerminal t = new RawTerminal(fd, saved);
        // Even a JVM that dies on a signal must not leave the user's shell in raw mode.
        Runtime.getRuntime().addShutdownHook(t.hook);
        return t;
    }

    synchronized void restore() {
        if (!restored) {
            restored = true;
            Libc.tcsetattr(fd, Libc.TCSANOW, saved);
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // restore() is running as that hook
            }
        }
    }
}
