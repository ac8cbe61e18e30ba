/*
 * figures.c - the conference in numbers, for the organisers' digest, the
 * report and the spreadsheet: one JSON object computed by SQL from the
 * registrations, the list, the queue and the tickets, so that all three
 * say the same thing.  Its shape is in confmail.h.
 */
#include "confmail.h"

#include <string.h>

/* [{"key": K, "count": N}, ...] from SQL giving (key, count). */
static JsonArray *
pairs(struct store *st, const char *sql, const char *bind)
{
	JsonArray *out = json_array_new();
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		if (bind)
			sqlite3_bind_text(stmt, 1, bind, -1, SQLITE_STATIC);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			JsonObject *o = json_object_new();
			const char *key = (const char *)sqlite3_column_text(stmt, 0);
			json_object_set_string_member(o, "key", key ? key : "unknown");
			json_object_set_int_member(o, "count", sqlite3_column_int64(stmt, 1));
			json_array_add_object_element(out, o);
		}
	}
	sqlite3_finalize(stmt);
	return out;
}

static gint64
one(struct store *st, const char *sql, const char *bind)
{
	sqlite3_stmt *stmt = NULL;
	gint64 n = 0;
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		if (bind)
			sqlite3_bind_text(stmt, 1, bind, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			n = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	return n;
}

/* An object of counts from pairs. */
static JsonObject *
counts(struct store *st, const char *sql, const char *const *zero)
{
	JsonObject *o = json_object_new();
	for (int i = 0; zero && zero[i]; i++)
		json_object_set_int_member(o, zero[i], 0);
	g_autoptr(JsonArray) list = pairs(st, sql, NULL);
	for (guint i = 0; i < json_array_get_length(list); i++) {
		JsonObject *p = json_array_get_object_element(list, i);
		json_object_set_int_member(o, json_object_get_string_member(p, "key"),
					   json_object_get_int_member(p, "count"));
	}
	return o;
}

/* The people who count: registrations not cancelled, their fields taken
 * out of the JSON once (temp.fig) rather than once per figure. */
#define ACTIVE "FROM temp.fig WHERE status <> 'cancelled'"

char *
figures_overdue_since(const struct config *cfg, const char *now)
{
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) at = g_date_time_new_from_iso8601(now, utc);
	g_autoptr(GDateTime) before = at ? g_date_time_add_hours(at, -cfg->remind_after) : NULL;
	return before ? g_date_time_format(before, "%Y-%m-%dT%H:%M:%SZ") : g_strdup(now);
}

