/*
 * dsn.c - delivery status notifications: which of our recipients failed,
 * and whether for good.
 *
 * An RFC 3464 report is read field by field and decides alone.  Without
 * one, the words of the human-readable report do: the returned message is
 * cut off first, since its addresses are ours and the recipient's as we
 * sent them, not what failed.
 */
#include "confmail.h"

#include <string.h>

/* More addresses than any real report names. */
#define MAX_ADDRESSES 1000

/* The machine-readable report: RFC 3464, RFC 6533, and what a few MTAs
 * call it. */
static const char *report_types[][2] = {
	{ "message", "delivery-status" },
	{ "message", "global-delivery-status" },
	{ "text", "delivery-status" },
};

/* The returned message, or its header. */
static const char *returned_types[][2] = {
	{ "message", "rfc822" },
	{ "message", "global" },
	{ "text", "rfc822-headers" },
	{ "message", "global-headers" },
};

enum action {
	ACTION_NONE,
	ACTION_FAILED,
	ACTION_DELAYED,
	ACTION_DONE,		/* delivered, relayed, expanded: no failure */
};

static const struct {
	const char *word;
	enum action action;
} actions[] = {
	{ "failed", ACTION_FAILED },
	{ "delayed", ACTION_DELAYED },
	{ "delivered", ACTION_DONE },
	{ "relayed", ACTION_DONE },
	{ "expanded", ACTION_DONE },
};

/* Local parts of mail systems and their operators: they sign reports and
 * are offered for help, but are never the recipient that failed. */
static const char *system_locals[] = {
	"mailerdaemon", "mail-daemon", "postmaster", "hostmaster", "abuse",
	"noreply", "no-reply", "donotreply", "do-not-reply",
};
static const char *system_local_prefixes[] = {
	"bounce", "mailer-daemon", "microsoftexchange",
};

/* Our own addresses in the bounce's header. */
static const char *our_fields[] = {
	"To", "Cc", "Delivered-To", "Envelope-To",
	"X-Envelope-To", "Return-Path", "From", "Sender",
};

/* Fields of the returned message that name its sender, i.e. us. */
static const char *returned_sender_fields[] = {
	"from", "sender", "reply-to", "return-path",
};

/* A report with none of these (report or subject, lower-cased) is not
 * about a delivery that went wrong. */
static const char *bounce_phrases[] = {
	/* failed */
	"could not be delivered", "couldn't be delivered", "cannot be delivered",
	"can't be delivered", "not be delivered", "wasn't delivered",
	"was not delivered", "not been delivered", "message not delivered",
	"undeliverable", "undelivered", "delivery has failed", "delivery failed",
	"delivery failure", "delivery problem", "delivery incomplete",
	"delivery to the following", "delivery status notification",
	"non-delivery", "nondelivery", "able to deliver", "could not deliver",
	"couldn't deliver", "error delivering", "problem delivering",
	"did not reach", "failed permanently", "permanent error", "fatal error",
	"address(es) failed", "addresses failed", "failed address",
	"failure notice", "returned mail", "returned to sender",
	"returning to sender", "returning message to sender",
	"address not found", "user unknown", "unknown user", "no such user",
	"mailbox unavailable", "could not be sent", "non-deliverable",
	"failed to send",
	/* delayed */
	"not yet been delivered", "delivery delayed", "has been delayed",
	"delayed mail", "delay reason", "will be retried", "still being retried",
	"will retry",
	/* Exchange's subjects in other languages */
	"unzustellbar", "non remis", "non recapitabile", "no se puede entregar",
	"onbestelbaar",
};

/* The MTA is still trying: the failure is temporary... */
static const char *retry_phrases[] = {
	"will retry", "will be retried", "still being retried", "retrying",
	"will continue to try", "will keep trying", "will try again",
	"not yet been delivered", "has been delayed", "delivery delayed",
	"delayed", "delay reason", "(delay)", "this is a warning",
	"warning only", "do not need to resend", "no need to resend",
	"temporary failure report",
};

