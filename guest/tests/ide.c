/* IDE tests (all on request) against the PIIX3 IDE controller in compatibility mode: the disk is
 * the primary master (-hda, -drive if=ide,index=0), the CD-ROM the first ATAPI device found
 * (-cdrom: secondary master). The disk holds the host pattern blk_pattern() (README.md).
 *
 * Sectors the tests write, with C = capacity (at least 1024 sectors), W = (C / 2) & ~7:
 *   ide-pio   W..W+3 (WRITE SECTORS) and W+4..W+7 (WRITE SECTORS EXT): pattern ^ 0xff
 *   ide-dma   W+64..W+71 (WRITE DMA) and W+72..W+79 (WRITE DMA EXT): pattern ^ 0xff
 * Reads: sector 0, 1..256, C/4+1.., W-1..W+8, W+63..W+80, C-128..C-1 (commands with LBA48
 * registers where the address needs them).
 * Parameters: ide.sectors=N (expected capacity), atapi.blocks=N (expected 2048-byte blocks),
 * atapi.volid=S (ISO 9660 volume id), atapi.file=NAME (a file in the ISO's root directory
 * holding the pattern: byte o of the file is blk_pattern(o)). */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/ide.h"
#include "lib/io.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/virtio_blk.h"

#define MIN_CAPACITY 1024
#define BIG (64 * 1024)

/* 64 KiB aligned, so one PRD entry of 64 KiB never crosses a 64 KiB boundary. */
static uint8_t buf[2 * BIG] __attribute__((aligned(65536)));
static uint16_t id[256] __attribute__((aligned(16)));
static struct ide_prd prdt[64] __attribute__((aligned(4096)));

enum ide_kind { KIND_NONE, KIND_ATA, KIND_ATAPI };

static const char *kind_name(enum ide_kind k)
{
    return k == KIND_ATA ? "ata" : k == KIND_ATAPI ? "atapi" : "none";
}

/* What the signature registers (and status) of one device say after a reset. */
static enum ide_kind detect(const struct ide_chan *c, unsigned unit, uint8_t *status)
{
    outb(c->cmd + ATA_REG_DEVICE, ATA_DEV_OBS | (unit ? 0x10 : 0));
    uint8_t st;
    (void)ide_wait(c, ATA_SR_BSY, 0, &st);
    uint8_t cnt = inb(c->cmd + ATA_REG_COUNT), lo = inb(c->cmd + ATA_REG_LBA_LO);
    uint8_t mid = inb(c->cmd + ATA_REG_LBA_MID), hi = inb(c->cmd + ATA_REG_LBA_HI);
    if (status)
        *status = st;
    if (cnt == 1 && lo == 1 && mid == 0x14 && hi == 0xeb)
        return KIND_ATAPI;
    if (cnt == 1 && lo == 1 && mid == 0 && hi == 0 && (st & ATA_SR_DRDY) && st != 0xff)
        return KIND_ATA;
    return KIND_NONE;
}

static struct ide_ctrl *get(struct test_result *r)
{
    char err[96];
    struct ide_ctrl *c = ide_get(err, sizeof(err));
    if (!c)
        fail(r, "%s", err);
    return c;
}

static bool ok(struct test_result *r, const char *what, enum ide_result res, const struct ide_status *st)
{
    if (res == IDE_OK)
        return true;
    return fail(r, " %s: %s status=0x%02x error=0x%02x bm=0x%02x", what, ide_result_name(res), st->status, st->error,
                st->bm_status);
}

/* The disk at the primary master: reset, signature, IDENTIFY; capacity in *cap. */
static bool disk_identify(struct test_result *r, const struct ide_chan *c, uint64_t *cap)
{
    if (!ide_soft_reset(c))
        return fail(r, " primary channel stays busy after SRST");
    uint8_t st;
    enum ide_kind k = detect(c, 0, &st);
    if (k != KIND_ATA)
        return fail(r, " primary master: signature says %s (status 0x%02x), want an ATA disk", kind_name(k), st);
    struct ata_cmd cmd = {.command = ATA_CMD_IDENTIFY};
    struct ide_status s;
    memset(id, 0, sizeof(id));
    if (!ok(r, "IDENTIFY", ata_pio_in(c, 0, &cmd, id, 1, 512, &s), &s))
        return false;
    *cap = (id[83] & (1 << 10)) ? ata_id_lba48(id) : ata_id_lba28(id);
    return true;
}

