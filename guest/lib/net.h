/* Tiny Ethernet / ARP / IPv4 / UDP / DHCP helpers for the NIC tests: frames are built into
 * and parsed from caller buffers byte by byte (network byte order on the wire, no alignment
 * assumptions). IPv4 addresses are uint32_t in host order: 10.0.2.15 is 0x0a00020f. */
#ifndef LIB_NET_H
#define LIB_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_ALEN       6
#define ETH_HLEN       14
#define ETH_ZLEN       60       /* minimum frame without FCS */
#define ETH_FRAME_MAX  1514     /* maximum frame without FCS (MTU 1500) */
#define ETH_P_IP       0x0800
#define ETH_P_ARP      0x0806
#define ETH_P_PEER     0x88b5   /* IEEE 802 local experimental ethertype 1: net-peer frames */

#define ARP_LEN        28       /* Ethernet/IPv4 ARP body */
#define ARP_REQUEST    1
#define ARP_REPLY      2

#define IP_HLEN        20       /* what the builders write (no options) */
#define IPPROTO_UDP    17
#define UDP_HLEN       8
#define UDP_PAYLOAD_MAX (ETH_FRAME_MAX - ETH_HLEN - IP_HLEN - UDP_HLEN)   /* 1472 */

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define IP4_BROADCAST 0xffffffffu

extern const uint8_t eth_broadcast[ETH_ALEN];

/* Byte-order helpers on unaligned buffers. */
static inline void put16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static inline void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static inline uint16_t get16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One's-complement sum of len bytes (big-endian 16-bit words, odd byte padded with 0) added to
 * sum; net_csum_fold turns it into the checksum field value (~folded sum). */
uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t net_csum_fold(uint32_t sum);

/* What net_parse found. Pointers point into the parsed frame. */
struct pkt {
    const uint8_t *dst, *src;   /* Ethernet addresses */
    uint16_t ethertype;
    const uint8_t *l3;          /* after the Ethernet header */
    uint32_t l3len;
    bool is_arp;                /* well-formed Ethernet/IPv4 ARP */
    uint16_t arp_op;
    const uint8_t *arp_sha, *arp_tha;
    uint32_t arp_spa, arp_tpa;
    bool is_ip;                 /* well-formed IPv4 header (checksum good, not a fragment) */
    uint32_t ip_src, ip_dst;
    uint8_t ip_proto, ip_ttl;
    uint16_t ip_id;
    bool is_udp;                /* is_ip and a well-formed UDP header (checksum good or absent) */
    bool udp_csum_present;
    uint16_t sport, dport;
    const uint8_t *payload;     /* UDP payload */
    uint32_t plen;
    const char *bad;            /* why a header was rejected (NULL when nothing was), e.g. "ip-csum" */
};

/* Parses Ethernet, then ARP or IPv4 + UDP. false only if the frame is shorter than an
 * Ethernet header; malformed upper layers just leave is_arp / is_ip / is_udp false. */
bool net_parse(const uint8_t *frame, uint32_t len, struct pkt *p);

/* Builders return the frame length (no padding to ETH_ZLEN: the NIC or nobody pads). */
uint32_t net_build_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t ethertype);
/* ARP (op, sender, target); the Ethernet destination is broadcast for requests, tha for replies. */
uint32_t net_build_arp(uint8_t *buf, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
                       uint32_t tpa);
/* Ethernet + IPv4 (DF clear, TTL 64) + UDP with both checksums filled in. */
uint32_t net_build_udp(uint8_t *buf, const uint8_t *eth_dst, const uint8_t *eth_src, uint32_t ip_src,
                       uint32_t ip_dst, uint16_t sport, uint16_t dport, const void *payload, uint32_t plen,
                       uint16_t ip_id);

/* ---- DHCP (RFC 2131) ---- */
#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP_DISCOVER 1
#define DHCP_OFFER    2
#define DHCP_FIXED_LEN 236      /* BOOTP header before the magic cookie */
#define DHCP_VEND_LEN  312      /* cookie + options, padded: a 576-byte IP datagram in all */
#define DHCP_MAGIC 0x63825363u

/* DISCOVER from 0.0.0.0:68 to 255.255.255.255:67, Ethernet broadcast, BOOTP broadcast flag,
 * options 53 (DISCOVER), 61 (client id), 55 (1, 3, 6, 51, 54), end, padded to DHCP_VEND_LEN. */
uint32_t net_build_dhcp_discover(uint8_t *buf, const uint8_t *mac, uint32_t xid);

struct dhcp_info {
    uint8_t msg_type;           /* option 53, 0 if absent */
    uint32_t yiaddr, siaddr;
    uint32_t mask, router, dns, server_id, lease;   /* 0 if absent */
};
/* true if p is a BOOTP reply (UDP 67 -> 68) for xid and chaddr = mac; fills *out. */
bool net_parse_dhcp(const struct pkt *p, uint32_t xid, const uint8_t *mac, struct dhcp_info *out);

/* ---- text ---- */
/* "a.b.c.d" -> host order. */
bool net_parse_ip(const char *s, uint32_t *out);
/* "xx:xx:xx:xx:xx:xx" (hex, either case). */
bool net_parse_mac(const char *s, uint8_t *mac);
/* Formats into a static buffer (one of 8 rotating), for printf arguments: at most 8 per call. */
const char *net_fmt_ip(uint32_t ip);
const char *net_fmt_mac(const uint8_t *mac);

#endif
