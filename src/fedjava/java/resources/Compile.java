package fedjava.harness;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * Compiles many programs in one JVM. Reads one folder per line on stdin; compiles the folder's
 * Solution.java and TestDriver.java into folder/out, with the class path (an empty folder) given as the
 * first argument. A line "folder\tA.java\tB.java..." compiles those files instead.
 * Prints "@@DIR\tfolder\tOK|FAIL" and one "@@DIAG" line per error.
 *
 * <p>Usage: {@code java --add-modules jdk.compiler --module-path HARNESS -m fedjava.harness/fedjava.harness.Compile
 * CLASS_PATH}. Nothing of the programs runs: annotation processing is off.
 */
public final class Compile {
    private Compile() {}

    public static void main(String[] args) throws Exception {
        String shared = args[0];
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (StandardJavaFileManager files = compiler.getStandardFileManager(null, Locale.ENGLISH, StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                String[] parts = line.split("\t");
                String folder = parts[0];
                File out = new File(folder, "out");
                out.mkdirs();
                List<File> sources = new ArrayList<>();
                if (parts.length > 1) {
                    for (int i = 1; i < parts.length; i++) {
                        sources.add(new File(folder, parts[i]));
                    }
                } else {
                    sources.add(new File(folder, "Solution.java"));
                    sources.add(new File(folder, "TestDriver.java"));
                }
                Iterable<? extends JavaFileObject> units = files.getJavaFileObjects(sources.toArray(new File[0]));
                DiagnosticCollector<JavaFileObject> collector = new DiagnosticCollector<>();
                List<String> options = new ArrayList<>(List.of("-g", "-nowarn", "-encoding", "UTF-8",
                        "-d", out.getPath(), "-cp", shared, "-Xlint:none", "-proc:none"));
                boolean ok = compiler.getTask(null, files, collector, options, null, units).call();
                StringBuilder sb = new StringBuilder();
                sb.append("@@DIR\t").append(folder).append('\t').append(ok ? "OK" : "FAIL").append('\n');
                for (Diagnostic<? extends JavaFileObject> d : collector.getDiagnostics()) {
                    if (d.getKind() != Diagnostic.Kind.ERROR) {
                        continue;
                    }
                    String name = d.getSource() == null ? "" : new File(d.getSource().getName()).getName();
                    String message = d.getMessage(Locale.ENGLISH);
                    sb.append("@@DIAG\t").append(name).append('\t').append(d.getLineNumber()).append('\t')
                            .append(d.getColumnNumber()).append('\t').append(d.getCode()).append('\t')
                            .append(Cases.esc(message)).append('\n');
                }
                System.out.print(sb);
                System.out.flush();
            }
        }
    }
}
