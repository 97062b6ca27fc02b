/* A polling ATA/ATAPI driver for the PIIX3 IDE controller (8086:7010) in compatibility mode:
 * legacy command/control ports per channel, bus-master DMA through BAR4 (PIIX3 datasheet,
 * "PCI Bus Master IDE"), PIO for ATA and ATAPI (12-byte packets).
 *
 * Interrupts stay enabled at the device (nIEN = 0) because the bus-master interrupt bit only
 * latches the device's INTRQ; the guest runs with IF = 0, so the IRQ only ever pends in the
 * interrupt controller. Every wait polls the alternate status (or BMISTA for DMA) and gives up
 * after at least IDE_TIMEOUT_MS. */
#ifndef LIB_IDE_H
#define LIB_IDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/pci.h"

#define IDE_PCI_VENDOR 0x8086
#define IDE_PCI_DEVICE 0x7010        /* PIIX3 IDE */
#define IDE_TIMEOUT_MS 5000

/* Command block offsets (0x1F0 / 0x170). */
#define ATA_REG_DATA     0
#define ATA_REG_ERROR    1          /* read */
#define ATA_REG_FEATURE  1          /* write */
#define ATA_REG_COUNT    2          /* ATAPI: interrupt reason */
#define ATA_REG_LBA_LO   3
#define ATA_REG_LBA_MID  4          /* ATAPI: byte count low */
#define ATA_REG_LBA_HI   5          /* ATAPI: byte count high */
#define ATA_REG_DEVICE   6
#define ATA_REG_STATUS   7          /* read: clears INTRQ */
#define ATA_REG_COMMAND  7          /* write */

/* Device control (write) / alternate status (read) at 0x3F6 / 0x376. */
#define ATA_CTL_NIEN 0x02
#define ATA_CTL_SRST 0x04
#define ATA_CTL_HOB  0x80

#define ATA_SR_BSY  0x80
#define ATA_SR_DRDY 0x40
#define ATA_SR_DF   0x20
#define ATA_SR_DSC  0x10
#define ATA_SR_DRQ  0x08
#define ATA_SR_ERR  0x01

#define ATA_ER_ABRT 0x04
#define ATA_ER_IDNF 0x10

#define ATA_DEV_LBA 0x40
#define ATA_DEV_OBS 0xa0            /* obsolete bits, written as ones by convention */

#define ATA_CMD_READ_SECTORS       0x20
#define ATA_CMD_READ_SECTORS_EXT   0x24
#define ATA_CMD_READ_DMA_EXT       0x25
#define ATA_CMD_WRITE_SECTORS      0x30
#define ATA_CMD_WRITE_SECTORS_EXT  0x34
#define ATA_CMD_WRITE_DMA_EXT      0x35
#define ATA_CMD_DIAGNOSTIC         0x90
#define ATA_CMD_PACKET             0xa0
#define ATA_CMD_IDENTIFY_PACKET    0xa1
#define ATA_CMD_READ_DMA           0xc8
#define ATA_CMD_WRITE_DMA          0xca
#define ATA_CMD_FLUSH_CACHE        0xe7
#define ATA_CMD_FLUSH_CACHE_EXT    0xea
#define ATA_CMD_IDENTIFY           0xec
#define ATA_CMD_SET_FEATURES       0xef

/* ATAPI interrupt reason (the count register during PACKET). */
#define ATAPI_IR_COD 0x01
#define ATAPI_IR_IO  0x02

/* Bus-master registers, relative to the channel's base in BAR4 (+0 primary, +8 secondary). */
#define BM_COMMAND 0
#define BM_STATUS  2
#define BM_PRDT    4
#define BM_CMD_START    0x01
#define BM_CMD_TOMEMORY 0x08        /* "read" direction: the controller writes guest memory */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR  0x02
#define BM_ST_INTR   0x04
#define BM_ST_DMA0   0x20
#define BM_ST_DMA1   0x40

#define ATA_SECTOR 512u
#define CD_BLOCK   2048u

struct ide_chan {
    uint16_t cmd;                   /* command block base */
    uint16_t ctl;                   /* device control / alternate status port */
    uint16_t bm;                    /* bus-master base for this channel (BAR4 + 8 * channel), 0 if none */
};

struct ide_ctrl {
    struct pci_func *pci;
    uint16_t command_at_boot;       /* PCI COMMAND as the firmware (or VMM) left it */
    uint16_t idetim[2];             /* IDE timing registers 0x40 / 0x42 as left at boot */
    struct ide_chan chan[2];
};