JsonObject *
figures_collect(struct store *st, const struct config *cfg, const char *now)
{
	JsonObject *f = json_object_new();
	json_object_set_string_member(f, "generated_at", now);
	json_object_set_string_member(f, "conference", cfg->name);
	json_object_set_int_member(f, "capacity", cfg->capacity);
	g_autofree char *deadline = g_date_time_format(cfg->registration_deadline, "%Y-%m-%d");
	json_object_set_string_member(f, "deadline", deadline);
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) at = g_date_time_new_from_iso8601(now, utc);
	gint64 left = at ? g_date_time_difference(cfg->registration_deadline, at) / G_TIME_SPAN_DAY : 0;
	json_object_set_int_member(f, "days_left", left > 0 ? left : 0);

	sqlite3_exec(store_db(st),
		     "DROP TABLE IF EXISTS temp.fig;"
		     "CREATE TEMP TABLE fig AS SELECT status,"
		     " json_extract(fields, '$.country') AS country,"
		     " json_extract(fields, '$.org_type') AS org_type,"
		     " json_extract(fields, '$.gender') AS gender,"
		     " json_extract(fields, '$.interpretation') AS interpretation,"
		     " json_extract(fields, '$.funding') AS funding,"
		     " json_extract(fields, '$.visa_letter') AS visa_letter,"
		     " json_extract(fields, '$.arrival') AS arrival,"
		     " json_extract(fields, '$.departure') AS departure,"
		     " json_extract(fields, '$.accommodation') AS accommodation,"
		     " json_extract(fields, '$.languages') AS languages"
		     " FROM registrations", NULL, NULL, NULL);
	static const char *const statuses[] = { "registered", "incomplete", "late", "waitlisted",
						"cancelled", NULL };
	JsonObject *regs = json_object_new();
	json_object_set_int_member(regs, "total", one(st, "SELECT count(*) FROM registrations", NULL));
	json_object_set_object_member(regs, "by_status",
				      counts(st, "SELECT status, count(*) FROM registrations GROUP BY 1",
					     statuses));
	json_object_set_object_member(f, "registrations", regs);

	json_object_set_array_member(f, "by_country", pairs(st,
		"SELECT coalesce(country, 'unknown'), count(*) " ACTIVE
		" GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "by_org_type", pairs(st,
		"SELECT coalesce(org_type, 'unknown'), count(*) " ACTIVE
		" GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "by_gender", pairs(st,
		"SELECT coalesce(gender, 'not stated'), count(*) " ACTIVE
		" GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "by_language", pairs(st,
		"SELECT j.value, count(*) FROM temp.fig r, json_each(r.languages) j"
		" WHERE r.status <> 'cancelled' AND r.languages IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "interpretation", pairs(st,
		"SELECT interpretation, count(*) " ACTIVE " AND "
		"interpretation IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	static const char *const funding[] = { "self", "needs_sponsorship", "sponsor_other", NULL };
	json_object_set_object_member(f, "funding", counts(st,
		"SELECT funding, count(*) " ACTIVE " AND funding"
		" IS NOT NULL GROUP BY 1", funding));
	json_object_set_int_member(f, "visa_letters", one(st,
		"SELECT count(*) " ACTIVE " AND visa_letter = 1", NULL));
	json_object_set_array_member(f, "arrivals", pairs(st,
		"SELECT arrival, count(*) " ACTIVE " AND arrival"
		" IS NOT NULL GROUP BY 1 ORDER BY 1", NULL));
	json_object_set_array_member(f, "departures", pairs(st,
		"SELECT departure, count(*) " ACTIVE " AND departure"
		" IS NOT NULL GROUP BY 1 ORDER BY 1", NULL));
	/* a room each night from arrival to the night before departure */
	json_object_set_array_member(f, "hotel_nights", pairs(st,
		"WITH RECURSIVE n(night, last) AS ("
		"  SELECT arrival, date(departure, '-1 day') " ACTIVE
		"  AND accommodation = 1 AND arrival IS NOT NULL"
		"  AND departure > arrival"
		"  UNION ALL SELECT date(night, '+1 day'), last FROM n WHERE night < last)"
		" SELECT night, count(*) FROM n GROUP BY 1 ORDER BY 1", NULL));

	JsonObject *list = json_object_new();
	json_object_set_int_member(list, "active", one(st, "SELECT count(*) FROM subscribers WHERE status = 'active'", NULL));
	json_object_set_int_member(list, "disabled", one(st, "SELECT count(*) FROM subscribers WHERE status = 'disabled'", NULL));
	json_object_set_int_member(list, "unsubscribed", one(st, "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'", NULL));
	json_object_set_int_member(list, "bounces", one(st, "SELECT count(*) FROM bounces", NULL));
	json_object_set_object_member(f, "list", list);
	static const char *const states[] = { "queued", "deferred", "sent", "failed", NULL };
	json_object_set_object_member(f, "queue", counts(st, "SELECT state, count(*) FROM outbox GROUP BY 1", states));
	JsonObject *tickets = json_object_new();
	g_autofree char *cutoff = figures_overdue_since(cfg, now);
	json_object_set_int_member(tickets, "open", one(st, "SELECT count(*) FROM tickets WHERE status = 'open'", NULL));
	json_object_set_int_member(tickets, "overdue", one(st, "SELECT count(*) FROM tickets"
							    " WHERE status = 'open' AND updated_at <= ?1", cutoff));
	json_object_set_object_member(f, "tickets", tickets);
	sqlite3_exec(store_db(st), "DROP TABLE IF EXISTS temp.fig", NULL, NULL, NULL);
	return f;
}

/* The figures computed on a connection of their own, in a thread of
 * their own: every organisers' view also writes every registration, and
 * the two together took longer than either alone on two cores. */
struct figures_job {
	GThread *thread;
	const struct config *cfg;
	char *now;
};

static gpointer
collect_apart(gpointer data)
{
	struct figures_job *job = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(store) st = store_open(job->cfg, STORE_READ, &error);
	if (!st)
		return NULL;	/* figures_join computes them on its own store */
	store_for_scans(st);
	return figures_collect(st, job->cfg, job->now);
}

struct figures_job *
figures_start(const struct config *cfg, const char *now)
{
	struct figures_job *job = g_new0(struct figures_job, 1);
	job->cfg = cfg;
	job->now = g_strdup(now);
	job->thread = g_thread_try_new("figures", collect_apart, job, NULL);
	if (!job->thread) {
		g_free(job->now);
		g_free(job);
		return NULL;
	}
	return job;
}

JsonObject *
figures_join(struct figures_job *job, struct store *st, const struct config *cfg, const char *now)
{
	JsonObject *f = NULL;
	if (job) {
		f = g_thread_join(job->thread);
		g_free(job->now);
		g_free(job);
	}
	return f ? f : figures_collect(st, cfg, now);
}

static const char *const columns[] = {
	"reference", "status", "name", "email", "organization", "org_type", "position", "country",
	"city", "phone", "gender", "funding", "arrival", "departure", "accommodation", "visa_letter",
	"interpretation", "languages", "principles", "language", "created_at", "updated_at", NULL
};

const char *const *
registration_columns(void)
{
	return columns;
}

/* The type FIELDS.md gives a column, so that SQLite need not be asked
 * ("text", "bool" or "array"), or NULL: ask. */
static const char *
typed_column(const char *c)
{
	static const char *const bools[] = { "accommodation", "visa_letter", "principles", NULL };
	static const char *const lists[] = { "languages", NULL };
	static const char *const texts[] = { "name", "organization", "org_type", "position", "country",
					     "city", "phone", "gender", "funding", "arrival", "departure",
					     "interpretation", NULL };
	return g_strv_contains(bools, c) ? "bool" : g_strv_contains(lists, c) ? "array"
	    : g_strv_contains(texts, c) ? "text" : NULL;
}

bool
registration_own_column(const char *c)
{
	static const char *const own[] = { "reference", "status", "email", "language", "created_at",
					   "updated_at", NULL };
	return g_strv_contains(own, c);
}

char *
registrations_select(const char *const *only)
{
	/* SQLite's JSON functions pick each field out and say its type: far
	 * cheaper than parsing every registration's JSON again here */
	GString *sql = g_string_new("SELECT name");
	for (int i = 0; columns[i]; i++) {
		/* a column not asked for costs no JSON work */
		if (only && !g_strv_contains(only, columns[i]))
			g_string_append(sql, ", NULL, NULL");
		else if (registration_own_column(columns[i]))
			g_string_append_printf(sql, ", NULL, %s", columns[i]);
		else if (typed_column(columns[i]))
			g_string_append_printf(sql, ", '%s', json_extract(fields, '$.%s')",
					       typed_column(columns[i]), columns[i]);
		else
			g_string_append_printf(sql, ", json_type(fields, '$.%s'), json_extract(fields, '$.%s')",
					       columns[i], columns[i]);
	}
	g_string_append(sql, " FROM registrations WHERE ?1 IS NULL OR status = ?1 ORDER BY id");
	return g_string_free(sql, FALSE);
}

void
registrations_each(struct store *st, const char *status, const char *const *only,
		   void (*fn)(JsonObject *, gpointer), gpointer data)
{
	g_autofree char *sql = registrations_select(only);
	sqlite3_stmt *stmt = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, status, -1, SQLITE_STATIC);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			JsonObject *o = json_object_new();
			for (int i = 0; columns[i]; i++) {
				int tc = 1 + 2 * i, vc = tc + 1;
				if (only && !g_strv_contains(only, columns[i]))
					continue;
				const char *type = (const char *)sqlite3_column_text(stmt, tc);
				const char *text = (const char *)sqlite3_column_text(stmt, vc);
				if (registration_own_column(columns[i]) || (type && strcmp(type, "text") == 0)) {
					if (text)
						json_object_set_string_member(o, columns[i], text);
					else
						json_object_set_null_member(o, columns[i]);
				} else if (!type || strcmp(type, "null") == 0 ||
					   sqlite3_column_type(stmt, vc) == SQLITE_NULL) {
					json_object_set_null_member(o, columns[i]);
				} else if (strcmp(type, "bool") == 0) {
					json_object_set_boolean_member(o, columns[i], sqlite3_column_int(stmt, vc) != 0);
				} else if (strcmp(type, "true") == 0 || strcmp(type, "false") == 0) {
					json_object_set_boolean_member(o, columns[i], type[0] == 't');
				} else if (strcmp(type, "integer") == 0) {
					json_object_set_int_member(o, columns[i], sqlite3_column_int64(stmt, vc));
				} else if (strcmp(type, "real") == 0) {
					json_object_set_double_member(o, columns[i], sqlite3_column_double(stmt, vc));
				} else if (text && json_parser_load_from_data(parser, text, -1, NULL)) {
					json_object_set_member(o, columns[i],
							       json_node_copy(json_parser_get_root(parser)));
				} else {
					json_object_set_null_member(o, columns[i]);
				}
			}
			/* the name as registered when the fields have none */
			if (json_object_has_member(o, "name") && json_object_get_null_member(o, "name") &&
			    sqlite3_column_text(stmt, 0))
				json_object_set_string_member(o, "name", (const char *)sqlite3_column_text(stmt, 0));
			/* one row alive at a time: a hundred thousand objects
			 * held at once cost more in malloc than in work */
			fn(o, data);
			json_object_unref(o);
		}
	}
	sqlite3_finalize(stmt);
}

