package dev.jkvm.devices.legacy.serial;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An in-memory serial backend for tests and embedding: keeps everything the guest printed, lets
 * a caller wait for a pattern with a deadline, and can type input at the guest.
 */
public final class SerialCapture implements SerialBackend {
    private byte[] output = new byte[4096];
    private int size;
    private final ByteArrayOutputStream pendingInput = new ByteArrayOutputStream();
    private Serial16550 uart;
    private Thread feeder;
    private boolean closed;

    @Override
    public synchronized void write(int b) {
        if (size == output.length) {
            output = Arrays.copyOf(output, output.length * 2);
        }
        output[size++] = (byte) b;
        notifyAll();
    }

    /** Everything the guest has printed so far, as UTF-8. */
    public synchronized String text() {
        return new String(output, 0, size, StandardCharsets.UTF_8);
    }

    public synchronized byte[] bytes() {
        return Arrays.copyOf(output, size);
    }

    /**
     * Waits until the output matches {@code pattern} (searched anywhere in the text) and returns
     * the match; throws TimeoutException, with the output so far, when the deadline passes first.
     */
    public synchronized Matcher waitFor(Pattern pattern, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int checkedSize = -1;
        while (true) {
            if (size != checkedSize) {
                checkedSize = size;
                Matcher m = pattern.matcher(text());
                if (m.find()) {
                    return m;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 || closed) {
                throw new TimeoutException("serial output did not match /" + pattern + "/ within " + timeout
                        + (closed ? " (the VM has stopped)" : "") + "; output so far:\n" + text());
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    /**
     * A stream over the output from its first byte. Reads block until the guest prints more,
     * and the stream ends when the VM stops.
     */
    public InputStream stream() {
        return new InputStream() {
            private int position;

            @Override
            public int read() throws java.io.IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws java.io.IOException {
                synchronized (SerialCapture.this) {
                    while (size <= position) {
                        if (closed) {
                            return -1;
                        }
                        try {
                            SerialCapture.this.wait();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new java.io.InterruptedIOException();
                        }
                    }
                    int n = Math.min(len, size - position);
                    System.arraycopy(output, position, b, off, n);
                    position += n;
                    return n;
                }
            }
        };
    }

    /** Types text at the guest; it arrives as fast as the guest's receive FIFO drains. */
    public synchronized void send(String text) {
        byte[] data = text.getBytes(StandardCharsets.UTF_8);
        pendingInput.write(data, 0, data.length);
        notifyAll();
    }

    @Override
    public synchronized void connect(Serial16550 uart, Runnable quit) {
        this.uart = uart;
        feeder = Thread.ofPlatform().name("serial-capture-input").daemon(true).start(this::feed);
    }

    private void feed() {
        try {
            while (true) {
                byte[] chunk;
                synchronized (this) {
                    while (pendingInput.size() == 0 && !closed) {
                        wait();
                    }
                    if (closed) {
                        return;
                    }
                    chunk = pendingInput.toByteArray();
                    pendingInput.reset();
                }
                int done = 0;
                while (done < chunk.length) {
                    done += uart.receive(chunk, done, chunk.length - done);
                    if (done < chunk.length && !uart.awaitRoom(100) && isClosed()) {
                        return;
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            closed = true;
            notifyAll();
            t = feeder;
        }
        if (t != null) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public synchronized String toString() {
        int from = Math.max(0, size - 80);
        return "SerialCapture[" + size + " bytes: ..." + new String(output, from, size - from, StandardCharsets.UTF_8) + "]";
    }
}