/* A physical region descriptor: 32-bit address, byte count (0 = 64 KiB), bit 15 of the last
 * word ends the table. */
struct ide_prd {
    uint32_t addr;
    uint16_t count;
    uint16_t flags;
};
#define IDE_PRD_EOT 0x8000

enum ide_result { IDE_OK = 0, IDE_ERR, IDE_TIMEOUT, IDE_PROTOCOL };
const char *ide_result_name(enum ide_result r);

/* What a command left behind. */
struct ide_status {
    uint8_t status;                 /* last status read */
    uint8_t error;                  /* error register if ERR, else 0 */
    uint8_t bm_status;              /* BMISTA after a DMA command */
    uint8_t reason;                 /* ATAPI: interrupt reason at completion */
    uint32_t bytes;                 /* PIO/ATAPI: data bytes moved */
};

/* The controller, found on first use: BAR4 assigned if the firmware left it 0, I/O decoding
 * and bus mastering enabled. NULL with a reason in err if there is none. */
struct ide_ctrl *ide_get(char *err, size_t errlen);

uint8_t ide_altstatus(const struct ide_chan *c);
/* Reads the status register (acknowledges INTRQ). */
uint8_t ide_status(const struct ide_chan *c);
/* Waits until (alternate status & mask) == want; the last value read in *st. */
bool ide_wait(const struct ide_chan *c, uint8_t mask, uint8_t want, uint8_t *st);
/* Soft reset of both devices (SRST), then waits for the selected device to leave BSY. */
bool ide_soft_reset(const struct ide_chan *c);
/* Waits for BSY = DRQ = 0, writes the device register, waits 400 ns. */
bool ide_select(const struct ide_chan *c, unsigned unit);
/* Reads a register of the selected device (with HOB set when hob). */
uint8_t ide_reg(const struct ide_chan *c, unsigned reg, bool hob);

/* An ATA command in its registers; ext writes the HOB bytes first (LBA48). */
struct ata_cmd {
    uint8_t command;
    uint8_t feature;
    uint64_t lba;                   /* 28 or 48 bits; device bits 3:0 hold LBA 27:24 when !ext */
    uint16_t count;                 /* sectors; 0 means 256 (or 65536 with ext) */
    bool ext;
    bool lba_mode;                  /* sets the LBA bit of the device register */
};

/* Non-data command. */
enum ide_result ata_nondata(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, struct ide_status *out);
/* PIO data-in of `blocks` DRQ blocks of block_bytes each into buf (IDENTIFY: 1 x 512). */
enum ide_result ata_pio_in(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, void *buf, unsigned blocks,
                           unsigned block_bytes, struct ide_status *out);
enum ide_result ata_pio_out(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, const void *buf,
                            unsigned blocks, unsigned block_bytes, struct ide_status *out);
/* A DMA command through the bus master with this PRD table (which must stay below 4 GiB,
 * dword aligned, not crossing 64 KiB). to_memory: the device sends data (READ DMA). */
enum ide_result ata_dma(const struct ide_chan *c, unsigned unit, const struct ata_cmd *cmd, const struct ide_prd *prdt,
                        bool to_memory, struct ide_status *out);

/* One ATAPI PACKET command with a 12-byte CDB and a data-in phase of up to buflen bytes
 * (extra bytes the device offers are read and dropped), PIO with this byte count limit,
 * or DMA into buf when prdt is not NULL (prdt then describes buf). ERR in status means CHECK
 * CONDITION; the sense key is error >> 4. */
enum ide_result atapi_packet(const struct ide_chan *c, unsigned unit, const uint8_t cdb[12], void *buf, uint32_t buflen,
                             uint16_t limit, const struct ide_prd *prdt, struct ide_status *out);

/* IDENTIFY helpers: ASCII of words [first, first + words) (byte-swapped per word), trailing
 * spaces dropped; capacity from words 60-61 and 100-103. */
void ata_id_string(const uint16_t *id, unsigned first, unsigned words, char *out);
uint32_t ata_id_lba28(const uint16_t *id);
uint64_t ata_id_lba48(const uint16_t *id);
/* True if word 255 holds no signature (0xA5 in bits 7:0) or a checksum that sums the 512
 * bytes to 0 mod 256. */
bool ata_id_checksum_ok(const uint16_t *id);

#endif
