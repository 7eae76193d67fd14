package fedjava.harness;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The budgets of one program's run: the CPU time and the wall time of each test case, and the wall time of
 * the whole program, counted from when the case (or the program) began. Nothing the program does, printing
 * included, resets them.
 *
 * <p>CPU time is the case thread's own, read from {@code /proc/self/task/TID/schedstat} (what the kernel
 * counts for the thread, in nanoseconds), so that a busy machine does not turn slow programs into timeouts;
 * the wall clocks catch a program that sleeps, blocks or leaves the work to other threads.
 */
final class Clock {
    private final long cpuLimitNs;
    private final long caseWallMs;
    private final long programWallMs;
    private final long programStart = System.currentTimeMillis();
    private Path cpuFile;
    private int index = -1;
    private long caseCpu;
    private long caseStart;

    Clock(long cpuLimitMs, long caseWallMs, long programWallMs) {
        this.cpuLimitNs = cpuLimitMs * 1_000_000L;
        this.caseWallMs = caseWallMs;
        this.programWallMs = programWallMs;
    }

    /** Fails where a thread's CPU time cannot be read: called before any of the program's code runs. */
    static void check() throws IOException {
        Files.readString(Path.of("/proc/thread-self/schedstat"));
    }

    /** Called on the case thread before its first case: which thread's CPU time counts. */
    synchronized void attach() throws IOException {
        String self = Files.readSymbolicLink(Path.of("/proc/thread-self")).toString();  // PID/task/TID
        cpuFile = Path.of("/proc/self/task", self.substring(self.lastIndexOf('/') + 1), "schedstat");
    }

    /** Case {@code index} begins now. */
    synchronized void begin(int index) {
        this.index = index;
        caseCpu = cpuNs();
        caseStart = System.currentTimeMillis();
    }

    /** The case being run (-1 before the first). */
    synchronized int current() {
        return index;
    }

    /**
     * Which budget the current case has run out of: "cpu", "wall" (its own wall clock), "program" (the
     * program's), or null.
     */
    synchronized String exceeded() {
        if (index < 0) {
            return null;
        }
        long now = System.currentTimeMillis();
        if (now - programStart > programWallMs) {
            return "program";
        }
        if (now - caseStart > caseWallMs) {
            return "wall";
        }
        long cpu = cpuNs();
        return cpu >= 0 && cpu - caseCpu > cpuLimitNs ? "cpu" : null;
    }

    /** Milliseconds the budget named by {@link #exceeded} allows. */
    long limitMs(String reason) {
        return "cpu".equals(reason) ? cpuLimitNs / 1_000_000L : "wall".equals(reason) ? caseWallMs : programWallMs;
    }

    private long cpuNs() {
        try {
            String text = Files.readString(cpuFile);
            return Long.parseLong(text.substring(0, text.indexOf(' ')));
        } catch (IOException | RuntimeException e) {
            return -1;  // the thread has just ended: nothing left to time
        }
    }
}
