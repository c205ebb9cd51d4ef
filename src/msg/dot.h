/*
 * dot.h -- streaming filter for the DATA and BDAT message bytes.
 *
 * DATA: removes dot-stuffing and finds the end of data, recognised ONLY as
 * CR LF "." CR LF (RFC 5321 4.1.1.4, 4.5.2) so that LF.LF and the other SMTP
 * smuggling variants stay message content. BDAT (RFC 3030): bytes pass
 * unchanged. Both count the message size against a limit and flag bare CR
 * and bare LF, leaving the policy to the caller.
 * Pure: no I/O, no logging; output goes to the caller's bounded buffer.
 * Resumable at any byte boundary.
 * Security: every byte of every message passes here; fuzzed by
 * tests/fuzz/fuzz_dot.c against a byte-at-a-time reference.
 */
#ifndef HIKYAKU_MSG_DOT_H
#define HIKYAKU_MSG_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum dot_mode { DOT_MODE_DATA, DOT_MODE_RAW /* BDAT: no unstuffing, no end marker */ };
enum dot_rc { DOT_MORE = 0, DOT_END = 1 };

struct dot_filter {
	enum dot_mode mode;
	uint64_t max;          /* message size limit: bytes of unstuffed output */
	uint64_t size;         /* unstuffed bytes seen so far (counted even past max) */
	bool too_big;          /* size passed max: output stops, keep consuming */
	bool bare_lf, bare_cr; /* sticky: a LF not after CR, or a CR not followed by LF */
	unsigned state;        /* private */
};

/* Starts a message. `max` is the size limit in output bytes (UINT64_MAX for
   none); at most `max` bytes are ever appended to the output. */
void dot_filter_init(struct dot_filter *f, enum dot_mode mode, uint64_t max);

/*
 * Consumes bytes from in[0..n), appends the message bytes to `out` and sets
 * *used_r to the bytes consumed.
 * DOT_MODE_DATA: returns DOT_END once the terminating CR LF "." CR LF has
 * been consumed (the CR LF before the dot is message content, the ". CR LF"
 * is not output), leaving the bytes after it (pipelined commands)
 * unconsumed; later calls consume nothing and return DOT_END. The data
 * starts at the beginning of a line, so ".\r\n" first is an empty message.
 * A "." that starts a line and is followed by anything but CR LF is removed
 * (RFC 5321 4.5.2), even when a bare LF follows it.
 * DOT_MODE_RAW: outputs every byte and returns DOT_MORE.
 * A CR as the last byte of `in` is held back from the bare-CR check until
 * the next call (or dot_filter_finish()).
 * Once too_big, nothing more is appended but counting and end detection go
 * on. When `out` is full, stops early and returns DOT_MORE with *used_r
 * telling how far it got: drain `out` and call again with the rest.
 */
enum dot_rc dot_filter_run(struct dot_filter *f, const uint8_t *in, size_t n, size_t *used_r,
    struct buf *out);

/* After the last BDAT chunk: flags a CR that ended the last chunk. */
void dot_filter_finish(struct dot_filter *f);

#endif
