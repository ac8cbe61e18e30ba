/*
 * privacy.c - a person's data, on request: everything held about an
 * address (export), and its erasure (forget), recorded without the data.
 * Many who register are human-rights defenders: when they ask, nothing of
 * them stays behind, not their messages, their tickets, the copies we
 * sent them or the list.  The store runs with secure_delete, so freed
 * pages are zeroed, and the WAL is checkpointed afterwards.
 */
#include "confmail.h"

#include <string.h>

static int
run(struct store *st, const char *sql, const char *address)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			rc = SQLITE_DONE;
	}
	sqlite3_finalize(stmt);
	return rc;
}

gboolean
privacy_forget(struct store *st, const char *reference, const char *by, const char *now,
	       int *messages, GError **error)
{
	g_autofree char *address = NULL;
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT lower(email) FROM registrations WHERE reference = upper(?)",
			       -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, reference, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			address = g_strdup((const char *)sqlite3_column_text(stmt, 0));
	}
	sqlite3_finalize(stmt);
	if (!address) {
		g_set_error(error, CONFMAIL_ERROR, EX_NOINPUT, "no registration %s", reference);
		return FALSE;
	}
	/* ?1 is the address; the person's messages: sent from it, or that
	 * changed their registration or asked their questions */
	static const char *const steps[] = {
		"CREATE TEMP TABLE gone_messages AS SELECT id FROM messages WHERE lower(from_addr) = ?1"
		" UNION SELECT message FROM registration_changes WHERE registration IN"
		"  (SELECT id FROM registrations WHERE lower(email) = ?1) AND message IS NOT NULL"
		" UNION SELECT message FROM registrations WHERE lower(email) = ?1 AND message IS NOT NULL"
		" UNION SELECT message FROM tickets WHERE lower(email) = ?1 AND message IS NOT NULL"
		/* someone else's mail that names them (a colleague's forward) */
		" UNION SELECT message FROM message_raw WHERE instr(lower(CAST(raw AS TEXT)), ?1) > 0",
		"CREATE TEMP TABLE gone_tickets AS SELECT id FROM tickets WHERE lower(email) = ?1",
		"CREATE TEMP TABLE gone_registrations AS SELECT id FROM registrations WHERE lower(email) = ?1",
		/* what we sent them, or sent others about them */
		"CREATE TEMP TABLE gone_outbox AS SELECT id FROM outbox WHERE lower(recipient) = ?1"
		" OR ticket IN (SELECT id FROM gone_tickets)"
		" OR registration IN (SELECT id FROM gone_registrations)"
		" OR source_message IN (SELECT id FROM gone_messages)"
		" OR instr(lower(CAST(content AS TEXT)), ?1) > 0",
		/* a digest already sent lists everyone: its copy is not kept */
		"UPDATE outbox SET content = x'', splices = NULL WHERE kind = 'digest' AND state = 'sent'",
		"DELETE FROM bouncing WHERE lower(address) = ?1 OR outbox IN (SELECT id FROM gone_outbox)",
		"DELETE FROM bounces WHERE lower(address) = ?1 OR outbox IN (SELECT id FROM gone_outbox)",
		"DELETE FROM outbox WHERE id IN (SELECT id FROM gone_outbox)",
		"DELETE FROM ticket_events WHERE ticket IN (SELECT id FROM gone_tickets)",
		"UPDATE ticket_events SET message = NULL WHERE message IN (SELECT id FROM gone_messages)",
		"UPDATE messages SET ticket = NULL WHERE ticket IN (SELECT id FROM gone_tickets)",
		"DELETE FROM tickets WHERE id IN (SELECT id FROM gone_tickets)",
		"DELETE FROM registration_changes WHERE registration IN (SELECT id FROM gone_registrations)",
		"UPDATE registration_changes SET message = NULL WHERE message IN (SELECT id FROM gone_messages)",
		"UPDATE messages SET registration = NULL WHERE registration IN (SELECT id FROM gone_registrations)",
		"DELETE FROM registrations WHERE id IN (SELECT id FROM gone_registrations)",
		"DELETE FROM subscribers WHERE address = ?1",
		"DELETE FROM replies_withheld WHERE lower(recipient) = ?1 OR message IN (SELECT id FROM gone_messages)",
		"UPDATE announcements SET message = NULL WHERE message IN (SELECT id FROM gone_messages)",
		"UPDATE bounces SET message = NULL WHERE message IN (SELECT id FROM gone_messages)",
		"UPDATE outbox SET source_message = NULL WHERE source_message IN (SELECT id FROM gone_messages)",
		"DELETE FROM messages WHERE id IN (SELECT id FROM gone_messages)",
	};
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < G_N_ELEMENTS(steps) && rc == SQLITE_DONE; i++)
		rc = run(st, steps[i], address);
	*messages = 0;
	if (rc == SQLITE_DONE) {
		if (sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM gone_messages", -1, &stmt, NULL) == SQLITE_OK &&
		    sqlite3_step(stmt) == SQLITE_ROW)
			*messages = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
		rc = sqlite3_prepare_v2(store_db(st), "INSERT INTO erasures (at, reference, by, messages)"
					" VALUES (?, upper(?), ?, ?)", -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt, 2, reference, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt, 3, by, -1, SQLITE_STATIC);
			sqlite3_bind_int(stmt, 4, *messages);
			rc = sqlite3_step(stmt);
		}
		sqlite3_finalize(stmt);
	}
	static const char *const drops[] = { "gone_messages", "gone_tickets", "gone_registrations", "gone_outbox" };
	for (size_t i = 0; i < G_N_ELEMENTS(drops); i++) {
		g_autofree char *sql = g_strdup_printf("DROP TABLE IF EXISTS temp.%s", drops[i]);
		sqlite3_exec(store_db(st), sql, NULL, NULL, NULL);
	}
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "erasing a person's data", error);
		return FALSE;
	}
	return TRUE;
}

