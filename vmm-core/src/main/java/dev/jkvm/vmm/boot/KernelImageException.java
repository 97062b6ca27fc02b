package dev.jkvm.vmm.boot;

/** A kernel or initrd jkvm cannot boot; the message is one line that names the file and the problem. */
public final class KernelImageException extends RuntimeException {
    public KernelImageException(String message) {
        super(message, null, false, false);
    }
}
