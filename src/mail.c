/*
 * mail.c - one message parsed with GMime and turned into plain data:
 * decoded headers, addresses, and the best text part as valid UTF-8.
 *
 * Parsing never fails outright: mail that GMime cannot make sense of comes
 * back with message == NULL and a reason, and the intake quarantines it.
 */
#include "confmail.h"

#include <string.h>

/* Tried in order for raw 8-bit headers.  Arabic mail without a charset is
 * overwhelmingly windows-1256 (Outlook); it maps nearly every byte, so it
 * comes last. */
static const char *fallback_charsets[] = { "UTF-8", "windows-1256", NULL };

/* Whether bytes that are not valid UTF-8 look like Arabic in windows-1256:
 * Arabic words are runs of high bytes, while accented Latin letters stand
 * alone between ASCII ones. */
static bool
looks_like_cp1256(const unsigned char *s, gsize len)
{
	gsize runs = 0, lone = 0;

	for (gsize i = 0; i < len; i++) {
		if (s[i] < 0x80)
			continue;
		bool prev = i > 0 && s[i - 1] >= 0x80;
		bool next = i + 1 < len && s[i + 1] >= 0x80;
		if (prev || next)
			runs++;
		else
			lone++;
	}
	return runs > lone;
}

static char *
convert_or_null(const char *s, gsize len, const char *charset)
{
	gsize written = 0;
	char *out = g_convert(s, (gssize)len, "UTF-8", charset, NULL, &written, NULL);

	if (out && !g_utf8_validate(out, (gssize)written, NULL)) {
		g_free(out);
		return NULL;
	}
	return out;
}

char *
mail_to_utf8(const char *bytes, gsize len, const char *charset)
{
	/* NUL bytes are never text; they would also cut C strings short. */
	g_autofree char *s = g_malloc(len + 1);
	gsize n = 0;
	for (gsize i = 0; i < len; i++)
		if (bytes[i] != '\0')
			s[n++] = bytes[i];
	s[n] = '\0';

	if (charset && *charset) {
		const char *name = g_mime_charset_iconv_name(charset);
		if (g_ascii_strcasecmp(name, "UTF-8") != 0 &&
		    g_ascii_strcasecmp(name, "US-ASCII") != 0) {
			char *out = convert_or_null(s, n, name);
			if (out)
				return out;
		}
	}
	if (g_utf8_validate(s, (gssize)n, NULL))
		return g_steal_pointer(&s);

	const char *guess = looks_like_cp1256((const unsigned char *)s, n)
	    ? "WINDOWS-1256" : "WINDOWS-1252";
	char *out = convert_or_null(s, n, guess);
	if (!out)
		out = convert_or_null(s, n, "ISO-8859-1");
	return out ? out : g_utf8_make_valid(s, (gssize)n);
}

/* A header value as valid UTF-8, never NULL. */
static char *
clean_value(const char *v)
{
	if (!v)
		return g_strdup("");
	return g_utf8_validate(v, -1, NULL) ? g_strdup(v) : g_utf8_make_valid(v, -1);
}

static char *
nonempty(char *s)
{
	if (s && !*g_strstrip(s)) {
		g_free(s);
		return NULL;
	}
	return s;
}

/* Header names any real message carries at least one of; random bytes
 * that GMime reads as "headers" carry none. */
static const char *message_headers[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Sender",
	"Reply-To", "Received", "Return-Path", "Delivered-To", "MIME-Version",
	"Content-Type", "In-Reply-To", "References",
};

static bool
has_message_header(const struct mail *m)
{
	for (size_t i = 0; i < G_N_ELEMENTS(message_headers); i++)
		if (mail_header(m, message_headers[i]))
			return true;
	/* A bare MIME entity (only Content-* fields, which GMime keeps on
	 * the part) is still something GMime made sense of. */
	GMimeObject *part = g_mime_message_get_mime_part(m->message);
	if (!part)
		return false;
	GMimeHeaderList *list = g_mime_object_get_header_list(part);
	return list && g_mime_header_list_contains(list, "Content-Type");
}

static void
read_headers(struct mail *m)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(m->message));
	int count = g_mime_header_list_get_count(list);

	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		struct header hd = {
			.name = clean_value(g_mime_header_get_name(h)),
			.value = clean_value(g_mime_header_get_value(h)),
		};
		g_array_append_val(m->headers, hd);
	}
}

