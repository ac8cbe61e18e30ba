/*
 * announce.c - announcements: the programme and the logistics guide, and
 * any news, to everyone registered and to the list.  Each recipient gets
 * the body in their own language (the registration's, else the list's
 * default, else English), filled from their registration through the
 * template engine; files are encoded once and stored once (outbox_parts),
 * each copy having only a placeholder where the outbox splices them in.
 * The latest programme and guide are the current documents: whoever
 * registers later, or asks for them, gets them.
 */
#include "confmail.h"

#include <string.h>

static const char *const languages[] = { "en", "ar", "ckb" };

static int
language_index(const char *lang)
{
	for (int i = 0; i < 3; i++)
		if (lang && strcmp(lang, languages[i]) == 0)
			return i;
	return -1;
}

static gboolean
exec_insert(struct store *st, sqlite3_stmt *stmt, int rc, const char *what, GError **error)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, what, error);
		return FALSE;
	}
	return TRUE;
}

/* "Subject: S\n\nBODY" as a template, so that both may name variables. */
static struct template *
body_template(gint64 id, const char *lang, const char *subject, const char *body, GError **error)
{
	g_autofree char *name = g_strdup_printf("announcement %" G_GINT64_FORMAT " (%s)", id, lang);
	g_autofree char *one_line = g_strdelimit(g_strdup(subject), "\r\n", ' ');
	g_autofree char *text = g_strdup_printf("Subject: %s\n\n%s", one_line, body);
	return template_parse(name, text, strlen(text), error);
}

/* Stores FILE (or a part of a post) once; a row of announcement_files. */
static gboolean
add_file(struct store *st, gint64 id, GMimeObject *part, const char *filename, GError **error)
{
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new();
	GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_UNIX);
	g_mime_object_write_to_stream(part, fo, mem);
	g_mime_format_options_free(fo);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	gint64 stored = outbox_store_part(st, bytes->data, bytes->len, error);
	if (!stored)
		return FALSE;
	g_autofree char *type = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(part));
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "INSERT INTO announcement_files (announcement,"
				    " filename, content_type, part) VALUES (?, ?, ?, ?)", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		sqlite3_bind_text(stmt, 2, filename, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, stored);
	}
	return exec_insert(st, stmt, rc, "storing an announcement's file", error);
}

/* A file from the disk as a base64 MIME part with its name and type. */
static GMimePart *
file_part(const char *path, GError **error)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) local = NULL;
	if (!g_file_get_contents(path, &data, &len, &local)) {
		g_set_error(error, CONFMAIL_ERROR, EX_NOINPUT, "%s", local->message);
		return NULL;
	}
	g_autofree char *guess = g_content_type_guess(path, (const guchar *)data, len, NULL);
	g_autofree char *mime = guess ? g_content_type_get_mime_type(guess) : NULL;
	const char *type = mime && strchr(mime, '/') ? mime : "application/octet-stream";
	g_autofree char *major = g_strndup(type, (gsize)(strchr(type, '/') - type));
	GMimePart *part = g_mime_part_new_with_type(major, strchr(type, '/') + 1);
	g_autofree char *base = g_path_get_basename(path);
	g_mime_part_set_filename(part, base);
	g_mime_object_set_disposition(GMIME_OBJECT(part), "attachment");
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, len);
	g_autoptr(GMimeDataWrapper) content = g_mime_data_wrapper_new_with_stream(stream,
										  GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, content);
	g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
	return part;
}

struct post_files {
	struct store *st;
	gint64 id;
	GError **error;
	bool failed;
};

/* Each attachment of a post to announce@ goes along. */
static void
post_file(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct post_files *pf = data;
	(void)parent;
	if (pf->failed || !GMIME_IS_PART(part))
		return;
	const char *name = g_mime_part_get_filename(GMIME_PART(part));
	if (!name)
		return;
	pf->failed = !add_file(pf->st, pf->id, part, name, pf->error);
}

