package dev.unloadguard.cli;

/** Bad command-line input; the message says what is wrong and what to pass instead. */
final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
