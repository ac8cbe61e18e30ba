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

/* The people who count: registrations not cancelled. */
#define ACTIVE "FROM registrations WHERE status <> 'cancelled'"
#define FIELD(f) "json_extract(fields, '$." f "')"

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

	static const char *const statuses[] = { "registered", "incomplete", "late", "waitlisted",
						"cancelled", NULL };
	JsonObject *regs = json_object_new();
	json_object_set_int_member(regs, "total", one(st, "SELECT count(*) FROM registrations", NULL));
	json_object_set_object_member(regs, "by_status",
				      counts(st, "SELECT status, count(*) FROM registrations GROUP BY 1",
					     statuses));
	json_object_set_object_member(f, "registrations", regs);

	json_object_set_array_member(f, "by_country", pairs(st,
		"SELECT coalesce(" FIELD("country") ", 'unknown'), count(*) " ACTIVE
		" GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "by_org_type", pairs(st,
		"SELECT coalesce(" FIELD("org_type") ", 'unknown'), count(*) " ACTIVE
		" GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "by_gender", pairs(st,
		"SELECT coalesce(" FIELD("gender") ", 'not stated'), count(*) " ACTIVE
		" GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "by_language", pairs(st,
		"SELECT j.value, count(*) FROM registrations r, json_each(r.fields, '$.languages') j"
		" WHERE r.status <> 'cancelled' GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	json_object_set_array_member(f, "interpretation", pairs(st,
		"SELECT " FIELD("interpretation") ", count(*) " ACTIVE " AND "
		FIELD("interpretation") " IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1", NULL));
	static const char *const funding[] = { "self", "needs_sponsorship", "sponsor_other", NULL };
	json_object_set_object_member(f, "funding", counts(st,
		"SELECT " FIELD("funding") ", count(*) " ACTIVE " AND " FIELD("funding")
		" IS NOT NULL GROUP BY 1", funding));
	json_object_set_int_member(f, "visa_letters", one(st,
		"SELECT count(*) " ACTIVE " AND " FIELD("visa_letter") " = 1", NULL));
	json_object_set_array_member(f, "arrivals", pairs(st,
		"SELECT " FIELD("arrival") ", count(*) " ACTIVE " AND " FIELD("arrival")
		" IS NOT NULL GROUP BY 1 ORDER BY 1", NULL));
	json_object_set_array_member(f, "departures", pairs(st,
		"SELECT " FIELD("departure") ", count(*) " ACTIVE " AND " FIELD("departure")
		" IS NOT NULL GROUP BY 1 ORDER BY 1", NULL));
	/* a room each night from arrival to the night before departure */
	json_object_set_array_member(f, "hotel_nights", pairs(st,
		"WITH RECURSIVE n(night, last) AS ("
		"  SELECT " FIELD("arrival") ", date(" FIELD("departure") ", '-1 day') " ACTIVE
		"  AND " FIELD("accommodation") " = 1 AND " FIELD("arrival") " IS NOT NULL"
		"  AND " FIELD("departure") " > " FIELD("arrival")
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
	g_autofree char *wait = g_strdup_printf("-%d hours", cfg->remind_after);
	json_object_set_int_member(tickets, "open", one(st, "SELECT count(*) FROM tickets WHERE status = 'open'", NULL));
	g_autofree char *overdue_sql = g_strdup_printf(
		"SELECT count(*) FROM tickets WHERE status = 'open' AND updated_at <="
		" strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', '%s', '%s')", now, wait);
	json_object_set_int_member(tickets, "overdue", one(st, overdue_sql, NULL));
	json_object_set_object_member(f, "tickets", tickets);
	return f;
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

JsonArray *
registrations_rows(struct store *st, const char *status)
{
	JsonArray *rows = json_array_new();
	sqlite3_stmt *stmt = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	if (sqlite3_prepare_v2(store_db(st), "SELECT reference, status, email, name, language,"
			       " created_at, updated_at, fields FROM registrations"
			       " WHERE ?1 IS NULL OR status = ?1 ORDER BY id", -1, &stmt, NULL) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return rows;
	}
	sqlite3_bind_text(stmt, 1, status, -1, SQLITE_STATIC);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		JsonObject *o = json_object_new();
		const char *fields = (const char *)sqlite3_column_text(stmt, 7);
		JsonObject *f = NULL;
		if (fields && json_parser_load_from_data(parser, fields, -1, NULL) &&
		    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
			f = json_node_get_object(json_parser_get_root(parser));
		for (int i = 0; columns[i]; i++) {
			if (f && json_object_has_member(f, columns[i]))
				json_object_set_member(o, columns[i],
						       json_node_copy(json_object_get_member(f, columns[i])));
			else
				json_object_set_null_member(o, columns[i]);
		}
		static const struct {
			const char *name;
			int col;
		} own[] = { { "reference", 0 }, { "status", 1 }, { "email", 2 }, { "language", 4 },
			    { "created_at", 5 }, { "updated_at", 6 } };
		for (size_t i = 0; i < G_N_ELEMENTS(own); i++)
			if (sqlite3_column_text(stmt, own[i].col))
				json_object_set_string_member(o, own[i].name,
							      (const char *)sqlite3_column_text(stmt, own[i].col));
		if (sqlite3_column_text(stmt, 3) && json_object_get_null_member(o, "name"))
			json_object_set_string_member(o, "name", (const char *)sqlite3_column_text(stmt, 3));
		json_array_add_object_element(rows, o);
	}
	sqlite3_finalize(stmt);
	return rows;
}
