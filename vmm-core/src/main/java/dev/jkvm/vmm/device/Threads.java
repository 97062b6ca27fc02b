package dev.jkvm.vmm.device;

/** Thread helpers for devices and backends that own threads. */
public final class Threads {
    private Threads() {
    }

    /**
     * Waits until {@code t} has ended, even if this thread is interrupted meanwhile: a device
     * stopping its threads must not go on while one of them may still touch guest memory. The
     * interrupt is kept for the caller.
     */
    public static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (t.isAlive()) {
            try {
                t.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