/* ...unless it says it gave up, even on a 4xx reply... */
static const char *final_phrases[] = {
	"permanent", "given up", "giving up", "gave up",
	"retry timeout exceeded", "could not be delivered",
	"couldn't be delivered", "wasn't delivered", "was not delivered",
	"undeliverable", "delivery has failed", "message not delivered",
	"returned to sender", "returning message to sender",
	"deleted from queue", "unrecoverable",
};

/* ...and without a word on it, a 4xx reply or one of these is. */
static const char *transient_phrases[] = {
	"temporary", "temporarily", "deferred", "try again later",
};

/* Words of a line that says why a recipient failed. */
static const char *recipient_line_words[] = {
	"deliver", "fail", "unknown", "not found", "no such", "exist",
	"reject", "invalid", "unavailable", "disabled", "inactive", "quota",
	"full", "unrouteable", "unroutable", "refused", "denied",
	"recipient", "rcpt to", "error", "said:", "mailbox", "address",
};

/* Lines of a report whose next address is not one that failed: the
 * sender's ("Sender: ...", ">>> MAIL From:<...>") or whom to ask for
 * help; message identifiers look like addresses too. */
static const char *sender_line_prefixes[] = {
	"from:", "sender:", "sender address:", "reply-to:", "return-path:",
	"x-postfix-sender:", "envelope-from", "original-envelope-id",
	"message-id:", "x-original-message-id:",
};
static const char *sender_line_words[] = {
	"mail from:", "message-id", "message identifier", "envelope from",
	"contact ",
};

/* What precedes the alias we wrote to, when the report names the address
 * it expanded to: that one is the Final-Recipient, the alias only
 * stands in when the other is unusable ("<root@host>"). */
static const char *alias_words[] = { "expanded from" };

/* A report line where the returned message starts: a decorated line
 * ("--- Below this line is a copy of the message.") with one of these... */
static const char *returned_markers[] = {
	"copy of the message", "copy of your message", "original message",
	"unsent message", "returned message", "message follows",
	"message header", "headers of the original", "message text",
};
/* ...or the top of its header. */
static const char *returned_header_prefixes[] = {
	"return-path:", "received:", "x-received:", "dkim-signature:",
	"arc-seal:", "authentication-results:",
};

/* HTML elements that end a line of text. */
static const char *html_block_tags[] = {
	"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4", "h5",
	"h6", "pre", "blockquote",
};

static const struct {
	const char *entity;
	const char *text;
} html_entities[] = {
	{ "&lt;", "<" }, { "&gt;", ">" }, { "&amp;", "&" }, { "&quot;", "\"" },
	{ "&#39;", "'" }, { "&nbsp;", " " },
};

static bool
contains_any(const char *s, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(s, words[i]))
			return true;
	return false;
}

static bool
starts_with_any(const char *s, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (g_str_has_prefix(s, words[i]))
			return true;
	return false;
}

static bool
is_type(GMimeObject *part, const char *const (*types)[2], size_t n)
{
	GMimeContentType *ct = g_mime_object_get_content_type(part);

	for (size_t i = 0; ct && i < n; i++)
		if (g_mime_content_type_is_type(ct, types[i][0], types[i][1]))
			return true;
	return false;
}

/* Text, whatever its origin, as valid UTF-8 without CRs. */
static char *
clean_text(char *s)
{
	if (!g_utf8_validate(s, -1, NULL)) {
		char *valid = g_utf8_make_valid(s, -1);
		g_free(s);
		s = valid;
	}
	char *out = s;
	for (const char *p = s; *p; p++)
		if (*p != '\r')
			*out++ = *p;
	*out = '\0';
	return s;
}

/* Addresses ------------------------------------------------------------- */

