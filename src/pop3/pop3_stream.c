/*
 * pop3_stream.c -- multi-line responses that may be large: RETR and TOP
 * (a message file, byte-stuffed) and the full LIST and UIDL listings.
 *
 * conn_write() refuses more than 1 MiB of queued output, and a message may
 * be 50 MiB, so a response goes out in batches of POP3_STREAM_BATCH bytes:
 * one batch now, the next when the output has drained (flow control by
 * the client's reading speed). Input waits meanwhile (conn_pause), so
 * pipelined commands are answered after the response, in order. Each
 * drain re-arms the idle timer: a client that reads is not idle, one that
 * stops reading times out.
 * A read error mid-response closes the connection: the status line has
 * gone out, and a truncated body must not look complete.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "net/conn.h"
#include "pop3/pop3_server_int.h"
#include "store/mailbox.h"

void
pop3_uidl(const struct pop3_sess *s, uint32_t uid, char out[17])
{
	snprintf(out, 17, "%08" PRIx32 "%08" PRIx32, s->uidvalidity, uid);
}

static void
pop3_stream_begin(struct pop3_sess *s, enum pop3_stream kind)
{
	s->input = PI_STREAM;
	s->stream = kind;
	conn_pause(s->conn);
	pop3_stream_more(s);
}

void
pop3_stream_file(struct pop3_sess *s, int fd, bool top, uint32_t lines)
{
	BUG_ON(s->fd >= 0);
	if (s->chunk == NULL)
		s->chunk = xmalloc(POP3_READ_CHUNK + POP3_STUFF_OUT(POP3_READ_CHUNK));
	s->fd = fd;
	pop3_stuff_init(&s->stuff, top, lines);
	pop3_stream_begin(s, PS_FILE);
}

void
pop3_stream_list(struct pop3_sess *s, enum pop3_stream kind)
{
	s->next_msg = 1;
	pop3_stream_begin(s, kind);
}

void
pop3_stream_abort(struct pop3_sess *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->input == PI_STREAM)
		s->input = PI_CMD;
}

/* pop3_stream_end - the terminating line is queued: take commands again. */
static void
pop3_stream_end(struct pop3_sess *s)
{
	pop3_stream_abort(s);
	if (s->conn != NULL && !s->closing)
		conn_resume(s->conn);
}

/* pop3_stream_file_step - one chunk of the file; bytes queued, 0 at the
   end (terminator queued), -1 when the session is closing. */
static ssize_t
pop3_stream_file_step(struct pop3_sess *s)
{
	uint8_t *out = s->chunk + POP3_READ_CHUNK;
	ssize_t n = 0;
	size_t o;

	if (!s->stuff.done) {
		do
			n = read(s->fd, s->chunk, POP3_READ_CHUNK);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0) {
		SLOG(s, "event=read-error error=\"%s\"", strerror(errno));
		pop3_sess_close(s, "message-read-error");
		return -1;
	}
	if (n == 0) {
		o = pop3_stuff_finish(&s->stuff, out);
		return pop3_write(s, out, o) ? 0 : -1;
	}
	o = pop3_stuff_run(&s->stuff, s->chunk, (size_t)n, out);
	return pop3_write(s, out, o) ? (ssize_t)o + 1 : -1;
}

/* pop3_stream_list_step - one LIST or UIDL line; as pop3_stream_file_step. */
static ssize_t
pop3_stream_list_step(struct pop3_sess *s)
{
	const struct mailbox_msg *m = NULL;
	char line[64], uidl[17];
	int n;

	for (; s->next_msg <= s->nmsgs; s->next_msg++) {
		m = mailbox_view_msg(s->view, s->next_msg);
		/* RFC 1939 5: messages marked as deleted are not listed. */
		if (m != NULL && !s->deleted[s->next_msg - 1])
			break;
	}
	if (s->next_msg > s->nmsgs || m == NULL)
		return pop3_write(s, ".\r\n", 3) ? 0 : -1;
	if (s->stream == PS_LIST) {
		n = snprintf(line, sizeof(line), "%" PRIu32 " %" PRIu64 "\r\n", s->next_msg,
		    m->size);
	} else {
		pop3_uidl(s, m->uid, uidl);
		n = snprintf(line, sizeof(line), "%" PRIu32 " %s\r\n", s->next_msg, uidl);
	}
	s->next_msg++;
	return pop3_write(s, line, (size_t)n) ? n : -1;
}

void
pop3_stream_more(struct pop3_sess *s)
{
	size_t queued = 0;
	ssize_t n;

	BUG_ON(s->input != PI_STREAM);
	conn_set_idle_timeout(s->conn, s->srv->lim.idle_ms);
	while (queued < POP3_STREAM_BATCH) {
		n = s->stream == PS_FILE ? pop3_stream_file_step(s) : pop3_stream_list_step(s);
		if (n < 0)
			return;
		if (n == 0) {
			pop3_stream_end(s);
			break;
		}
		queued += (size_t)n;
	}
	conn_flush(s->conn);
}
