package dev.unloadguard.maven;

import java.io.File;
import java.util.Map;
import java.util.Properties;
import org.apache.maven.artifact.Artifact;
import org.apache.maven.execution.MavenSession;
import org.apache.maven.plugin.AbstractMojo;
import org.apache.maven.plugin.MojoExecutionException;
import org.apache.maven.plugins.annotations.LifecyclePhase;
import org.apache.maven.plugins.annotations.Mojo;
import org.apache.maven.plugins.annotations.Parameter;
import org.apache.maven.project.MavenProject;

/**
 * Makes the project's test JVMs start with the unloadguard agent: sets a project property
 * (default {@code argLine}, which Surefire and Failsafe read) to
 * {@code -javaagent:/path/to/unloadguard-agent.jar} followed by the property's previous value.
 * The agent jar is the one of this plugin's own version, resolved as a dependency of the plugin.
 *
 * <p>Keep your own JVM arguments in the property, not in the Surefire configuration (an
 * {@code <argLine>} there replaces the property):
 * {@code <properties><argLine>-Xmx512m</argLine></properties>}, or
 * {@code <argLine>@{argLine} -Xmx512m</argLine>} in Surefire's configuration. A
 * {@code -DargLine=...} on the command line is the previous value too, but Maven then gives
 * Surefire the command line's value, not this property: use another {@code propertyName} and
 * {@code @{thatName}} in Surefire's configuration if you pass argLine on the command line.
 */
@Mojo(name = "prepare-agent", defaultPhase = LifecyclePhase.INITIALIZE, threadSafe = true)
public class PrepareAgentMojo extends AbstractMojo {

    /** The versionless key of the agent jar in the plugin's artifact map. */
    static final String AGENT = "dev.unloadguard:unloadguard-agent";

    @Parameter(defaultValue = "${project}", readonly = true, required = true)
    private MavenProject project;

    @Parameter(defaultValue = "${session}", readonly = true, required = true)
    private MavenSession session;

    @Parameter(defaultValue = "${plugin.artifactMap}", readonly = true, required = true)
    private Map<String, Artifact> pluginArtifactMap;

    /** The project property to set; Surefire and Failsafe read {@code argLine}. */
    @Parameter(property = "unloadguard.propertyName", defaultValue = "argLine")
    private String propertyName;

    /** Leaves the property as it is. */
    @Parameter(property = "unloadguard.skip", defaultValue = "false")
    private boolean skip;

    @Override
    public void execute() throws MojoExecutionException {
        if (skip) {
            getLog().info("Skipping unloadguard prepare-agent (skip=true): " + propertyName + " left as it is");
            return;
        }
        Artifact agent = pluginArtifactMap.get(AGENT);
        File jar = agent == null ? null : agent.getFile();
        if (jar == null || !jar.isFile()) {
            throw new MojoExecutionException("unloadguard-maven-plugin could not find its agent jar (" + AGENT + ", "
                    + (agent == null ? "not among the plugin's dependencies" : "file " + jar) + "): do not exclude it "
                    + "from the plugin's dependencies; in the unloadguard build itself, run at least the package phase");
        }
        String option = ArgLines.agentOption(jar.toPath());
        Properties properties = project.getProperties();
        String previous = session.getUserProperties().getProperty(propertyName, properties.getProperty(propertyName));
        String value = ArgLines.prepend(previous, option);
        properties.setProperty(propertyName, value);
        getLog().info(propertyName + " set to " + value);
    }
}