/* One SQL expression per column: the registration's own, or the field's
 * value as text (CSV) or as JSON. */
static char *
column_sql(bool as_json)
{
	GString *sql = g_string_new("SELECT ");
	for (int i = 0; columns[i]; i++) {
		const char *c = columns[i];
		if (i)
			g_string_append(sql, ", ");
		if (as_json)
			g_string_append_printf(sql, "'%s', ", c);
		if (registration_own_column(c))
			g_string_append(sql, c);
		else if (strcmp(c, "name") == 0)
			g_string_append_printf(sql, as_json ? "coalesce(json(fields -> '$.name'), json_quote(name))"
					       : "coalesce(json_extract(fields, '$.name'), name)");
		else if (as_json)
			g_string_append_printf(sql, "json(fields -> '$.%s')", c);
		else
			g_string_append_printf(sql,
				"CASE json_type(fields, '$.%s') WHEN 'true' THEN 'yes' WHEN 'false' THEN 'no'"
				" WHEN 'array' THEN (SELECT group_concat(value, ', ') FROM json_each(fields, '$.%s'))"
				" ELSE json_extract(fields, '$.%s') END", c, c, c);
	}
	if (as_json) {
		/* json_object(name, value, ...) for each row */
		g_string_insert(sql, 7, "json_object(");
		g_string_append(sql, ")");
	}
	g_string_append(sql, " FROM registrations ORDER BY id");
	return g_string_free(sql, FALSE);
}

