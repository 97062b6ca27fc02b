/*
 * net-blast: the host-to-guest sender of benchmarks/run-net.sh. It puts UDP frames of one size
 * straight into a tap's transmit path (an AF_PACKET socket with PACKET_QDISC_BYPASS, batches of
 * sendmmsg), addressed to the guest behind the tap, so the VMM reading the tap always has frames
 * waiting, while costing the shared host CPUs as little as possible.
 *
 * It is paced by the tap itself rather than blasting: the tap counts a frame in tx_packets when
 * the VMM reads it and in tx_dropped when its queue (500 frames) is full, so
 *     outstanding = sent - (tx_packets + tx_dropped - their values at the start)
 * is what waits in the tap's queue. The sender keeps that at most MAX (default 256): the VMM is
 * never starved and the tap does not drop; when the queue is that full it sleeps 20 us.
 *
 * Usage: net-blast IFNAME DST_MAC SRC_MAC SRC_IP DST_IP SIZE [MAX]
 * Runs until SIGTERM/SIGINT, then prints "net-blast sent=N" and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_FRAME 1514

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int parse_mac(const char *s, uint8_t *mac)
{
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* A counter of /sys/class/net/IF/statistics, re-read through one open fd. */
static long long counter(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return atoll(buf);
}

static int open_counter(const char *ifname, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        perror(path);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: net-blast IFNAME DST_MAC SRC_MAC SRC_IP DST_IP SIZE [MAX]\n");
        return 2;
    }
    const char *ifname = argv[1];
    uint8_t dst[6], src[6];
    struct in_addr sip, dip;
    int size = atoi(argv[6]);
    long long max = argc > 7 ? atoll(argv[7]) : 256;
    if (parse_mac(argv[2], dst) || parse_mac(argv[3], src) || !inet_aton(argv[4], &sip) || !inet_aton(argv[5], &dip) ||
        size < 42 || size > MAX_FRAME || max < 1) {
        fprintf(stderr, "net-blast: bad arguments\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(ifname);
    if (!ifindex) {
        perror(ifname);
        return 1;
    }

    /* Ethernet + IPv4 + UDP src:9 -> dst:9, checksums filled in, zero payload. */
    static uint8_t frame[MAX_FRAME];
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    put16(frame + 12, ETHERTYPE_IP);
    uint8_t *ip = frame + 14, *udp = ip + 20;
    int ulen = size - 34;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + ulen));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, &sip, 4);
    memcpy(ip + 16, &dip, 4);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    put16(udp, 9);
    put16(udp + 2, 9);
    put16(udp + 4, (uint16_t)ulen);
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = 17;
    put16(ph + 10, (uint16_t)ulen);
    uint16_t c = csum_fold(csum_add(csum_add(0, ph, 12), udp, (size_t)ulen));
    put16(udp + 6, c ? c : 0xffff);

    /* Protocol 0 and no bind: the socket receives nothing, it only sends. */
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket(AF_PACKET)");
        return 1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
        perror("PACKET_QDISC_BYPASS (going through the qdisc)");
    struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = (int)ifindex,
                             .sll_halen = 6};
    memcpy(to.sll_addr, dst, 6);
    struct iovec iov = {frame, (size_t)size};
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof(to);
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    int txp = open_counter(ifname, "tx_packets"), txd = open_counter(ifname, "tx_dropped");
    if (txp < 0 || txd < 0)
        return 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    long long base = counter(txp) + counter(txd);
    long long sent = 0, errors = 0;
    struct timespec nap = {0, 20000};
    while (!stop) {
        long long outstanding = sent - (counter(txp) + counter(txd) - base);
        if (outstanding >= max) {
            nanosleep(&nap, NULL);
            continue;
        }
        long long n = max - outstanding;
        int r = sendmmsg(fd, msgs, (unsigned)(n < BATCH ? n : BATCH), 0);
        if (r > 0) {
            sent += r;
        } else if (r < 0 && errno != EINTR) {
            errors++;
            nanosleep(&nap, NULL);
        }
    }
    printf("net-blast sent=%lld errors=%lld\n", sent, errors);
    return 0;
}
