#include "lib/net.h"
#include "lib/printf.h"
#include "lib/string.h"

const uint8_t eth_broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

uint16_t net_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Pseudo header (RFC 768) + UDP header + payload, as one running sum. */
static uint32_t udp_pseudo_sum(uint32_t src, uint32_t dst, uint32_t udp_len)
{
    uint8_t ph[12];
    put32be(ph, src);
    put32be(ph + 4, dst);
    ph[8] = 0;
    ph[9] = IPPROTO_UDP;
    put16be(ph + 10, (uint16_t)udp_len);
    return net_csum_add(0, ph, sizeof(ph));
}

bool net_parse(const uint8_t *f, uint32_t len, struct pkt *p)
{
    memset(p, 0, sizeof(*p));
    if (len < ETH_HLEN)
        return false;
    p->dst = f;
    p->src = f + 6;
    p->ethertype = get16be(f + 12);
    p->l3 = f + ETH_HLEN;
    p->l3len = len - ETH_HLEN;
    const uint8_t *l = p->l3;

    if (p->ethertype == ETH_P_ARP) {
        /* htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4 */
        if (p->l3len < ARP_LEN || get16be(l) != 1 || get16be(l + 2) != ETH_P_IP || l[4] != 6 || l[5] != 4) {
            p->bad = "arp";
            return true;
        }
        p->is_arp = true;
        p->arp_op = get16be(l + 6);
        p->arp_sha = l + 8;
        p->arp_spa = get32be(l + 14);
        p->arp_tha = l + 18;
        p->arp_tpa = get32be(l + 24);
        return true;
    }
    if (p->ethertype != ETH_P_IP)
        return true;

    if (p->l3len < IP_HLEN || (l[0] >> 4) != 4) {
        p->bad = "ip-header";
        return true;
    }
    uint32_t ihl = (uint32_t)(l[0] & 0xf) * 4, total = get16be(l + 2);
    if (ihl < IP_HLEN || total < ihl || total > p->l3len) {
        p->bad = "ip-length";
        return true;
    }
    if (net_csum_fold(net_csum_add(0, l, ihl)) != 0) {
        p->bad = "ip-csum";
        return true;
    }
    if (get16be(l + 6) & 0x3fff) {          /* MF or a fragment offset: not reassembled */
        p->bad = "ip-fragment";
        return true;
    }
    p->is_ip = true;
    p->ip_id = get16be(l + 4);
    p->ip_ttl = l[8];
    p->ip_proto = l[9];
    p->ip_src = get32be(l + 12);
    p->ip_dst = get32be(l + 16);
    if (p->ip_proto != IPPROTO_UDP)
        return true;

    const uint8_t *u = l + ihl;
    uint32_t room = total - ihl;
    if (room < UDP_HLEN || get16be(u + 4) < UDP_HLEN || get16be(u + 4) > room) {
        p->bad = "udp-length";
        return true;
    }
    uint32_t ulen = get16be(u + 4);
    p->udp_csum_present = get16be(u + 6) != 0;
    if (p->udp_csum_present &&
        net_csum_fold(net_csum_add(udp_pseudo_sum(p->ip_src, p->ip_dst, ulen), u, ulen)) != 0) {
        p->bad = "udp-csum";
        return true;
    }
    p->is_udp = true;
    p->sport = get16be(u);
    p->dport = get16be(u + 2);
    p->payload = u + UDP_HLEN;
    p->plen = ulen - UDP_HLEN;
    return true;
}

uint32_t net_build_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t ethertype)
{
    memcpy(buf, dst, ETH_ALEN);
    memcpy(buf + 6, src, ETH_ALEN);
    put16be(buf + 12, ethertype);
    return ETH_HLEN;
}