static bool
local_char(gunichar c)
{
	return g_unichar_isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool
domain_char(gunichar c)
{
	return g_unichar_isalnum(c) || c == '-' || c == '.';
}

/* Labels that are not empty and a last one with a letter: not an IP
 * address, not a trailing "user@host" without a domain. */
static bool
valid_domain(const char *d, gsize len)
{
	const char *dot = g_strrstr_len(d, (gssize)len, ".");

	if (!dot || d[0] == '.' || d[0] == '-' || g_strstr_len(d, (gssize)len, ".."))
		return false;
	for (const char *p = dot + 1; p < d + len; p++)
		if (g_ascii_isalpha(*p) || (unsigned char)*p >= 0x80)
			return true;
	return false;
}

/* The next address in the UTF-8 text S from *POS on, lower-cased; *START
 * receives the offset where it begins.  NULL when there is none. */
static char *
next_address(const char *s, gsize *pos, gsize *start)
{
	const char *from = s + *pos;

	for (const char *at = strchr(from, '@'); at; at = strchr(at + 1, '@')) {
		const char *l = at;
		while (l > from) {
			const char *q = g_utf8_find_prev_char(from, l);
			if (!q || !local_char(g_utf8_get_char(q)))
				break;
			l = q;
		}
		while (l < at && *l == '.')
			l++;
		const char *r = at + 1;
		while (*r && domain_char(g_utf8_get_char(r)))
			r = g_utf8_next_char(r);
		while (r > at + 1 && (r[-1] == '.' || r[-1] == '-'))
			r--;
		if (l == at || !valid_domain(at + 1, (gsize)(r - at - 1)))
			continue;
		*pos = (gsize)(r - s);
		*start = (gsize)(l - s);
		return g_utf8_strdown(l, r - l);
	}
	*pos = strlen(s);
	return NULL;
}

static bool
system_address(const char *addr)
{
	const char *at = strchr(addr, '@');
	g_autofree char *local = g_strndup(addr, at ? (gsize)(at - addr) : strlen(addr));

	for (size_t i = 0; i < G_N_ELEMENTS(system_locals); i++)
		if (strcmp(local, system_locals[i]) == 0)
			return true;
	return starts_with_any(local, system_local_prefixes, G_N_ELEMENTS(system_local_prefixes));
}

/* Adds ADDR (taken) to LIST unless it is there already, or LIST is as
 * long as any real report gets: a crafted one must not make the search
 * for duplicates quadratic. */
static void
add_unique(GPtrArray *list, char *addr)
{
	if (list->len >= MAX_ADDRESSES ||
	    g_ptr_array_find_with_equal_func(list, addr, g_str_equal, NULL))
		g_free(addr);
	else
		g_ptr_array_add(list, addr);
}

/* Every address in TEXT into LIST (a GPtrArray) or SET (a GHashTable). */
static void
collect_addresses(const char *text, GPtrArray *list, GHashTable *set)
{
	gsize pos = 0, start;
	char *addr;

	while ((addr = next_address(text, &pos, &start))) {
		if (list)
			add_unique(list, addr);
		else
			g_hash_table_add(set, addr);
	}
}

/* RFC 3464 fields --------------------------------------------------------- */

struct dsn_recipient {
	char *final;		/* Final-Recipient's address */
	char *original;		/* Original-Recipient's */
	enum action action;
	char status;		/* class digit of Status: '2', '4', '5' or 0 */
};

/* "rfc822; <User@Example.org>" as "user@example.org", or NULL. */
static char *
dsn_address(const char *value)
{
	const char *semi = strchr(value, ';');
	g_autofree char *v = g_strdup(semi ? semi + 1 : value);
	gsize pos = 0, start;
	char *addr = next_address(g_strstrip(v), &pos, &start);

	/* the value is one address, nothing before it but a bracket */
	if (addr && start > 1) {
		g_free(addr);
		return NULL;
	}
	return addr;
}

/* Counts the recipient R reported, adding it to B if its delivery failed
 * or is delayed, and starts over. */
static void
dsn_recipient_end(struct dsn_recipient *r, struct bounce *b, int *seen)
{
	char *addr = r->final ? r->final : r->original;
	enum action action = r->action;

	/* No Action field: the status class is all there is. */
	if (action == ACTION_NONE)
		action = r->status == '5' ? ACTION_FAILED : r->status == '4' ? ACTION_DELAYED
		    : r->status == '2' ? ACTION_DONE : ACTION_NONE;
	if (addr && action != ACTION_NONE) {
		(*seen)++;
		if (action == ACTION_FAILED || action == ACTION_DELAYED) {
			add_unique(b->recipients, g_strdup(addr));
			if (action == ACTION_FAILED || r->status == '5')
				b->permanent = true;
			else
				b->delayed = true;
		}
	}
	g_free(r->final);
	g_free(r->original);
	*r = (struct dsn_recipient){ 0 };
}

static void
dsn_field(const char *field, struct dsn_recipient *r, struct bounce *b, int *seen)
{
	const char *colon = strchr(field, ':');

	if (!colon)
		return;
	g_autofree char *name = g_strndup(field, (gsize)(colon - field));
	g_autofree char *value = g_strstrip(g_strdup(colon + 1));
	g_strstrip(name);

	if (g_ascii_strcasecmp(name, "Final-Recipient") == 0) {
		/* a new recipient without the blank line between */
		if (r->final)
			dsn_recipient_end(r, b, seen);
		r->final = dsn_address(value);
	} else if (g_ascii_strcasecmp(name, "Original-Recipient") == 0) {
		if (r->original)
			dsn_recipient_end(r, b, seen);
		r->original = dsn_address(value);
	} else if (g_ascii_strcasecmp(name, "Action") == 0) {
		gsize n = strcspn(value, " \t;(");
		for (size_t i = 0; i < G_N_ELEMENTS(actions); i++)
			if (g_ascii_strncasecmp(value, actions[i].word, n) == 0 &&
			    strlen(actions[i].word) == n)
				r->action = actions[i].action;
	} else if (g_ascii_strcasecmp(name, "Status") == 0) {
		if (value[0] && strchr("245", value[0]) && value[1] == '.')
			r->status = value[0];
	}
}

/* Reads the per-recipient field groups of a delivery-status body into B.
 * *SEEN counts the recipients reported, whatever happened to them. */
static void
read_delivery_status(const char *text, struct bounce *b, int *seen)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autoptr(GString) field = g_string_new(NULL);
	struct dsn_recipient r = { 0 };

	for (char **l = lines; *l; l++) {
		const char *line = *l;
		bool blank = !*line || strspn(line, " \t\r") == strlen(line);

		if (!blank && (line[0] == ' ' || line[0] == '\t') && field->len) {
			g_string_append(field, line);	/* continuation */
			continue;
		}
		if (field->len)
			dsn_field(field->str, &r, b, seen);
		g_string_truncate(field, 0);
		if (blank)
			dsn_recipient_end(&r, b, seen);
		else
			g_string_assign(field, line);
	}
	if (field->len)
		dsn_field(field->str, &r, b, seen);
	dsn_recipient_end(&r, b, seen);
}

