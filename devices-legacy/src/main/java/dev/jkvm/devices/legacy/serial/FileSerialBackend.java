package dev.jkvm.devices.legacy.serial;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** -serial file:PATH: guest output is appended to a file, created or truncated at start, as QEMU does. */
public final class FileSerialBackend implements SerialBackend {
    private final FileOutputStream out;
    private final Path path;

    public FileSerialBackend(Path path) throws IOException {
        this.path = path;
        this.out = new FileOutputStream(path.toFile());
    }

    @Override
    public void write(int b) {
        try {
            out.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException("serial output to " + path, e);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // nothing more can be written, and the VM is going away
        }
    }
}
