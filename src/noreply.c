/*
 * noreply.c - RFC 3834 discipline: which messages must never be answered.
 * The intake records the reason with the message; every later step that
 * would reply checks it first.
 */
#include "confmail.h"

#include <string.h>

/* Local parts that belong to machines, not people (RFC 3834 section 2 and
 * common practice). */
static const char *machine_locals[] = {
	"mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply",
	"donotreply", "do-not-reply", "do_not_reply", "bounce", "bounces",
	"listserv", "majordomo", "mailman",
};

/* Headers whose mere presence marks list or automatic mail. */
static const char *marker_headers[] = {
	"List-Id", "List-Post", "List-Unsubscribe", "X-Autoreply", "X-Autorespond",
	"X-Auto-Response-Suppress", "Feedback-ID",
};

static const char *precedence_words[] = { "bulk", "list", "junk", "auto_reply" };

/* The local part of ADDR, lower-cased, in a static buffer's stead. */
static char *
local_part(const char *addr)
{
	const char *at = strchr(addr, '@');
	g_autofree char *lp = at ? g_strndup(addr, (gsize)(at - addr)) : g_strdup(addr);
	return g_ascii_strdown(lp, -1);
}

static bool
machine_address(const char *addr)
{
	if (!addr || !*addr)
		return false;
	g_autofree char *lp = local_part(addr);
	for (size_t i = 0; i < G_N_ELEMENTS(machine_locals); i++)
		if (strcmp(lp, machine_locals[i]) == 0)
			return true;
	return g_str_has_prefix(lp, "owner-") || g_str_has_suffix(lp, "-request") ||
	    g_str_has_suffix(lp, "-owner") || g_str_has_prefix(lp, "bounces+") ||
	    g_str_has_prefix(lp, "bounce-");
}

/* The first word of a header value, without comments or parameters. */
static char *
first_word(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	gsize n = strcspn(v, " \t;(");
	return g_ascii_strdown(v, (gssize)n);
}

const char *
noreply_reason(const struct mail *m, const struct envelope *env,
	       const struct config *cfg)
{
	if (env->sender && !*env->sender)
		return "null envelope sender";
	if (machine_address(env->sender))
		return "envelope sender is a machine address";
	if (machine_address(m->from_addr))
		return "From is a machine address";

	const char *as = mail_header(m, "Auto-Submitted");
	if (as) {
		g_autofree char *w = first_word(as);
		if (*w && strcmp(w, "no") != 0)
			return "Auto-Submitted";
	}
	const char *prec = mail_header(m, "Precedence");
	if (prec) {
		g_autofree char *w = first_word(prec);
		for (size_t i = 0; i < G_N_ELEMENTS(precedence_words); i++)
			if (strcmp(w, precedence_words[i]) == 0)
				return "Precedence: bulk, list or junk";
	}
	for (size_t i = 0; i < G_N_ELEMENTS(marker_headers); i++)
		if (mail_header(m, marker_headers[i]))
			return "list or automatic mail header";

	/* Our own X-Loop, in any of possibly several X-Loop lines. */
	for (guint i = 0; cfg && i < m->headers->len; i++) {
		const struct header *h = &g_array_index(m->headers, struct header, i);
		if (g_ascii_strcasecmp(h->name, "X-Loop") != 0)
			continue;
		g_autofree char *v = g_strstrip(g_strdup(h->value));
		if (g_ascii_strcasecmp(v, cfg->loop_id) == 0)
			return "our own X-Loop";
	}
	return NULL;
}
