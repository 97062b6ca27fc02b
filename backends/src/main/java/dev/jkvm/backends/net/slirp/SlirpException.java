package dev.jkvm.backends.net.slirp;

/** A -netdev user that cannot be set up as asked: a bad option, a host port in use. One line for the user. */
public class SlirpException extends RuntimeException {
    public SlirpException(String message) {
        super(message, null, false, false);
    }
}