/* The decoded content of a part, or of a part GMime read as a message. */
static char *
part_content(GMimeObject *part)
{
	g_autoptr(GMimeStream) out = g_mime_stream_mem_new();

	if (GMIME_IS_PART(part)) {
		GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(part));
		if (!content || g_mime_data_wrapper_write_to_stream(content, out) < 0)
			return NULL;
	} else if (GMIME_IS_MESSAGE_PART(part)) {
		GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
		if (!msg || g_mime_object_write_to_stream(GMIME_OBJECT(msg), NULL, out) < 0)
			return NULL;
	} else {
		return NULL;
	}
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
	const char *charset = g_mime_object_get_content_type_parameter(part, "charset");
	return clean_text(mail_to_utf8((const char *)bytes->data, bytes->len, charset));
}

/* The returned message's header block as text. */
static char *
returned_header(GMimeObject *part)
{
	if (GMIME_IS_MESSAGE_PART(part)) {
		GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
		char *h = msg ? g_mime_object_get_headers(GMIME_OBJECT(msg), NULL) : NULL;
		return h ? clean_text(h) : NULL;
	}
	return part_content(part);
}

struct parts {
	GPtrArray *reports;	/* delivery-status parts */
	GPtrArray *returned;	/* the returned message or its header */
};

/* g_mime_message_foreach stays out of message/rfc822: what the returned
 * message carries is never the report. */
static void
visit_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct parts *p = data;
	(void)parent;

	if (is_type(part, report_types, G_N_ELEMENTS(report_types)))
		g_ptr_array_add(p->reports, part);
	else if (is_type(part, returned_types, G_N_ELEMENTS(returned_types)))
		g_ptr_array_add(p->returned, part);
}

