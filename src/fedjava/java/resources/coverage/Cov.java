import java.util.Map;
import java.util.TreeMap;

/**
 * The probe instrumented student code calls: {@code Cov.hit(line)} at the start of every line of Solution.java
 * that runs. {@link LineCoverage} loads it in the same class loader as the student's classes; CoverageDriver calls
 * {@code begin(i)} before test case i, so the lines hit in between belong to case i.
 */
public final class Cov {
    private static final int LINES = 1 << 13;
    private static final Map<Integer, boolean[]> BY_CASE = new TreeMap<>();
    private static volatile boolean[] lines = new boolean[LINES];
    private static volatile int current = -1;

    private Cov() {}

    public static void hit(int line) {
        if (line > 0 && line < LINES) {
            lines[line] = true;
        }
    }

    /** Starts test case {@code index} (-1: no more cases); what was hit since the last call goes to that case. */
    public static synchronized void begin(int index) {
        if (current >= 0) {
            BY_CASE.put(current, lines);
        }
        lines = new boolean[LINES];
        current = index;
    }

    public static int current() {
        return current;
    }

    /** The lines of every case run so far, the current one included; no case runs after this. */
    public static synchronized Map<Integer, boolean[]> finish() {
        begin(-1);
        return BY_CASE;
    }
}
