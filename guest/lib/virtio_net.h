/* Polling virtio-net driver (virtio 1.2 section 5.1) on lib/virtio_pci: queue 0 receives
 * (pool mode, pre-filled with device-writable buffers), queue 1 transmits (one chain at a
 * time, completion polled), queue 2 is the control queue when CTRL_VQ is negotiated. */
#ifndef LIB_VIRTIO_NET_H
#define LIB_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/net.h"
#include "lib/virtio_pci.h"

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_CTRL_RX    18
#define VIRTIO_NET_F_MQ         22

/* struct virtio_net_config offsets */
#define VIRTIO_NET_CFG_MAC       0x00   /* u8[6] */
#define VIRTIO_NET_CFG_STATUS    0x06   /* le16 */
#define VIRTIO_NET_CFG_MAX_PAIRS 0x08   /* le16 */
#define VIRTIO_NET_CFG_MTU       0x0a   /* le16 */
#define VIRTIO_NET_S_LINK_UP  1
#define VIRTIO_NET_S_ANNOUNCE 2

/* Control queue (5.1.6.5) */
#define VIRTIO_NET_CTRL_RX          0
#define VIRTIO_NET_CTRL_RX_PROMISC  0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

/* struct virtio_net_hdr_v1: what precedes every frame in both directions (VERSION_1: 12 bytes
 * whether or not MRG_RXBUF is negotiated). */
struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
#define VNET_HDR_LEN 12
#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_GSO_NONE  0
#define VNET_GSO_TCPV4 1

#define VNET_RXQ   0
#define VNET_TXQ   1
#define VNET_CTRLQ 2

#define VNET_RX_BUFS    64                          /* buffers posted on the receive queue */
#define VNET_RX_BUF_LEN (VNET_HDR_LEN + ETH_FRAME_MAX)   /* 1526 bytes each */

/* Offered features the driver takes (VERSION_1 is added and required by virtio_init); the
 * optional ones can be declined from the command line (net.mrg=0, net.ctrl=0, net.evidx=0,
 * net.indirect=0). CTRL_RX comes with CTRL_VQ. */
#define VNET_WANTED_FEATURES                                                                      \
    (VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) | VIRTIO_BIT(VIRTIO_NET_F_MTU) | \
     VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) |                      \
     VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

struct vnet {
    struct virtio_dev *vd;
    bool ready;
    bool rx_irq;                /* ask for an RX interrupt per frame (used_event), else suppress */
    uint64_t wanted;
    uint8_t mac[ETH_ALEN];      /* from config space (MAC negotiated), else a made-up local one */
    uint16_t status;            /* config status at init (STATUS negotiated), else LINK_UP */
    uint16_t max_pairs, mtu;    /* 0 when the feature is not negotiated */
    bool promisc_off;           /* CTRL_RX PROMISC 0 and ALLMULTI 0 acknowledged with VIRTIO_NET_OK */
    unsigned rx_posted;
    /* Receive buffers other than the driver's own 64 (set before vnet_init, 0 for the default):
     * rx_count buffers of VNET_RX_BUF_LEN, rx_stride bytes apart from rx_area. */
    uint64_t rx_area;
    unsigned rx_count, rx_stride;
    uint64_t rx_frames, tx_frames;
    uint16_t last_num_buffers;
    char err[128];
};

/* The first virtio-net function (n-th with n > 0), bound and initialised once; NULL with *err. */
struct vnet *vnet_get(unsigned n, char *err, size_t errlen);
/* (Re)initialisation: virtio_init with the wanted features and 2 or 3 queues, config read,
 * RX queue filled, CTRL_RX commands if negotiated. */
bool vnet_init(struct vnet *n);
/* Sends one frame (len <= ETH_FRAME_MAX) with a zeroed header and waits for the device to use
 * the chain. split: header and frame in two descriptors, else one. */
bool vnet_send(struct vnet *n, const void *frame, uint32_t len, bool split);
/* Non-blocking: copies the next received frame to buf and reposts the buffer. Returns the
 * frame length, 0 if nothing arrived, -1 on a protocol error (n->err says which). */
int vnet_recv(struct vnet *n, void *buf, uint32_t max);
/* One control-queue command with a one-byte argument; returns the ack (0xff on timeout). */
uint8_t vnet_ctrl(struct vnet *n, uint8_t cls, uint8_t cmd, uint8_t arg);

#endif
