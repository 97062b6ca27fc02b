package dev.jkvm.backends.net;

/**
 * A backend with several queue pairs (a multi-queue tap), for a NIC with as many (virtio-net's
 * VIRTIO_NET_F_MQ). The backend itself is queue 0; {@link #queue(int)} gives the others, each with
 * its own receive thread and its own {@link NetBackend#start}, {@link NetBackend#wakeup} and
 * {@link NetBackend#send}. The vnet header and offload settings are per device: set them on any
 * queue. Only queue 0 takes frames until {@link #setActiveQueues} says more are in use, so a
 * device that drives one queue pair still sees every frame.
 */
public interface MultiQueueNetBackend extends NetBackend {
    /** Queue pairs the backend was opened with (-netdev ...,queues=N). */
    int queueCount();

    /** Queue pair {@code index}; {@code queue(0)} acts as this backend. Closing a queue does nothing: close the backend. */
    NetBackend queue(int index);

    /**
     * The driver uses queue pairs 0..count-1 (virtio-net's VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, or 1 at
     * reset): the host spreads frames for the guest over those only.
     */
    void setActiveQueues(int count);
}