uint32_t net_build_arp(uint8_t *buf, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
                       uint32_t tpa)
{
    static const uint8_t zero[ETH_ALEN];
    net_build_eth(buf, op == ARP_REQUEST ? eth_broadcast : tha, sha, ETH_P_ARP);
    uint8_t *a = buf + ETH_HLEN;
    put16be(a, 1);
    put16be(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    put16be(a + 6, op);
    memcpy(a + 8, sha, ETH_ALEN);
    put32be(a + 14, spa);
    memcpy(a + 18, op == ARP_REQUEST ? zero : tha, ETH_ALEN);
    put32be(a + 24, tpa);
    return ETH_HLEN + ARP_LEN;
}

uint32_t net_build_udp(uint8_t *buf, const uint8_t *eth_dst, const uint8_t *eth_src, uint32_t ip_src,
                       uint32_t ip_dst, uint16_t sport, uint16_t dport, const void *payload, uint32_t plen,
                       uint16_t ip_id)
{
    net_build_eth(buf, eth_dst, eth_src, ETH_P_IP);
    uint8_t *ip = buf + ETH_HLEN, *u = ip + IP_HLEN;
    uint32_t ulen = UDP_HLEN + plen;
    ip[0] = 0x45;
    ip[1] = 0;
    put16be(ip + 2, (uint16_t)(IP_HLEN + ulen));
    put16be(ip + 4, ip_id);
    put16be(ip + 6, 0);
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    put16be(ip + 10, 0);
    put32be(ip + 12, ip_src);
    put32be(ip + 16, ip_dst);
    put16be(ip + 10, net_csum_fold(net_csum_add(0, ip, IP_HLEN)));

    put16be(u, sport);
    put16be(u + 2, dport);
    put16be(u + 4, (uint16_t)ulen);
    put16be(u + 6, 0);
    if (plen)
        memmove(u + UDP_HLEN, payload, plen);
    uint16_t c = net_csum_fold(net_csum_add(udp_pseudo_sum(ip_src, ip_dst, ulen), u, ulen));
    put16be(u + 6, c ? c : 0xffff);     /* 0 means "no checksum" in UDP over IPv4 */
    return ETH_HLEN + IP_HLEN + ulen;
}

/* ---- DHCP ---- */

uint32_t net_build_dhcp_discover(uint8_t *buf, const uint8_t *mac, uint32_t xid)
{
    static uint8_t msg[DHCP_FIXED_LEN + DHCP_VEND_LEN];
    memset(msg, 0, sizeof(msg));
    msg[0] = 1;                         /* op: BOOTREQUEST */
    msg[1] = 1;                         /* htype: Ethernet */
    msg[2] = ETH_ALEN;
    put32be(msg + 4, xid);
    put16be(msg + 10, 0x8000);          /* flags: broadcast (we have no address yet) */
    memcpy(msg + 28, mac, ETH_ALEN);    /* chaddr */
    uint8_t *o = msg + DHCP_FIXED_LEN;
    put32be(o, DHCP_MAGIC);
    o += 4;
    *o++ = 53, *o++ = 1, *o++ = DHCP_DISCOVER;
    *o++ = 61, *o++ = 7, *o++ = 1;      /* client identifier: type 1 + MAC */
    memcpy(o, mac, ETH_ALEN);
    o += ETH_ALEN;
    *o++ = 55, *o++ = 5, *o++ = 1, *o++ = 3, *o++ = 6, *o++ = 51, *o++ = 54;
    *o++ = 255;
    return net_build_udp(buf, eth_broadcast, mac, 0, IP4_BROADCAST, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, msg,
                         sizeof(msg), 0);
}

bool net_parse_dhcp(const struct pkt *p, uint32_t xid, const uint8_t *mac, struct dhcp_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!p->is_udp || p->sport != DHCP_SERVER_PORT || p->dport != DHCP_CLIENT_PORT ||
        p->plen < DHCP_FIXED_LEN + 4)
        return false;
    const uint8_t *m = p->payload;
    if (m[0] != 2 || m[1] != 1 || m[2] != ETH_ALEN || get32be(m + 4) != xid || memcmp(m + 28, mac, ETH_ALEN) != 0 ||
        get32be(m + DHCP_FIXED_LEN) != DHCP_MAGIC)
        return false;
    out->yiaddr = get32be(m + 16);
    out->siaddr = get32be(m + 20);
    const uint8_t *o = m + DHCP_FIXED_LEN + 4, *end = m + p->plen;
    while (o < end && *o != 255) {
        if (*o == 0) {                  /* pad */
            o++;
            continue;
        }
        if (o + 2 > end || o + 2 + o[1] > end)
            break;
        uint8_t code = o[0], len = o[1];
        const uint8_t *v = o + 2;
        if (code == 53 && len >= 1)
            out->msg_type = v[0];
        else if (code == 1 && len >= 4)
            out->mask = get32be(v);
        else if (code == 3 && len >= 4)
            out->router = get32be(v);
        else if (code == 6 && len >= 4)
            out->dns = get32be(v);
        else if (code == 51 && len >= 4)
            out->lease = get32be(v);
        else if (code == 54 && len >= 4)
            out->server_id = get32be(v);
        o += 2 + len;
    }
    return true;
}

/* ---- text ---- */

bool net_parse_ip(const char *s, uint32_t *out)
{
    uint32_t ip = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4)
            v = v * 10 + (unsigned)(*s++ - '0'), digits++;
        if (!digits || v > 255)
            return false;
        ip = ip << 8 | v;
        if (part < 3 && *s++ != '.')
            return false;
    }
    if (*s)
        return false;
    *out = ip;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool net_parse_mac(const char *s, uint8_t *mac)
{
    for (int i = 0; i < ETH_ALEN; i++) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0)
            return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (i < ETH_ALEN - 1 && *s++ != ':')
            return false;
    }
    return *s == 0;
}

static char fmt_buf[8][20];
static unsigned fmt_next;

const char *net_fmt_ip(uint32_t ip)
{
    char *b = fmt_buf[fmt_next++ & 7];
    snprintf(b, sizeof(fmt_buf[0]), "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
    return b;
}

const char *net_fmt_mac(const uint8_t *m)
{
    char *b = fmt_buf[fmt_next++ & 7];
    snprintf(b, sizeof(fmt_buf[0]), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return b;
}
