import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;

/**
 * Runs many compiled test drivers in one JVM, one after the other.
 *
 * <p>Usage: {@code java BatchRun.java SHARED_DIR CPU_LIMIT_MS WALL_LIMIT_MS STACK_BYTES} with one
 * {@code KEY<TAB>CLASSES_DIR} line per program on standard input. Each program gets a fresh class
 * loader over its own classes and the shared {@code Check} harness (so no static state survives from
 * one program to the next) and runs {@code TestDriver.main} on a new thread with its own stack size.
 * Its standard output is captured and echoed between {@code @@PROG} and {@code @@END} lines.
 *
 * <p>A test case that uses more than CPU_LIMIT_MS of CPU time (or WALL_LIMIT_MS of wall time, for one
 * that sleeps or blocks) ends the program: {@code @@END KEY TIMEOUT}; the driver's output keeps the
 * stopped case as a ThreadDeath error. Where the JVM cannot stop the thread, the batch prints
 * {@code @@END KEY HALTED} and {@code @@HALT}, exits with status 3, and the caller starts a new batch
 * with the programs that were not run.
 */
final class BatchRun {
    private BatchRun() {}

    public static void main(String[] args) throws Exception {
        File shared = new File(args[0]);
        long cpuLimitNs = Long.parseLong(args[1]) * 1_000_000L;
        long wallLimitMs = Long.parseLong(args[2]);
        long stackBytes = Long.parseLong(args[3]);
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\t", 2);
            String key = parts[0];
            File classes = new File(parts[1]);
            ByteArrayOutputStream captured = new ByteArrayOutputStream();
            PrintStream capture = new PrintStream(captured, true, "UTF-8");
            Throwable[] uncaught = new Throwable[1];
            URLClassLoader loader = new URLClassLoader(
                    new URL[] {classes.toURI().toURL(), shared.toURI().toURL()},
                    ClassLoader.getPlatformClassLoader());
            Runnable body = () -> {
                try {
                    Class<?> driver = Class.forName("TestDriver", true, loader);
                    Method main = driver.getDeclaredMethod("main", String[].class);
                    main.setAccessible(true);
                    main.invoke(null, (Object) new String[0]);
                } catch (InvocationTargetException e) {
                    uncaught[0] = e.getCause();
                } catch (Throwable t) {
                    uncaught[0] = t;
                }
            };
            Thread worker = new Thread(null, body, "program", stackBytes);
            worker.setDaemon(true);
            out.println("@@START\t" + key);
            out.flush();
            System.setOut(capture);
            System.setErr(capture);
            long started = System.currentTimeMillis();
            worker.start();
            boolean halted = false;
            boolean timedOut = false;
            // The limits apply to each test case: the budget restarts whenever the driver prints a line.
            // A case over its budget stops the program (the driver reports the stopped case as a
            // ThreadDeath error); a thread that does not stop makes the batch halt.
            int printed = 0;
            long caseCpu = 0;
            long caseWall = started;
            while (worker.isAlive()) {
                worker.join(20);
                long cpu = mx.getThreadCpuTime(worker.getId());
                long now = System.currentTimeMillis();
                if (captured.size() != printed) {
                    printed = captured.size();
                    caseCpu = cpu;
                    caseWall = now;
                } else if (worker.isAlive() && (cpu - caseCpu > cpuLimitNs || now - caseWall > wallLimitMs)) {
                    timedOut = true;
                    halted = !stopProgram(worker);
                    break;
                }
            }
            long wall = System.currentTimeMillis() - started;
            System.setOut(out);
            System.setErr(out);
            capture.flush();
            out.println("@@PROG\t" + key + "\t" + wall);
            String text = captured.toString("UTF-8");
            out.print(text);
            if (!text.isEmpty() && !text.endsWith("\n")) {
                out.println();
            }
            if (uncaught[0] != null && !halted) {
                out.println("@@UNCAUGHT\t" + uncaught[0].getClass().getName());
            }
            out.println("@@END\t" + key + "\t" + (halted ? "HALTED" : timedOut ? "TIMEOUT" : "OK"));
            out.flush();
            if (halted) {
                out.println("@@HALT");
                out.flush();
                Runtime.getRuntime().halt(3);
            }
            loader.close();
        }
    }

    /**
     * Stops a runaway program: ThreadDeath until its thread ends (the driver catches the first one and
     * would go on with the next case). False when it does not end within a second, or when the JVM
     * refuses to stop threads (JDK 20 and later).
     */
    @SuppressWarnings({"deprecation", "removal"})
    private static boolean stopProgram(Thread worker) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 1000;
        while (worker.isAlive() && System.currentTimeMillis() < deadline) {
            try {
                worker.stop();
            } catch (UnsupportedOperationException e) {
                return false;
            }
            worker.join(20);
        }
        return !worker.isAlive();
    }
}