/* The human-readable report ---------------------------------------------- */

struct report {
	GHashTable *ours;	/* addresses of the sender side */
	GPtrArray *named;	/* addresses where the report says what failed */
	GPtrArray *other;	/* any other address of the report */
	GPtrArray *sent_to;	/* To of the returned message */
};

/* Names a mail system signs with when its address says nothing
 * ("MAILER-DAEMON <>", "Mail Delivery System <root@host>"). */
static const char *system_from_words[] = {
	"mailer-daemon", "mailer daemon", "mail delivery", "postmaster",
};

/* Whether the header says a mail system sent this. */
static bool
from_mail_system(const struct mail *m)
{
	const char *rp = mail_header(m, "Return-Path");
	const char *from = mail_header(m, "From");

	if (rp) {
		g_autofree char *v = g_strstrip(g_strdup(rp));
		if (!*v || strcmp(v, "<>") == 0)
			return true;
	}
	/* "From: <>" */
	if (from && !m->from_addr && strstr(from, "<>"))
		return true;
	if (m->from_addr && system_address(m->from_addr))
		return true;
	if (from) {
		g_autofree char *f = g_ascii_strdown(from, -1);
		if (contains_any(f, system_from_words, G_N_ELEMENTS(system_from_words)))
			return true;
	}
	if (mail_header(m, "X-Failed-Recipients"))
		return true;
	GMimeObject *top = g_mime_message_get_mime_part(m->message);
	return top && GMIME_IS_MULTIPART(top) &&
	    g_mime_content_type_is_type(g_mime_object_get_content_type(top), "multipart", "report");
}

/* HTML as lines of text: enough to find addresses and phrases in a report
 * that comes only as HTML. */
static char *
html_lines(const char *html)
{
	GString *out = g_string_new(NULL);

	for (const char *p = html; *p;) {
		if (*p == '<') {
			const char *name = p + 1 + (p[1] == '/');
			gsize n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
			bool block = false;
			for (size_t i = 0; n && i < G_N_ELEMENTS(html_block_tags); i++)
				block |= strlen(html_block_tags[i]) == n &&
				    g_ascii_strncasecmp(name, html_block_tags[i], n) == 0;
			const char *end = strchr(p, '>');
			g_string_append_c(out, block ? '\n' : ' ');
			p = end ? end + 1 : p + strlen(p);
			continue;
		}
		if (*p == '&') {
			size_t i;
			for (i = 0; i < G_N_ELEMENTS(html_entities); i++)
				if (g_ascii_strncasecmp(p, html_entities[i].entity,
							strlen(html_entities[i].entity)) == 0)
					break;
			if (i < G_N_ELEMENTS(html_entities)) {
				g_string_append(out, html_entities[i].text);
				p += strlen(html_entities[i].entity);
				continue;
			}
		}
		g_string_append_c(out, *p++);
	}
	return g_string_free(out, FALSE);
}

/* LINE, lower-cased, without leading white space and transcript arrows. */
static char *
line_key(const char *line)
{
	while (*line == ' ' || *line == '\t' || *line == '>' || *line == '<')
		line++;
	return g_ascii_strdown(line, -1);
}

/* Whether LINE is where the returned message starts. */
static bool
returned_start(const char *line)
{
	g_autofree char *key = line_key(line);
	gsize deco = strspn(key, "-=*_ ");

	if (starts_with_any(key, returned_header_prefixes, G_N_ELEMENTS(returned_header_prefixes)))
		return true;
	if (g_str_has_prefix(key, "original message"))
		return true;
	return deco >= 2 && strspn(key, " ") < deco &&
	    contains_any(key, returned_markers, G_N_ELEMENTS(returned_markers));
}

/* The offset in TEXT where the returned message starts, or its length. */
static gsize
report_length(const char *text)
{
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		g_autofree char *l = g_strndup(line, nl ? (gsize)(nl - line) : strlen(line));
		if (returned_start(l))
			return (gsize)(line - text);
		if (!nl)
			break;
		line = nl + 1;
	}
	return strlen(text);
}

