package dev.jkvm.cli;

/** Bad user input: printed as one "jkvm: ..." line, exit status 1, never a stack trace. */
final class CliException extends RuntimeException {
    CliException(String message) {
        super(message, null, false, false);
    }
}