static bool check_pattern(struct test_result *r, const char *what, const uint8_t *p, uint64_t sector, uint32_t len,
                          uint8_t x)
{
    uint64_t base = sector * ATA_SECTOR;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t want = blk_pattern(base + i) ^ x;
        if (p[i] != want)
            return fail(r, " %s: disk byte 0x%lx (sector %lu) is 0x%02x, want 0x%02x", what, base + i,
                        (base + i) / ATA_SECTOR, p[i], want);
    }
    return true;
}

static void fill_pattern(uint8_t *p, uint64_t sector, uint32_t len, uint8_t x)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = blk_pattern(sector * ATA_SECTOR + i) ^ x;
}

static bool layout(struct test_result *r, uint64_t cap, uint64_t *w)
{
    if (cap < MIN_CAPACITY)
        return fail(r, " capacity %lu sectors, tests need at least %u", cap, MIN_CAPACITY);
    *w = (cap / 2) & ~7ull;
    return true;
}

/* LBA28 when the whole range fits in 28 bits, else LBA48. */
static struct ata_cmd rw(uint8_t cmd28, uint8_t cmd48, uint64_t lba, uint16_t count, bool force48)
{
    bool ext = force48 || lba + (count ? count : 256) > (1ull << 28);
    return (struct ata_cmd){.command = ext ? cmd48 : cmd28, .lba = lba, .count = count, .ext = ext, .lba_mode = true};
}

bool test_ide_id(struct test_result *r)
{
    struct ide_ctrl *ctl = get(r);
    if (!ctl)
        return false;
    const struct ide_chan *c = &ctl->chan[0];
    detail(r, "pcicmd=0x%04x idetim=0x%04x,0x%04x bm=%s", ctl->command_at_boot, ctl->idetim[0], ctl->idetim[1],
           c->bm ? "yes" : "no");
    uint64_t cap;
    if (!disk_identify(r, c, &cap))
        return false;
    char model[41], serial[21], fw[9];
    ata_id_string(id, 27, 20, model);
    ata_id_string(id, 10, 10, serial);
    ata_id_string(id, 23, 4, fw);
    uint32_t lba28 = ata_id_lba28(id);
    uint64_t lba48 = ata_id_lba48(id);
    detail(r, " model=\"%s\" serial=%s fw=%s lba28=%u lba48=%lu mwdma=0x%x udma=0x%x wcache=%u", model, serial, fw,
           lba28, lba48, id[63] & 7, id[88] & 0x7f, (id[85] >> 5) & 1);
    if (id[0] & 0x8000)
        return fail(r, " word 0 = 0x%04x: not an ATA device", id[0]);
    if (!model[0] || !serial[0] || !fw[0])
        return fail(r, " empty model, serial or firmware string");
    if ((id[49] & 0x0300) != 0x0300)
        return fail(r, " word 49 = 0x%04x: LBA and DMA must be supported", id[49]);
    if ((id[83] & 0xc000) != 0x4000 || !(id[83] & (1 << 10)) || !(id[83] & (1 << 12)) || !(id[83] & (1 << 13)))
        return fail(r, " word 83 = 0x%04x: want 48-bit, FLUSH CACHE and FLUSH CACHE EXT", id[83]);
    if (!(id[86] & (1 << 10)))
        return fail(r, " word 86 = 0x%04x: 48-bit not enabled", id[86]);
    if (!(id[82] & (1 << 5)))
        return fail(r, " word 82 = 0x%04x: no write cache", id[82]);
    if (!(id[53] & 6) || (id[63] & 7) == 0)
        return fail(r, " words 53/63 = 0x%04x/0x%04x: no multiword DMA modes", id[53], id[63]);
    uint32_t want28 = lba48 > 0x0fffffff ? 0x0fffffff : (uint32_t)lba48;
    if (lba28 != want28)
        return fail(r, " LBA28 capacity %u, want %u (from LBA48 %lu)", lba28, want28, lba48);
    if (!ata_id_checksum_ok(id))
        return fail(r, " word 255 = 0x%04x: bad checksum", id[255]);
    uint64_t want;
    if (cmdline_get_u64("ide.sectors", &want) && want != cap)
        return fail(r, " capacity %lu, want ide.sectors=%lu", cap, want);
    /* A disk refuses IDENTIFY PACKET DEVICE. */
    struct ata_cmd pid = {.command = ATA_CMD_IDENTIFY_PACKET};
    struct ide_status s;
    enum ide_result res = ata_pio_in(c, 0, &pid, buf, 1, 512, &s);
    if (res != IDE_ERR || !(s.error & ATA_ER_ABRT))
        return fail(r, " IDENTIFY PACKET on the disk: %s status=0x%02x error=0x%02x, want ABRT", ide_result_name(res),
                    s.status, s.error);
    /* The primary slave is absent: its signature must not claim a device. */
    uint8_t st;
    enum ide_kind slave = detect(c, 1, &st);
    (void)ide_select(c, 0);
    if (slave != KIND_NONE)
        return fail(r, " primary slave: %s (status 0x%02x) but none is attached", kind_name(slave), st);
    detail(r, " slave=none(0x%02x)", st);
    return true;
}

