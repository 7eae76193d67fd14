/**
 * The test harness: runs a generated TestDriver's cases and reports each result.
 *
 * <p>No package is exported or opened: a student's code (in the unnamed module, on the class path) can
 * neither call the harness nor read or set its fields by reflection (InaccessibleObjectException).
 * jdk.compiler is only needed by {@code Compile}, which is started with {@code --add-modules jdk.compiler};
 * a student's JVM runs with {@code --limit-modules java.base,fedjava.harness}.
 */
module fedjava.harness {
    requires static java.compiler;
}