gboolean
announce_create(struct store *st, const struct config *cfg, const struct announcement_draft *d,
		gint64 *id, GError **error)
{
	g_autofree char *now = confmail_now_iso();
	sqlite3_stmt *stmt = NULL;
	(void)cfg;
	*id = 0;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO announcements (created_at, subject, audience, document,"
				    " status, message, author) VALUES (?, ?, ?, ?, 'held', ?, ?) RETURNING id",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, d->subject, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, d->audience, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, d->document, -1, SQLITE_STATIC);
		if (d->message)
			sqlite3_bind_int64(stmt, 5, d->message);
		sqlite3_bind_text(stmt, 6, d->author, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			*id = sqlite3_column_int64(stmt, 0);
			rc = sqlite3_step(stmt);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording an announcement", error);
		return FALSE;
	}
	bool any = false;
	for (int i = 0; i < 3; i++) {
		if (!d->bodies[i])
			continue;
		any = true;
		/* a mistake in a body is found now, not at the 300th copy */
		g_autoptr(template) t = body_template(*id, languages[i], d->subject, d->bodies[i], error);
		if (!t) {
			(*error)->code = EX_DATAERR;
			return FALSE;
		}
		rc = sqlite3_prepare_v2(store_db(st), "INSERT INTO announcement_bodies (announcement,"
					" language, body) VALUES (?, ?, ?)", -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(stmt, 1, *id);
			sqlite3_bind_text(stmt, 2, languages[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt, 3, d->bodies[i], -1, SQLITE_STATIC);
		}
		if (!exec_insert(st, stmt, rc, "storing an announcement's text", error))
			return FALSE;
	}
	if (!any) {
		g_set_error(error, CONFMAIL_ERROR, EX_DATAERR, "an announcement needs a body");
		return FALSE;
	}
	for (int i = 0; d->files && d->files[i]; i++) {
		g_autoptr(GMimePart) part = file_part(d->files[i], error);
		g_autofree char *base = g_path_get_basename(d->files[i]);
		if (!part || !add_file(st, *id, GMIME_OBJECT(part), base, error))
			return FALSE;
	}
	if (d->post) {
		struct post_files pf = { st, *id, error, false };
		g_mime_message_foreach(d->post, post_file, &pf);
		if (pf.failed)
			return FALSE;
	}
	return TRUE;
}

/* The variables of one copy: the replies' own, and the member's. */
static JsonObject *
member_vars(struct store *st, const struct config *cfg, struct templates *ts, const char *lang,
	    const struct member *m, const char *unsubscribe)
{
	JsonObject *v = compose_vars(cfg, ts, lang);
	struct registration r = { 0 };
	json_object_set_string_member(v, "email", m->address);
	json_object_set_string_member(v, "unsubscribe_address", unsubscribe);
	if (m->name)
		json_object_set_string_member(v, "name", m->name);
	if (m->registration && registry_find(st, m->registration, &r)) {
		json_object_set_string_member(v, "reference", r.reference);
		if (r.name)
			json_object_set_string_member(v, "name", r.name);
		static const char *const dates[] = { "arrival", "departure" };
		for (int i = 0; i < 2; i++) {
			const char *iso = r.fields && json_object_has_member(r.fields, dates[i]) &&
			    !json_object_get_null_member(r.fields, dates[i])
			    ? json_object_get_string_member(r.fields, dates[i]) : NULL;
			g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
			g_autofree char *midday = iso ? g_strdup_printf("%sT12:00:00Z", iso) : NULL;
			g_autoptr(GDateTime) when = midday ? g_date_time_new_from_iso8601(midday, utc) : NULL;
			g_autofree char *text = when ? compose_date(ts, lang, when) : NULL;
			if (text)
				json_object_set_string_member(v, dates[i], text);
		}
		if (r.fields && json_object_has_member(r.fields, "accommodation") &&
		    !json_object_get_null_member(r.fields, "accommodation")) {
			const char *key = json_object_get_boolean_member(r.fields, "accommodation")
			    ? "answer.yes" : "answer.no";
			const char *said = templates_label(ts, lang, key);
			json_object_set_string_member(v, "hotel", said ? said : key + 7);
		}
	}
	registration_clear(&r);
	return v;
}

/* The files of announcement ID: their stored parts' ids. */
static GArray *
files_of(struct store *st, gint64 id)
{
	GArray *parts = g_array_new(FALSE, FALSE, sizeof(gint64));
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT part FROM announcement_files WHERE announcement = ?"
			       " ORDER BY id", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			gint64 part = sqlite3_column_int64(stmt, 0);
			g_array_append_val(parts, part);
		}
	}
	sqlite3_finalize(stmt);
	return parts;
}

