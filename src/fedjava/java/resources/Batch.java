package fedjava.harness;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs many compiled programs in one JVM, one after the other: ONLY for programs fedjava generated itself
 * (the data build's mutants of its tasks' solutions). They share this JVM, its threads and what it can
 * read, so a program could change another's results; a program fedjava did not write runs in a JVM of its
 * own ({@link Isolated}).
 *
 * <p>Usage: {@code java --module-path HARNESS -m fedjava.harness/fedjava.harness.Batch CPU_MS CASE_WALL_MS
 * PROGRAM_WALL_MS STACK_BYTES} with one {@code KEY<TAB>CLASSES_DIR} line per program on standard input.
 * Each program gets a fresh class loader over its classes and runs its cases on a new thread with its own
 * stack size. Its standard output, and a {@code @@CASE} line per case ({@link Cases}), are captured and
 * echoed between {@code @@PROG} and {@code @@END} lines.
 *
 * <p>A case over a budget ({@link Clock}) ends the program: its thread is stopped, the case is reported as
 * a ThreadDeath error, and {@code @@END KEY TIMEOUT cpu|wall|program MILLIS}. Where the JVM cannot stop
 * the thread, the batch prints {@code @@END KEY HALTED} and {@code @@HALT} and exits with status 3, and
 * the caller starts a new batch with the programs that were not run.
 */
public final class Batch {
    private Batch() {}

    public static void main(String[] args) throws Exception {
        long cpuLimitMs = Long.parseLong(args[0]);
        long caseWallMs = Long.parseLong(args[1]);
        long programWallMs = Long.parseLong(args[2]);
        long stackBytes = Long.parseLong(args[3]);
        Clock.check();
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (!line.isEmpty()) {
                String[] parts = line.split("\t", 2);
                run(parts[0], new File(parts[1]), out, new Clock(cpuLimitMs, caseWallMs, programWallMs), stackBytes);
            }
        }
    }

    private static void run(String key, File classes, PrintStream out, Clock clock, long stackBytes)
            throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream capture = new PrintStream(captured, true, StandardCharsets.UTF_8);
        Throwable[] uncaught = new Throwable[1];
        AtomicBoolean stopping = new AtomicBoolean();
        URLClassLoader loader = new URLClassLoader(new URL[] {classes.toURI().toURL()},
                ClassLoader.getPlatformClassLoader());
        Runnable body = () -> {
            try {
                clock.attach();
                Cases cases = new Cases(Class.forName("TestDriver", false, loader));
                for (int i = 0; i < cases.count() && !stopping.get(); i++) {
                    clock.begin(i);
                    capture.println(cases.run(i));
                }
            } catch (Throwable t) {
                if (!(stopping.get() && t instanceof ThreadDeath)) {  // ours, outside the case it stopped
                    uncaught[0] = t;
                }
            }
        };
        Thread worker = new Thread(null, body, "program", stackBytes);
        worker.setDaemon(true);
        out.println("@@START\t" + key);
        System.setOut(capture);
        System.setErr(capture);
        long started = System.currentTimeMillis();
        worker.start();
        boolean halted = false;
        String over = null;
        while (worker.isAlive()) {
            worker.join(20);
            over = worker.isAlive() ? clock.exceeded() : null;
            if (over != null) {
                stopping.set(true);  // the stopped case is reported as a ThreadDeath error, and is the last
                halted = !stopProgram(worker);
                break;
            }
        }
        long wall = System.currentTimeMillis() - started;
        System.setOut(out);
        System.setErr(out);
        capture.flush();
        out.println("@@PROG\t" + key + "\t" + wall);
        String text = captured.toString(StandardCharsets.UTF_8);
        out.print(text);
        if (!text.isEmpty() && !text.endsWith("\n")) {
            out.println();
        }
        if (uncaught[0] != null && !halted) {
            out.println("@@UNCAUGHT\t" + uncaught[0].getClass().getName());
        }
        String status = halted ? "HALTED" : over != null ? "TIMEOUT\t" + over + "\t" + clock.limitMs(over) : "OK";
        out.println("@@END\t" + key + "\t" + status);
        if (halted) {
            out.println("@@HALT");
            Runtime.getRuntime().halt(3);
        }
        loader.close();
    }

    /**
     * Stops a runaway program: ThreadDeath until its thread ends. False when it does not end within a
     * second, or when the JVM refuses to stop threads (JDK 20 and later).
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
