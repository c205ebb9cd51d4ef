/*
 * spf_int.h -- private to src/msgauth/spf*.c: the macro-string contexts
 * the record parser needs beyond the public spf_macro_expand().
 */
#ifndef HIKYAKU_MSGAUTH_SPF_INT_H
#define HIKYAKU_MSGAUTH_SPF_INT_H

#include "msgauth/spf.h"

enum {
	SPF_MACRO_DOMAIN,   /* domain-spec: macro-literal, letters slodipvh */
	SPF_MACRO_EXP,      /* explanation: SP too, and the letters c, r, t */
	SPF_MACRO_MODIFIER, /* unknown-modifier value: any letter, no SP */
};

/* spf_macro_expand() with an explicit context (one of the above). */
int spf_macro_expand_mode(struct span spec, const struct spf_macro_env *env, int mode, char *out,
                          size_t size, const char **error_r);

#endif
