import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.Method;
import java.nio.file.Files;
import jdk.internal.org.objectweb.asm.ClassReader;
import jdk.internal.org.objectweb.asm.ClassVisitor;
import jdk.internal.org.objectweb.asm.ClassWriter;
import jdk.internal.org.objectweb.asm.Label;
import jdk.internal.org.objectweb.asm.MethodVisitor;
import jdk.internal.org.objectweb.asm.Opcodes;

/**
 * Which lines of Solution.java each test case runs: the per-test line coverage that spectrum-based fault
 * localisation ranks lines with.
 *
 * <p>Usage: {@code java --add-exports java.base/jdk.internal.org.objectweb.asm=ALL-UNNAMED -cp TOOL LineCoverage
 * CPU_LIMIT_MS TAG}, with one {@code KEY<TAB>CLASSES} line per program on standard input. Each program's classes
 * (the student's, compiled with -g, and its CoverageDriver) are loaded through a class loader of their own that
 * inserts {@code Cov.hit(line)} at every line-number entry of a class whose source file is Solution.java (the JDK's
 * own copy of ASM rewrites the bytecode: the source is not instrumented, so any program javac compiles is
 * measured), with a Cov of their own. CoverageDriver runs case i after calling {@code Cov.begin(i)}; then the lines
 * of each case are printed as {@code TAG COV KEY i l1,l2,...} and {@code TAG END KEY OK|STOPPED}. A case that uses
 * more than CPU_LIMIT_MS of CPU time stops its program after its lines so far are kept (an endless loop's lines are
 * the ones that matter); a thread that cannot be stopped makes the batch print {@code TAG HALT KEY} and exit with
 * status 3, for the caller to go on with the programs not yet run. What programs print goes to stderr, so it
 * cannot be taken for a result line.
 */
final class LineCoverage {
    private LineCoverage() {}

