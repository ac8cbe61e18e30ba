/*
 * intake.c - reading one message the way an MDA is handed it: the bytes on
 * standard input, capped in size, and the envelope from wherever the MTA
 * put it (-r, the environment, an mbox "From " line, the headers).
 */
#include "confmail.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum read_status
intake_read(int fd, gint64 limit, GByteArray **raw, GError **error)
{
	struct stat sb;
	/* A file tells its size; a pipe does not, and mail is mostly small.
	 * Every page touched costs a fault, so start small and grow. */
	gsize want = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0
	    ? (gsize)MIN(sb.st_size + 1, limit + 1) : 16 * 1024;
	GByteArray *buf = g_byte_array_sized_new((guint)want);
	bool too_big = false;

	for (;;) {
		if (buf->len == want) {
			if ((gint64)want > limit) {
				/* Past the limit we keep reading and discard, so
				 * the MTA sees our exit code, not a broken pipe. */
				too_big = true;
				g_byte_array_set_size(buf, 0);
			} else {
				want = MIN(want * 2, (gsize)limit + 1);
			}
		}
		guint used = buf->len;
		g_byte_array_set_size(buf, (guint)want);
		ssize_t n = read(fd, buf->data + used, want - used);
		g_byte_array_set_size(buf, used + (guint)MAX(n, 0));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL,
				    "reading the message: %s", g_strerror(errno));
			g_byte_array_free(buf, TRUE);
			return READ_FAILED;
		}
	}
	if (too_big || (gint64)buf->len > limit) {
		g_byte_array_free(buf, TRUE);
		return READ_TOO_BIG;
	}
	*raw = buf;
	return READ_OK;
}

/* The address in an mbox line "From sender@example.org Mon Jan 17 ...". */
static char *
from_line_sender(const char *line, gsize len)
{
	const char *p = line + 5, *end = line + len;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *start = p;
	while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
		p++;
	g_autofree char *who = g_strndup(start, (gsize)(p - start));
	if (g_ascii_strcasecmp(who, "MAILER-DAEMON") == 0 || strcmp(who, "<>") == 0)
		return g_strdup("");
	return g_steal_pointer(&who);
}

char *
intake_strip_from_line(GByteArray *raw)
{
	if (raw->len < 5 || memcmp(raw->data, "From ", 5) != 0)
		return NULL;
	const guint8 *nl = memchr(raw->data, '\n', raw->len);
	gsize cut = nl ? (gsize)(nl - raw->data) + 1 : raw->len;
	char *sender = from_line_sender((const char *)raw->data, cut);
	g_byte_array_remove_range(raw, 0, (guint)cut);
	return sender;
}

/* "<a@b>" or "a@b" with the angle brackets and spaces taken off. */
static char *
bare_address(const char *s)
{
	g_autofree char *t = g_strstrip(g_strdup(s));
	gsize n = strlen(t);

	if (n >= 2 && t[0] == '<' && t[n - 1] == '>') {
		t[n - 1] = '\0';
		return g_strstrip(g_strdup(t + 1));
	}
	return g_steal_pointer(&t);
}

/* When set (intake_use_environment), the MTA's environment as a client
 * of `serve` passed it, instead of this process's own. */
static const char *const *given_env;

void
intake_use_environment(const char *const *values)
{
	given_env = values;
}

static const char *
getenv_given(const char *name)
{
	static const char *const names[] = INTAKE_ENVIRONMENT;
	if (!given_env)
		return g_getenv(name);
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		if (strcmp(names[i], name) == 0)
			return given_env[i];
	return NULL;
}

static const char *
env_value(const char *name)
{
	const char *v = getenv_given(name);
	return v && *v ? v : NULL;
}

void
intake_envelope(struct envelope *env, const char *opt_recipient,
		const char *opt_sender, char *from_line, const struct mail *m)
{
	const char *rcpt = NULL;

	if (opt_recipient && *opt_recipient) {
		rcpt = opt_recipient;
		env->recipient_source = "-r";
	} else if ((rcpt = env_value("ORIGINAL_RECIPIENT"))) {
		env->recipient_source = "$ORIGINAL_RECIPIENT";
	} else if ((rcpt = env_value("RECIPIENT"))) {
		env->recipient_source = "$RECIPIENT";
	} else if ((rcpt = mail_header(m, "Delivered-To"))) {
		env->recipient_source = "Delivered-To";
	} else if ((rcpt = mail_header(m, "X-Original-To"))) {
		env->recipient_source = "X-Original-To";	/* Postfix's local(8) and virtual(8) */
	}
	env->recipient = NULL;
	if (rcpt) {
		g_autofree char *bare = bare_address(rcpt);
		env->recipient = g_ascii_strdown(bare, -1);
	}

	/* -f, or $SENDER as Exim and local(8) set it: an empty one is the
	 * null sender of a bounce, not an unknown sender. */
	const char *sender = opt_sender ? opt_sender : getenv_given("SENDER");
	const char *rp;
	if (sender && (!*sender || g_ascii_strcasecmp(sender, "MAILER-DAEMON") == 0))
		env->sender = g_strdup("");
	else if (sender)
		env->sender = bare_address(sender);
	else if (from_line)
		env->sender = g_strdup(from_line);
	else if ((rp = mail_header(m, "Return-Path")))
		env->sender = bare_address(rp);
	else
		env->sender = NULL;
	if (env->sender) {
		char *lower = g_ascii_strdown(env->sender, -1);
		g_free(env->sender);
		env->sender = lower;
	}
}

void
envelope_clear(struct envelope *env)
{
	g_clear_pointer(&env->recipient, g_free);
	g_clear_pointer(&env->sender, g_free);
}
