/*
 * token.c - confirmation tokens that need no table: ACTION-RECORD-EXPIRY-MAC,
 * where MAC is HMAC-SHA256 (GLib's GHmac) over the action, the address the
 * token was sent to, the record and the expiry day, keyed by a secret only
 * this installation knows (ezmlm-idx's cookie, with a modern MAC).
 *
 * A token cannot be guessed, moved to another address or record, or
 * stretched in time; whether it was already used is the record's business
 * (the pending change is gone once applied).
 */
#include "confmail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAC_HEX 20		/* 80 bits of the MAC, in lower-case hex */
#define SECRET_BYTES 32

/* Days since 1970-01-01 (UTC) of WHEN. */
static gint64
day_of(GDateTime *when)
{
	return g_date_time_to_unix(when) / 86400;
}

static char *
mac(const char *secret, const char *action, const char *address, const char *record, gint64 day)
{
	g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)secret, strlen(secret));
	g_autofree char *lower = g_ascii_strdown(address, -1);
	g_autofree char *when = g_strdup_printf("%" G_GINT64_FORMAT, day);
	const char *parts[] = { action, lower, record, when };

	/* each part ends with a NUL: "a" + "bc" differs from "ab" + "c" */
	for (size_t i = 0; i < G_N_ELEMENTS(parts); i++)
		g_hmac_update(h, (const guchar *)parts[i], (gssize)strlen(parts[i]) + 1);
	return g_strndup(g_hmac_get_string(h), MAC_HEX);
}

static bool
word(const char *s, const char *extra)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && !strchr(extra, *s))
			return false;
	return true;
}

char *
token_make(const char *secret, const char *action, const char *address, const char *record,
	   GDateTime *expires)
{
	gint64 day = day_of(expires);
	g_autofree char *m = mac(secret, action, address, record, day);
	return g_strdup_printf("%s-%s-%" G_GINT64_FORMAT "-%s", action, record, day, m);
}

enum token_status
token_check(const char *secret, const char *token, const char *address, GDateTime *now,
	    char **action, char **record)
{
	*action = *record = NULL;
	if (!token || !address || strlen(token) > 120)
		return TOKEN_INVALID;
	g_auto(GStrv) parts = g_strsplit(token, "-", -1);
	if (g_strv_length(parts) != 4 || !word(parts[0], "") || !word(parts[1], ".") ||
	    !word(parts[2], "") || strlen(parts[3]) != MAC_HEX)
		return TOKEN_INVALID;
	char *end;
	errno = 0;
	gint64 day = g_ascii_strtoll(parts[2], &end, 10);
	if (errno || *end || day <= 0)
		return TOKEN_INVALID;
	g_autofree char *want = mac(secret, parts[0], address, parts[1], day);
	g_autofree char *got = g_ascii_strdown(parts[3], -1);
	/* compare in constant time: no timing hints to a forger */
	unsigned diff = 0;
	for (int i = 0; i < MAC_HEX; i++)
		diff |= (unsigned)(want[i] ^ got[i]);
	if (diff)
		return TOKEN_INVALID;
	*action = g_strdup(parts[0]);
	*record = g_strdup(parts[1]);
	return day_of(now) > day ? TOKEN_EXPIRED : TOKEN_OK;
}

char *
token_in(const char *recipient, const char *subject)
{
	if (recipient) {
		g_autofree char *lower = g_ascii_strdown(recipient, -1);
		const char *at = strchr(lower, '@');
		if (g_str_has_prefix(lower, "confirm+") && at && at > lower + 8)
			return g_strndup(lower + 8, (gsize)(at - lower - 8));
	}
	if (subject) {
		g_autoptr(GRegex) re = g_regex_new("\\[confirm ([A-Za-z0-9.-]{8,120})\\]",
						   G_REGEX_CASELESS, 0, NULL);
		g_autoptr(GMatchInfo) mi = NULL;
		if (g_regex_match(re, subject, 0, &mi))
			return g_match_info_fetch(mi, 1);
	}
	return NULL;
}

char *
secret_path(const struct config *cfg)
{
	return cfg->secret_file ? g_strdup(cfg->secret_file)
	    : g_strdup_printf("%s.secret", cfg->database);
}

gboolean
secret_ensure(const struct config *cfg, GError **error)
{
	g_autofree char *path = secret_path(cfg);
	guchar bytes[SECRET_BYTES];

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return TRUE;
	if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
		g_set_error(error, CONFMAIL_ERROR, EX_OSERR, "no random bytes for %s: %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	/* O_EXCL and 0600 from the start: never readable by others, not
	 * even for a moment */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_CANTCREAT, "creating %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	GString *hex = g_string_new(NULL);
	for (size_t i = 0; i < sizeof bytes; i++)
		g_string_append_printf(hex, "%02x", bytes[i]);
	g_string_append_c(hex, '\n');
	bool ok = write(fd, hex->str, hex->len) == (ssize_t)hex->len && fsync(fd) == 0;
	int saved = errno;
	close(fd);
	g_string_free(hex, TRUE);
	if (!ok) {
		unlink(path);
		g_set_error(error, CONFMAIL_ERROR, EX_IOERR, "writing %s: %s", path, g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

char *
secret_load(const struct config *cfg, GError **error)
{
	g_autofree char *path = secret_path(cfg);
	g_autofree char *text = NULL;
	g_autoptr(GError) local = NULL;
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 0077)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "%s: readable by others (mode %03o); chmod 600 it", path, st.st_mode & 0777);
		return NULL;
	}
	if (!g_file_get_contents(path, &text, NULL, &local)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s (run 'confmail init')", local->message);
		return NULL;
	}
	g_strstrip(text);
	if (strlen(text) < 32) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s: too short to be a secret", path);
		return NULL;
	}
	return g_steal_pointer(&text);
}

char *
token_ticket(const char *secret, const char *reference)
{
	g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)secret, strlen(secret));
	g_autofree char *upper = g_ascii_strup(reference, -1);
	g_hmac_update(h, (const guchar *)"ticket", sizeof "ticket");
	g_hmac_update(h, (const guchar *)upper, (gssize)strlen(upper) + 1);
	/* 80 bits: unguessable, and short enough for an address */
	return g_strndup(g_hmac_get_string(h), 20);
}
