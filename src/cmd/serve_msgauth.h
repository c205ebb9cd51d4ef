/*
 * serve_msgauth.h -- SPF, DKIM and DMARC wired into the SMTP server
 * (serve_msgauth.c), called from the SMTP hooks in cmd_serve.c.
 *
 * Port 25: SPF starts at MAIL FROM; the DKIM verifier is fed while DATA
 * streams; at end of DATA the three results are awaited (bounded), DMARC
 * decides, and the outcome is a 550 5.7.1, delivery into Junk, or
 * delivery, always with Authentication-Results and Received-SPF put in
 * front of the header section (forged A-R fields claiming our authserv-id
 * removed). Submission: mail for the queue is DKIM-signed once, at queue
 * entry. Everything here lives on the loop thread.
 */
#ifndef HIKYAKU_CMD_SERVE_MSGAUTH_H
#define HIKYAKU_CMD_SERVE_MSGAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/span.h"
#include "smtp/smtp_server.h"

struct app;
struct msgauth_sess;

/* Checks the configuration and loads the public suffix list; dies on a
   bad authserv_id. */
void serve_msgauth_init(struct app *app);

/* MAIL FROM accepted: on port 25 starts the SPF check (the previous
   transaction's, if any, is cancelled). *ms is created on first use. */
void serve_msgauth_mail(struct app *app, struct smtp_sess *s, struct msgauth_sess **ms,
                        const char *sender);

/* Start of the message data. `queued`: it goes through the queue (then a
   submission is signed). Returns 0, or -1 (nothing to undo). */
int serve_msgauth_begin(struct app *app, struct smtp_sess *s, struct msgauth_sess **ms,
                        bool queued);

/* Message bytes as the engine hands them to data_write (our Received
   first). Never fails: over a bound the message is answered at the end. */
void serve_msgauth_write(struct msgauth_sess *ms, const void *p, size_t n);

/* What to do with the message. */
struct msgauth_outcome {
	const struct smtp_hook_reply *reject; /* non-NULL: refuse with this */
	bool has_prefix;                      /* replace the first `skip` bytes */
	struct span prefix;
	uint64_t skip;
	const char *folder; /* NULL: INBOX; "Junk" for DMARC quarantine */
};

/* o and what it points to are valid only during the call. */
typedef void serve_msgauth_fn(void *ctx, const struct msgauth_outcome *o);

/*
 * End of DATA: waits (at most MSGAUTH_TIMEOUT_MS) for SPF, the DKIM key
 * lookups and the DMARC record, then calls done exactly once, possibly
 * inside this call (nothing to wait for) or later from the loop.
 */
void serve_msgauth_finish(struct msgauth_sess *ms, serve_msgauth_fn *done, void *ctx);

/* The message was aborted: drop its state (the session's stays). */
void serve_msgauth_abort(struct msgauth_sess *ms);

/* The session ends: cancels everything pending. NULL is a no-op. */
void serve_msgauth_free(struct msgauth_sess **ms);

#endif