/* The sender fields of a returned message's header block (the first run
 * of "Name: value" lines in TEXT) into R->ours, its To into R->sent_to. */
static void
read_returned_header(const char *text, struct report *r)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	bool in_header = false;
	GHashTable *ours = NULL;
	GPtrArray *to = NULL;

	for (char **l = lines; *l; l++) {
		const char *line = *l;
		if (in_header && (line[0] == ' ' || line[0] == '\t') && line[strspn(line, " \t")]) {
			if (ours || to)
				collect_addresses(line, to, ours);
			continue;
		}
		gsize n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
		if (n == 0 || line[n] != ':') {
			if (in_header)
				return;	/* end of the header */
			continue;
		}
		in_header = true;
		ours = NULL;
		to = NULL;
		for (size_t i = 0; i < G_N_ELEMENTS(returned_sender_fields); i++)
			if (strlen(returned_sender_fields[i]) == n &&
			    g_ascii_strncasecmp(line, returned_sender_fields[i], n) == 0)
				ours = r->ours;
		if (n == 2 && g_ascii_strncasecmp(line, "to", 2) == 0)
			to = r->sent_to;
		if (ours || to)
			collect_addresses(line + n + 1, to, ours);
	}
}

/* Where the address after one of WORDS starts on LINE (PREFIXES: only
 * at its start), or -1. */
static gssize
mark_after(const char *line, const char *const *prefixes, size_t np,
	   const char *const *words, size_t nw)
{
	gsize skip = strspn(line, " \t<>");
	g_autofree char *key = g_ascii_strdown(line + skip, -1);

	for (size_t i = 0; i < np; i++)
		if (g_str_has_prefix(key, prefixes[i]))
			return (gssize)(skip + strlen(prefixes[i]));
	for (size_t i = 0; i < nw; i++) {
		const char *w = strstr(key, words[i]);
		if (w)
			return (gssize)(skip + (gsize)(w - key) + strlen(words[i]));
	}
	return -1;
}

/* Whether nothing but white space follows offset AT (-1: none) of LINE. */
static bool
at_line_end(const char *line, gssize at)
{
	return at >= 0 && !line[(gsize)at + strspn(line + at, " \t\r")];
}

/* Sorts the addresses of the report's lines: named where a failure is
 * told (first on its line, on a line about the failure, or under a
 * heading), ours (the sender, whom to contact), or other. */
static void
read_report_lines(const char *report, struct report *r)
{
	g_auto(GStrv) lines = g_strsplit(report, "\n", -1);
	bool heading = false;
	/* a marker at the end of a line applies to the next one, as in a
	 * wrapped "(expanded from\n    <alias@example.org>)" */
	bool mark_pending = false, alias_pending = false;

	for (char **l = lines; *l; l++) {
		const char *line = *l;
		g_autofree char *key = line_key(line);
		bool blank = !*g_strstrip(key);

		if (blank)
			continue;
		gssize mark = mark_pending ? 0 :
		    mark_after(line, sender_line_prefixes, G_N_ELEMENTS(sender_line_prefixes),
			       sender_line_words, G_N_ELEMENTS(sender_line_words));
		gssize alias = alias_pending ? 0 :
		    mark_after(line, NULL, 0, alias_words, G_N_ELEMENTS(alias_words));
		bool about_failure = contains_any(key, recipient_line_words,
						  G_N_ELEMENTS(recipient_line_words));
		gsize pos = 0, start;
		char *addr;
		while ((addr = next_address(line, &pos, &start))) {
			if (mark >= 0 && (gssize)start >= mark) {
				g_hash_table_add(r->ours, addr);
				mark = -1;
				continue;
			}
			if (alias >= 0 && (gssize)start >= alias) {
				add_unique(r->other, addr);
				alias = -1;
				continue;
			}
			bool first = true;
			for (const char *p = line; p < line + start && first; p = g_utf8_next_char(p))
				first = !g_unichar_isalnum(g_utf8_get_char(p));
			add_unique(first || about_failure || heading ? r->named : r->other, addr);
		}
		mark_pending = at_line_end(line, mark);
		alias_pending = at_line_end(line, alias);
		heading = g_str_has_suffix(key, ":");
	}
}

