package dev.unloadguard.maven;

import dev.unloadguard.check.CheckException;
import dev.unloadguard.check.CheckReport;
import dev.unloadguard.check.Hazard;
import dev.unloadguard.check.UnloadCheck;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.apache.maven.plugin.AbstractMojo;
import org.apache.maven.plugin.MojoExecutionException;
import org.apache.maven.plugin.MojoFailureException;
import org.apache.maven.plugins.annotations.LifecyclePhase;
import org.apache.maven.plugins.annotations.Mojo;
import org.apache.maven.plugins.annotations.Parameter;
import org.apache.maven.project.MavenProject;

/**
 * The static unload-hazard check of the project's plugin jar ({@code unloadguard-check}): reads
 * the jar's classes without loading them, prints the report (the release callbacks the agent
 * will guard, the unload hazards, the warnings), writes it as JSON, and fails the build on unload
 * hazards that are not accepted. Warnings never fail it.
 *
 * <p>Accept a finding you have dealt with (a thread the driver stops in {@code exit()}) with its
 * key, which the failure message prints: {@code KIND:CLASS#METHOD}, {@code KIND:CLASS#NAME} for
 * every overload, or {@code KIND:CLASS} for every finding of that kind in the class (see
 * {@link AcceptedFindings}); in {@code <accept>} or one per line in {@code acceptFile}.
 */
@Mojo(name = "check", defaultPhase = LifecyclePhase.VERIFY, threadSafe = true)
public class CheckMojo extends AbstractMojo {

    @Parameter(defaultValue = "${project}", readonly = true, required = true)
    private MavenProject project;

    /** The plugin jar to check. */
    @Parameter(property = "unloadguard.check.jar", defaultValue = "${project.build.directory}/${project.build.finalName}.jar")
    private File jar;

    /** Where the JSON report goes. */
    @Parameter(property = "unloadguard.check.jsonFile", defaultValue = "${project.build.directory}/unloadguard-check.json")
    private File jsonFile;

    /** Accepted findings: {@code <accept><finding>THREAD:com.acme.EchoDriver#init</finding></accept>}. */
    @Parameter
    private List<String> accept = new ArrayList<>();

    /** A file of accepted findings, one key per line; {@code #} starts a comment. */
    @Parameter(property = "unloadguard.check.acceptFile")
    private File acceptFile;

    /** Whether hazards that are not accepted fail the build (otherwise they are logged as warnings). */
    @Parameter(property = "unloadguard.check.failOnHazards", defaultValue = "true")
    private boolean failOnHazards;

    /** Skips the check. */
    @Parameter(property = "unloadguard.check.skip", defaultValue = "false")
    private boolean skip;

    @Override
    public void execute() throws MojoExecutionException, MojoFailureException {
        if (skip) {
            getLog().info("Skipping unloadguard check (skip=true)");
            return;
        }
        if ("pom".equals(project.getPackaging())) {
            getLog().info("Skipping unloadguard check: packaging pom has no plugin jar");
            return;
        }
        AcceptedFindings accepted = acceptedFindings();
        CheckReport report;
        try {
            report = UnloadCheck.check(jar.toPath());
        } catch (CheckException e) {
            throw new MojoExecutionException("unloadguard check: " + e.getMessage(), e);
        }
        for (String line : report.toText().split("\n")) {
            getLog().info(line);
        }
        try {
            Files.createDirectories(jsonFile.toPath().toAbsolutePath().getParent());
            Files.writeString(jsonFile.toPath(), report.toJson(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new MojoExecutionException("unloadguard check: cannot write " + jsonFile + " (" + e + ")", e);
        }
        getLog().info("JSON report: " + jsonFile);

        List<Hazard> all = new ArrayList<>(report.hazards());
        all.addAll(report.warnings());
        for (String stale : accepted.unused(all)) {
            getLog().warn("unloadguard check: accepted finding '" + stale + "' matches nothing in " + jar.getName()
                    + ": remove it from <accept>");
        }
        List<Hazard> remaining = accepted.remaining(report.hazards());
        int acceptedCount = report.hazards().size() - remaining.size();
        if (acceptedCount > 0) {
            getLog().info(acceptedCount + " unload hazard(s) accepted by configuration");
        }
        if (remaining.isEmpty()) {
            return;
        }
        String message = failureMessage(remaining);
        if (failOnHazards) {
            throw new MojoFailureException(message);
        }
        getLog().warn(message);
    }

    private AcceptedFindings acceptedFindings() throws MojoExecutionException {
        List<String> lines = new ArrayList<>(accept);
        if (acceptFile != null) {
            try {
                lines.addAll(Files.readAllLines(acceptFile.toPath(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new MojoExecutionException("unloadguard check: cannot read acceptFile " + acceptFile + " (" + e + ")", e);
            }
        }
        try {
            return AcceptedFindings.parse(lines);
        } catch (IllegalArgumentException e) {
            throw new MojoExecutionException("unloadguard check: " + e.getMessage(), e);
        }
    }

    /** Names each hazard with the key that would accept it. */
    static String failureMessage(List<Hazard> remaining) {
        StringBuilder sb = new StringBuilder();
        sb.append("unloadguard check: ").append(remaining.size()).append(" unload hazard(s) not accepted")
                .append(" (fix them, or accept each one you have dealt with in <accept>):");
        for (Hazard h : remaining) {
            sb.append("\n  <finding>").append(AcceptedFindings.keyOf(h)).append("</finding>");
            sb.append(h.line() >= 0 ? "  <!-- line " + h.line() + " -->" : "");
        }
        return sb.toString();
    }
}
