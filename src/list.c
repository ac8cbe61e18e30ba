/*
 * list.c - the announcement list's members and their bounces.  A member
 * is active, unsubscribed (they asked) or disabled (their mail bounced
 * past the threshold).  Bounces are scored as Mailman does: a day with a
 * permanent failure adds 1, a day with a temporary one 0.5, a score older
 * than 7 days starts over, and 5.0 disables; a delay notice counts
 * nothing.  A confirmed subscription enables the member again.
 */
#include "confmail.h"

#include <string.h>

#define BOUNCE_THRESHOLD 5.0
#define BOUNCE_STALE_DAYS 7

static gboolean
step_done(struct store *st, sqlite3_stmt *stmt, int rc, const char *what, GError **error)
{
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, what, error);
		return FALSE;
	}
	return TRUE;
}

gboolean
list_add(struct store *st, const char *address, const char *name, const char *language,
	 const char *source, const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	g_autofree char *lower = g_ascii_strdown(address, -1);
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO subscribers (address, name, language, status, source,"
				    " created_at, updated_at) VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?5)"
				    " ON CONFLICT (address) DO UPDATE SET status = 'active',"
				    " name = coalesce(excluded.name, name),"
				    " language = coalesce(excluded.language, language),"
				    " bounce_score = 0, last_bounce_at = NULL, updated_at = excluded.updated_at",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, lower, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, language, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, source, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	return step_done(st, stmt, rc, "adding a subscriber", error);
}

gboolean
list_remove(struct store *st, const char *address, const char *now, bool *removed, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "UPDATE subscribers SET status = 'unsubscribed', updated_at = ?2"
				    " WHERE address = lower(?1) AND status <> 'unsubscribed'", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	*removed = rc == SQLITE_DONE && sqlite3_changes(store_db(st)) > 0;
	return step_done(st, stmt, rc, "removing a subscriber", error);
}

const char *
list_status(struct store *st, const char *address, char buf[16])
{
	sqlite3_stmt *stmt = NULL;
	const char *status = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT status FROM subscribers WHERE address = lower(?)",
			       -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			g_strlcpy(buf, (const char *)sqlite3_column_text(stmt, 0), 16);
			status = buf;
		}
	}
	sqlite3_finalize(stmt);
	return status;
}

void
member_clear(struct member *m)
{
	g_free(m->address);
	g_free(m->name);
	g_free(m->language);
	memset(m, 0, sizeof *m);
}

GArray *
list_audience(struct store *st, const char *audience)
{
	GArray *out = g_array_new(FALSE, TRUE, sizeof(struct member));
	g_array_set_clear_func(out, (GDestroyNotify)member_clear);
	/* registrants (not cancelled) and active subscribers, each address
	 * once, the registration's name and language first; never anyone
	 * who left the list or whose mail bounces */
	static const char *const sql =
		"WITH r AS (SELECT lower(email) AS address, name, language, id AS registration"
		"   FROM registrations WHERE status <> 'cancelled' AND ?1 IN ('registered', 'all')"
		"   AND id = (SELECT max(id) FROM registrations r2 WHERE lower(r2.email) = lower(registrations.email)"
		"    AND r2.status <> 'cancelled')),"
		" s AS (SELECT address, name, language, NULL AS registration FROM subscribers"
		"   WHERE status = 'active' AND ?1 IN ('list', 'all')),"
		" u AS (SELECT * FROM r UNION ALL SELECT * FROM s WHERE address NOT IN (SELECT address FROM r))"
		" SELECT address, name, language, registration FROM u"
		" WHERE address NOT IN (SELECT address FROM subscribers WHERE status IN ('unsubscribed', 'disabled'))"
		" ORDER BY address";
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, audience, -1, SQLITE_STATIC);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			struct member m = {
				.address = g_strdup((const char *)sqlite3_column_text(stmt, 0)),
				.name = g_strdup((const char *)sqlite3_column_text(stmt, 1)),
				.language = g_strdup((const char *)sqlite3_column_text(stmt, 2)),
				.registration = sqlite3_column_int64(stmt, 3),
			};
			g_array_append_val(out, m);
		}
	}
	sqlite3_finalize(stmt);
	return out;
}

gboolean
list_bounce(struct store *st, gint64 outbox, gint64 message, const struct bounce *b,
	    const char *now, bool *disabled, GError **error)
{
	*disabled = false;
	/* the address is the one the outbox row was sent to: VERP says it
	 * without reading the report */
	sqlite3_stmt *stmt = NULL;
	g_autofree char *address = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT recipient FROM outbox WHERE id = ?", -1, &stmt,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, outbox);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			address = g_ascii_strdown((const char *)sqlite3_column_text(stmt, 0), -1);
	}
	sqlite3_finalize(stmt);
	if (!address || b->delayed)
		return TRUE;	/* not ours, or only a warning */
	int rc = sqlite3_prepare_v2(store_db(st), "INSERT INTO bounces (address, at, permanent, outbox,"
				    " message) VALUES (?, ?, ?, ?, ?)", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 3, b->permanent);
		sqlite3_bind_int64(stmt, 4, outbox);
		if (message)
			sqlite3_bind_int64(stmt, 5, message);
		rc = sqlite3_step(stmt);
	}
	if (!step_done(st, stmt, rc, "recording a bounce", error))
		return FALSE;
	g_autofree char *stale = g_strdup_printf("-%d days", BOUNCE_STALE_DAYS);
	rc = sqlite3_prepare_v2(store_db(st),
				"UPDATE subscribers SET"
				/* an old score is forgotten; one count a day */
				" bounce_score = CASE"
				"  WHEN last_bounce_at IS NULL OR last_bounce_at < strftime('%Y-%m-%dT%H:%M:%SZ', ?2, ?4) THEN ?3"
				"  WHEN substr(last_bounce_at, 1, 10) = substr(?2, 1, 10) THEN bounce_score"
				"  ELSE bounce_score + ?3 END,"
				" last_bounce_at = ?2, updated_at = ?2"
				" WHERE address = ?1 AND status = 'active' RETURNING bounce_score", -1, &stmt, NULL);
	double score = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_double(stmt, 3, b->permanent ? 1.0 : 0.5);
		sqlite3_bind_text(stmt, 4, stale, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			score = sqlite3_column_double(stmt, 0);
			rc = sqlite3_step(stmt);
		}
	}
	if (!step_done(st, stmt, rc, "scoring a bounce", error))
		return FALSE;
	if (score < BOUNCE_THRESHOLD)
		return TRUE;
	rc = sqlite3_prepare_v2(store_db(st), "UPDATE subscribers SET status = 'disabled', updated_at = ?2"
				" WHERE address = ?1", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	*disabled = rc == SQLITE_DONE;
	return step_done(st, stmt, rc, "disabling a subscriber", error);
}
