/*
 * digest.c - the organisers' daily email: what happened since the last
 * digest (new registrations, changes, cancellations), the decisions
 * waiting for them, the numbers (figures.c) and the health of the list
 * and the queue; plain text and HTML (bar charts as plain tables, which
 * Gmail and Outlook show), with every registration attached as CSV
 * (UTF-8 with a BOM, so spreadsheets show Arabic right).  Each digest
 * remembers the moment it covered up to.
 */
#include "confmail.h"

#include <string.h>

/* A heading in the organisers' language: labels "digest.KEY", else the
 * English given. */
static const char *
heading(struct templates *ts, const char *lang, const char *key, const char *english)
{
	g_autofree char *k = g_strconcat("digest.", key, NULL);
	const char *s = templates_label(ts, lang, k);
	return s ? s : english;
}

static void
html_escape_into(GString *out, const char *s)
{
	g_autofree char *e = g_markup_escape_text(s ? s : "", -1);
	g_string_append(out, e);
}

/* Rows listed in the email itself; the rest are in the CSV. */
#define DIGEST_ROWS 200

struct digest {
	GString *text, *html;
	struct templates *ts;
	const char *lang;
};

static void
section(struct digest *d, const char *key, const char *english)
{
	const char *h = heading(d->ts, d->lang, key, english);
	g_string_append_printf(d->text, "\n%s\n", h);
	for (const char *p = h; *p; p = g_utf8_next_char(p))
		g_string_append_c(d->text, '=');
	g_string_append_c(d->text, '\n');
	g_string_append(d->html, "<h2>");
	html_escape_into(d->html, h);
	g_string_append(d->html, "</h2>\n");
}

/* Rows from SQL as a text list and an HTML table; the first column is a
 * name, shown in its own direction.  Returns how many. */
static int
rows_table(struct digest *d, struct store *st, const char *sql, const char *since, const char *const *cols)
{
	sqlite3_stmt *stmt = NULL;
	int n = 0;
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return 0;
	}
	if (since)
		sqlite3_bind_text(stmt, 1, since, -1, SQLITE_STATIC);
	int ncols = sqlite3_column_count(stmt);
	int more = 0;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		/* an email, not the database: the CSV attached has them all */
		if (n == DIGEST_ROWS) {
			more++;
			continue;
		}
		if (n++ == 0) {
			g_string_append(d->html, "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr>");
			for (int c = 0; c < ncols && cols[c]; c++) {
				g_string_append(d->html, "<th>");
				html_escape_into(d->html, cols[c]);
				g_string_append(d->html, "</th>");
			}
			g_string_append(d->html, "</tr>\n");
		}
		g_string_append(d->text, "  -");
		g_string_append(d->html, "<tr>");
		for (int c = 0; c < ncols; c++) {
			const char *v = (const char *)sqlite3_column_text(stmt, c);
			g_string_append_printf(d->text, "%s%s", c ? " | " : " ", v ? v : "-");
			g_string_append(d->html, "<td dir=\"auto\">");
			html_escape_into(d->html, v ? v : "-");
			g_string_append(d->html, "</td>");
		}
		g_string_append_c(d->text, '\n');
		g_string_append(d->html, "</tr>\n");
	}
	sqlite3_finalize(stmt);
	if (more) {
		g_string_append_printf(d->text, "  ... and %d more (see the CSV attached)\n", more);
		g_string_append_printf(d->html, "<tr><td colspan=\"%d\">... and %d more (see the CSV"
				       " attached)</td></tr>\n", ncols, more);
	}
	if (n)
		g_string_append(d->html, "</table>\n");
	else {
		g_string_append(d->text, "  (none)\n");
		g_string_append(d->html, "<p>(none)</p>\n");
	}
	return n + more;
}

/* A bar chart of [{"key", "count"}] (or an object of counts): text bars
 * of '#', and a table whose cells are the bars. */
static void
bars(struct digest *d, JsonNode *data)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) values = g_array_new(FALSE, FALSE, sizeof(gint64));
	if (JSON_NODE_HOLDS_ARRAY(data)) {
		JsonArray *a = json_node_get_array(data);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonObject *o = json_array_get_object_element(a, i);
			gint64 v = json_object_get_int_member(o, "count");
			g_ptr_array_add(keys, g_strdup(json_object_get_string_member(o, "key")));
			g_array_append_val(values, v);
		}
	} else if (JSON_NODE_HOLDS_OBJECT(data)) {
		JsonObject *o = json_node_get_object(data);
		g_autoptr(GList) members = json_object_get_members(o);
		for (GList *l = members; l; l = l->next) {
			gint64 v = json_object_get_int_member(o, l->data);
			g_ptr_array_add(keys, g_strdup(l->data));
			g_array_append_val(values, v);
		}
	}
	gint64 most = 1;
	for (guint i = 0; i < values->len; i++)
		most = MAX(most, g_array_index(values, gint64, i));
	if (keys->len == 0) {
		g_string_append(d->text, "  (none)\n");
		g_string_append(d->html, "<p>(none)</p>\n");
		return;
	}
	g_string_append(d->html, "<table cellpadding=\"2\" cellspacing=\"0\">\n");
	for (guint i = 0; i < keys->len; i++) {
		gint64 v = g_array_index(values, gint64, i);
		int width = (int)(v * 40 / most), pct = (int)(v * 100 / most);
		g_string_append_printf(d->text, "  %-22s %5" G_GINT64_FORMAT " %.*s\n",
				       (char *)keys->pdata[i], v, width,
				       "########################################");
		g_string_append(d->html, "<tr><td dir=\"auto\">");
		html_escape_into(d->html, keys->pdata[i]);
		g_string_append_printf(d->html, "</td><td align=\"right\">%" G_GINT64_FORMAT "</td>"
				       "<td width=\"300\"><table width=\"%d%%\" cellpadding=\"0\" cellspacing=\"0\">"
				       "<tr><td bgcolor=\"#3b6ea5\" height=\"12\"></td></tr></table></td></tr>\n",
				       v, MAX(pct, 1));
	}
	g_string_append(d->html, "</table>\n");
}

