/*
 * dkim_key.c -- DKIM keys on disk and in DNS: generation (RSA-2048 or
 * Ed25519, PKCS#8 PEM, mode 0600), the path data_dir/dkim/DOMAIN/SELECTOR.key
 * (DESIGN.md), the key record text (RFC 6376 3.6.1, RFC 8463 4) and its
 * split into zone-file character-strings (RFC 1035 3.3.14: 255 bytes each).
 *
 * Security: a key file is created with O_EXCL|O_NOFOLLOW and mode 0600,
 * so an existing file or a planted symlink is never written through;
 * directories are made 0700. Domain and selector must be plain path
 * components. The private key is only ever held by OpenSSL.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "base/xalloc.h"
#include "msgauth/dkim.h"

/* A safe single path component: letters, digits, '-', '_', '.', no "..". */
static bool
component_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DKIM_MAX_DOMAIN || s[0] == '.' || strstr(s, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
			return false;
	return true;
}

char *
dkim_key_path(const char *data_dir, const char *domain, const char *selector)
{
	if (!component_ok(domain) || !component_ok(selector))
		return NULL;
	return xasprintf("%s/dkim/%s/%s.key", data_dir, domain, selector);
}

/* mkdirs - every missing parent of `path`, mode 0700. */
static int
mkdirs(const char *path)
{
	char *dir = xstrdup(path);
	int rc = 0;

	for (char *p = dir + 1; *p != '\0' && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	free(dir);
	return rc;
}

static EVP_PKEY *
generate(enum dkim_keytype type)
{
	if (type == DKIM_KEY_RSA)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)DKIM_SIGN_RSA_BITS);
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

int
dkim_keygen(enum dkim_keytype type, const char *path, const char **error_r)
{
	EVP_PKEY *pk;
	FILE *fp;
	int fd, ok;

	if (mkdirs(path) == -1) {
		*error_r = "cannot create the key directory";
		return -1;
	}
	if ((pk = generate(type)) == NULL) {
		*error_r = "key generation failed";
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		EVP_PKEY_free(pk);
		*error_r = errno == EEXIST ? "key file exists" : "cannot create the key file";
		return -1;
	}
	ok = PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL) == 1 && fflush(fp) == 0 &&
	     fsync(fd) == 0;
	ok = fclose(fp) == 0 && ok;
	EVP_PKEY_free(pk);
	if (!ok) {
		unlink(path);
		*error_r = "cannot write the key file";
		return -1;
	}
	return 0;
}

/* pub_bytes - what p= holds: SPKI DER (RSA) or the raw 32 bytes (RFC 8463). */
static int
pub_bytes(EVP_PKEY *pk, uint8_t *dst, size_t size, size_t *len_r)
{
	if (EVP_PKEY_is_a(pk, "ED25519")) {
		*len_r = size;
		return EVP_PKEY_get_raw_public_key(pk, dst, len_r) == 1 ? 0 : -1;
	}
	int n = i2d_PUBKEY(pk, NULL);
	if (n <= 0 || (size_t)n > size)
		return -1;
	uint8_t *p = dst;
	*len_r = (size_t)i2d_PUBKEY(pk, &p);
	return 0;
}

int
dkim_key_txt(const char *path, struct buf *out, const char **error_r)
{
	uint8_t pub[DKIM_MAX_KEY_BYTES];
	char p64[DKIM_MAX_KEY_BYTES * 4 / 3 + 8];
	size_t len;
	EVP_PKEY *pk;
	FILE *fp;
	int rc;

	if ((fp = fopen(path, "re")) == NULL) {
		*error_r = "cannot open key file";
		return -1;
	}
	pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pk == NULL || !(EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "ED25519")) ||
	    pub_bytes(pk, pub, sizeof(pub), &len) == -1) {
		EVP_PKEY_free(pk);
		*error_r = "not an RSA or Ed25519 private key in PEM";
		return -1;
	}
	sodium_bin2base64(p64, sizeof(p64), pub, len, sodium_base64_VARIANT_ORIGINAL);
	rc = buf_printf(out, "v=DKIM1; k=%s; p=%s", EVP_PKEY_is_a(pk, "RSA") ? "rsa" : "ed25519",
	                p64);
	EVP_PKEY_free(pk);
	if (rc == -1)
		*error_r = "output buffer full";
	return rc;
}

int
dkim_txt_zone(const char *txt, struct buf *out)
{
	size_t n = strlen(txt);

	for (size_t off = 0; off < n || off == 0; off += 255) {
		size_t k = MIN(255, n - off);

		if (off > 0 && buf_append(out, " ", 1) == -1)
			return -1;
		if (buf_append(out, "\"", 1) == -1)
			return -1;
		for (size_t i = 0; i < k; i++) {
			char c = txt[off + i];
			/* RFC 1035 5.1: quote and backslash need an escape. */
			if ((c == '"' || c == '\\') && buf_append(out, "\\", 1) == -1)
				return -1;
			if (buf_append(out, &c, 1) == -1)
				return -1;
		}
		if (buf_append(out, "\"", 1) == -1)
			return -1;
		if (n == 0)
			break;
	}
	return 0;
}