/* Whether TEXT holds an SMTP reply code or enhanced status code of class
 * 4 or 5: sets *HAS4 and *HAS5. */
static void
status_classes(const char *text, bool *has4, bool *has5)
{
	for (const char *p = text; *p; p++) {
		if (*p != '4' && *p != '5')
			continue;
		char prev = p > text ? p[-1] : ' ';
		if (g_ascii_isalnum(prev) || prev == '.' || prev == '-' || prev == ':' || prev == '+')
			continue;
		bool code = false;
		/* enhanced: 5.1.1, not 5.1.1.1, not 4.94.2 (a version) */
		if (p[1] == '.' && g_ascii_isdigit(p[2]) && p[3] == '.' && g_ascii_isdigit(p[4])) {
			const char *e = p + 4;
			while (g_ascii_isdigit(*e) && e < p + 7)
				e++;
			code = !g_ascii_isdigit(*e) && !(*e == '.' && g_ascii_isdigit(e[1]));
		} else if (p[1] >= '0' && p[1] <= '5' && g_ascii_isdigit(p[2])) {
			/* basic: "550 ", "452-", "said: 452" at a line end */
			code = !p[3] || strchr(" -\n\t)", p[3]);
		}
		if (code && *p == '4')
			*has4 = true;
		else if (code)
			*has5 = true;
	}
}

/* Whether REPORT (lower-cased with the subject in WORDS) tells a
 * permanent failure. */
static bool
text_permanent(const char *report, const char *words)
{
	bool has4 = false, has5 = false;

	status_classes(report, &has4, &has5);
	if (has5)
		return true;
	if (contains_any(words, retry_phrases, G_N_ELEMENTS(retry_phrases)))
		return false;
	if (contains_any(words, final_phrases, G_N_ELEMENTS(final_phrases)))
		return true;
	return !has4 && !contains_any(words, transient_phrases, G_N_ELEMENTS(transient_phrases));
}

/* S lower-cased, every run of white space one space: phrases are found
 * across the line breaks of a report. */
static char *
phrase_text(const char *s)
{
	GString *out = g_string_sized_new(strlen(s));

	for (; *s; s++) {
		if (g_ascii_isspace(*s)) {
			if (out->len && out->str[out->len - 1] != ' ')
				g_string_append_c(out, ' ');
		} else {
			g_string_append_c(out, g_ascii_tolower(*s));
		}
	}
	return g_string_free(out, FALSE);
}

/* Moves the addresses of FROM that are not ours (OURS NULL: all but
 * mail systems') into B. */
static void
take_recipients(struct bounce *b, GPtrArray *from, GHashTable *ours)
{
	for (guint i = 0; i < from->len; i++) {
		const char *addr = g_ptr_array_index(from, i);
		if (!(ours && g_hash_table_contains(ours, addr)) && !system_address(addr))
			add_unique(b->recipients, g_strdup(addr));
	}
}

/* The human-readable report: the body, else what precedes the first
 * part of a multipart whose boundary matches nothing. */
static char *
report_text(const struct mail *m, bool *html)
{
	GMimeObject *top = g_mime_message_get_mime_part(m->message);

	*html = m->body && m->body_type && strcmp(m->body_type, "text/html") == 0;
	if (*html)
		return clean_text(html_lines(m->body));
	if (m->body)
		return clean_text(g_strdup(m->body));
	if (top && GMIME_IS_MULTIPART(top)) {
		const char *prologue = g_mime_multipart_get_prologue(GMIME_MULTIPART(top));
		if (prologue)
			return clean_text(mail_to_utf8(prologue, strlen(prologue), NULL));
	}
	return g_strdup("");
}

static bool
read_text_report(const struct mail *m, const struct parts *p, const char *text,
		 struct bounce *b)
{
	if (!from_mail_system(m))
		return false;

	gsize cut = report_length(text);
	g_autofree char *report = g_strndup(text, cut);
	g_autofree char *both = g_strconcat(m->subject ? m->subject : "", "\n", report, NULL);
	g_autofree char *words = phrase_text(both);