bool test_ide_pio(struct test_result *r)
{
    struct ide_ctrl *ctl = get(r);
    if (!ctl)
        return false;
    const struct ide_chan *c = &ctl->chan[0];
    uint64_t cap = 0, w = 0;
    if (!disk_identify(r, c, &cap) || !layout(r, cap, &w))
        return false;
    struct ide_status s;
    struct ata_cmd cmd;

    cmd = rw(ATA_CMD_READ_SECTORS, ATA_CMD_READ_SECTORS_EXT, 0, 1, false);
    memset(buf, 0xcc, ATA_SECTOR);
    if (!ok(r, "read sector 0", ata_pio_in(c, 0, &cmd, buf, 1, ATA_SECTOR, &s), &s) ||
        !check_pattern(r, "sector 0", buf, 0, ATA_SECTOR, 0))
        return false;
    /* CHS: cylinder 0, head 0, sector 1 is LBA 0 whatever the geometry. */
    cmd = (struct ata_cmd){.command = ATA_CMD_READ_SECTORS, .lba = 1, .count = 1};
    memset(buf, 0xcc, ATA_SECTOR);
    if (!ok(r, "CHS read 0/0/1", ata_pio_in(c, 0, &cmd, buf, 1, ATA_SECTOR, &s), &s) ||
        !check_pattern(r, "CHS 0/0/1", buf, 0, ATA_SECTOR, 0))
        return false;
    /* Count 0 is 256 sectors: 256 DRQ blocks. */
    cmd = rw(ATA_CMD_READ_SECTORS, ATA_CMD_READ_SECTORS_EXT, 1, 0, false);
    memset(buf, 0xcc, 256 * ATA_SECTOR);
    if (!ok(r, "read 256 sectors at 1", ata_pio_in(c, 0, &cmd, buf, 256, ATA_SECTOR, &s), &s) ||
        !check_pattern(r, "sectors 1..256", buf, 1, 256 * ATA_SECTOR, 0))
        return false;
    /* The last sectors through READ SECTORS EXT (HOB registers in use above 2^24 sectors). */
    cmd = rw(ATA_CMD_READ_SECTORS, ATA_CMD_READ_SECTORS_EXT, cap - 3, 3, true);
    memset(buf, 0xcc, 3 * ATA_SECTOR);
    if (!ok(r, "read ext C-3..C-1", ata_pio_in(c, 0, &cmd, buf, 3, ATA_SECTOR, &s), &s) ||
        !check_pattern(r, "C-3..C-1", buf, cap - 3, 3 * ATA_SECTOR, 0))
        return false;
    /* READ MULTIPLE with 8-sector DRQ blocks. */
    struct ata_cmd setmult = {.command = 0xc6, .count = 8};
    if (!ok(r, "SET MULTIPLE 8", ata_nondata(c, 0, &setmult, &s), &s))
        return false;
    cmd = (struct ata_cmd){.command = 0xc4, .lba = cap / 4 + 1, .count = 16, .lba_mode = true};
    memset(buf, 0xcc, 16 * ATA_SECTOR);
    if (!ok(r, "READ MULTIPLE 16", ata_pio_in(c, 0, &cmd, buf, 2, 8 * ATA_SECTOR, &s), &s) ||
        !check_pattern(r, "READ MULTIPLE", buf, cap / 4 + 1, 16 * ATA_SECTOR, 0))
        return false;
    /* Writes: 4 sectors with WRITE SECTORS, 4 with WRITE SECTORS EXT, then read all back. */
    fill_pattern(buf, w, 8 * ATA_SECTOR, 0xff);
    cmd = rw(ATA_CMD_WRITE_SECTORS, ATA_CMD_WRITE_SECTORS_EXT, w, 4, false);
    if (!ok(r, "write W..W+3", ata_pio_out(c, 0, &cmd, buf, 4, ATA_SECTOR, &s), &s))
        return false;
    cmd = rw(ATA_CMD_WRITE_SECTORS, ATA_CMD_WRITE_SECTORS_EXT, w + 4, 4, true);
    if (!ok(r, "write ext W+4..W+7", ata_pio_out(c, 0, &cmd, buf + 4 * ATA_SECTOR, 4, ATA_SECTOR, &s), &s))
        return false;
    cmd = rw(ATA_CMD_READ_SECTORS, ATA_CMD_READ_SECTORS_EXT, w - 1, 10, true);
    memset(buf, 0xcc, 10 * ATA_SECTOR);
    if (!ok(r, "read back W-1..W+8", ata_pio_in(c, 0, &cmd, buf, 10, ATA_SECTOR, &s), &s) ||
        !check_pattern(r, "W-1", buf, w - 1, ATA_SECTOR, 0) ||
        !check_pattern(r, "W..W+7", buf + ATA_SECTOR, w, 8 * ATA_SECTOR, 0xff) ||
        !check_pattern(r, "W+8", buf + 9 * ATA_SECTOR, w + 8, ATA_SECTOR, 0))
        return false;
    /* Past the end: the command fails, nothing is transferred. */
    cmd = rw(ATA_CMD_READ_SECTORS, ATA_CMD_READ_SECTORS_EXT, cap, 1, true);
    enum ide_result res = ata_pio_in(c, 0, &cmd, buf, 1, ATA_SECTOR, &s);
    if (res != IDE_ERR)
        return fail(r, " read past the end: %s status=0x%02x, want an error", ide_result_name(res), s.status);
    detail(r, "C=%lu W=%lu lba28 chs count0=256 lba48 multiple=8 write=8 past_end=0x%02x", cap, w, s.error);
    return true;
}