/* The one member ONLY is, from their registration if they have one. */
static GArray *
only_member(struct store *st, const char *only)
{
	GArray *one = list_audience(st, "all");
	for (guint i = 0; i < one->len; i++) {
		struct member *m = &g_array_index(one, struct member, i);
		if (g_ascii_strcasecmp(m->address, only) == 0) {
			struct member keep = *m;
			memset(m, 0, sizeof *m);
			g_array_set_size(one, 0);
			g_array_append_val(one, keep);
			return one;
		}
	}
	g_array_set_size(one, 0);
	struct member m = { .address = g_ascii_strdown(only, -1) };
	g_array_append_val(one, m);
	return one;
}

gboolean
announce_send(struct store *st, const struct config *cfg, gint64 id, const char *only,
	      const char *approved_by, const char *now, int *sent, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	g_autofree char *subject = NULL, *audience = NULL, *status = NULL;
	struct template *bodies[3] = { NULL, NULL, NULL };
	gboolean ok = TRUE;
	*sent = 0;
	if (sqlite3_prepare_v2(store_db(st), "SELECT subject, audience, status FROM announcements"
			       " WHERE id = ?", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			subject = g_strdup((const char *)sqlite3_column_text(stmt, 0));
			audience = g_strdup((const char *)sqlite3_column_text(stmt, 1));
			status = g_strdup((const char *)sqlite3_column_text(stmt, 2));
		}
	}
	sqlite3_finalize(stmt);
	if (!subject) {
		g_set_error(error, CONFMAIL_ERROR, EX_NOINPUT, "no announcement %" G_GINT64_FORMAT, id);
		return FALSE;
	}
	if (!only && strcmp(status, "held") != 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_DATAERR, "announcement %" G_GINT64_FORMAT " is %s,"
			    " not waiting to be sent", id, status);
		return FALSE;
	}
	if (sqlite3_prepare_v2(store_db(st), "SELECT language, body FROM announcement_bodies"
			       " WHERE announcement = ?", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		while (ok && sqlite3_step(stmt) == SQLITE_ROW) {
			int i = language_index((const char *)sqlite3_column_text(stmt, 0));
			if (i >= 0 && !bodies[i])
				ok = (bodies[i] = body_template(id, languages[i], subject,
								(const char *)sqlite3_column_text(stmt, 1),
								error)) != NULL;
		}
	}
	sqlite3_finalize(stmt);
	g_autoptr(GArray) parts = files_of(st, id);
	g_autoptr(GArray) members = only ? only_member(st, only) : list_audience(st, audience);
	g_autofree char *tdir = templates_default_dir();
	g_autoptr(templates) ts = templates_open(tdir);
	g_autofree char *secret = ok ? secret_load(cfg, error) : NULL;
	g_autoptr(GDateTime) start = confmail_now();
	g_autoptr(GDateTime) year = g_date_time_add_days(start, 365);
	const char *at = strchr(cfg->announce_address, '@');
	g_autofree char *list_id = g_strdup_printf("%s announcements <%.*s.%s>", cfg->reference_prefix,
						   (int)(at - cfg->announce_address),
						   cfg->announce_address, cfg->domain);
	ok = ok && secret;
	for (guint i = 0; ok && i < members->len; i++) {
		const struct member *m = &g_array_index(members, struct member, i);
		/* the member's language if there is a body in it, else the
		 * list's default, else English, else whichever there is */
		int want[] = { language_index(m->language), language_index(cfg->default_language), 0, 1, 2 };
		int li = 0;
		for (size_t k = 0; k < G_N_ELEMENTS(want); k++)
			if (want[k] >= 0 && bodies[want[k]]) {
				li = want[k];
				break;
			}
		const char *lang = languages[li];
		g_autofree char *token = token_make(secret, "unsubscribe", m->address, "list", year);
		g_autofree char *mailto = g_strdup_printf("confirm+%s@%s", token, cfg->domain);
		g_autofree char *url = cfg->list_unsubscribe_url
		    ? g_strdup_printf("%s%stoken=%s", cfg->list_unsubscribe_url,
				      strchr(cfg->list_unsubscribe_url, '?') ? "&" : "?", token) : NULL;
		g_autoptr(JsonObject) vars = member_vars(st, cfg, ts, lang, m, mailto);
		g_autofree char *subj = template_render(bodies[li], PART_SUBJECT, vars);
		g_autofree char *text = template_render(bodies[li], PART_TEXT, vars);
		struct announcement_mail am = {
			.to_addr = m->address, .to_name = m->name, .subject = subj, .text = text,
			.language = lang, .list_id = list_id, .unsubscribe_mailto = mailto,
			.unsubscribe_url = url, .files = parts->len,
		};
		g_autoptr(GPtrArray) holders = g_ptr_array_new();
		g_autofree char *mid = NULL;
		g_autoptr(GMimeMessage) msg = compose_announcement(cfg, &am, holders, &mid);
		g_autoptr(GHashTable) known = g_hash_table_new(g_direct_hash, g_direct_equal);
		for (guint k = 0; k < holders->len; k++)
			g_hash_table_insert(known, holders->pdata[k], &g_array_index(parts, gint64, k));
		/* [list] rate: copy i waits i/rate minutes */
		g_autoptr(GDateTime) later = cfg->list_rate > 0
		    ? g_date_time_add_seconds(start, (double)i * 60.0 / cfg->list_rate) : NULL;
		g_autoptr(GDateTime) later_utc = later ? g_date_time_to_utc(later) : NULL;
		g_autofree char *nb = later_utc ? g_date_time_format(later_utc, "%Y-%m-%dT%H:%M:%SZ") : NULL;
		struct outgoing o = {
			.kind = "announce", .recipient = m->address, .envelope_from = cfg->from_address,
			.verp_domain = cfg->domain, .message_id = mid, .template = "announcement",
			.registration = m->registration, .announcement = id, .not_before = nb,
			.parts = known,
		};
		ok = outbox_put(st, &o, msg, now, error);
		if (ok)
			(*sent)++;
	}
	for (int i = 0; i < 3; i++)
		template_free(bodies[i]);
	if (!ok || only)
		return ok;
	if (sqlite3_prepare_v2(store_db(st), "UPDATE announcements SET status = 'sent', sent_at = ?2,"
			       " recipients = ?3, approved_by = ?4 WHERE id = ?1", -1, &stmt, NULL) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		store_set_error(st, SQLITE_ERROR, "recording an announcement sent", error);
		return FALSE;
	}
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, *sent);
	sqlite3_bind_text(stmt, 4, approved_by, -1, SQLITE_STATIC);
	return exec_insert(st, stmt, SQLITE_OK, "recording an announcement sent", error);
}