	if (!contains_any(words, bounce_phrases, G_N_ELEMENTS(bounce_phrases)))
		return false;

	struct report r = {
		.ours = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.named = g_ptr_array_new_with_free_func(g_free),
		.other = g_ptr_array_new_with_free_func(g_free),
		.sent_to = g_ptr_array_new_with_free_func(g_free),
	};
	for (guint i = 0; i < m->headers->len; i++) {
		const struct header *h = &g_array_index(m->headers, struct header, i);
		for (size_t j = 0; j < G_N_ELEMENTS(our_fields); j++)
			if (g_ascii_strcasecmp(h->name, our_fields[j]) == 0)
				collect_addresses(h->value, NULL, r.ours);
	}
	for (guint i = 0; i < p->returned->len; i++) {
		g_autofree char *h = returned_header(g_ptr_array_index(p->returned, i));
		if (h)
			read_returned_header(h, &r);
	}
	read_returned_header(text + cut, &r);
	read_report_lines(report, &r);

	/* Exim and Gmail name the failed addresses in a header of their own. */
	g_autoptr(GPtrArray) failed = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < m->headers->len; i++) {
		const struct header *h = &g_array_index(m->headers, struct header, i);
		if (g_ascii_strcasecmp(h->name, "X-Failed-Recipients") == 0)
			collect_addresses(h->value, failed, NULL);
	}
	take_recipients(b, failed, NULL);
	if (!b->recipients->len)
		take_recipients(b, r.named, r.ours);
	if (!b->recipients->len)
		take_recipients(b, r.other, r.ours);
	/* a report that names nobody: the one address it was sent to */
	if (!b->recipients->len) {
		take_recipients(b, r.sent_to, r.ours);
		if (b->recipients->len > 1)
			g_ptr_array_set_size(b->recipients, 0);
	}
	b->permanent = text_permanent(report, words);
	b->delayed = !b->permanent && contains_any(words, retry_phrases, G_N_ELEMENTS(retry_phrases));

	g_hash_table_unref(r.ours);
	g_ptr_array_unref(r.named);
	g_ptr_array_unref(r.other);
	g_ptr_array_unref(r.sent_to);
	return b->recipients->len > 0;
}

/* ------------------------------------------------------------------------ */

static bool
not_a_bounce(struct bounce *b)
{
	bounce_clear(b);
	return false;
}

bool
dsn_parse(const struct mail *m, struct bounce *b)
{
	b->recipients = g_ptr_array_new_with_free_func(g_free);
	b->permanent = b->delayed = false;
	if (!m || !m->message)
		return not_a_bounce(b);

	struct parts p = {
		.reports = g_ptr_array_new(),
		.returned = g_ptr_array_new(),
	};
	g_mime_message_foreach(m->message, visit_part, &p);

	/* The RFC 3464 fields decide when there are any, even if they say
	 * every recipient got it; the text is only for those without. */
	int seen = 0;
	for (guint i = 0; i < p.reports->len; i++) {
		g_autofree char *text = part_content(g_ptr_array_index(p.reports, i));
		if (text)
			read_delivery_status(text, b, &seen);
	}
	bool html;
	g_autofree char *text = report_text(m, &html);
	/* the same fields pasted into a plain-text report */
	if (!seen && !html && from_mail_system(m)) {
		g_autofree char *report = g_strndup(text, report_length(text));
		g_autofree char *lc = g_ascii_strdown(report, -1);
		if (strstr(lc, "final-recipient:"))
			read_delivery_status(report, b, &seen);
	}
	bool found = seen ? b->recipients->len > 0 : read_text_report(m, &p, text, b);

	g_ptr_array_unref(p.reports);
	g_ptr_array_unref(p.returned);
	/* one recipient failed for good: not a mere delay notice */
	if (b->permanent)
		b->delayed = false;
	return found ? true : not_a_bounce(b);
}

void
bounce_clear(struct bounce *b)
{
	if (!b)
		return;
	g_clear_pointer(&b->recipients, g_ptr_array_unref);
	b->permanent = b->delayed = false;
}
