package fedjava.harness;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs ONE program that fedjava did not write (its TestDriver and Solution on the class path) in this JVM,
 * and sends each case's line to the supervisor over a Unix-domain socket.
 *
 * <p>Usage: {@code java --limit-modules java.base,fedjava.harness --module-path HARNESS -cp CLASSES
 * -m fedjava.harness/fedjava.harness.Isolated SOCKET CPU_MS CASE_WALL_MS PROGRAM_WALL_MS STACK_BYTES
 * [NAMES]}, with {@code --record} before SOCKET for the teacher's reference solution (each case's value is sent
 * as a Java expression, {@link Cases#record}). NAMES (comma-separated) are the program's classes that a test's expected value names though
 * the task does not declare them: one that hides a JDK class or package from the driver would compute
 * the expected value itself ({@code class List} with an {@code of} of its own), so such a program is
 * not run: {@code @@END HIDES NAME JDK-NAME}.
 *
 * <p>The socket is connected before any class of the program is loaded; the supervisor accepts that one
 * connection, closes the listening socket and removes its path, and only then sends the byte this harness
 * waits for: nothing can connect again, and a socket cannot be reopened through /proc/self/fd. The harness's objects are out of the program's reach (this package is not opened,
 * and sun.misc.Unsafe is not in the JVM). What the program prints is only its output.
 *
 * <p>Sent: {@code @@READY}, one {@code @@CASE} line per case in order ({@link Cases}), then
 * {@code @@END OK} once every case has run, or a {@code @@CASE i TIMEOUT call cpu|wall|program MILLIS}
 * line and {@code @@END TIMEOUT} for a case over its budget ({@link Clock}). A run that sends neither
 * ended early: the program ended the JVM (System.exit, Runtime.halt) or disturbed the harness's threads.
 */
public final class Isolated {
    private final List<String> ready = new ArrayList<>();  // lines the case thread has finished
    private boolean stopped;

    private Isolated() {}

    public static void main(String[] args) throws Exception {
        boolean record = args[0].equals("--record");
        if (record) {
            args = java.util.Arrays.copyOfRange(args, 1, args.length);
        }
        Clock.check();
        SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(args[0]));
        // The supervisor's go-ahead: it has closed the listening socket and removed its path.
        if (channel.read(ByteBuffer.allocate(1)) != 1) {
            throw new IOException("the supervisor did not accept the report's connection");
        }
        send(channel, "@@READY");
        for (String name : args.length > 5 ? args[5].split(",") : new String[0]) {
            String hidden = hiddenJdkName(name);
            if (hidden != null) {
                send(channel, "@@END\tHIDES\t" + name + "\t" + hidden);
                Runtime.getRuntime().halt(0);
            }
        }
        Clock clock = new Clock(Long.parseLong(args[1]), Long.parseLong(args[2]), Long.parseLong(args[3]));
        // Unbuffered, so that the program's output is all there when the harness halts the JVM.
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8));
        Cases cases = new Cases(Class.forName("TestDriver", false, ClassLoader.getSystemClassLoader()));
        if (record) {
            cases.record();
        }
        Isolated run = new Isolated();
        Thread worker = new Thread(null, () -> run.work(cases, clock), "program", Long.parseLong(args[4]));
        worker.setDaemon(true);
        try {
            worker.start();
            String end = run.watch(channel, cases, clock, worker);
            send(channel, end);
            Runtime.getRuntime().halt(0);
        } catch (Throwable t) {  // the program stopped or interrupted this thread: no result
            Runtime.getRuntime().halt(4);
        }
    }

    /**
     * What a class of the program named {@code name} hides from the driver, which imports java.util.* (and
     * java.lang.*): a JDK class of that name, or a package starting with it (a class {@code java} takes
     * over {@code java.util.List.of}). Null when it hides nothing of the JDK.
     */
    private static String hiddenJdkName(String name) {
        for (String type : new String[] {"java.lang." + name, "java.util." + name}) {
            try {
                Class.forName(type, false, ClassLoader.getPlatformClassLoader());
                return type;
            } catch (ClassNotFoundException e) {
                continue;
            }
        }
        for (Module module : ModuleLayer.boot().modules()) {
            for (String found : module.getPackages()) {
                if (found.equals(name) || found.startsWith(name + ".")) {
                    return found;
                }
            }
        }
        return null;
    }

    /** The case thread: every case in order, each line handed to {@link #watch}. */
    private void work(Cases cases, Clock clock) {
        try {
            clock.attach();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        for (int i = 0; i < cases.count(); i++) {
            clock.begin(i);
            String line = cases.run(i);
            synchronized (this) {
                if (stopped) {
                    return;
                }
                ready.add(line);
                notifyAll();
            }
        }
    }

    /**
     * Sends the case thread's lines as they come and stops the case over its budget; returns the last line.
     * The decision to stop and the lines sent before it are taken together, so a case has one line only.
     */
    private String watch(SocketChannel channel, Cases cases, Clock clock, Thread worker) throws IOException {
        int sent = 0;
        while (true) {
            List<String> lines;
            String over = null;
            boolean alive;
            synchronized (this) {
                alive = worker.isAlive();  // before taking the lines: a thread that ended has handed in all
                lines = new ArrayList<>(ready);
                ready.clear();
                if (alive && clock.current() == sent + lines.size()) {
                    over = clock.exceeded();
                    stopped = over != null;
                }
                if (lines.isEmpty() && over == null && alive) {
                    try {
                        wait(20);
                    } catch (InterruptedException e) {
                        continue;  // only the program could have interrupted this thread
                    }
                }
            }
            for (String line : lines) {
                send(channel, line);
                sent++;
            }
            if (sent == cases.count()) {
                return "@@END\tOK";
            }
            if (over != null) {
                send(channel, cases.timeout(sent, over, clock.limitMs(over)));
                return "@@END\tTIMEOUT";
            }
            if (!alive) {
                return "@@END\tBROKEN";  // the case thread was stopped from outside the harness
            }
        }
    }

    private static void send(SocketChannel channel, String line) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
    }
}
