import java.lang.reflect.Array;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/** Test harness shared by every generated TestDriver: compares values and prints one line a case. */
final class Check {
    private static int passed = 0;
    private static int total = 0;

    private Check() {}

    static void pass(int index, String call) {
        passed++;
        total++;
        System.out.println("@@CASE\t" + index + "\tPASS\t" + esc(call));
    }

    static void compare(int index, String call, Object expected, Object actual) {
        if (same(expected, actual)) {
            pass(index, call);
        } else {
            total++;
            System.out.println("@@CASE\t" + index + "\tFAIL\t" + esc(call) + "\t" + esc(show(expected))
                    + "\t" + esc(show(actual)));
        }
    }

    static void error(int index, String call, Throwable t) {
        total++;
        int line = t instanceof StackOverflowError ? recursionLine(t) : -1;
        for (StackTraceElement frame : t.getStackTrace()) {
            if (line < 0 && "Solution.java".equals(frame.getFileName())) {
                line = frame.getLineNumber();
                break;
            }
        }
        String message = t.getMessage() == null ? "" : t.getMessage();
        System.out.println("@@CASE\t" + index + "\tERROR\t" + esc(call) + "\t" + t.getClass().getName()
                + "\t" + line + "\t" + esc(message));
    }

    /**
     * The student's line that appears most often in an overflowing stack: the recursive call. The top
     * frame alone depends on where the stack happened to run out.
     */
    private static int recursionLine(Throwable t) {
        Map<Integer, Integer> counts = new java.util.HashMap<>();
        int best = -1;
        int bestCount = 0;
        for (StackTraceElement frame : t.getStackTrace()) {
            if ("Solution.java".equals(frame.getFileName())) {
                int n = counts.merge(frame.getLineNumber(), 1, Integer::sum);
                if (n > bestCount || (n == bestCount && frame.getLineNumber() < best)) {
                    best = frame.getLineNumber();
                    bestCount = n;
                }
            }
        }
        return best;
    }

    static void done() {
        System.out.println("@@DONE\t" + passed + "\t" + total);
    }

    static boolean same(Object a, Object b) {
        if (a == null || b == null) {
            return a == b;
        }
        if (a instanceof Number && b instanceof Number) {
            Number x = (Number) a;
            Number y = (Number) b;
            if (isFloating(x) || isFloating(y)) {
                double dx = x.doubleValue();
                double dy = y.doubleValue();
                return Math.abs(dx - dy) <= 1e-6 * Math.max(1.0, Math.abs(dx));
            }
            return x.longValue() == y.longValue();
        }
        if (a.getClass().isArray() && b.getClass().isArray()) {
            int n = Array.getLength(a);
            if (n != Array.getLength(b)) {
                return false;
            }
            for (int i = 0; i < n; i++) {
                if (!same(Array.get(a, i), Array.get(b, i))) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof java.util.List && b instanceof java.util.List) {
            return sameIter((Collection<?>) a, (Collection<?>) b);
        }
        return a.equals(b);
    }

    private static boolean sameIter(Collection<?> a, Collection<?> b) {
        if (a.size() != b.size()) {
            return false;
        }
        Iterator<?> i = a.iterator();
        Iterator<?> j = b.iterator();
        while (i.hasNext()) {
            if (!same(i.next(), j.next())) {
                return false;
            }
        }
        return true;
    }

    private static boolean isFloating(Number n) {
        return n instanceof Double || n instanceof Float;
    }

    static String show(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof String) {
            return "\"" + v + "\"";
        }
        if (v instanceof Character) {
            return "'" + v + "'";
        }
        if (v.getClass().isArray()) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < Array.getLength(v); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                sb.append(show(Array.get(v, i)));
            }
            return sb.append("]").toString();
        }
        if (v instanceof Collection) {
            StringBuilder sb = new StringBuilder("[");
            boolean first = true;
            for (Object o : inStableOrder((Collection<?>) v)) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                sb.append(show(o));
            }
            return sb.append("]").toString();
        }
        if (v instanceof Map) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : inStableOrder(((Map<?, ?>) v).entrySet(), v)) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                sb.append(show(e.getKey())).append("=").append(show(e.getValue()));
            }
            return sb.append("}").toString();
        }
        return String.valueOf(v);
    }

    /**
     * Elements in an order that is the same in every JVM: as iterated for lists and ordered sets, sorted
     * by their shown text for other sets ({@code Set.of} iterates in a per-JVM random order).
     */
    private static Collection<?> inStableOrder(Collection<?> items) {
        if (items instanceof java.util.List || items instanceof java.util.SortedSet
                || items instanceof java.util.LinkedHashSet || !(items instanceof java.util.Set)) {
            return items;
        }
        java.util.List<Object> sorted = new java.util.ArrayList<>(items);
        sorted.sort(java.util.Comparator.comparing(Check::show));
        return sorted;
    }

    /** Map entries in a stable order: as iterated for sorted and linked maps, else sorted by key text. */
    private static Collection<? extends Map.Entry<?, ?>> inStableOrder(
            java.util.Set<? extends Map.Entry<?, ?>> entries, Object map) {
        if (map instanceof java.util.SortedMap || map instanceof java.util.LinkedHashMap) {
            return entries;
        }
        java.util.List<Map.Entry<?, ?>> sorted = new java.util.ArrayList<>(entries);
        sorted.sort(java.util.Comparator.comparing(e -> show(e.getKey())));
        return sorted;
    }

    private static String esc(String s) {
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }
}
