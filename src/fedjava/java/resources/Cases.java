package fedjava.harness;

import java.lang.reflect.Array;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * The test cases of one generated TestDriver, run one at a time and described in one line each.
 *
 * <p>The driver (tasks.render_driver) only evaluates a case: {@code TestDriver.run(i)} returns
 * {@code {expected, actual}}. Comparing them and writing the line is done here, so nothing the student's
 * code prints or calls can produce a result line:
 * <pre>
 * @@CASE  i  PASS   call
 * @@CASE  i  FAIL   call  expected  actual
 * @@CASE  i  ERROR  call  exception-class  student-line  message
 * @@CASE  i  VALUE  call  java-expression           (recording a reference solution's values)
 * </pre>
 * (tab-separated, with tabs, newlines and backslashes escaped). A driver may return a third element, the message
 * of a JUnit assertion that failed: the case fails whatever the two values are.
 *
 * <p>Recording ({@link #record}) is for the teacher's reference solution only: each case's value is written as a
 * Java expression that makes it again ({@link Literal}), the expected value of a generated test.
 */
final class Cases {
    private final Method run;
    private final String[] calls;
    private boolean recording;

    /** The cases of {@code driver}; its static methods {@code cases()}, {@code call(i)} and {@code run(i)}. */
    Cases(Class<?> driver) throws ReflectiveOperationException {
        run = driver.getDeclaredMethod("run", int.class);
        run.setAccessible(true);
        Method count = driver.getDeclaredMethod("cases");
        Method call = driver.getDeclaredMethod("call", int.class);
        count.setAccessible(true);
        call.setAccessible(true);
        calls = new String[(Integer) count.invoke(null)];
        for (int i = 0; i < calls.length; i++) {
            calls[i] = (String) call.invoke(null, i);
        }
    }

    int count() {
        return calls.length;
    }

    /** From now on a case's line is its value as a Java expression, not a comparison. */
    void record() {
        recording = true;
    }

    String call(int index) {
        return calls[index];
    }

    /** Runs case {@code index} and describes it; whatever it throws (a ThreadDeath included) is an ERROR. */
    String run(int index) {
        try {
            Object[] pair = (Object[]) run.invoke(null, index);
            if (recording) {
                String literal = Literal.of(pair[1]);
                return "@@CASE\t" + index + "\tVALUE\t" + esc(calls[index]) + "\t" + esc(literal == null ? "" : literal);
            }
            if (pair.length > 2 && same(pair[0], pair[1])) {  // a failed assertion whose values look alike
                return "@@CASE\t" + index + "\tFAIL\t" + esc(calls[index]) + "\t" + esc(show(pair[0])) + "\t"
                        + esc(String.valueOf(pair[2]));
            }
            return compare(index, pair[0], pair[1]);
        } catch (InvocationTargetException e) {
            return error(index, e.getCause());
        } catch (Throwable t) {  // from the student's equals or toString, called while comparing
            return error(index, t);
        }
    }

    /** The line of a case stopped over its budget: {@code reason} is "cpu" or "wall", after {@code millis}. */
    String timeout(int index, String reason, long millis) {
        return "@@CASE\t" + index + "\tTIMEOUT\t" + esc(calls[index]) + "\t" + reason + "\t" + millis;
    }

    private String compare(int index, Object expected, Object actual) {
        if (same(expected, actual)) {
            return "@@CASE\t" + index + "\tPASS\t" + esc(calls[index]);
        }
        return "@@CASE\t" + index + "\tFAIL\t" + esc(calls[index]) + "\t" + esc(show(expected)) + "\t"
                + esc(show(actual));
    }

    String error(int index, Throwable t) {
        int line = t instanceof StackOverflowError ? recursionLine(t) : -1;
        for (StackTraceElement frame : t.getStackTrace()) {
            if (line < 0 && "Solution.java".equals(frame.getFileName())) {
                line = frame.getLineNumber();
                break;
            }
        }
        String message = t.getMessage() == null ? "" : t.getMessage();
        return "@@CASE\t" + index + "\tERROR\t" + esc(calls[index]) + "\t" + t.getClass().getName() + "\t" + line
                + "\t" + esc(message);
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
                if (dx == dy || (Double.isNaN(dx) && Double.isNaN(dy))) {  // infinities, and NaN is NaN
                    return true;
                }
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
        if (a instanceof java.util.Deque && b instanceof java.util.Deque) {  // ArrayDeque has no equals of its own
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
        sorted.sort(java.util.Comparator.comparing(Cases::show));
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

    static String esc(String s) {
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }
}