static void
chart(struct digest *d, JsonObject *figures, const char *member, const char *key, const char *english)
{
	section(d, key, english);
	JsonNode *n = json_object_get_member(figures, member);
	if (n)
		bars(d, n);
}

/* When the last digest ended, or NULL. */
static char *
last_until(struct store *st)
{
	sqlite3_stmt *stmt = NULL;
	char *until = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT until FROM digests WHERE kind = 'organisers'"
			       " ORDER BY id DESC LIMIT 1", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		until = g_strdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return until;
}

GMimeMessage *
digest_build(struct store *st, const struct config *cfg, const char *since_asked, const char *now,
	     char **since_out, char **message_id)
{
	g_autofree char *dir = templates_default_dir();
	g_autoptr(templates) ts = templates_open(dir);
	g_autofree char *last = last_until(st);
	const char *since = since_asked ? since_asked : last ? last : "0000-00-00";
	struct digest d = { g_string_new(NULL), g_string_new(NULL), ts, cfg->digest_language };
	/* the CSV of everyone is written while the figures are counted */
	struct figures_job *job = figures_start(cfg, now);
	g_autoptr(GString) csv = g_string_new(NULL);
	registrations_csv(st, csv);
	g_autoptr(JsonObject) f = figures_join(job, st, cfg, now);
	JsonObject *regs = json_object_get_object_member(f, "registrations");
	JsonObject *by = json_object_get_object_member(regs, "by_status");
	gint64 registered = json_object_get_int_member(by, "registered");
	bool rtl = strcmp(d.lang, "en") != 0;

	g_string_append_printf(d.text, "%s\n%s %s\n", cfg->name, heading(ts, d.lang, "since", "Since"),
			       strcmp(since, "0000-00-00") == 0 ? "-" : since);
	g_string_append_printf(d.html, "<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\"><head><meta charset=\"utf-8\">"
			       "<title>Digest</title></head><body>\n<h1>", d.lang, rtl ? "rtl" : "ltr");
	html_escape_into(d.html, cfg->name);
	g_string_append(d.html, "</h1>\n");
	g_string_append_printf(d.text, "%s: %" G_GINT64_FORMAT " / %d   %s: %" G_GINT64_FORMAT "\n",
			       heading(ts, d.lang, "registered", "Registered"), registered, cfg->capacity,
			       heading(ts, d.lang, "days_left", "Days to the deadline"),
			       json_object_get_int_member(f, "days_left"));
	g_string_append_printf(d.html, "<p>%s: <b>%" G_GINT64_FORMAT "</b> / %d &middot; %s: <b>%" G_GINT64_FORMAT "</b></p>\n",
			       heading(ts, d.lang, "registered", "Registered"), registered, cfg->capacity,
			       heading(ts, d.lang, "days_left", "Days to the deadline"),
			       json_object_get_int_member(f, "days_left"));

	static const char *const new_cols[] = { "name", "organisation", "country", "funding", "status", "reference" };
	section(&d, "new", "New registrations");
	rows_table(&d, st, "SELECT coalesce(name, email), coalesce(json_extract(fields, '$.organization'), '-'),"
	      " coalesce(json_extract(fields, '$.country'), '-'), coalesce(json_extract(fields, '$.funding'), '-'),"
	      " status, reference FROM registrations WHERE created_at > ?1 ORDER BY id", since, new_cols);
	static const char *const change_cols[] = { "reference", "field", "old", "new" };
	section(&d, "updates", "Changes");
	rows_table(&d, st, "SELECT r.reference, c.field, coalesce(c.old_value, '-'), coalesce(c.new_value, '-')"
	      " FROM registration_changes c JOIN registrations r ON r.id = c.registration"
	      " WHERE c.kind = 'update' AND c.state = 'applied' AND c.at > ?1 ORDER BY c.id", since, change_cols);
	static const char *const cancel_cols[] = { "name", "reference", "when" };
	section(&d, "cancelled", "Cancellations");
	rows_table(&d, st, "SELECT coalesce(r.name, r.email), r.reference, c.at FROM registration_changes c"
	      " JOIN registrations r ON r.id = c.registration WHERE c.kind = 'cancel'"
	      " AND c.state = 'applied' AND c.at > ?1 ORDER BY c.id", since, cancel_cols);

	static const char *const wait_cols[] = { "what", "who", "reference / subject" };
	section(&d, "decisions", "Decisions waiting");
	g_autofree char *cutoff = figures_overdue_since(cfg, now);
	rows_table(&d, st,
		   "SELECT 'late registration', coalesce(name, email), reference FROM registrations WHERE status = 'late'"
		   " UNION ALL SELECT 'waitlist', coalesce(name, email), reference FROM registrations WHERE status = 'waitlisted'"
		   " UNION ALL SELECT 'change from another address', coalesce(c.from_addr, '-'), r.reference"
		   "  FROM registration_changes c JOIN registrations r ON r.id = c.registration WHERE c.state = 'pending'"
		   " UNION ALL SELECT 'list post held', coalesce(author, '-'), subject FROM announcements WHERE status = 'held'"
		   " UNION ALL SELECT 'question unanswered', email, reference FROM tickets WHERE status = 'open'"
		   "  AND updated_at <= ?1", cutoff, wait_cols);

	section(&d, "status", "Registrations by status");
	bars(&d, json_object_get_member(regs, "by_status"));
	chart(&d, f, "by_country", "country", "By country");
	chart(&d, f, "by_org_type", "org_type", "By type of organisation");
	chart(&d, f, "funding", "funding", "Travel: sponsorship asked (needs_sponsorship) and offered (sponsor_other)");
	chart(&d, f, "by_gender", "gender", "Gender");
	chart(&d, f, "by_language", "languages", "Languages spoken");
	chart(&d, f, "interpretation", "interpretation", "Interpretation needed into");
	section(&d, "visa", "Visa letters asked");
	g_string_append_printf(d.text, "  %" G_GINT64_FORMAT "\n", json_object_get_int_member(f, "visa_letters"));
	g_string_append_printf(d.html, "<p>%" G_GINT64_FORMAT "</p>\n", json_object_get_int_member(f, "visa_letters"));
	chart(&d, f, "arrivals", "arrivals", "Arrivals per day (airport pick-ups)");
	chart(&d, f, "departures", "departures", "Departures per day");
	chart(&d, f, "hotel_nights", "hotel", "Hotel rooms per night");
	chart(&d, f, "list", "list", "The announcement list");
	chart(&d, f, "queue", "queue", "Outgoing mail");
	static const char *const bounce_cols[] = { "address", "bounce score" };
	section(&d, "disabled", "Addresses disabled after bounces");
	rows_table(&d, st, "SELECT address, bounce_score FROM subscribers WHERE status = 'disabled' ORDER BY address",
	      NULL, bounce_cols);
	g_string_append(d.html, "</body></html>\n");

	/* the message: text and HTML, and the CSV */
	g_autofree char *subject = g_strdup_printf("[%s] %s: %" G_GINT64_FORMAT " %s", cfg->reference_prefix,
						   heading(ts, d.lang, "title", "Digest"), registered,
						   heading(ts, d.lang, "registered", "Registered"));
	struct staff_mail sm = { .subject = subject, .text = d.text->str, .to = cfg->organisers };
	GMimeMessage *msg = compose_forward(cfg, NULL, &sm, message_id);
	GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
	GMimeObject *plain = g_mime_message_get_mime_part(msg);
	g_mime_multipart_add(alt, plain);
	GMimeTextPart *rich = g_mime_text_part_new_with_subtype("html");
	g_mime_text_part_set_text(rich, d.html->str);
	g_mime_multipart_add(alt, GMIME_OBJECT(rich));
	g_object_unref(rich);
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mixed, GMIME_OBJECT(alt));
	g_object_unref(alt);
	GMimePart *att = g_mime_part_new_with_type("text", "csv");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(att), "charset", "utf-8");
	g_mime_part_set_filename(att, "registrations.csv");
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(csv->str, csv->len);
	GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(att, w);
	g_object_unref(w);
	g_mime_part_set_content_encoding(att, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_multipart_add(mixed, GMIME_OBJECT(att));
	g_object_unref(att);
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(mixed));
	g_object_unref(mixed);
	g_string_free(d.text, TRUE);
	g_string_free(d.html, TRUE);
	*since_out = g_strdup(since);
	return msg;
}

gboolean
digest_queue(struct store *st, const struct config *cfg, GMimeMessage *msg, const char *mid,
	     const char *since, const char *now, GError **error)
{
	for (int i = 0; cfg->organisers && cfg->organisers[i]; i++) {
		struct outgoing o = {
			.kind = "digest", .recipient = cfg->organisers[i], .envelope_from = cfg->from_address,
			.message_id = mid, .template = "digest",
		};
		if (!outbox_put(st, &o, msg, now, error))
			return FALSE;
	}
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "INSERT INTO digests (at, since, until, kind)"
				    " VALUES (?1, ?2, ?1, 'organisers')", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, since, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording the digest", error);
		return FALSE;
	}
	return TRUE;
}
