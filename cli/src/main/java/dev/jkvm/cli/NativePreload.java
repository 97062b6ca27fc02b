package dev.jkvm.cli;

/**
 * Initialises the FFM libc layer on a second thread as soon as the process starts. Its class
 * initialiser links the syscall downcall stub, which runs some 30-40 ms of still-interpreted JDK
 * code (class-file generation) that the AOT cache cannot hold; on its own thread that overlaps
 * option parsing and the JVM's own warm-up instead of adding to the time to the first guest byte.
 * The main thread's first use of the class waits for this initialisation to finish, as the JVM
 * guarantees, so nothing is used half-initialised.
 */
final class NativePreload implements Runnable {
    private static final String LIBC = "dev.jkvm.os.Libc";

    private NativePreload() {
    }

    static void start() {
        Thread t = new Thread(new NativePreload(), "jkvm-preload");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void run() {
        try {
            Class.forName(LIBC, true, NativePreload.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            // The main thread meets the same problem when it first uses the class, and reports it there.
        }
    }
}