/* The rows SQL gives for ADDRESS, as objects named by their columns. */
static JsonArray *
rows_of(struct store *st, const char *sql, const char *address)
{
	JsonArray *out = json_array_new();
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return out;
	}
	sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		JsonObject *o = json_object_new();
		for (int c = 0; c < sqlite3_column_count(stmt); c++) {
			const char *name = sqlite3_column_name(stmt, c);
			switch (sqlite3_column_type(stmt, c)) {
			case SQLITE_NULL:
				json_object_set_null_member(o, name);
				break;
			case SQLITE_INTEGER:
				json_object_set_int_member(o, name, sqlite3_column_int64(stmt, c));
				break;
			case SQLITE_FLOAT:
				json_object_set_double_member(o, name, sqlite3_column_double(stmt, c));
				break;
			default: {
				/* bytes as text where they are UTF-8 (a raw message
				 * is kept whole; a binary part is not text) */
				const char *v = (const char *)sqlite3_column_blob(stmt, c);
				int n = sqlite3_column_bytes(stmt, c);
				g_autofree char *s = v ? g_strndup(v, (gsize)n) : g_strdup("");
				if (g_utf8_validate(s, -1, NULL) && (int)strlen(s) == n)
					json_object_set_string_member(o, name, s);
				else {
					g_autofree char *b64 = g_base64_encode((const guchar *)v, (gsize)n);
					json_object_set_string_member(o, name, b64);
				}
			}
			}
		}
		json_array_add_object_element(out, o);
	}
	sqlite3_finalize(stmt);
	return out;
}

JsonObject *
privacy_export(struct store *st, const char *address)
{
	g_autofree char *lower = g_ascii_strdown(address, -1);
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "address", lower);
	json_object_set_array_member(o, "registrations", rows_of(st,
		"SELECT reference, status, name, language, fields, created_at, updated_at FROM registrations"
		" WHERE lower(email) = ?1 ORDER BY id", lower));
	json_object_set_array_member(o, "changes", rows_of(st,
		"SELECT r.reference, c.at, c.kind, c.field, c.old_value, c.new_value, c.state FROM registration_changes c"
		" JOIN registrations r ON r.id = c.registration WHERE lower(r.email) = ?1 ORDER BY c.id", lower));
	json_object_set_array_member(o, "messages", rows_of(st,
		"SELECT m.received_at, m.subject, m.class, m.language, r.raw FROM messages m"
		" JOIN message_raw r ON r.message = m.id WHERE lower(m.from_addr) = ?1 ORDER BY m.id", lower));
	json_object_set_array_member(o, "tickets", rows_of(st,
		"SELECT reference, status, topic, language, created_at, updated_at FROM tickets"
		" WHERE lower(email) = ?1 ORDER BY id", lower));
	json_object_set_array_member(o, "list", rows_of(st,
		"SELECT status, language, source, bounce_score, created_at, updated_at FROM subscribers"
		" WHERE address = ?1", lower));
	json_object_set_array_member(o, "sent_to_them", rows_of(st,
		"SELECT created_at, kind, template, state, sent_at FROM outbox WHERE lower(recipient) = ?1"
		" ORDER BY id", lower));
	return o;
}
