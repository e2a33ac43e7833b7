package dev.unloadguard.epoch;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Added by the agent to every method it wove into the release epoch. It lets the agent see that
 * a method is already guarded (so installing twice never guards twice) and lets tools and tests
 * see what was guarded. Never written by hand.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Guarded {
}
