package dev.unloadguard.check;

/** The jar cannot be checked; the message names the file, what is wrong and what to do. */
public final class CheckException extends Exception {
    private static final long serialVersionUID = 1L;

    CheckException(String message) {
        super(message);
    }

    CheckException(String message, Throwable cause) {
        super(message, cause);
    }
}
