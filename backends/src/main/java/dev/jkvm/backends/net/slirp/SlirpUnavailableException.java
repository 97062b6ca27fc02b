package dev.jkvm.backends.net.slirp;

/** libslirp is not installed, or is too old: the message says what to install. */
public final class SlirpUnavailableException extends SlirpException {
    public SlirpUnavailableException(String message) {
        super(message);
    }
}
