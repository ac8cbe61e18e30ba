/*
 * classify.c - what a message is, as far as its envelope and headers tell,
 * and which language it is written in.  Content rules from filters/ refine
 * this (the extraction step); here we only decide what is unambiguous.
 */
#include "confmail.h"

#include <stdlib.h>
#include <string.h>

/* Envelope recipients whose local part says what the mail is for. */
static const struct {
	const char *local;
	const char *class;
} by_recipient[] = {
	{ "register", "registration" },
	{ "registration", "registration" },
	{ "info", "question" },
	{ "questions", "question" },
	{ "announce-request", "subscribe" },
};

/* The local part of ADDR when ADDR is on DOMAIN (or any domain when
 * DOMAIN is NULL), else NULL. */
static char *
local_on_domain(const char *addr, const char *domain)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;

	if (!at || (domain && g_ascii_strcasecmp(at + 1, domain) != 0))
		return NULL;
	return g_ascii_strdown(addr, at - addr);
}

static bool
is_delivery_report(const struct mail *m)
{
	if (!m->message)
		return false;
	GMimeObject *top = g_mime_message_get_mime_part(m->message);
	if (!top)
		return false;
	GMimeContentType *ct = g_mime_object_get_content_type(top);
	if (!g_mime_content_type_is_type(ct, "multipart", "report"))
		return false;
	const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
	return rt && g_ascii_strcasecmp(rt, "delivery-status") == 0;
}

static bool
from_mailer_daemon(const struct mail *m, const struct envelope *env)
{
	if (env->sender && !*env->sender)
		return true;
	g_autofree char *lp = local_on_domain(m->from_addr, NULL);
	return lp && (strcmp(lp, "mailer-daemon") == 0 || strcmp(lp, "postmaster") == 0);
}

static bool
is_autoreply(const struct mail *m)
{
	const char *as = mail_header(m, "Auto-Submitted");
	if (as && g_ascii_strncasecmp(as, "auto-replied", 12) == 0)
		return true;
	return mail_header(m, "X-Autoreply") || mail_header(m, "X-Autorespond");
}

const char *
classify_language(const char *text)
{
	gsize latin = 0, arabic = 0, sorani = 0;

	if (!text)
		return "en";
	for (const char *p = text; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c < 0x80) {
			latin += g_ascii_isalpha((int)c) ? 1 : 0;
			continue;
		}
		if (c >= 0x0600 && c <= 0x06FF && g_unichar_isalpha(c))
			arabic++;
		switch (c) {
		case 0x0695: /* ڕ */ case 0x06B5: /* ڵ */ case 0x06CE: /* ێ */
		case 0x06C6: /* ۆ */ case 0x06D5: /* ە */ case 0x06A4: /* ڤ */
			sorani++;
		}
	}
	if (arabic == 0 || arabic < latin)
		return "en";
	/* In Sorani these letters make up several percent of the text; in
	 * Arabic they do not occur. */
	return sorani * 40 >= arabic && sorani >= 2 ? "ckb" : "ar";
}

/* The body without quoted lines, for judging the writer's language. */
static char *
unquoted(const char *body)
{
	GString *out = g_string_new(NULL);
	g_auto(GStrv) lines = g_strsplit(body, "\n", -1);

	for (int i = 0; lines[i]; i++)
		if (lines[i][0] != '>')
			g_string_append(g_string_append(out, lines[i]), "\n");
	return g_string_free(out, FALSE);
}

/* How much of a body's text the rules read. */
#define OWN_TEXT_MAX (256 * 1024)

/* "Fwd:", "TR:", "WG:", "توجيه:" ... before a subject: compiled once. */
static GRegex *
forward_subject(void)
{
	static GRegex *re;
	if (g_once_init_enter(&re))
		g_once_init_leave(&re, g_regex_new("^\\s*(fwd?|tr|wg|rv|enc|إعادة توجيه|توجيه|محول)\\s*:",
						   G_REGEX_CASELESS, 0, NULL));
	return re;
}

/* The writer's own text: HTML made text, normalised, and without quoted
 * history; for a forwarded message, the forwarded text, whose writer is
 * the participant (*PARTICIPANT, else NULL). */
