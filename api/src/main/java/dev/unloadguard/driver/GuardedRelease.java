package dev.unloadguard.driver;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a plugin method as a further release callback: with the agent attached it runs inside
 * the release epoch (entered at the method's entry, exited on every return and every throw),
 * so a host's release barrier waits for it. Use it for release paths that do not implement
 * {@link ReleaseCallback}, {@link dev.unloadguard.device.ReleaseAction} or {@link Driver#release}.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface GuardedRelease {
}