static void
read_from(struct mail *m)
{
	InternetAddressList *from = g_mime_message_get_from(m->message);

	if (!from)
		return;
	for (int i = 0; i < internet_address_list_length(from); i++) {
		InternetAddress *ia = internet_address_list_get_address(from, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		if (!addr || !*addr)
			continue;
		g_autofree char *valid = clean_value(addr);
		m->from_addr = g_utf8_strdown(valid, -1);
		m->from_name = nonempty(clean_value(internet_address_get_name(ia)));
		return;
	}
}

/* The decoded content of a leaf part, as UTF-8, at most BODY_TEXT_MAX
 * bytes of it. */
#define BODY_TEXT_MAX (1024 * 1024)

static char *
part_text(GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);

	if (!content)
		return NULL;
	g_autoptr(GMimeStream) out = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(content, out) < 0)
		return NULL;
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
	const char *charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	/* Every step that reads the text (quotes, forwards, language, the
	 * rules, replies) is linear in it, and a million lines took them
	 * 10 s; a conference mail's text is a few kilobytes.  Cut after
	 * the conversion: a cut character would change the charset guess. */
	return text_cut(mail_to_utf8((const char *)bytes->data, bytes->len, charset),
			BODY_TEXT_MAX);
}

struct walk {
	struct mail *m;
	GMimePart *plain;	/* first inline text/plain */
	GMimePart *html;	/* first inline text/html */
	GPtrArray *forms;	/* small text/plain attachments: a form sent as a file */
};

/* A form attached as a .txt file is read as part of the body. */
#define FORM_ATTACHMENT_MAX (256 * 1024)

static void read_forwarded(struct mail *m, GMimeMessage *inner);

static void
visit_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct walk *w = data;
	(void)parent;

	if (GMIME_IS_MESSAGE_PART(part) && !w->m->forwarded_body) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
		if (inner)
			read_forwarded(w->m, inner);
		return;
	}
	if (!GMIME_IS_PART(part))
		return;
	w->m->parts++;
	GMimePart *p = GMIME_PART(part);
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	if (g_mime_part_is_attachment(p)) {
		w->m->attachments++;
		GMimeDataWrapper *content = g_mime_part_get_content(p);
		GMimeStream *stream = content ? g_mime_data_wrapper_get_stream(content) : NULL;
		gint64 len = stream ? g_mime_stream_length(stream) : -1;
		if (g_mime_content_type_is_type(ct, "text", "plain") && len >= 0 &&
		    len < FORM_ATTACHMENT_MAX)
			g_ptr_array_add(w->forms, p);
		return;
	}
	if (!w->plain && g_mime_content_type_is_type(ct, "text", "plain"))
		w->plain = p;
	else if (!w->html && g_mime_content_type_is_type(ct, "text", "html"))
		w->html = p;
}

static void
read_body(struct mail *m)
{
	struct walk w = { .m = m, .forms = g_ptr_array_new() };
	GMimeObject *top = g_mime_message_get_mime_part(m->message);

	if (!top) {
		g_ptr_array_free(w.forms, TRUE);
		return;
	}
	/* g_mime_message_foreach stays out of message/rfc822 parts: a
	 * forwarded mail is not the body of the one that carries it. */
	if (GMIME_IS_PART(top))
		visit_part(NULL, top, &w);
	else
		g_mime_message_foreach(m->message, visit_part, &w);
	if (w.plain) {
		m->body = part_text(w.plain);
		m->body_type = g_strdup("text/plain");
	} else if (w.html) {
		m->body = part_text(w.html);
		m->body_type = g_strdup("text/html");
	}
	/* Forms sent as attached text files follow the body (HTML bodies
	 * stay HTML: a form in one is rare, and mixing would garble both). */
	if (w.forms->len && (!m->body_type || strcmp(m->body_type, "text/plain") == 0)) {
		GString *all = g_string_new(m->body ? m->body : "");
		for (guint i = 0; i < w.forms->len; i++) {
			g_autofree char *form = part_text(g_ptr_array_index(w.forms, i));
			if (form)
				g_string_append(g_string_append(all, "\n\n"), form);
		}
		g_free(m->body);
		m->body = g_string_free(all, FALSE);
		if (!m->body_type)
			m->body_type = g_strdup("text/plain");
	}
	g_ptr_array_free(w.forms, TRUE);
}

/* The sender and text of a forwarded message/rfc822 part, read like the
 * outer message's (one level: a forward inside it is not followed). */
static void
read_forwarded(struct mail *m, GMimeMessage *inner)
{
	struct mail fw = { .message = inner };

	read_from(&fw);
	struct walk w = { .m = &fw, .forms = g_ptr_array_new() };
	GMimeObject *top = g_mime_message_get_mime_part(inner);
	if (top && GMIME_IS_PART(top))
		visit_part(NULL, top, &w);
	else if (top)
		g_mime_message_foreach(inner, visit_part, &w);
	GMimePart *best = w.plain ? w.plain : w.html;
	/* Only a part with text counts: a forward without leaves the next one
	 * to be read, whose type and sender leaked over these (fuzz_dsn). */
	if (best && (m->forwarded_body = part_text(best))) {
		m->forwarded_type = g_strdup(w.plain ? "text/plain" : "text/html");
		m->forwarded_from = g_steal_pointer(&fw.from_addr);
	}
	g_free(fw.from_addr);
	g_free(fw.from_name);
	g_free(fw.forwarded_body);
	g_free(fw.forwarded_from);
	g_free(fw.forwarded_type);
	g_ptr_array_free(w.forms, TRUE);
}

