package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The dependency attributes of a plugin's manifest: versions, ranges, requirements and exports, and their errors. */
class PluginManifestTest {

    private static final Path JAR = Path.of("/plugins/p.jar");

    @Test
    void versionsCompareByTheirNumbersMissingPartsBeingZeroAndQualifiersIgnored() {
        assertEquals(0, PluginVersion.parse("1.2").compareTo(PluginVersion.parse("1.2.0")));
        assertEquals(PluginVersion.parse("1.2"), PluginVersion.parse("1.2.0-SNAPSHOT"));
        assertEquals(PluginVersion.parse("1.2").hashCode(), PluginVersion.parse("1.2.0").hashCode());
        assertTrue(PluginVersion.parse("1.10").compareTo(PluginVersion.parse("1.9")) > 0);
        assertEquals("1.2.0-SNAPSHOT", PluginVersion.parse("1.2.0-SNAPSHOT").toString());
        assertThrows(IllegalArgumentException.class, () -> PluginVersion.parse("1.x"));
        assertThrows(IllegalArgumentException.class, () -> PluginVersion.parse("1..2"));
    }

    @Test
    void rangesIncludeAndExcludeTheirEndsAsWritten() {
        VersionRange r = VersionRange.parse("[1.0,2.0)");
        assertTrue(r.contains(PluginVersion.parse("1.0")));
        assertTrue(r.contains(PluginVersion.parse("1.9.9")));
        assertFalse(r.contains(PluginVersion.parse("2.0")));
        assertFalse(r.contains(PluginVersion.parse("0.9")));
        VersionRange open = VersionRange.parse("(1.0,2.0]");
        assertFalse(open.contains(PluginVersion.parse("1.0")));
        assertTrue(open.contains(PluginVersion.parse("2.0")));
        VersionRange atLeast = VersionRange.parse("1.2");
        assertTrue(atLeast.contains(PluginVersion.parse("7")));
        assertFalse(atLeast.contains(PluginVersion.parse("1.1")));
        assertTrue(VersionRange.ANY.contains(PluginVersion.NONE));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VersionRange.parse("[2.0,1.0)"));
        assertTrue(e.getMessage().contains("its low end is above its high end"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VersionRange.parse("[1.0;2.0)"));
    }

    @Test
    void requirementsAndExportsAreReadWithRangesHoldingCommas() throws Exception {
        PluginManifest m = PluginManifest.parse("1.4.0", " audit@[2.0,3.0), clock ,", "com.example.api, com.example.spi", JAR);
        assertEquals(PluginVersion.parse("1.4"), m.version);
        assertEquals(List.of("audit@[2.0,3.0)", "clock"), m.requires.stream().map(Object::toString).toList());
        assertEquals(List.of("com.example.api", "com.example.spi"), m.exports);
        PluginManifest none = PluginManifest.parse(null, null, null, JAR);
        assertEquals(PluginVersion.NONE, none.version);
        assertEquals(List.of(), none.requires);
        assertEquals(List.of(), none.exports);
    }

    @Test
    void badAttributesAreRefusedNamingTheAttributeAndTheFix() {
        PluginLoadException v = assertThrows(PluginLoadException.class, () -> PluginManifest.parse("one", null, null, JAR));
        assertTrue(v.getMessage().contains("invalid manifest attribute Plugin-Version: one") && v.getMessage().contains("use numbers like 1.2.0"),
                v.getMessage());
        PluginLoadException r = assertThrows(PluginLoadException.class, () -> PluginManifest.parse(null, "a b", null, JAR));
        assertTrue(r.getMessage().contains("Plugin-Requires") && r.getMessage().contains("'a b' is not a plugin id"), r.getMessage());
        PluginLoadException twice = assertThrows(PluginLoadException.class, () -> PluginManifest.parse(null, "a, a@1", null, JAR));
        assertTrue(twice.getMessage().contains("plugin a is named twice"), twice.getMessage());
        PluginLoadException range = assertThrows(PluginLoadException.class, () -> PluginManifest.parse(null, "a@[1,", null, JAR));
        assertTrue(range.getMessage().contains("write a range like [1.0,2.0)"), range.getMessage());
        PluginLoadException x = assertThrows(PluginLoadException.class, () -> PluginManifest.parse(null, null, "com.example.*", JAR));
        assertTrue(x.getMessage().contains("Plugin-Exports") && x.getMessage().contains("'com.example.*' is not a package name"),
                x.getMessage());
    }
}
