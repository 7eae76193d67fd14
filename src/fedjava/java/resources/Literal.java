package fedjava.harness;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A value as a Java expression that makes an equal value again: the expected value of a test generated from a
 * reference solution. Exact types are kept ({@code 5L}, {@code (short) 5}, {@code 'a'}), because a set or a map
 * compares its elements with equals, where Integer 5 is not Long 5. Null when the value has no such expression
 * (an object of the program's own classes): that input is left out.
 */
final class Literal {
    private static final int MAX_LENGTH = 4000;

    private Literal() {}

    static String of(Object value) {
        StringBuilder out = new StringBuilder();
        return write(value, out) && out.length() <= MAX_LENGTH ? out.toString() : null;
    }

    private static boolean write(Object v, StringBuilder out) {
        if (out.length() > MAX_LENGTH) {
            return false;
        }
        if (v == null) {
            out.append("null");
        } else if (v instanceof Integer) {
            int i = (Integer) v;
            out.append(i == Integer.MIN_VALUE ? "java.lang.Integer.MIN_VALUE" : Integer.toString(i));
        } else if (v instanceof Long) {
            long l = (Long) v;
            out.append(l == Long.MIN_VALUE ? "java.lang.Long.MIN_VALUE" : l + "L");
        } else if (v instanceof Short) {
            out.append("(short) ").append(parenthesised(v.toString()));
        } else if (v instanceof Byte) {
            out.append("(byte) ").append(parenthesised(v.toString()));
        } else if (v instanceof Double) {
            out.append(doubleText((Double) v));
        } else if (v instanceof Float) {
            float f = (Float) v;
            out.append(Float.isNaN(f) ? "java.lang.Float.NaN" : Float.isInfinite(f)
                    ? (f > 0 ? "java.lang.Float.POSITIVE_INFINITY" : "java.lang.Float.NEGATIVE_INFINITY") : f + "f");
        } else if (v instanceof Boolean) {
            out.append(v);
        } else if (v instanceof Character) {
            out.append('\'').append(escape((Character) v, '\'')).append('\'');
        } else if (v instanceof String) {
            out.append('"');
            for (char c : ((String) v).toCharArray()) {
                out.append(escape(c, '"'));
            }
            out.append('"');
        } else if (v.getClass().isArray()) {
            return array(v, out);
        } else if (v instanceof List || v instanceof Set || v instanceof Deque) {
            return collection((Collection<?>) v, out);
        } else if (v instanceof Map) {
            return map((Map<?, ?>) v, out);
        } else if (v instanceof Optional) {
            Optional<?> o = (Optional<?>) v;
            if (o.isEmpty()) {
                out.append("java.util.Optional.empty()");
            } else {
                out.append("java.util.Optional.of(");
                if (!write(o.get(), out)) {
                    return false;
                }
                out.append(')');
            }
        } else {
            return false;
        }
        return true;
    }

    private static String parenthesised(String number) {
        return number.startsWith("-") ? "(" + number + ")" : number;
    }

    private static String doubleText(double d) {
        if (Double.isNaN(d)) {
            return "java.lang.Double.NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "java.lang.Double.POSITIVE_INFINITY" : "java.lang.Double.NEGATIVE_INFINITY";
        }
        return Double.toString(d) + "d";
    }

    /** A char inside a literal: never a unicode escape of a quote, backslash or line end (javac reads those first). */
    private static String escape(char c, char quote) {
        switch (c) {
            case '\\': return "\\\\";
            case '\n': return "\\n";
            case '\r': return "\\r";
            case '\t': return "\\t";
            case '\b': return "\\b";
            case '\f': return "\\f";
            default:
                if (c == quote) {
                    return "\\" + c;
                }
                if (c < 0x20 || c >= 0x7f) {
                    return String.format("\\u%04x", (int) c);
                }
                return String.valueOf(c);
        }
    }

    private static boolean array(Object v, StringBuilder out) {
        String type = v.getClass().getCanonicalName();  // int[][], java.lang.String[]
        if (type == null || !jdkType(v.getClass())) {
            return false;
        }
        out.append("new ").append(type).append(" {");
        for (int i = 0; i < Array.getLength(v); i++) {
            if (i > 0) {
                out.append(", ");
            }
            if (!write(Array.get(v, i), out)) {
                return false;
            }
        }
        out.append('}');
        return true;
    }

    private static boolean jdkType(Class<?> type) {
        while (type.isArray()) {
            type = type.getComponentType();
        }
        return type.isPrimitive() || type.getName().startsWith("java.");
    }

    /** A list, set or deque from an explicit Object[] (asList would spread a lone String[] into elements). */
    private static boolean collection(Collection<?> items, StringBuilder out) {
        String open = items instanceof List ? "java.util.Arrays.asList(" : items instanceof Set
                ? "new java.util.HashSet<>(java.util.Arrays.asList(" : "new java.util.ArrayDeque<>(java.util.Arrays.asList(";
        out.append(open).append("new java.lang.Object[] {");
        boolean first = true;
        for (Object item : items) {
            if (!first) {
                out.append(", ");
            }
            first = false;
            if (!write(item, out)) {
                return false;
            }
        }
        out.append(items instanceof List ? "})" : "}))");
        return true;
    }

    private static boolean map(Map<?, ?> map, StringBuilder out) {
        List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
        entries.sort(Comparator.comparing(e -> Cases.show(e.getKey())));
        out.append("new java.util.HashMap<>(java.util.Map.ofEntries(");
        boolean first = true;
        for (Map.Entry<?, ?> e : entries) {
            if (e.getKey() == null || e.getValue() == null) {
                return false;  // Map.entry takes no null
            }
            out.append(first ? "" : ", ").append("java.util.Map.entry(");
            first = false;
            if (!write(e.getKey(), out)) {
                return false;
            }
            out.append(", ");
            if (!write(e.getValue(), out)) {
                return false;
            }
            out.append(')');
        }
        out.append("))");
        return true;
    }
}
