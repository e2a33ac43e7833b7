package dev.unloadguard.loader;

/** The six steps of the unload protocol, in order; each one's time goes into the report. */
public enum UnloadStep {
    /** 1. Refuse new devices. */
    GOING("going"),
    /** 2. The driver's exit hook drops the driver's own references. */
    EXIT("exit"),
    /** 3. Wait until the plugin's live-device count is zero. */
    DRAIN("drain"),
    /** 4. The release barrier: every release callback that started has returned. */
    BARRIER("barrier"),
    /** 5. Close the class loader and drop every strong reference the host keeps. */
    CLOSE("close"),
    /** 6. Confirm the class loader was collected. */
    COLLECT("collect");

    private final String label;

    UnloadStep(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
