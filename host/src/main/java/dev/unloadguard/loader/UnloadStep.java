package dev.unloadguard.loader;

/** The seven steps of the unload protocol, in order; each one's time goes into the report. */
public enum UnloadStep {
    /** 1. Refuse new devices and (in {@link GuardScope#ENTRIES}) new entries into the plugin. */
    GOING("going"),
    /** 2. The driver's exit hook drops the driver's own references. */
    EXIT("exit"),
    /** 3. Wait until the plugin's live-device count is zero. */
    DRAIN("drain"),
    /** 4. The release barrier: every guarded section of the plugin that started has returned. */
    BARRIER("barrier"),
    /** 5. The close audit: no platform or virtual thread has a frame of the plugin's class loader. */
    AUDIT("audit"),
    /** 6. Close the class loader and drop every strong reference the host keeps. */
    CLOSE("close"),
    /** 7. Confirm the class loader was collected. */
    COLLECT("collect");

    private final String label;

    UnloadStep(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