static char *
own_text(const struct mail *m, char **participant)
{
	*participant = NULL;
	if (!m->body)
		return g_strdup("");
	g_autofree char *plain = m->body_type && strcmp(m->body_type, "text/html") == 0
	    ? text_from_html(m->body) : g_strdup(m->body);
	/* normalising and the rules' patterns cost 1 s a megabyte; what a
	 * participant writes is a few kilobytes */
	text_cut(plain, OWN_TEXT_MAX);
	g_autofree char *norm = text_normalise(plain);
	struct forward fw = { 0 };
	if (text_find_forward(norm, &fw)) {
		char *text = text_strip_quotes(fw.body ? fw.body : "");
		*participant = g_steal_pointer(&fw.from_addr);
		forward_clear(&fw);
		return text;
	}
	char *own = text_strip_quotes(norm);
	/* A forward as an attached message: when the subject says so or the
	 * forwarder wrote only a line or two, the attached mail is the one
	 * to read, and its sender is the participant. */
	bool says_forward = m->subject && g_regex_match(forward_subject(), m->subject, 0, NULL);
	if (m->forwarded_body && (says_forward || g_utf8_strlen(own, -1) < 200)) {
		g_free(own);
		g_autofree char *inner = m->forwarded_type && strcmp(m->forwarded_type, "text/html") == 0
		    ? text_from_html(m->forwarded_body) : g_strdup(m->forwarded_body);
		g_autofree char *inner_norm = text_normalise(text_cut(inner, OWN_TEXT_MAX));
		*participant = g_strdup(m->forwarded_from);
		return text_strip_quotes(inner_norm);
	}
	return own;
}

char *
classify_own_text(const struct mail *m)
{
	g_autofree char *participant = NULL;
	return own_text(m, &participant);
}

/* The year a date written without one is in: the conference's, else the
 * year the message was written. */
static int
default_year(const struct mail *m, const struct config *cfg)
{
	if (cfg && cfg->registration_deadline)
		return g_date_time_get_year(cfg->registration_deadline);
	if (m->date && strlen(m->date) >= 4)
		return atoi(m->date);
	g_autoptr(GDateTime) now = confmail_now();
	return g_date_time_get_year(now);
}

JsonObject *
classify_message(const struct rules *r, const struct mail *m, const struct envelope *env,
		 const struct config *cfg, struct verdict *v, char **participant_out)
{
	if (participant_out)
		*participant_out = NULL;
	classify(m, env, cfg, v);
	if (m->message && strcmp(v->class, "bounce") == 0) {
		v->has_bounce = dsn_parse(m, &v->bounce);
		return NULL;
	}
	if (!m->message || !r || strcmp(v->class, "autoreply") == 0)
		return NULL;
	g_autofree char *participant = NULL;
	g_autofree char *text = own_text(m, &participant);
	v->language = classify_language(*text ? text : m->subject);
	struct message_view mv = {
		.mail = m, .env = env, .text = text,
		.participant = participant ? participant : m->from_addr,
		.default_year = default_year(m, cfg),
	};
	rules_classify(r, &mv, v);
	if (participant_out)
		*participant_out = g_strdup(mv.participant);
	if (strcmp(v->class, "registration") != 0 && strcmp(v->class, "update") != 0)
		return NULL;
	return rules_extract(r, &mv);
}

void
classify(const struct mail *m, const struct envelope *env,
	 const struct config *cfg, struct verdict *v)
{
	v->class = "other";
	v->topic = NULL;
	v->has_bounce = false;
	v->bounce.recipients = NULL;
	if (m->body) {
		g_autofree char *own = unquoted(m->body);
		v->language = classify_language(own);
	} else {
		v->language = classify_language(m->subject);
	}
	if (!m->message)
		return;

	if (is_delivery_report(m) || from_mailer_daemon(m, env)) {
		v->class = "bounce";
		return;
	}
	if (is_autoreply(m)) {
		v->class = "autoreply";
		return;
	}
	g_autofree char *lp = local_on_domain(env->recipient, cfg ? cfg->domain : NULL);
	for (size_t i = 0; lp && i < G_N_ELEMENTS(by_recipient); i++) {
		if (strcmp(lp, by_recipient[i].local) == 0) {
			v->class = by_recipient[i].class;
			return;
		}
	}
}