static void
sha256_hex(const guint8 *data, gsize len, char out[65])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(sum, data, (gssize)len);
	g_strlcpy(out, g_checksum_get_string(sum), 65);
}

/* Header fields each MTA on the way puts on top of a message.  The same
 * message delivered to two of our addresses, or through two relays,
 * differs only in these. */
static const char *trace_headers[] = {
	"Return-Path:", "Delivered-To:", "X-Original-To:", "Received:",
	"X-Envelope-From:", "X-Envelope-To:",
};

static gsize
trace_header_length(const guint8 *data, gsize len)
{
	gsize pos = 0;

	while (pos < len) {
		bool trace = false;
		for (size_t i = 0; i < G_N_ELEMENTS(trace_headers) && !trace; i++) {
			gsize n = strlen(trace_headers[i]);
			trace = len - pos >= n &&
			    g_ascii_strncasecmp((const char *)data + pos, trace_headers[i], n) == 0;
		}
		if (!trace)
			return pos;
		/* the field, with its continuation lines */
		do {
			const guint8 *nl = memchr(data + pos, '\n', len - pos);
			pos = nl ? (gsize)(nl - data) + 1 : len;
		} while (pos < len && (data[pos] == ' ' || data[pos] == '\t'));
	}
	return pos;
}

static void read_message(struct mail *m, GByteArray *raw);

struct mail *
mail_parse(GByteArray *raw)
{
	struct mail *m = g_new0(struct mail, 1);

	m->headers = g_array_new(FALSE, TRUE, sizeof(struct header));
	m->size = raw->len;
	sha256_hex(raw->data, raw->len, m->sha256);
	read_message(m, raw);
	/* only a message without a Message-ID is known by its content */
	if (!m->message_id) {
		gsize skip = trace_header_length(raw->data, raw->len);
		/* an empty array's data is NULL, and NULL + 0 is undefined */
		sha256_hex(skip ? raw->data + skip : raw->data, raw->len - skip, m->content_sha256);
	}
	return m;
}

/* What GMime makes of RAW, into M. */
static void
read_message(struct mail *m, GByteArray *raw)
{
	/* The stream reads RAW in place; RAW must outlive M, and part
	 * contents stay as offsets into it instead of copies. */
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_byte_array(raw);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	/* Leading blank lines or spaces (seen from broken gateways) would
	 * hide the whole header block; the stored bytes keep them. */
	gsize lead = 0;
	while (lead < raw->len && g_ascii_isspace(raw->data[lead]))
		lead++;
	g_mime_stream_set_bounds(stream, (gint64)lead, -1);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);

	GMimeParserOptions *opts = g_mime_parser_options_new();
	g_mime_parser_options_set_fallback_charsets(opts, fallback_charsets);
	g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	m->message = g_mime_parser_construct_message(parser, opts);
	g_mime_parser_options_free(opts);

	if (!m->message) {
		m->parse_error = g_strdup(raw->len == 0 ? "empty message"
					  : "no RFC 5322 header block");
		return;
	}
	read_headers(m);
	if (!has_message_header(m)) {
		g_clear_object(&m->message);
		m->parse_error = g_strdup("no RFC 5322 header block");
		return;
	}
	m->message_id = nonempty(clean_value(g_mime_message_get_message_id(m->message)));
	m->subject = nonempty(clean_value(g_mime_message_get_subject(m->message)));
	m->in_reply_to = nonempty(clean_value(mail_header(m, "In-Reply-To")));
	m->references = nonempty(clean_value(mail_header(m, "References")));
	read_from(m);
	GDateTime *date = g_mime_message_get_date(m->message);
	if (date) {
		g_autoptr(GDateTime) utc = g_date_time_to_utc(date);
		m->date = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
	}
	read_body(m);
}

const char *
mail_header(const struct mail *m, const char *name)
{
	for (guint i = 0; m->headers && i < m->headers->len; i++) {
		const struct header *h = &g_array_index(m->headers, struct header, i);
		if (g_ascii_strcasecmp(h->name, name) == 0)
			return h->value;
	}
	return NULL;
}

void
mail_free(struct mail *m)
{
	if (!m)
		return;
	for (guint i = 0; i < m->headers->len; i++) {
		struct header *h = &g_array_index(m->headers, struct header, i);
		g_free(h->name);
		g_free(h->value);
	}
	g_array_free(m->headers, TRUE);
	g_clear_object(&m->message);
	g_free(m->parse_error);
	g_free(m->message_id);
	g_free(m->from_addr);
	g_free(m->from_name);
	g_free(m->subject);
	g_free(m->date);
	g_free(m->in_reply_to);
	g_free(m->references);
	g_free(m->body);
	g_free(m->body_type);
	g_free(m->forwarded_from);
	g_free(m->forwarded_body);
	g_free(m->forwarded_type);
	g_free(m);
}
