package dev.jkvm.devices.legacy.serial;

import dev.jkvm.os.Libc;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * -serial stdio and mon:stdio: guest output to standard output, keyboard input to the guest, the
 * terminal in raw mode meanwhile. As in QEMU's console multiplexer, Ctrl-A is an escape:
 * Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends a Ctrl-A to the guest.
 */
public final class StdioSerialBackend implements SerialBackend {
    private static final int CTRL_A = 0x01;
    private static final int STDIN = 0;

    private final FileOutputStream out = new FileOutputStream(FileDescriptor.out);
    private final boolean multiplexed;
    private RawTerminal terminal;
    private Thread reader;
    private volatile boolean closed;

    /** @param multiplexed mon:stdio (Ctrl-C goes to the guest) rather than plain stdio (Ctrl-C stops jkvm) */
    public StdioSerialBackend(boolean multiplexed) {
        this.multiplexed = multiplexed;
    }

    @Override
    public void write(int b) {
        try {
            out.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException("serial output to stdout", e);
        }
    }

    @Override
    public synchronized void connect(Serial16550 uart, Runnable quit) {
        terminal = RawTerminal.enter(STDIN, !multiplexed);
        reader = Thread.ofPlatform().name("serial-stdin").daemon(true).start(() -> readLoop(uart, quit));
    }

    private void readLoop(Serial16550 uart, Runnable quit) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollFd = arena.allocate(8, 4);
            pollFd.set(ValueLayout.JAVA_INT, 0, STDIN);
            pollFd.set(ValueLayout.JAVA_SHORT, 4, (short) Libc.POLLIN);
            MemorySegment buf = arena.allocate(256);
            byte[] chunk = new byte[256];
            boolean escape = false;
            while (!closed) {
                // A bounded poll lets close() end this thread instead of leaving it blocked in read().
                if (Libc.poll(pollFd, 1, 200) <= 0) {
                    continue;
                }
                long n = Libc.read(STDIN, buf, buf.byteSize());
                if (n <= 0) {
                    return;
                }
                int keep = 0;
                for (int i = 0; i < n; i++) {
                    int c = buf.get(ValueLayout.JAVA_BYTE, i) & 0xff;
                    if (escape) {
                        escape = false;
                        switch (c) {
                            case 'x', 'X' -> {
                                System.err.print("\r\njkvm: terminated by Ctrl-A x\r\n");
                                quit.run();
                                return;
                            }
                            case 'h', 'H', '?' -> System.err.print("\r\nC-a h    print this help\r\nC-a x    exit jkvm\r\n"
                                    + "C-a C-a  send C-a to the guest\r\n");
                            case CTRL_A, 'a' -> chunk[keep++] = (byte) CTRL_A;
                            default -> {
                                // unknown escapes are dropped, as QEMU does
                            }
                        }
                    } else if (c == CTRL_A) {
                        escape = true;
                    } else {
                        chunk[keep++] = (byte) c;
                    }
                }
                int done = 0;
                while (done < keep && !closed) {
                    done += uart.receive(chunk, done, keep - done);
                    if (done < keep) {
                        uart.awaitRoom(200);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            System.err.println("jkvm: serial input stopped: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        closed = true;
        Thread t;
        synchronized (this) {
            t = reader;
        }
        if (t != null) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (terminal != null) {
            terminal.restore();
        }
        try {
            out.flush();
        } catch (IOException ignored) {
            // stdout is gone; nothing left to tell
        }
    }
}
