package dev.unloadguard.epoch.internal;

import static org.awaitility.Awaitility.await;

import java.net.URL;
import java.net.URLClassLoader;
import java.time.Duration;
import java.util.Arrays;

/**
 * A JVM of its own for {@link ThreadFramesTest}: audits before any virtual thread was started
 * (the container walk is skipped), then starts one that parks in plugin code and audits again
 * (it must be found). Prints one line per audit.
 */
public final class VirtualThreadsLater {

    private VirtualThreadsLater() {
    }

    public static void main(String[] args) throws Exception {
        String loaderName = "virtual-later";
        ThreadFrames.Audit before = ThreadFrames.audit(loaderName, Duration.ZERO);
        System.out.println("before: " + before.visibility() + "; inside " + before.inside().size());
        URL classes = VirtualThreadsLater.class.getProtectionDomain().getCodeSource().getLocation();
        try (URLClassLoader loader = new URLClassLoader(loaderName, new URL[] {classes}, ClassLoader.getPlatformClassLoader())) {
            Runnable plugin = (Runnable) loader.loadClass(AuditedPlugin.class.getName()).getConstructor(boolean.class).newInstance(false);
            Thread virtual = (Thread) Thread.class.getMethod("startVirtualThread", Runnable.class).invoke(null, plugin);
            await().atMost(Duration.ofSeconds(10)).until(() -> Arrays.stream(virtual.getStackTrace())
                    .anyMatch(e -> loaderName.equals(e.getClassLoaderName())));
            ThreadFrames.Audit after = ThreadFrames.audit(loaderName, Duration.ofMillis(20));
            System.out.println("after: " + after.visibility() + "; inside " + after.inside().size()
                    + "; virtual inside " + after.inside().keySet().stream().filter(virtual::equals).count());
            virtual.interrupt();
            virtual.join(10_000);
        }
    }
}
