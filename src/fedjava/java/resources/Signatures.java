package fedjava.harness;

import java.io.File;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Type;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.Arrays;

/**
 * Lists the constructors and methods of the top-level classes compiled into a folder, with their generic types:
 * what the tests generated from a reference solution call. The classes are loaded without being initialised, so
 * none of their code runs.
 *
 * <p>Usage: {@code java --module-path HARNESS -m fedjava.harness/fedjava.harness.Signatures CLASSES_DIR}. Prints
 * {@code @@CLASS name modifiers kind}, {@code @@CTOR name modifiers (type param-name)...} and {@code @@METHOD name
 * modifiers method return-type (type param-name)...} lines (tab-separated; the modifiers as
 * java.lang.reflect.Modifier's bits; the parameters' names as compiled, real ones with javac -parameters).
 */
public final class Signatures {
    private Signatures() {}

    public static void main(String[] args) throws Exception {
        File folder = new File(args[0]);
        String[] files = folder.list();
        Arrays.sort(files);
        try (URLClassLoader loader = new URLClassLoader(new URL[] {folder.toURI().toURL()},
                ClassLoader.getPlatformClassLoader())) {
            StringBuilder out = new StringBuilder();
            for (String file : files) {
                if (!file.endsWith(".class") || file.contains("$")) {
                    continue;
                }
                Class<?> type = Class.forName(file.substring(0, file.length() - 6), false, loader);
                out.append("@@CLASS\t").append(type.getName()).append('\t').append(type.getModifiers())
                        .append('\t').append(type.isInterface() || type.isEnum() || type.isAnnotation() ? "other" : "class")
                        .append('\n');
                for (Constructor<?> c : type.getDeclaredConstructors()) {
                    if (!c.isSynthetic()) {
                        out.append("@@CTOR\t").append(type.getName()).append('\t').append(c.getModifiers())
                                .append(parameters(c)).append('\n');
                    }
                }
                Method[] methods = type.getDeclaredMethods();
                Arrays.sort(methods, java.util.Comparator.comparing(Method::getName)
                        .thenComparing(Method::toGenericString));
                for (Method m : methods) {
                    if (!m.isSynthetic() && !m.isBridge()) {
                        out.append("@@METHOD\t").append(type.getName()).append('\t').append(m.getModifiers())
                                .append('\t').append(m.getName()).append('\t')
                                .append(m.getGenericReturnType().getTypeName())
                                .append(parameters(m)).append('\n');
                    }
                }
            }
            System.out.print(out);
        }
    }

    private static String parameters(java.lang.reflect.Executable e) {
        StringBuilder out = new StringBuilder();
        Type[] types = e.getGenericParameterTypes();
        java.lang.reflect.Parameter[] named = e.getParameters();
        for (int i = 0; i < types.length; i++) {
            out.append('\t').append(types[i].getTypeName()).append('\t')
                    .append(i < named.length ? named[i].getName() : "arg" + i);
        }
        return out.toString();
    }
}
