#include "lib/e1000.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/tsc.h"

#define E1000_MAX_DEVS 1
#define E1000_TIMEOUT_MS 5000

static struct e1000 devs[E1000_MAX_DEVS];
static unsigned ndevs;

/* Rings and buffers per device: descriptor rings page aligned (the manual asks for 16 bytes). */
struct e1000_mem {
    struct e1000_rx_desc rx[E1000_RX_DESCS] __attribute__((aligned(4096)));
    struct e1000_tx_desc tx[E1000_TX_DESCS] __attribute__((aligned(4096)));
    uint8_t rxbuf[E1000_RX_DESCS][E1000_BUF_SIZE] __attribute__((aligned(4096)));
    uint8_t txbuf[E1000_TX_DESCS][E1000_BUF_SIZE] __attribute__((aligned(4096)));
};
static struct e1000_mem mem[E1000_MAX_DEVS];

static struct e1000_mem *mem_of(struct e1000 *e) { return &mem[e - devs]; }

static void seterr(struct e1000 *e, const char *fmt, uint64_t a, uint64_t b)
{
    snprintf(e->err, sizeof(e->err), fmt, a, b);
}

uint32_t e1000_read(struct e1000 *e, uint32_t reg) { return mmio_read32(e->mmio + reg); }
void e1000_write(struct e1000 *e, uint32_t reg, uint32_t v) { mmio_write32(e->mmio + reg, v); }

uint32_t e1000_io_read(struct e1000 *e, uint32_t reg)
{
    outl(e->io, reg);
    return inl((uint16_t)(e->io + 4));
}

bool e1000_is_8254x(const struct pci_func *f)
{
    return f->vendor == E1000_VENDOR && (f->device == 0x100e || f->device == 0x100c || f->device == 0x100f);
}

/* At least `us` microseconds (lib/tsc.h: the TSC is assumed to run at <= 5 GHz). */
static void delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + us * (TSC_MAX_PER_MS / 1000);
    while (!tsc_passed(end))
        cpu_pause();
}

/* Polls reg until (value & mask) == want, at least `ms` long. */
static bool wait_reg(struct e1000 *e, uint32_t reg, uint32_t mask, uint32_t want, uint64_t ms, uint32_t *last)
{
    uint64_t deadline = rdtsc() + ms * TSC_MAX_PER_MS;
    for (;;) {
        uint32_t v = e1000_read(e, reg);
        if (last)
            *last = v;
        if ((v & mask) == want)
            return true;
        if (tsc_passed(deadline))
            return false;
        cpu_pause();
    }
}

/* ---- EEPROM ---------------------------------------------------------------------------- */

