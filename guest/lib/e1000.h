/* Polling driver for the Intel 8254x (82540EM, 8086:100e; also 82544GC 8086:100c and 82545EM
 * 8086:100f, which share the register model), after the 8254x Software Developer's Manual.
 * Registers through the memory BAR (BAR0, 32-bit accesses only); the I/O BAR's IOADDR/IODATA
 * window is used for one check read. Legacy descriptors, one RX and one TX ring in static
 * memory. Nothing enables an interrupt except e1000_irq_mask() (used by net-irq); receive and
 * transmit completion are found by polling the descriptors' DD bits. */
#ifndef LIB_E1000_H
#define LIB_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/net.h"
#include "lib/pci.h"

#define E1000_VENDOR 0x8086

/* Registers (byte offsets in BAR0). */
#define E1000_CTRL     0x0000
#define E1000_STATUS   0x0008
#define E1000_EECD     0x0010
#define E1000_EERD     0x0014
#define E1000_MDIC     0x0020
#define E1000_ICR      0x00c0
#define E1000_ITR      0x00c4
#define E1000_ICS      0x00c8
#define E1000_IMS      0x00d0
#define E1000_IMC      0x00d8
#define E1000_RCTL     0x0100
#define E1000_TCTL     0x0400
#define E1000_TIPG     0x0410
#define E1000_RDBAL    0x2800
#define E1000_RDBAH    0x2804
#define E1000_RDLEN    0x2808
#define E1000_RDH      0x2810
#define E1000_RDT      0x2818
#define E1000_RDTR     0x2820
#define E1000_TDBAL    0x3800
#define E1000_TDBAH    0x3804
#define E1000_TDLEN    0x3808
#define E1000_TDH      0x3810
#define E1000_TDT      0x3818
#define E1000_TIDV     0x3820
#define E1000_GPRC     0x4074   /* good packets received (clear on read) */
#define E1000_GPTC     0x4080   /* good packets transmitted */
#define E1000_TPR      0x40d0   /* total packets received */
#define E1000_TPT      0x40d4   /* total packets transmitted */
#define E1000_MTA      0x5200   /* 128 x 32 bits */
#define E1000_RAL0     0x5400
#define E1000_RAH0     0x5404
#define E1000_RA_ENTRIES 16

#define E1000_CTRL_FD      (1u << 0)
#define E1000_CTRL_LRST    (1u << 3)
#define E1000_CTRL_ASDE    (1u << 5)
#define E1000_CTRL_SLU     (1u << 6)
#define E1000_CTRL_ILOS    (1u << 7)
#define E1000_CTRL_RST     (1u << 26)
#define E1000_CTRL_VME     (1u << 30)
#define E1000_CTRL_PHY_RST (1u << 31)

#define E1000_STATUS_FD    (1u << 0)
#define E1000_STATUS_LU    (1u << 1)
#define E1000_STATUS_SPEED_SHIFT 6  /* 00 10, 01 100, 1x 1000 Mb/s */

#define E1000_EECD_SK      (1u << 0)
#define E1000_EECD_CS      (1u << 1)
#define E1000_EECD_DI      (1u << 2)
#define E1000_EECD_DO      (1u << 3)
#define E1000_EECD_REQ     (1u << 6)
#define E1000_EECD_GNT     (1u << 7)
#define E1000_EECD_PRES    (1u << 8)
#define E1000_EECD_SIZE    (1u << 9)   /* 82540EM: 0 = 64 words (6 address bits), 1 = 256 words */

#define E1000_EERD_START   (1u << 0)
#define E1000_EERD_DONE    (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16
#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM   0xbaba   /* words 0x00..0x3f add up to this */

#define E1000_MDIC_OP_READ  (1u << 27)
#define E1000_MDIC_READY    (1u << 28)
#define E1000_MDIC_ERROR    (1u << 30)
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_PHY_ADDR      1       /* the 82540EM's internal PHY */
#define MII_BMSR            1
#define MII_PHYSID1         2
#define MII_PHYSID2         3
#define MII_BMSR_LINK       0x0004

