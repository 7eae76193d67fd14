"""The Java toolchain every review uses: the sandbox, javac and the JVM, task files and their tests, the evidence."""
