package dev.jkvm.os;

/**
 * A failed libc call or ioctl: names the call and the errno, so that a user sees
 * "KVM_CREATE_VM: EACCES (Permission denied)" rather than a bare -1.
 */
public class NativeException extends RuntimeException {
    private final String call;
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + ": " + Errno.describe(errno));
        this.call = call;
        this.errno = errno;
    }

    public NativeException(String call, int errno, String detail) {
        super(call + ": " + Errno.describe(errno) + (detail == null ? "" : " (" + detail + ")"));
        this.call = call;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}