void
registrations_csv(struct store *st, GString *out)
{
	g_string_append(out, "\xEF\xBB\xBF");
	for (int c = 0; columns[c]; c++)
		g_string_append_printf(out, "%s%s", c ? "," : "", columns[c]);
	g_string_append(out, "\r\n");
	g_autofree char *sql = column_sql(false);
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			for (int c = 0; columns[c]; c++) {
				const char *v = (const char *)sqlite3_column_text(stmt, c);
				if (c)
					g_string_append_c(out, ',');
				if (!v)
					continue;
				/* a value that starts like a formula stays text in
				 * a spreadsheet (CSV injection) */
				if (strchr("=+-@", *v) && *v)
					g_string_append_c(out, '\'');
				if (!strpbrk(v, ",\"\r\n")) {
					g_string_append(out, v);
					continue;
				}
				g_string_append_c(out, '"');
				for (const char *p = v; *p; p++) {
					if (*p == '"')
						g_string_append_c(out, '"');
					g_string_append_c(out, *p);
				}
				g_string_append_c(out, '"');
			}
			g_string_append(out, "\r\n");
		}
	}
	sqlite3_finalize(stmt);
}

void
registrations_json(struct store *st, GString *out)
{
	g_autofree char *sql = column_sql(true);
	sqlite3_stmt *stmt = NULL;
	int n = 0;
	g_string_append_c(out, '[');
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK)
		while (sqlite3_step(stmt) == SQLITE_ROW)
			g_string_append_printf(out, "%s\n  %s", n++ ? "," : "",
					       (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	g_string_append(out, "\n]\n");
}
