/*
 * small_blocks.h - forced (-include) into every source of the fuzz_mbox
 * build: the mbox code reads the file in MBOX_BLOCK_SIZE blocks (1 MiB),
 * and the paths for lines and "\r\n" pairs that straddle a block
 * boundary are only reached by huge inputs.  With 256-byte blocks a
 * fuzzer reaches them with inputs of a few hundred bytes.  Every
 * translation unit must see the same value (journal.c and mailbox.c share
 * the buffer), hence a forced include rather than a per-file define.
 */
#include "params.h"

#undef MBOX_BLOCK_SIZE
#define MBOX_BLOCK_SIZE 256

/* The journal hashes and writes whole sectors of a block (journal.c
 * refuses a block that is not a multiple of the sector); smaller sectors
 * also bring the sector-boundary paths within reach of small inputs. */
#undef JOURNAL_SECTOR
#define JOURNAL_SECTOR 64

#if MBOX_BLOCK_SIZE < MBOX_LINE_PEEK
#error "blocks must hold a line start of MBOX_LINE_PEEK bytes"
#endif
