/*
 * json.c - everything confmail prints as JSON, built with json-glib so that
 * no value from a message is ever escaped by hand.
 */
#include "confmail.h"

#include <string.h>

/* The twenty registration fields of FIELDS.md, in its order. */
static const char *field_names[] = {
	"name", "email", "organization", "org_type", "position", "country",
	"city", "phone", "gender", "languages", "interpretation", "funding",
	"arrival", "departure", "accommodation", "dietary", "sessions",
	"member_interest", "visa_letter", "principles",
};

static char *
to_line(JsonBuilder *b)
{
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autoptr(JsonGenerator) gen = json_generator_new();

	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

static void
add_string(JsonBuilder *b, const char *key, const char *value)
{
	json_builder_set_member_name(b, key);
	if (value)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void
add_int(JsonBuilder *b, const char *key, gint64 value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_int_value(b, value);
}

char *
json_headers(const struct mail *m)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_array(b);
	for (guint i = 0; i < m->headers->len; i++) {
		const struct header *h = &g_array_index(m->headers, struct header, i);
		json_builder_begin_array(b);
		json_builder_add_string_value(b, h->name);
		json_builder_add_string_value(b, h->value);
		json_builder_end_array(b);
	}
	json_builder_end_array(b);
	return to_line(b);
}

char *
json_verdict(const struct mail *m, const struct verdict *v, JsonObject *fields,
	     const char *noreply)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	add_string(b, "class", v->class);
	add_string(b, "language", v->language);
	add_string(b, "topic", v->topic);
	if (fields) {
		json_builder_set_member_name(b, "fields");
		json_builder_add_value(b, json_node_init_object(json_node_alloc(), fields));
	} else if (strcmp(v->class, "registration") == 0 || strcmp(v->class, "update") == 0) {
		json_builder_set_member_name(b, "fields");
		json_builder_begin_object(b);
		for (size_t i = 0; i < G_N_ELEMENTS(field_names); i++)
			add_string(b, field_names[i],
				   strcmp(field_names[i], "email") == 0 ? m->from_addr : NULL);
		json_builder_end_object(b);
	}
	if (v->has_bounce) {
		json_builder_set_member_name(b, "bounce");
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "recipients");
		json_builder_begin_array(b);
		for (guint i = 0; v->bounce.recipients && i < v->bounce.recipients->len; i++)
			json_builder_add_string_value(b, g_ptr_array_index(v->bounce.recipients, i));
		json_builder_end_array(b);
		json_builder_set_member_name(b, "permanent");
		json_builder_add_boolean_value(b, v->bounce.permanent);
		json_builder_end_object(b);
	}
	/* What the intake saw, for people and scripts; not part of the
	 * FIELDS.md contract. */
	json_builder_set_member_name(b, "mail");
	json_builder_begin_object(b);
	add_string(b, "message_id", m->message_id);
	add_string(b, "from", m->from_addr);
	add_string(b, "subject", m->subject);
	add_string(b, "date", m->date);
	add_string(b, "sha256", m->sha256);
	add_int(b, "size", (gint64)m->size);
	add_int(b, "parts", m->parts);
	add_int(b, "attachments", m->attachments);
	add_string(b, "quarantined", m->parse_error);
	add_string(b, "noreply", noreply);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return to_line(b);
}

/* Adds "KEY": {"VALUE": COUNT, ...} from a query of (value, count) rows. */
static gboolean
add_grouped(JsonBuilder *b, struct store *st, const char *key, const char *sql,
	    GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL);

	json_builder_set_member_name(b, key);
	json_builder_begin_object(b);
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			add_int(b, (const char *)sqlite3_column_text(stmt, 0),
				sqlite3_column_int64(stmt, 1));
	json_builder_end_object(b);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, key, error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
count(struct store *st, const char *sql, gint64 *n, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*n = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, sql, error);
		return FALSE;
	}
	return TRUE;
}

char *
json_stats(struct store *st, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	gint64 total = 0, quarantined = 0, deliveries = 0;
	static const char *const outbox[] = { "queued", "deferred", "sent", "failed", NULL };

	if (!count(st, "SELECT count(*) FROM messages", &total, error) ||
	    !count(st, "SELECT count(*) FROM messages WHERE state = 'quarantined'", &quarantined, error) ||
	    !count(st, "SELECT count(*) FROM arrivals", &deliveries, error))
		return NULL;
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "messages");
	json_builder_begin_object(b);
	add_int(b, "total", total);
	add_int(b, "quarantined", quarantined);
	add_int(b, "deliveries", deliveries);
	if (!add_grouped(b, st, "by_class",
			 "SELECT coalesce(class, 'unclassified'), count(*) FROM messages"
			 " WHERE state = 'accepted' GROUP BY 1 ORDER BY 1", error) ||
	    !add_grouped(b, st, "by_language",
			 "SELECT language, count(*) FROM messages"
			 " WHERE language IS NOT NULL GROUP BY 1 ORDER BY 1", error))
		return NULL;
	json_builder_end_object(b);
	gint64 registrations = 0;
	if (!count(st, "SELECT count(*) FROM registrations", &registrations, error))
		return NULL;
	json_builder_set_member_name(b, "registrations");
	json_builder_begin_object(b);
	add_int(b, "total", registrations);
	if (!add_grouped(b, st, "by_status",
			 "SELECT status, count(*) FROM registrations GROUP BY 1 ORDER BY 1", error))
		return NULL;
	json_builder_end_object(b);
	gint64 open = 0, asked = 0;
	if (!count(st, "SELECT count(*) FROM tickets WHERE status = 'open'", &open, error) ||
	    !count(st, "SELECT count(*) FROM tickets", &asked, error))
		return NULL;
	json_builder_set_member_name(b, "tickets");
	json_builder_begin_object(b);
	add_int(b, "open", open);
	add_int(b, "total", asked);
	json_builder_end_object(b);
	gint64 active = 0, subscribers = 0;
	if (!count(st, "SELECT count(*) FROM subscribers WHERE status = 'active'", &active, error) ||
	    !count(st, "SELECT count(*) FROM subscribers", &subscribers, error))
		return NULL;
	json_builder_set_member_name(b, "subscribers");
	json_builder_begin_object(b);
	add_int(b, "active", active);
	add_int(b, "total", subscribers);
	json_builder_end_object(b);
	gint64 withheld = 0;
	if (!count(st, "SELECT count(*) FROM replies_withheld", &withheld, error))
		return NULL;
	json_builder_set_member_name(b, "replies");
	json_builder_begin_object(b);
	add_int(b, "withheld", withheld);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "outbox");
	json_builder_begin_object(b);
	for (int i = 0; outbox[i]; i++) {
		g_autofree char *sql = g_strdup_printf("SELECT count(*) FROM outbox WHERE state = '%s'",
						       outbox[i]);
		gint64 n = 0;
		if (!count(st, sql, &n, error))
			return NULL;
		add_int(b, outbox[i], n);
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
	return to_line(b);
}