/* PRD entries for [p, p + total): 512 + 3584 bytes, then 4 KiB pieces, the last with EOT. */
static unsigned prd_split(uint8_t *p, uint32_t total)
{
    unsigned n = 0;
    uint32_t off = 0;
    if (total > 4096) {
        prdt[n++] = (struct ide_prd){(uint32_t)(uintptr_t)p, 512, 0};
        prdt[n++] = (struct ide_prd){(uint32_t)(uintptr_t)p + 512, 3584, 0};
        off = 4096;
    }
    while (off < total) {
        uint32_t len = total - off < 4096 ? total - off : 4096;
        prdt[n++] = (struct ide_prd){(uint32_t)(uintptr_t)p + off, (uint16_t)len, 0};
        off += len;
    }
    prdt[n - 1].flags = IDE_PRD_EOT;
    return n;
}

bool test_ide_dma(struct test_result *r)
{
    struct ide_ctrl *ctl = get(r);
    if (!ctl)
        return false;
    const struct ide_chan *c = &ctl->chan[0];
    if (!c->bm)
        return fail(r, "no bus-master registers (BAR4)");
    uint64_t cap = 0, w = 0;
    if (!disk_identify(r, c, &cap) || !layout(r, cap, &w))
        return false;
    struct ide_status s;
    struct ata_cmd cmd;

    /* 128 sectors through 17 PRD entries across 16 pages. */
    uint64_t at = cap / 4 + 1;
    unsigned n = prd_split(buf, BIG);
    cmd = rw(ATA_CMD_READ_DMA, ATA_CMD_READ_DMA_EXT, at, 128, false);
    memset(buf, 0xcc, BIG);
    if (!ok(r, "READ DMA 128 sectors", ata_dma(c, 0, &cmd, prdt, true, &s), &s) ||
        !check_pattern(r, "READ DMA", buf, at, BIG, 0))
        return false;
    if (s.bm_status & BM_ST_ACTIVE)
        return fail(r, " READ DMA: bus master still active (0x%02x) after an exact PRD table", s.bm_status);
    /* The last 128 sectors through READ DMA EXT and one 64 KiB entry (byte count 0). */
    prdt[0] = (struct ide_prd){(uint32_t)(uintptr_t)(buf + BIG), 0, IDE_PRD_EOT};
    cmd = rw(ATA_CMD_READ_DMA, ATA_CMD_READ_DMA_EXT, cap - 128, 128, true);
    memset(buf + BIG, 0xcc, BIG);
    if (!ok(r, "READ DMA EXT C-128", ata_dma(c, 0, &cmd, prdt, true, &s), &s) ||
        !check_pattern(r, "READ DMA EXT", buf + BIG, cap - 128, BIG, 0))
        return false;
    /* A PRD table larger than the transfer: done, interrupt, but the bus master stays active. */
    prdt[0] = (struct ide_prd){(uint32_t)(uintptr_t)buf, 4096, IDE_PRD_EOT};
    cmd = rw(ATA_CMD_READ_DMA, ATA_CMD_READ_DMA_EXT, 0, 1, false);
    memset(buf, 0xcc, 4096);
    if (!ok(r, "READ DMA with a 4 KiB PRD", ata_dma(c, 0, &cmd, prdt, true, &s), &s) ||
        !check_pattern(r, "READ DMA sector 0", buf, 0, ATA_SECTOR, 0))
        return false;
    if (!(s.bm_status & BM_ST_ACTIVE))
        return fail(r, " oversized PRD table: bus master status 0x%02x, want ACTIVE still set", s.bm_status);
    if (buf[ATA_SECTOR] != 0xcc)
        return fail(r, " oversized PRD table: bytes past the transfer were written");
    /* Writes: 8 sectors by WRITE DMA, 8 by WRITE DMA EXT, FLUSH CACHE (EXT), read back. */
    fill_pattern(buf, w + 64, 16 * ATA_SECTOR, 0xff);
    prd_split(buf, 8 * ATA_SECTOR);
    cmd = rw(ATA_CMD_WRITE_DMA, ATA_CMD_WRITE_DMA_EXT, w + 64, 8, false);
    if (!ok(r, "WRITE DMA W+64", ata_dma(c, 0, &cmd, prdt, false, &s), &s))
        return false;
    prdt[0] = (struct ide_prd){(uint32_t)(uintptr_t)(buf + 8 * ATA_SECTOR), 1024, 0};
    prdt[1] = (struct ide_prd){(uint32_t)(uintptr_t)(buf + 10 * ATA_SECTOR), 3072, IDE_PRD_EOT};
    cmd = rw(ATA_CMD_WRITE_DMA, ATA_CMD_WRITE_DMA_EXT, w + 72, 8, true);
    if (!ok(r, "WRITE DMA EXT W+72", ata_dma(c, 0, &cmd, prdt, false, &s), &s))
        return false;
    struct ata_cmd flush = {.command = ATA_CMD_FLUSH_CACHE};
    if (!ok(r, "FLUSH CACHE", ata_nondata(c, 0, &flush, &s), &s))
        return false;
    flush.command = ATA_CMD_FLUSH_CACHE_EXT;
    if (!ok(r, "FLUSH CACHE EXT", ata_nondata(c, 0, &flush, &s), &s))
        return false;
    prd_split(buf + BIG, 18 * ATA_SECTOR);
    cmd = rw(ATA_CMD_READ_DMA, ATA_CMD_READ_DMA_EXT, w + 63, 18, false);
    memset(buf + BIG, 0xcc, 18 * ATA_SECTOR);
    if (!ok(r, "READ DMA W+63..W+80", ata_dma(c, 0, &cmd, prdt, true, &s), &s) ||
        !check_pattern(r, "W+63", buf + BIG, w + 63, ATA_SECTOR, 0) ||
        !check_pattern(r, "W+64..W+79", buf + BIG + ATA_SECTOR, w + 64, 16 * ATA_SECTOR, 0xff) ||
        !check_pattern(r, "W+80", buf + BIG + 17 * ATA_SECTOR, w + 80, ATA_SECTOR, 0))
        return false;
    detail(r, "C=%lu prd=%u read=256 write=16 flush=2 oversized_prd=active", cap, n);
    return true;
}

