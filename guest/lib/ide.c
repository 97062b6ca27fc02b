/* Polling PIIX3 IDE driver; see ide.h. */
#include "lib/ide.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/tsc.h"

#define PRIMARY_CMD   0x1f0
#define PRIMARY_CTL   0x3f6
#define SECONDARY_CMD 0x170
#define SECONDARY_CTL 0x376
#define PIIX_IDETIM   0x40

static struct ide_ctrl ctrl;
static bool ctrl_ready;

const char *ide_result_name(enum ide_result r)
{
    switch (r) {
    case IDE_OK: return "ok";
    case IDE_ERR: return "error";
    case IDE_TIMEOUT: return "timeout";
    default: return "protocol";
    }
}

struct ide_ctrl *ide_get(char *err, size_t errlen)
{
    if (ctrl_ready)
        return &ctrl;
    if (pci_count() == 0)
        pci_scan();
    struct pci_func *f = pci_find(IDE_PCI_VENDOR, IDE_PCI_DEVICE, 0);
    if (!f) {
        snprintf(err, errlen, "no PIIX3 IDE controller (%04x:%04x)", IDE_PCI_VENDOR, IDE_PCI_DEVICE);
        return NULL;
    }
    ctrl.pci = f;
    ctrl.command_at_boot = pci_read16(f, PCI_COMMAND);
    ctrl.idetim[0] = pci_read16(f, PIIX_IDETIM);
    ctrl.idetim[1] = pci_read16(f, PIIX_IDETIM + 2);
    ctrl.chan[0] = (struct ide_chan){PRIMARY_CMD, PRIMARY_CTL, 0};
    ctrl.chan[1] = (struct ide_chan){SECONDARY_CMD, SECONDARY_CTL, 0};
    if (f->bar[4].type == PCI_BAR_IO && pci_bar_ensure_assigned(f, 4, NULL) && f->bar[4].addr) {
        ctrl.chan[0].bm = (uint16_t)f->bar[4].addr;
        ctrl.chan[1].bm = (uint16_t)(f->bar[4].addr + 8);
    }
    pci_enable(f, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    ctrl_ready = true;
    return &ctrl;
}

uint8_t ide_altstatus(const struct ide_chan *c) { return inb(c->ctl); }

uint8_t ide_status(const struct ide_chan *c) { return inb(c->cmd + ATA_REG_STATUS); }

/* The 400 ns a host must wait after a device or command write before status is valid. */
/* Clears the bus master's INTR and ERROR bits (write-1-to-clear), keeping its drive-DMA-capable
 * bits as read in status `st`. */
static void bm_ack(const struct ide_chan *c, uint8_t st)
{
    outb(c->bm + BM_STATUS, (uint8_t)((st & (BM_ST_DMA0 | BM_ST_DMA1)) | BM_ST_INTR | BM_ST_ERROR));
}

/* Starts the bus master in direction `dir` (BM_CMD_TOMEMORY or 0), polls until it raises INTR or
 * goes idle (at most IDE_TIMEOUT_MS), stops it, and returns its last status. */
static uint8_t bm_run(const struct ide_chan *c, uint8_t dir)
{
    outb(c->bm + BM_COMMAND, dir | BM_CMD_START);
    uint64_t deadline = tsc_deadline_cycles(IDE_TIMEOUT_MS * TSC_MAX_PER_MS);
    uint8_t bst;
    for (;;) {
        bst = inb(c->bm + BM_STATUS);
        if ((bst & BM_ST_INTR) || !(bst & BM_ST_ACTIVE))
            break;
        if (tsc_passed(deadline))
            break;
        cpu_pause();
    }
    outb(c->bm + BM_COMMAND, dir);
    return bst;
}

static void delay400ns(const struct ide_chan *c)
{
    for (int i = 0; i < 4; i++)
        (void)ide_altstatus(c);
}

bool ide_wait(const struct ide_chan *c, uint8_t mask, uint8_t want, uint8_t *st)
{
    uint64_t deadline = tsc_deadline_cycles(IDE_TIMEOUT_MS * TSC_MAX_PER_MS);
    for (;;) {
        uint8_t s = ide_altstatus(c);
        if (st)
            *st = s;
        if ((s & mask) == want)
            return true;
        if (tsc_passed(deadline))
            return false;
        cpu_pause();
    }
}

bool ide_soft_reset(const struct ide_chan *c)
{
    /* Device 0 selected first: a reset clears DEV on drives, but QEMU keeps the old selection, and
     * its device register ignores writes while the selected device is busy resetting. */
    if (!ide_select(c, 0))
        return false;
    outb(c->ctl, ATA_CTL_SRST);
    tsc_delay_ms_at_least(1);           /* >= 5 us with SRST set */
    outb(c->ctl, 0);
    tsc_delay_ms_at_least(2);           /* the 2 ms before BSY is meaningful */
    return ide_wait(c, ATA_SR_BSY, 0, NULL);
}

bool ide_select(const struct ide_chan *c, unsigned unit)
{
    if (!ide_wait(c, ATA_SR_BSY | ATA_SR_DRQ, 0, NULL))
        return false;
    outb(c->cmd + ATA_REG_DEVICE, ATA_DEV_OBS | (unit ? 0x10 : 0));
    delay400ns(c);
    return true;
}

uint8_t ide_reg(const struct ide_chan *c, unsigned reg, bool hob)
{
    if (hob)
        outb(c->ctl, ATA_CTL_HOB);
    uint8_t v = inb(c->cmd + reg);
    if (hob)
        outb(c->ctl, 0);
    return v;
}

static void insw(uint16_t port, void *buf, size_t words)
{
    __asm__ volatile("rep insw" : "+D"(buf), "+c"(words) : "d"(port) : "memory");
}

static void outsw(uint16_t port, const void *buf, size_t words)
{
    __asm__ volatile("rep outsw" : "+S"(buf), "+c"(words) : "d"(port) : "memory");
}

/* Selects the device, waits until it can take a command and writes the task file and command. */
static enum ide_result issue(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd)
{
    if (!ide_select(c, unit))
        return IDE_TIMEOUT;
    uint8_t dev = ATA_DEV_OBS | (unit ? 0x10 : 0) | (cmd->lba_mode ? ATA_DEV_LBA : 0);
    uint16_t port = c->cmd;
    if (cmd->ext) {
        outb(port + ATA_REG_FEATURE, 0);
        outb(port + ATA_REG_COUNT, (uint8_t)(cmd->count >> 8));
        outb(port + ATA_REG_LBA_LO, (uint8_t)(cmd->lba >> 24));
        outb(port + ATA_REG_LBA_MID, (uint8_t)(cmd->lba >> 32));
        outb(port + ATA_REG_LBA_HI, (uint8_t)(cmd->lba >> 40));
    } else {
        dev |= (uint8_t)((cmd->lba >> 24) & 0x0f);
    }
    outb(port + ATA_REG_FEATURE, cmd->feature);
    outb(port + ATA_REG_COUNT, (uint8_t)cmd->count);
    outb(port + ATA_REG_LBA_LO, (uint8_t)cmd->lba);
    outb(port + ATA_REG_LBA_MID, (uint8_t)(cmd->lba >> 8));
    outb(port + ATA_REG_LBA_HI, (uint8_t)(cmd->lba >> 16));
    outb(port + ATA_REG_DEVICE, dev);
    outb(port + ATA_REG_COMMAND, cmd->command);
    delay400ns(c);
    return IDE_OK;
}

/* Waits for BSY to clear and reads the status register (acknowledging the interrupt). */
static enum ide_result settle(const struct ide_chan *c, struct ide_status *out)
{
    uint8_t st;
    if (!ide_wait(c, ATA_SR_BSY, 0, &st)) {
        out->status = st;
        return IDE_TIMEOUT;
    }
    out->status = ide_status(c);
    out->error = (out->status & ATA_SR_ERR) ? inb(c->cmd + ATA_REG_ERROR) : 0;
    return (out->status & ATA_SR_ERR) ? IDE_ERR : IDE_OK;
}

enum ide_result ata_nondata(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, struct ide_status *out)
{
    memset(out, 0, sizeof(*out));
    enum ide_result r = issue(c, unit, cmd);
    if (r != IDE_OK)
        return r;
    r = settle(c, out);
    if (r == IDE_OK && (out->status & ATA_SR_DRQ))
        return IDE_PROTOCOL;
    return r;
}

enum ide_result ata_pio_in(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, void *buf, unsigned blocks,
                           unsigned block_bytes, struct ide_status *out)
{
    memset(out, 0, sizeof(*out));
    enum ide_result r = issue(c, unit, cmd);
    if (r != IDE_OK)
        return r;
    uint8_t *p = buf;
    for (unsigned b = 0; b < blocks; b++) {
        r = settle(c, out);
        if (r != IDE_OK)
            return r;
        if (!(out->status & ATA_SR_DRQ))
            return IDE_PROTOCOL;
        insw(c->cmd + ATA_REG_DATA, p, block_bytes / 2);
        p += block_bytes;
        out->bytes += block_bytes;
    }
    delay400ns(c);
    out->status = ide_altstatus(c);
    if (out->status & (ATA_SR_BSY | ATA_SR_DRQ))
        return IDE_PROTOCOL;
    if (out->status & ATA_SR_ERR) {
        out->error = inb(c->cmd + ATA_REG_ERROR);
        return IDE_ERR;
    }
    return IDE_OK;
}

enum ide_result ata_pio_out(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, const void *buf,
                            unsigned blocks, unsigned block_bytes, struct ide_status *out)
{
    memset(out, 0, sizeof(*out));
    enum ide_result r = issue(c, unit, cmd);
    if (r != IDE_OK)
        return r;
    const uint8_t *p = buf;
    uint8_t st;
    for (unsigned b = 0; b < blocks; b++) {
        /* The first block needs no interrupt: DRQ follows the command. */
        if (b == 0) {
            if (!ide_wait(c, ATA_SR_BSY, 0, &st)) {
                out->status = st;
                return IDE_TIMEOUT;
            }
            out->status = st;
            if (st & ATA_SR_ERR) {
                out->error = inb(c->cmd + ATA_REG_ERROR);
                (void)ide_status(c);
                return IDE_ERR;
            }
        } else {
            r = settle(c, out);
            if (r != IDE_OK)
                return r;
        }
        if (!(out->status & ATA_SR_DRQ))
            return IDE_PROTOCOL;
        outsw(c->cmd + ATA_REG_DATA, p, block_bytes / 2);
        p += block_bytes;
        out->bytes += block_bytes;
    }
    r = settle(c, out);
    if (r == IDE_OK && (out->status & ATA_SR_DRQ))
        return IDE_PROTOCOL;
    return r;
}

/* Starts the bus master after the command, waits for its interrupt bit, stops it. */
enum ide_result ata_dma(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, const struct ide_prd *prdt,
                        bool to_memory, struct ide_status *out)
{
    memset(out, 0, sizeof(*out));
    if (!c->bm)
        return IDE_PROTOCOL;
    uint8_t dir = to_memory ? BM_CMD_TOMEMORY : 0;
    outb(c->bm + BM_COMMAND, dir);
    outl(c->bm + BM_PRDT, (uint32_t)(uintptr_t)prdt);
    bm_ack(c, inb(c->bm + BM_STATUS));
    enum ide_result r = issue(c, unit, cmd);
    if (r != IDE_OK)
        return r;
    uint8_t bst = bm_run(c, dir);
    out->bm_status = bst;
    r = settle(c, out);
    bm_ack(c, bst);
    if (r != IDE_OK)
        return r;
    if (!(bst & BM_ST_INTR))
        return (bst & BM_ST_ACTIVE) ? IDE_TIMEOUT : IDE_PROTOCOL;
    if (out->status & ATA_SR_DRQ)
        return IDE_PROTOCOL;
    return (bst & BM_ST_ERROR) ? IDE_ERR : IDE_OK;
}

enum ide_result atapi_packet(const struct ide_chan *c, unsigned unit, const uint8_t cdb[12], void *buf, uint32_t buflen,
                             uint16_t limit, const struct ide_prd *prdt, struct ide_status *out)
{
    memset(out, 0, sizeof(*out));
    bool dma = prdt != NULL;
    if (dma && !c->bm)
        return IDE_PROTOCOL;
    if (!ide_select(c, unit))
        return IDE_TIMEOUT;
    if (dma) {
        outb(c->bm + BM_COMMAND, BM_CMD_TOMEMORY);
        outl(c->bm + BM_PRDT, (uint32_t)(uintptr_t)prdt);
        bm_ack(c, inb(c->bm + BM_STATUS));
    }
    outb(c->cmd + ATA_REG_FEATURE, dma ? 1 : 0);
    outb(c->cmd + ATA_REG_COUNT, 0);
    outb(c->cmd + ATA_REG_LBA_MID, (uint8_t)limit);
    outb(c->cmd + ATA_REG_LBA_HI, (uint8_t)(limit >> 8));
    outb(c->cmd + ATA_REG_DEVICE, ATA_DEV_OBS | (unit ? 0x10 : 0));
    outb(c->cmd + ATA_REG_COMMAND, ATA_CMD_PACKET);
    delay400ns(c);
    uint8_t st;
    if (!ide_wait(c, ATA_SR_BSY, 0, &st)) {
        out->status = st;
        return IDE_TIMEOUT;
    }
    if (st & ATA_SR_ERR) {
        out->status = ide_status(c);
        out->error = inb(c->cmd + ATA_REG_ERROR);
        return IDE_ERR;
    }
    uint8_t reason = inb(c->cmd + ATA_REG_COUNT) & 3;
    if (!(st & ATA_SR_DRQ) || reason != ATAPI_IR_COD) {
        out->status = st;
        out->reason = reason;
        return IDE_PROTOCOL;
    }
    outsw(c->cmd + ATA_REG_DATA, cdb, 6);
    delay400ns(c);
    if (dma) {
        uint8_t bst = bm_run(c, BM_CMD_TOMEMORY);
        out->bm_status = bst;
        enum ide_result r = settle(c, out);
        out->reason = inb(c->cmd + ATA_REG_COUNT) & 3;
        bm_ack(c, bst);
        if (r != IDE_OK)
            return r;
        if (!(bst & BM_ST_INTR) || (out->status & ATA_SR_DRQ))
            return IDE_PROTOCOL;
        return (bst & BM_ST_ERROR) ? IDE_ERR : IDE_OK;
    }
    uint8_t *p = buf;
    for (unsigned blocks = 0;; blocks++) {
        enum ide_result r = settle(c, out);
        out->reason = inb(c->cmd + ATA_REG_COUNT) & 3;
        if (r != IDE_OK)
            return r;
        if (!(out->status & ATA_SR_DRQ))
            return out->reason == (ATAPI_IR_COD | ATAPI_IR_IO) ? IDE_OK : IDE_PROTOCOL;
        if (out->reason != ATAPI_IR_IO || blocks > 100000)
            return IDE_PROTOCOL;
        uint32_t n = inb(c->cmd + ATA_REG_LBA_MID) | ((uint32_t)inb(c->cmd + ATA_REG_LBA_HI) << 8);
        if (n == 0 || n > limit)
            return IDE_PROTOCOL;
        for (uint32_t i = 0; i < n; i += 2) {
            uint16_t w = inw(c->cmd + ATA_REG_DATA);
            if (out->bytes < buflen)
                p[out->bytes] = (uint8_t)w;
            if (out->bytes + 1 < buflen && i + 1 < n)
                p[out->bytes + 1] = (uint8_t)(w >> 8);
            out->bytes += (i + 1 < n) ? 2 : 1;
        }
    }
}

void ata_id_string(const uint16_t *id, unsigned first, unsigned words, char *out)
{
    unsigned n = 0;
    for (unsigned i = 0; i < words; i++) {
        out[n++] = (char)(id[first + i] >> 8);
        out[n++] = (char)id[first + i];
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == 0))
        n--;
    out[n] = 0;
}

uint32_t ata_id_lba28(const uint16_t *id) { return id[60] | ((uint32_t)id[61] << 16); }

uint64_t ata_id_lba48(const uint16_t *id)
{
    return id[100] | ((uint64_t)id[101] << 16) | ((uint64_t)id[102] << 32) | ((uint64_t)id[103] << 48);
}

bool ata_id_checksum_ok(const uint16_t *id)
{
    if ((id[255] & 0xff) != 0xa5)
        return true;
    const uint8_t *b = (const uint8_t *)id;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 512; i++)
        sum = (uint8_t)(sum + b[i]);
    return sum == 0;
}