    public static void main(String[] args) throws Exception {
        long cpuLimitNs = Long.parseLong(args[0]) * 1_000_000L;
        String tag = args[1];
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err);
        java.io.BufferedReader in = new java.io.BufferedReader(
                new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (!line.isBlank()) {
                String[] parts = line.split("\t", 2);
                cover(parts[0], new File(parts[1]), cpuLimitNs, tag, out);
            }
        }
        out.flush();
        Runtime.getRuntime().halt(0);
    }

    private static void cover(String key, File classes, long cpuLimitNs, String tag, PrintStream out)
            throws Exception {
        Instrumenting loader = new Instrumenting(classes, LineCoverage.class.getClassLoader());
        Class<?> cov = loader.loadClass("Cov");
        Method finish = cov.getMethod("finish");
        Method current = cov.getMethod("current");
        Method main = loader.loadClass("CoverageDriver").getDeclaredMethod("main", String[].class);
        main.setAccessible(true);
        Thread worker = new Thread(null, () -> {
            try {
                main.invoke(null, (Object) new String[0]);
            } catch (Throwable t) {
                // the driver catches each case's exceptions; anything else ends the program like a stopped case
            }
        }, "program", 1 << 24);
        worker.setDaemon(true);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        worker.start();
        int seen = -1;
        long caseCpu = 0;
        boolean stopped = false;
        while (worker.isAlive()) {
            worker.join(10);
            int now = (Integer) current.invoke(null);
            long cpu = mx.getThreadCpuTime(worker.getId());
            if (now != seen) {
                seen = now;
                caseCpu = cpu;
            } else if (worker.isAlive() && cpu - caseCpu > cpuLimitNs) {
                stopped = true;
                break;
            }
        }
        print(out, tag, key, finish.invoke(null));
        out.println(tag + " END " + key + (stopped ? " STOPPED" : " OK"));
        out.flush();
        if (stopped && !stop(worker)) {
            out.println(tag + " HALT " + key);
            out.flush();
            Runtime.getRuntime().halt(3);
        }
    }

    /** Stops a runaway program's thread: false when it does not end within a second (or the JVM refuses). */
    @SuppressWarnings({"deprecation", "removal"})
    private static boolean stop(Thread worker) throws InterruptedException {
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

    /** One {@code TAG COV KEY i l1,l2,...} line per case that ran. */
    @SuppressWarnings("unchecked")
    static void print(PrintStream out, String tag, String key, Object byCase) {
        for (java.util.Map.Entry<Integer, boolean[]> e : ((java.util.Map<Integer, boolean[]>) byCase).entrySet()) {
            StringBuilder sb = new StringBuilder(tag).append(" COV ").append(key).append(' ').append(e.getKey())
                    .append(' ');
            boolean first = true;
            for (int line = 1; line < e.getValue().length; line++) {
                if (e.getValue()[line]) {
                    sb.append(first ? "" : ",").append(line);
                    first = false;
                }
            }
            out.println(sb);
        }
    }

    /** Loads CLASSES' classes itself (instrumented when they come from Solution.java) and Cov from the tool. */
    private static final class Instrumenting extends ClassLoader {
        private final File classes;
        private final ClassLoader tool;

        Instrumenting(File classes, ClassLoader tool) {
            super(ClassLoader.getPlatformClassLoader());
            this.classes = classes;
            this.tool = tool;
        }

        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
            File file = new File(classes, name.replace('.', '/') + ".class");
            byte[] bytes;
            try {
                if (file.isFile()) {
                    bytes = instrument(Files.readAllBytes(file.toPath()));
                } else if (name.equals("Cov")) {
                    bytes = tool.getResourceAsStream("Cov.class").readAllBytes();
                } else {
                    throw new ClassNotFoundException(name);
                }
            } catch (IOException e) {
                throw new ClassNotFoundException(name, e);
            }
            return defineClass(name, bytes, 0, bytes.length);
        }
    }

    static byte[] instrument(byte[] bytes) {
        ClassReader reader = new ClassReader(bytes);
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        boolean[] student = new boolean[1];
        reader.accept(new ClassVisitor(Opcodes.ASM8, writer) {
            @Override
            public void visitSource(String source, String debug) {
                student[0] = "Solution.java".equals(source);
                super.visitSource(source, debug);
            }

            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String sig, String[] ex) {
                MethodVisitor next = super.visitMethod(access, name, desc, sig, ex);
                if (!student[0]) {
                    return next;
                }
                return new Probes(next);
            }
        }, 0);
        return writer.toByteArray();
    }

    /**
     * Inserts {@code Cov.hit(line)} before the first instruction of each line. Not in visitLineNumber itself: a
     * line's label can be a branch target whose stack map frame comes after the line number, and the probe must
     * follow the frame.
     */
    private static final class Probes extends MethodVisitor {
        private int pending;

        Probes(MethodVisitor next) {
            super(Opcodes.ASM8, next);
        }

        @Override
        public void visitLineNumber(int line, Label start) {
            super.visitLineNumber(line, start);
            pending = line;
        }

        private void probe() {
            if (pending > 0) {
                int line = pending;
                pending = 0;
                super.visitLdcInsn(line);
                super.visitMethodInsn(Opcodes.INVOKESTATIC, "Cov", "hit", "(I)V", false);
            }
        }

        @Override
        public void visitInsn(int opcode) {
            probe();
            super.visitInsn(opcode);
        }

        @Override
        public void visitIntInsn(int opcode, int operand) {
            probe();
            super.visitIntInsn(opcode, operand);
        }

        @Override
        public void visitVarInsn(int opcode, int var) {
            probe();
            super.visitVarInsn(opcode, var);
        }

        @Override
        public void visitTypeInsn(int opcode, String type) {
            probe();
            super.visitTypeInsn(opcode, type);
        }

        @Override
        public void visitFieldInsn(int opcode, String owner, String name, String desc) {
            probe();
            super.visitFieldInsn(opcode, owner, name, desc);
        }

        @Override
        public void visitMethodInsn(int opcode, String owner, String name, String desc, boolean itf) {
            probe();
            super.visitMethodInsn(opcode, owner, name, desc, itf);
        }

        @Override
        public void visitInvokeDynamicInsn(String name, String desc, jdk.internal.org.objectweb.asm.Handle bsm,
                                           Object... args) {
            probe();
            super.visitInvokeDynamicInsn(name, desc, bsm, args);
        }

        @Override
        public void visitJumpInsn(int opcode, Label label) {
            probe();
            super.visitJumpInsn(opcode, label);
        }

        @Override
        public void visitLdcInsn(Object value) {
            probe();
            super.visitLdcInsn(value);
        }

        @Override
        public void visitIincInsn(int var, int increment) {
            probe();
            super.visitIincInsn(var, increment);
        }

        @Override
        public void visitTableSwitchInsn(int min, int max, Label dflt, Label... labels) {
            probe();
            super.visitTableSwitchInsn(min, max, dflt, labels);
        }

        @Override
        public void visitLookupSwitchInsn(Label dflt, int[] keys, Label[] labels) {
            probe();
            super.visitLookupSwitchInsn(dflt, keys, labels);
        }

        @Override
        public void visitMultiANewArrayInsn(String desc, int dims) {
            probe();
            super.visitMultiANewArrayInsn(desc, dims);
        }
    }
}