int e1000_eerd(struct e1000 *e, unsigned word)
{
    e1000_write(e, E1000_EERD, (uint32_t)word << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
    uint32_t v;
    if (!wait_reg(e, E1000_EERD, E1000_EERD_DONE, E1000_EERD_DONE, 100, &v))
        return -1;
    return (int)(v >> E1000_EERD_DATA_SHIFT);
}

/* Microwire (93C46-style) bit-banging through EECD: each bit is presented on DI, then SK is
 * raised and lowered; data comes back on DO after each rising edge, MSB first. */
static void ee_write(struct e1000 *e, uint32_t v)
{
    e1000_write(e, E1000_EECD, v);
    delay_us(2);
}

static void ee_clock(struct e1000 *e, uint32_t *eecd)
{
    ee_write(e, *eecd | E1000_EECD_SK);
    ee_write(e, *eecd & ~E1000_EECD_SK);
}

static void ee_shift_out(struct e1000 *e, uint32_t *eecd, uint32_t data, unsigned bits)
{
    for (unsigned i = bits; i-- > 0;) {
        *eecd &= ~E1000_EECD_DI;
        if ((data >> i) & 1)
            *eecd |= E1000_EECD_DI;
        ee_write(e, *eecd);
        ee_clock(e, eecd);
    }
    *eecd &= ~E1000_EECD_DI;
    ee_write(e, *eecd);
}

static uint16_t ee_shift_in(struct e1000 *e, uint32_t *eecd)
{
    uint16_t data = 0;
    for (int i = 0; i < 16; i++) {
        ee_write(e, *eecd | E1000_EECD_SK);
        uint32_t v = e1000_read(e, E1000_EECD);
        data = (uint16_t)(data << 1 | ((v & E1000_EECD_DO) ? 1 : 0));
        ee_write(e, *eecd & ~E1000_EECD_SK);
    }
    return data;
}

int e1000_eecd_read(struct e1000 *e, unsigned word)
{
    uint32_t eecd = e1000_read(e, E1000_EECD);
    unsigned abits = (eecd & E1000_EECD_SIZE) ? 8 : 6;
    eecd &= ~(E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI);
    /* Request the interface from the hardware's own EEPROM engine. */
    eecd |= E1000_EECD_REQ;
    e1000_write(e, E1000_EECD, eecd);
    if (!wait_reg(e, E1000_EECD, E1000_EECD_GNT, E1000_EECD_GNT, 100, 0)) {
        e1000_write(e, E1000_EECD, eecd & ~E1000_EECD_REQ);
        return -1;
    }
    ee_write(e, eecd);                  /* SK and DI low */
    eecd |= E1000_EECD_CS;
    ee_write(e, eecd);                  /* select */
    ee_shift_out(e, &eecd, 0x6, 3);     /* start bit 1, READ opcode 10 */
    ee_shift_out(e, &eecd, word, abits);
    uint16_t v = ee_shift_in(e, &eecd);
    /* Deselect with one more clock, then release the request. */
    eecd &= ~(E1000_EECD_CS | E1000_EECD_DI);
    ee_write(e, eecd);
    ee_clock(e, &eecd);
    e1000_write(e, E1000_EECD, eecd & ~E1000_EECD_REQ);
    return v;
}

/* ---- PHY ------------------------------------------------------------------------------- */

int e1000_phy_read(struct e1000 *e, unsigned reg)
{
    e1000_write(e, E1000_MDIC,
                (uint32_t)reg << E1000_MDIC_REG_SHIFT | (uint32_t)E1000_PHY_ADDR << E1000_MDIC_PHY_SHIFT |
                    E1000_MDIC_OP_READ);
    uint32_t v;
    if (!wait_reg(e, E1000_MDIC, E1000_MDIC_READY, E1000_MDIC_READY, 100, &v) || (v & E1000_MDIC_ERROR))
        return -1;
    return (int)(v & 0xffff);
}

/* ---- initialisation -------------------------------------------------------------------- */

/* The order follows the manual's chapter 14 (General Initialization and Reset Operation):
 * mask interrupts, stop RX/TX, global reset (CTRL.RST, self-clearing), mask again and clear
 * ICR, CTRL with SLU/ASDE, EEPROM (EERD) for the MAC, link, receive addresses and MTA, then
 * the receive ring (RCTL last) and the transmit ring (TCTL last). Every register the driver
 * relies on is written explicitly, so a device whose CTRL.RST resets nothing (QEMU's e1000)
 * works as well as one that resets everything. */
bool e1000_init(struct e1000 *e)
{
    struct e1000_mem *m = mem_of(e);
    e->ready = false;
    e->err[0] = 0;

    e1000_write(e, E1000_IMC, 0xffffffffu);
    e1000_write(e, E1000_RCTL, 0);
    e1000_write(e, E1000_TCTL, E1000_TCTL_PSP);
    (void)e1000_read(e, E1000_STATUS);
    delay_us(10000);
    e1000_write(e, E1000_CTRL, e1000_read(e, E1000_CTRL) | E1000_CTRL_RST);
    delay_us(5000);
    uint32_t v;
    if (!wait_reg(e, E1000_CTRL, E1000_CTRL_RST, 0, 100, &v)) {
        seterr(e, "CTRL.RST did not clear (CTRL 0x%lx)", v, 0);
        return false;
    }
    e1000_write(e, E1000_IMC, 0xffffffffu);
    (void)e1000_read(e, E1000_ICR);

    uint32_t ctrl = e1000_read(e, E1000_CTRL);
    ctrl &= ~(E1000_CTRL_LRST | E1000_CTRL_PHY_RST | E1000_CTRL_ILOS | E1000_CTRL_VME);
    ctrl |= E1000_CTRL_SLU | E1000_CTRL_ASDE;
    e1000_write(e, E1000_CTRL, ctrl);

    /* EEPROM: all 64 words through EERD, MAC from words 0-2 (little-endian byte pairs). */
    e->eeprom_sum = 0;
    for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++) {
        int w = e1000_eerd(e, i);
        if (w < 0) {
            seterr(e, "EERD: DONE never set for word %lu", i, 0);
            return false;
        }
        e->eeprom[i] = (uint16_t)w;
        e->eeprom_sum = (uint16_t)(e->eeprom_sum + w);
    }
    for (int i = 0; i < 3; i++) {
        e->mac[2 * i] = (uint8_t)e->eeprom[i];
        e->mac[2 * i + 1] = (uint8_t)(e->eeprom[i] >> 8);
    }

    if (!wait_reg(e, E1000_STATUS, E1000_STATUS_LU, E1000_STATUS_LU, E1000_TIMEOUT_MS, &v)) {
        seterr(e, "no link: STATUS 0x%lx", v, 0);
        return false;
    }

    /* Receive addresses: entry 0 = our MAC (valid), the others cleared; multicast table cleared. */
    for (unsigned i = 0; i < 128; i++)
        e1000_write(e, E1000_MTA + 4 * i, 0);
    for (unsigned i = 1; i < E1000_RA_ENTRIES; i++) {
        e1000_write(e, E1000_RAL0 + 8 * i, 0);
        e1000_write(e, E1000_RAH0 + 8 * i, 0);
    }
    e1000_write(e, E1000_RAL0,
                (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 | (uint32_t)e->mac[2] << 16 | (uint32_t)e->mac[3] << 24);
    e1000_write(e, E1000_RAH0, (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 | E1000_RAH_AV);

    /* Receive ring: every descriptor owns a 2 KiB buffer; RDT = N - 1 hands all but one over. */
    for (unsigned i = 0; i < E1000_RX_DESCS; i++) {
        volatile struct e1000_rx_desc *d = &m->rx[i];
        d->addr = (uint64_t)(uintptr_t)m->rxbuf[i];
        d->length = 0;
        d->csum = 0;
        d->status = 0;
        d->errors = 0;
        d->special = 0;
    }
    uint64_t rx = (uint64_t)(uintptr_t)m->rx, tx = (uint64_t)(uintptr_t)m->tx;
    e1000_write(e, E1000_RDBAL, (uint32_t)rx);
    e1000_write(e, E1000_RDBAH, (uint32_t)(rx >> 32));
    e1000_write(e, E1000_RDLEN, sizeof(m->rx));
    e1000_write(e, E1000_RDH, 0);
    e1000_write(e, E1000_RDT, E1000_RX_DESCS - 1);
    e1000_write(e, E1000_RDTR, 0);
    e->rx_next = 0;
    /* RDH is checked before RCTL.EN: once receive is on, a frame from a live link (a peer that is
     * already sending, or one the VMM queued while receive was off) may advance it at once. */
    uint32_t rdh = e1000_read(e, E1000_RDH);
    e1000_write(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);

    /* Transmit ring. TIPG: IPGT 10, IPGR1 8, IPGR2 6 (the manual's values for copper). */
    memset(m->tx, 0, sizeof(m->tx));
    e1000_write(e, E1000_TDBAL, (uint32_t)tx);
    e1000_write(e, E1000_TDBAH, (uint32_t)(tx >> 32));
    e1000_write(e, E1000_TDLEN, sizeof(m->tx));
    e1000_write(e, E1000_TDH, 0);
    e1000_write(e, E1000_TDT, 0);
    e1000_write(e, E1000_TIDV, 0);
    e->tx_tail = 0;
    e1000_write(e, E1000_TIPG, 10 | 8 << 10 | 6 << 20);
    e1000_write(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT(0x0f) | E1000_TCTL_COLD(0x40));

    uint32_t tdh = e1000_read(e, E1000_TDH);
    if (rdh != 0 || tdh != 0) {
        seterr(e, "RDH %lu / TDH %lu do not read back 0", rdh, tdh);
        return false;
    }
    e->ready = true;
    return true;
}

struct e1000 *e1000_get(unsigned n, char *err, size_t errlen)
{
    if (pci_count() == 0)
        pci_scan();
    struct pci_func *f = 0;
    for (unsigned i = 0, k = 0; i < pci_count() && !f; i++)
        if (e1000_is_8254x(pci_get(i)) && k++ == n)
            f = pci_get(i);
    if (!f) {
        snprintf(err, errlen, "no 8254x (8086:100e) device");
        return 0;
    }
    struct e1000 *e = 0;
    for (unsigned i = 0; i < ndevs && !e; i++)
        if (devs[i].pci == f)
            e = &devs[i];
    if (!e) {
        if (ndevs == E1000_MAX_DEVS) {
            snprintf(err, errlen, "too many 8254x devices");
            return 0;
        }
        e = &devs[ndevs++];
        *e = (struct e1000){.pci = f};
    }
    if (!e->mmio) {
        /* BAR0 is the register space; the first I/O BAR is the IOADDR/IODATA window. */
        if (f->bar[0].type != PCI_BAR_MEM32 && f->bar[0].type != PCI_BAR_MEM64) {
            snprintf(err, errlen, "e1000 %02x:%02x.%x: BAR0 is not a memory BAR", f->bus, f->dev, f->fn);
            return 0;
        }
        if (!pci_bar_ensure_assigned(f, 0, 0) || f->bar[0].size < 0x20000) {
            snprintf(err, errlen, "e1000 %02x:%02x.%x: BAR0 unusable (size 0x%lx)", f->bus, f->dev, f->fn,
                     f->bar[0].size);
            return 0;
        }
        uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
        for (unsigned i = 1; i < f->nbars; i++) {
            if (f->bar[i].type == PCI_BAR_IO && f->bar[i].size >= 8 && pci_bar_ensure_assigned(f, i, 0)) {
                e->io = (uint16_t)f->bar[i].addr;
                cmd |= PCI_COMMAND_IO;
                break;
            }
        }
        e->mmio = f->bar[0].addr;
        pci_enable(f, cmd);
    }
    if (!e->ready && !e1000_init(e)) {
        snprintf(err, errlen, "e1000 %02x:%02x.%x: %s", f->bus, f->dev, f->fn, e->err);
        return 0;
    }
    return e;
}

/* ---- data path ------------------------------------------------------------------------- */

volatile struct e1000_tx_desc *e1000_tx_desc(struct e1000 *e, unsigned i)
{
    return &mem_of(e)->tx[i % E1000_TX_DESCS];
}

void e1000_tx_fill(volatile struct e1000_tx_desc *d, uint64_t addr, uint16_t len, uint8_t cmd)
{
    d->addr = addr;
    d->length = len;
    d->cso = 0;
    d->cmd = cmd;
    d->status = 0;
    d->css = 0;
    d->special = 0;
    barrier();
}

bool e1000_send(struct e1000 *e, const void *frame, uint32_t len)
{
    struct e1000_mem *m = mem_of(e);
    if (len > ETH_FRAME_MAX) {
        seterr(e, "frame of %lu bytes too long", len, 0);
        return false;
    }
    uint32_t i = e->tx_tail;
    memcpy(m->txbuf[i], frame, len);
    volatile struct e1000_tx_desc *d = &m->tx[i];
    e1000_tx_fill(d, (uint64_t)(uintptr_t)m->txbuf[i], (uint16_t)len,
                  E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
    e->tx_tail = (i + 1) % E1000_TX_DESCS;
    e1000_write(e, E1000_TDT, e->tx_tail);
    uint64_t deadline = rdtsc() + E1000_TIMEOUT_MS * TSC_MAX_PER_MS;
    while (!(d->status & E1000_TXD_STAT_DD)) {
        if (tsc_passed(deadline)) {
            seterr(e, "tx descriptor %lu not done (TDH %lu)", i, e1000_read(e, E1000_TDH));
            return false;
        }
        cpu_pause();
    }
    e->tx_frames++;
    return true;
}

int e1000_recv(struct e1000 *e, void *buf, uint32_t max)
{
    struct e1000_mem *m = mem_of(e);
    uint32_t i = e->rx_next;
    volatile struct e1000_rx_desc *d = &m->rx[i];
    uint8_t st = d->status;
    if (!(st & E1000_RXD_STAT_DD))
        return 0;
    barrier();
    uint32_t len = d->length;
    uint8_t errors = d->errors;
    int ret;
    if (!(st & E1000_RXD_STAT_EOP)) {
        seterr(e, "rx descriptor %lu without EOP (length %lu)", i, len);
        ret = -1;
    } else if (errors) {
        seterr(e, "rx descriptor %lu errors 0x%lx", i, errors);
        ret = -1;
    } else if (len < ETH_HLEN || len > E1000_BUF_SIZE) {
        seterr(e, "rx descriptor %lu length %lu", i, len);
        ret = -1;
    } else {
        memcpy(buf, m->rxbuf[i], len < max ? len : max);
        ret = (int)len;
        e->rx_frames++;
    }
    /* Give the descriptor back: it becomes the new tail. */
    d->status = 0;
    d->errors = 0;
    d->length = 0;
    barrier();
    e1000_write(e, E1000_RDT, i);
    e->rx_next = (i + 1) % E1000_RX_DESCS;
    return ret;
}
