package dev.unloadguard.it.layouts;

/**
 * The host's version of a superclass that a LayoutsIT test plugin also brings, where it implements
 * {@code ReleaseCallback}: a plugin class extending it is a release path plugin-first, an ordinary
 * class parent-first.
 */
public abstract class Base {
}