#define E1000_ICR_TXDW     (1u << 0)
#define E1000_ICR_TXQE     (1u << 1)
#define E1000_ICR_LSC      (1u << 2)
#define E1000_ICR_RXDMT0   (1u << 4)
#define E1000_ICR_RXO      (1u << 6)
#define E1000_ICR_RXT0     (1u << 7)

#define E1000_RCTL_EN      (1u << 1)
#define E1000_RCTL_UPE     (1u << 3)
#define E1000_RCTL_MPE     (1u << 4)
#define E1000_RCTL_BAM     (1u << 15)
#define E1000_RCTL_SECRC   (1u << 26)   /* BSIZE 00 (2048 bytes), BSEX 0 */

#define E1000_TCTL_EN      (1u << 1)
#define E1000_TCTL_PSP     (1u << 3)
#define E1000_TCTL_CT(x)   ((uint32_t)(x) << 4)
#define E1000_TCTL_COLD(x) ((uint32_t)(x) << 12)

#define E1000_RAH_AV       (1u << 31)

/* Legacy descriptors (manual 3.2.3 and 3.3.3). */
struct e1000_rx_desc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;
    uint8_t errors;
    uint16_t special;
};
struct e1000_tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso;
    uint8_t cmd;
    uint8_t status;
    uint8_t css;
    uint16_t special;
};
#define E1000_RXD_STAT_DD  0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_TXD_CMD_EOP  0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_RS   0x08
#define E1000_TXD_STAT_DD  0x01

#define E1000_RX_DESCS 64           /* RDLEN 1024: a multiple of 128 bytes */
#define E1000_TX_DESCS 16           /* TDLEN 256 */
#define E1000_BUF_SIZE 2048

struct e1000 {
    struct pci_func *pci;
    uint64_t mmio;
    uint16_t io;                /* I/O BAR base, 0 if the function has none */
    bool ready;
    uint8_t mac[ETH_ALEN];      /* from EEPROM words 0-2 */
    uint16_t eeprom[E1000_EEPROM_WORDS];
    uint16_t eeprom_sum;
    uint32_t rx_next;           /* next RX descriptor to look at */
    uint32_t tx_tail;           /* TDT as the driver last wrote it */
    uint64_t rx_frames, tx_frames;
    char err[128];
};

bool e1000_is_8254x(const struct pci_func *f);
/* The n-th 8254x function, bound (BARs, COMMAND) and initialised once; NULL with *err. */
struct e1000 *e1000_get(unsigned n, char *err, size_t errlen);
/* Reset and full initialisation (see the .c file for the order). */
bool e1000_init(struct e1000 *e);

uint32_t e1000_read(struct e1000 *e, uint32_t reg);
void e1000_write(struct e1000 *e, uint32_t reg, uint32_t v);
/* Through the I/O BAR: IOADDR (offset 0) = reg, then IODATA (offset 4). */
uint32_t e1000_io_read(struct e1000 *e, uint32_t reg);

/* EEPROM word through EERD; -1 if DONE never came. */
int e1000_eerd(struct e1000 *e, unsigned word);
/* EEPROM word by bit-banging EECD (Microwire READ, as Linux's e1000 does on the 82540); -1 if
 * the grant never came. */
int e1000_eecd_read(struct e1000 *e, unsigned word);
/* PHY register through MDIC; -1 on timeout or MDIC.E. */
int e1000_phy_read(struct e1000 *e, unsigned reg);

bool e1000_send(struct e1000 *e, const void *frame, uint32_t len);
/* Transmit descriptor i of the ring, for tests that hand the device hostile descriptors. */
volatile struct e1000_tx_desc *e1000_tx_desc(struct e1000 *e, unsigned i);
/* Fills a legacy transmit descriptor (no checksum insertion, status cleared). */
void e1000_tx_fill(volatile struct e1000_tx_desc *d, uint64_t addr, uint16_t len, uint8_t cmd);
/* Non-blocking; frame length, 0 if nothing arrived, -1 on a bad descriptor (e->err). */
int e1000_recv(struct e1000 *e, void *buf, uint32_t max);

#endif