/* ---- ATAPI ---- */

static const struct ide_chan *cd_chan;
static unsigned cd_unit;

static bool find_cdrom(struct test_result *r, struct ide_ctrl *ctl)
{
    /* -cdrom is the secondary master; look there first. */
    static const unsigned order[4][2] = {{1, 0}, {1, 1}, {0, 1}, {0, 0}};
    bool reset[2] = {false, false};
    for (unsigned i = 0; i < 4; i++) {
        const struct ide_chan *c = &ctl->chan[order[i][0]];
        if (!reset[order[i][0]]) {
            if (!ide_soft_reset(c))
                continue;
            reset[order[i][0]] = true;
        }
        if (detect(c, order[i][1], NULL) == KIND_ATAPI) {
            cd_chan = c;
            cd_unit = order[i][1];
            return true;
        }
    }
    return fail(r, "no ATAPI device (signature 14/eb) on either channel");
}

static enum ide_result packet(const uint8_t *cdb, void *p, uint32_t len, uint16_t limit, struct ide_status *s)
{
    return atapi_packet(cd_chan, cd_unit, cdb, p, len, limit, NULL, s);
}

static uint32_t be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static uint32_t le32(const uint8_t *p) { return p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

static void cdb_read10(uint8_t *cdb, uint32_t lba, uint16_t blocks)
{
    memset(cdb, 0, 12);
    cdb[0] = 0x28;
    cdb[2] = (uint8_t)(lba >> 24);
    cdb[3] = (uint8_t)(lba >> 16);
    cdb[4] = (uint8_t)(lba >> 8);
    cdb[5] = (uint8_t)lba;
    cdb[7] = (uint8_t)(blocks >> 8);
    cdb[8] = (uint8_t)blocks;
}

static bool cd_ok(struct test_result *r, const char *what, enum ide_result res, const struct ide_status *s)
{
    if (res == IDE_OK)
        return true;
    return fail(r, " %s: %s status=0x%02x error=0x%02x reason=%u bytes=%u", what, ide_result_name(res), s->status,
                s->error, s->reason, s->bytes);
}

/* A command that must end in CHECK CONDITION with this sense key and ASC (REQUEST SENSE). */
static bool expect_sense(struct test_result *r, const char *what, const uint8_t *cdb, uint8_t key, uint8_t asc)
{
    struct ide_status s;
    enum ide_result res = packet(cdb, buf, 2048, 2048, &s);
    if (res != IDE_ERR || (s.error >> 4) != key)
        return fail(r, " %s: %s status=0x%02x error=0x%02x, want CHECK CONDITION key %u", what, ide_result_name(res),
                    s.status, s.error, key);
    uint8_t rs[12] = {0x03, 0, 0, 0, 18};
    memset(buf, 0, 18);
    if (!cd_ok(r, "REQUEST SENSE", packet(rs, buf, 18, 18, &s), &s))
        return false;
    if ((buf[0] & 0x7f) != 0x70 || (buf[2] & 0x0f) != key || buf[12] != asc)
        return fail(r, " %s: sense %02x/%02x/%02x, want 70/%02x/%02x", what, buf[0] & 0x7f, buf[2] & 0xf, buf[12], key, asc);
    return true;
}

/* Looks `name` up in the root directory of the ISO 9660 volume whose PVD is at pvd. */
static bool find_file(struct test_result *r, const uint8_t *pvd, const char *name, uint32_t *extent, uint32_t *size)
{
    const uint8_t *root = pvd + 156;
    uint32_t dir = le32(root + 2), dirsize = le32(root + 10);
    uint8_t cdb[12];
    struct ide_status s;
    static uint8_t dbuf[4 * CD_BLOCK];
    uint32_t blocks = (dirsize + CD_BLOCK - 1) / CD_BLOCK;
    if (blocks > 4)
        blocks = 4;
    cdb_read10(cdb, dir, (uint16_t)blocks);
    if (!cd_ok(r, "READ(10) root directory", packet(cdb, dbuf, blocks * CD_BLOCK, 0xfffe, &s), &s))
        return false;
    size_t nlen = strlen(name);
    for (uint32_t off = 0; off < blocks * CD_BLOCK;) {
        uint8_t len = dbuf[off];
        if (len == 0) {             /* records never straddle blocks: skip to the next one */
            off = (off / CD_BLOCK + 1) * CD_BLOCK;
            continue;
        }
        uint8_t flen = dbuf[off + 32];
        const char *fname = (const char *)&dbuf[off + 33];
        bool match = flen >= nlen;
        for (size_t i = 0; match && i < nlen; i++) {
            char a = fname[i], b = name[i];
            if (a >= 'a' && a <= 'z')
                a -= 32;
            if (b >= 'a' && b <= 'z')
                b -= 32;
            match = a == b;
        }
        if (match && (flen == nlen || fname[nlen] == ';' || fname[nlen] == '.')) {
            *extent = le32(&dbuf[off + 2]);
            *size = le32(&dbuf[off + 10]);
            return true;
        }
        off += len;
    }
    return fail(r, " file %s not in the root directory", name);
}

bool test_atapi(struct test_result *r)
{
    struct ide_ctrl *ctl = get(r);
    if (!ctl || !find_cdrom(r, ctl))
        return false;
    const struct ide_chan *c = cd_chan;
    struct ide_status s;
    uint8_t cdb[12];
    detail(r, "at=%s-%s", c == &ctl->chan[0] ? "primary" : "secondary", cd_unit ? "slave" : "master");

    /* IDENTIFY DEVICE is aborted, and leaves the signature in place. */
    struct ata_cmd ident = {.command = ATA_CMD_IDENTIFY};
    enum ide_result res = ata_pio_in(c, cd_unit, &ident, buf, 1, 512, &s);
    if (res != IDE_ERR || !(s.error & ATA_ER_ABRT))
        return fail(r, " IDENTIFY DEVICE: %s status=0x%02x error=0x%02x, want ABRT", ide_result_name(res), s.status,
                    s.error);
    if (inb(c->cmd + ATA_REG_LBA_MID) != 0x14 || inb(c->cmd + ATA_REG_LBA_HI) != 0xeb)
        return fail(r, " no ATAPI signature after the aborted IDENTIFY DEVICE");
    struct ata_cmd pident = {.command = ATA_CMD_IDENTIFY_PACKET};
    if (!cd_ok(r, "IDENTIFY PACKET DEVICE", ata_pio_in(c, cd_unit, &pident, id, 1, 512, &s), &s))
        return false;
    if ((id[0] & 0xc000) != 0x8000 || ((id[0] >> 8) & 0x1f) != 5 || (id[0] & 3) != 0)
        return fail(r, " IDENTIFY PACKET word 0 = 0x%04x: want ATAPI, CD-ROM, 12-byte packets", id[0]);
    if (!ata_id_checksum_ok(id))
        return fail(r, " IDENTIFY PACKET word 255 = 0x%04x: bad checksum", id[255]);

    /* TEST UNIT READY: a fresh drive may report UNIT ATTENTION first. */
    bool ready = false;
    for (int i = 0; i < 3 && !ready; i++) {
        uint8_t tur[12] = {0};
        res = packet(tur, NULL, 0, 2048, &s);
        if (res == IDE_OK) {
            ready = true;
        } else if (res == IDE_ERR) {
            uint8_t rs[12] = {0x03, 0, 0, 0, 18};
            (void)packet(rs, buf, 18, 18, &s);
        } else {
            return cd_ok(r, "TEST UNIT READY", res, &s);
        }
    }
    if (!ready)
        return fail(r, " TEST UNIT READY never succeeded");

    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    memset(buf, 0, 64);
    if (!cd_ok(r, "INQUIRY", packet(inq, buf, 36, 0xfffe, &s), &s))
        return false;
    if ((buf[0] & 0x1f) != 5 || !(buf[1] & 0x80) || s.bytes != 36)
        return fail(r, " INQUIRY: type %u rmb %u bytes %u, want type 5, removable, 36 bytes", buf[0] & 0x1f, buf[1] >> 7,
                    s.bytes);
    char vendor[9], product[17];
    memcpy(vendor, buf + 8, 8);
    memcpy(product, buf + 16, 16);
    vendor[8] = product[16] = 0;
    for (int i = 7; i >= 0 && vendor[i] == ' '; i--)
        vendor[i] = 0;
    for (int i = 15; i >= 0 && product[i] == ' '; i--)
        product[i] = 0;

    uint8_t cap[12] = {0x25};
    if (!cd_ok(r, "READ CAPACITY", packet(cap, buf, 8, 0xfffe, &s), &s))
        return false;
    uint32_t blocks = be32(buf) + 1, blen = be32(buf + 4);
    if (blen != CD_BLOCK)
        return fail(r, " READ CAPACITY: block length %u, want 2048", blen);
    uint64_t want;
    if (cmdline_get_u64("atapi.blocks", &want) && want != blocks)
        return fail(r, " READ CAPACITY: %u blocks, want atapi.blocks=%lu", blocks, want);
    detail(r, " inquiry=\"%s %s\" blocks=%u", vendor, product, blocks);
    if (blocks < 18)
        return fail(r, " medium too small for ISO 9660 (%u blocks)", blocks);

    /* The primary volume descriptor at LBA 16. */
    static uint8_t pvd[CD_BLOCK];
    cdb_read10(cdb, 16, 1);
    if (!cd_ok(r, "READ(10) LBA 16", packet(cdb, pvd, CD_BLOCK, 0xfffe, &s), &s))
        return false;
    if (pvd[0] != 1 || memcmp(pvd + 1, "CD001", 5) != 0 || pvd[6] != 1)
        return fail(r, " LBA 16 is not a primary volume descriptor (%02x %c%c%c%c%c)", pvd[0], pvd[1], pvd[2], pvd[3],
                    pvd[4], pvd[5]);
    char volid[33];
    memcpy(volid, pvd + 40, 32);
    volid[32] = 0;
    for (int i = 31; i >= 0 && volid[i] == ' '; i--)
        volid[i] = 0;
    detail(r, " volid=%s", volid);
    const char *wantvol = cmdline_get("atapi.volid");
    if (wantvol && strcmp(wantvol, volid) != 0)
        return fail(r, " volume id '%s', want atapi.volid=%s", volid, wantvol);

    /* READ(12) of LBA 16-17 with a 2048-byte limit: two DRQ blocks; 17 is another descriptor. */
    memset(cdb, 0, 12);
    cdb[0] = 0xa8;
    cdb[5] = 16;
    cdb[9] = 2;
    memset(buf, 0xcc, 2 * CD_BLOCK);
    if (!cd_ok(r, "READ(12) LBA 16+2", packet(cdb, buf, 2 * CD_BLOCK, CD_BLOCK, &s), &s))
        return false;
    if (s.bytes != 2 * CD_BLOCK || memcmp(buf, pvd, CD_BLOCK) != 0 || memcmp(buf + CD_BLOCK + 1, "CD001", 5) != 0)
        return fail(r, " READ(12): %u bytes, want the PVD and a second volume descriptor", s.bytes);

    /* A file holding the pattern, read with PIO (odd 1000-byte limit) and, with a bus master, DMA. */
    const char *fname = cmdline_get("atapi.file");
    if (fname) {
        uint32_t extent = 0, size = 0;
        if (!find_file(r, pvd, fname, &extent, &size))
            return false;
        uint32_t n = size < BIG ? size : BIG;
        uint32_t nblocks = (n + CD_BLOCK - 1) / CD_BLOCK;
        cdb_read10(cdb, extent, (uint16_t)nblocks);
        memset(buf, 0xcc, nblocks * CD_BLOCK);
        if (!cd_ok(r, "READ(10) file", packet(cdb, buf, nblocks * CD_BLOCK, 1001, &s), &s))
            return false;
        for (uint32_t i = 0; i < n; i++)
            if (buf[i] != blk_pattern(i))
                return fail(r, " %s byte %u is 0x%02x, want 0x%02x", fname, i, buf[i], blk_pattern(i));
        detail(r, " file=%u", size);
        if (c->bm) {
            unsigned np = prd_split(buf + BIG, nblocks * CD_BLOCK);
            (void)np;
            memset(buf + BIG, 0xcc, nblocks * CD_BLOCK);
            res = atapi_packet(c, cd_unit, cdb, NULL, 0, 0xfffe, prdt, &s);
            if (!cd_ok(r, "READ(10) file by DMA", res, &s))
                return false;
            if (memcmp(buf, buf + BIG, n) != 0)
                return fail(r, " DMA read differs from the PIO read");
            detail(r, " dma=ok");
        }
    }

    /* Minimal MMC commands a driver uses. */
    uint8_t ms[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64};
    memset(buf, 0, 64);
    if (!cd_ok(r, "MODE SENSE(10) 2Ah", packet(ms, buf, 64, 0xfffe, &s), &s))
        return false;
    if ((buf[8] & 0x3f) != 0x2a || s.bytes < 10)
        return fail(r, " MODE SENSE: page 0x%02x in %u bytes, want 0x2a", buf[8] & 0x3f, s.bytes);
    uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 32};
    memset(buf, 0, 32);
    if (!cd_ok(r, "GET CONFIGURATION", packet(gc, buf, 32, 0xfffe, &s), &s))
        return false;
    uint16_t profile = (uint16_t)(buf[6] << 8 | buf[7]);
    if (profile != 0x0008 && profile != 0x0010)
        return fail(r, " GET CONFIGURATION: current profile 0x%04x, want CD-ROM or DVD-ROM", profile);
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 1, 0, 32};
    memset(buf, 0, 32);
    if (!cd_ok(r, "READ TOC", packet(toc, buf, 32, 0xfffe, &s), &s))
        return false;
    if (buf[2] != 1 || buf[3] != 1 || buf[6] != 1 || be32(buf + 8) != 0)
        return fail(r, " READ TOC: tracks %u-%u, first descriptor track %u at %u", buf[2], buf[3], buf[6], be32(buf + 8));
    uint8_t prevent[12] = {0x1e};
    if (!cd_ok(r, "PREVENT ALLOW MEDIUM REMOVAL", packet(prevent, NULL, 0, 2048, &s), &s))
        return false;
    uint8_t start[12] = {0x1b, 0, 0, 0, 1};
    if (!cd_ok(r, "START STOP UNIT", packet(start, NULL, 0, 2048, &s), &s))
        return false;

    /* Errors: an unknown opcode, and a read past the end. */
    uint8_t bad[12] = {0xff};
    if (!expect_sense(r, "opcode 0xff", bad, 5, 0x20))
        return false;
    cdb_read10(cdb, blocks, 1);
    if (!expect_sense(r, "READ(10) past the end", cdb, 5, 0x21))
        return false;
    detail(r, " profile=0x%04x sense=ok", profile);
    return true;
}
