package dev.jkvm.backends.block;

import java.nio.file.Path;

/**
 * One -drive: the image and how to use it.
 *
 * @param aio       "threads" or "io_uring"
 * @param discard   discard=unmap: guest DISCARD punches holes in the file; otherwise it is ignored
 * @param serial    the ID the guest reads with VIRTIO_BLK_T_GET_ID (up to 20 bytes)
 */
public record DriveOptions(String id, Path file, String format, CacheMode cache, String aio, boolean readOnly,
                           boolean snapshot, boolean discard, String serial) {
    public DriveOptions {
        if (serial != null && serial.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 20) {
            throw new IllegalArgumentException("serial '" + serial + "' is longer than 20 bytes");
        }
    }

    public static DriveOptions of(Path file) {
        return new DriveOptions(null, file, "raw", CacheMode.WRITEBACK, "threads", false, false, false, null);
    }

    public DriveOptions withReadOnly(boolean on) {
        return new DriveOptions(id, file, format, cache, aio, on, snapshot, discard, serial);
    }

    public DriveOptions withCache(CacheMode mode) {
        return new DriveOptions(id, file, format, mode, aio, readOnly, snapshot, discard, serial);
    }

    public DriveOptions withSnapshot(boolean on) {
        return new DriveOptions(id, file, format, cache, aio, readOnly, on, discard, serial);
    }

    public DriveOptions withDiscard(boolean on) {
        return new DriveOptions(id, file, format, cache, aio, readOnly, snapshot, on, serial);
    }

    public DriveOptions withSerial(String s) {
        return new DriveOptions(id, file, format, cache, aio, readOnly, snapshot, discard, s);
    }

    public DriveOptions withAio(String engine) {
        return new DriveOptions(id, file, format, cache, engine, readOnly, snapshot, discard, serial);
    }
}