gint64
announce_latest(struct store *st, const char *document)
{
	sqlite3_stmt *stmt = NULL;
	gint64 id = 0;
	if (sqlite3_prepare_v2(store_db(st), "SELECT max(id) FROM announcements WHERE status = 'sent'"
			       " AND document = ?", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, document, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			id = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	return id;
}

gboolean
announce_documents_to(struct store *st, const struct config *cfg, const char *address,
		      const char *now, GError **error)
{
	static const char *const documents[] = { "programme", "guide" };
	for (size_t i = 0; i < G_N_ELEMENTS(documents); i++) {
		gint64 id = announce_latest(st, documents[i]);
		int n = 0;
		if (id && !announce_send(st, cfg, id, address, NULL, now, &n, error))
			return FALSE;
	}
	return TRUE;
}

const char *
announce_requested(const struct mail *m)
{
	static const struct {
		const char *word, *document;
	} words[] = {
		{ "programme", "programme" }, { "program", "programme" },
		{ "the programme", "programme" }, { "agenda", "programme" },
		{ "البرنامج", "programme" }, { "برنامج", "programme" },
		{ "بەرنامە", "programme" }, { "بەرنامەکە", "programme" },
		{ "guide", "guide" }, { "logistics guide", "guide" }, { "the guide", "guide" },
		{ "الدليل", "guide" }, { "دليل", "guide" }, { "الدليل اللوجستي", "guide" },
		{ "ڕێنمایی", "guide" }, { "ڕێبەر", "guide" }, { "ڕێبەرەکە", "guide" },
	};
	/* the whole subject, or the whole first line of the text, is the
	 * word: a sentence that mentions the programme is not a request */
	g_autofree char *body = m->body ? text_strip_quotes(m->body) : NULL;
	char *first = body ? g_strstrip(body) : NULL;
	if (first)
		first[strcspn(first, "\n")] = '\0';
	const char *texts[] = { m->subject, first };
	for (size_t t = 0; t < G_N_ELEMENTS(texts); t++) {
		if (!texts[t])
			continue;
		g_autofree char *s = g_utf8_strdown(texts[t], -1);
		/* ASCII marks only: a byte of "؟" is also a byte of letters */
		g_strstrip(g_strdelimit(s, ".!?:", ' '));
		if (g_str_has_suffix(s, "؟"))
			s[strlen(s) - strlen("؟")] = '\0';
		g_strstrip(s);
		for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
			if (strcmp(s, words[i].word) == 0)
				return words[i].document;
	}
	return NULL;
}

gboolean
announce_post(const struct reply_context *c, GError **error)
{
	const struct config *cfg = c->cfg;
	const struct mail *m = c->mail;
	g_autofree char *author = m->from_addr ? g_ascii_strdown(m->from_addr, -1) : g_strdup("");
	bool organiser = false;
	for (int i = 0; cfg->organisers && cfg->organisers[i]; i++)
		organiser |= strcmp(cfg->organisers[i], author) == 0;
	if (c->noreply && !organiser)
		return TRUE;	/* a machine's mail to the list: recorded, nothing more */

	/* Held, whoever sent it: the From of a post proves nothing.  Each
	 * organiser is asked, at their own address, with a token only that
	 * mailbox receives; the first to answer sends it. */
	g_autofree char *body = m->body ? text_strip_quotes(m->body) : g_strdup("");
	int li = language_index(compose_language(c->verdict->language));
	struct announcement_draft d = {
		.subject = m->subject && *m->subject ? m->subject : "(no subject)",
		.audience = "all", .author = author, .message = c->message, .post = m->message,
	};
	d.bodies[li < 0 ? 0 : li] = body;
	gint64 id = 0;
	g_autoptr(GError) bad = NULL;
	if (!announce_create(c->st, cfg, &d, &id, &bad)) {
		/* a post whose text is no template (a stray "{{") is kept and
		 * the error logged: `confmail reprocess` acts once mended */
		g_propagate_error(error, g_steal_pointer(&bad));
		return FALSE;
	}
	g_autofree char *secret = secret_load(cfg, error);
	if (!secret)
		return FALSE;
	g_autoptr(GDateTime) now = confmail_now();
	g_autoptr(GDateTime) expires = g_date_time_add_days(now, 7);
	g_autofree char *record = g_strdup_printf("%" G_GINT64_FORMAT, id);
	g_autoptr(GArray) audience = list_audience(c->st, "all");
	for (int i = 0; cfg->organisers && cfg->organisers[i]; i++) {
		g_autofree char *token = token_make(secret, "approve", cfg->organisers[i], record, expires);
		g_autofree char *reply_to = g_strdup_printf("confirm+%s@%s", token, cfg->domain);
		g_autofree char *subject = g_strdup_printf("Approve? %s [confirm %s]", d.subject, token);
		g_autofree char *text = g_strdup_printf(
			"%s sent a message to the announcement list %s%s\n\n"
			"  subject    %s\n  audience   everyone registered and every subscriber (%u now)\n"
			"  files      %s\n\n"
			"It is held.  To send it, reply to this message (nothing needs to be\n"
			"written; the reply must come from %s).  To drop it, do nothing.\n"
			"The message is attached.\n",
			author, cfg->announce_address,
			organiser ? "." : ",\nand is NOT one of the organisers: send it only if you know it is right.",
			d.subject, audience->len, m->attachments ? "attached to the post" : "none",
			cfg->organisers[i]);
		char *to[] = { cfg->organisers[i], NULL };
		struct staff_mail sm = { .subject = subject, .text = text, .to = to, .reply_to = reply_to };
		g_autofree char *mid = NULL;
		g_autoptr(GMimeMessage) msg = compose_forward(cfg, m, &sm, &mid);
		struct outgoing o = {
			.kind = "forward", .recipient = cfg->organisers[i], .envelope_from = cfg->from_address,
			.message_id = mid, .template = "approve", .source_message = c->message,
			.announcement = id,
		};
		if (!outbox_put(c->st, &o, msg, c->now, error))
			return FALSE;
	}
	/* someone else is told, politely, that only the organisers post */
	return organiser || reply_with(c, "post-held", error);
}
