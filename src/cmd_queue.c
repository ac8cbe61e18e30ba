/*
 * cmd_queue.c - `confmail queue run --once | list | show | retry | drop`:
 * deliver what the outbox holds.  Each row is claimed with a lease, sent
 * over one SMTP session (or into a Maildir), and settled as sent, deferred
 * (4xx, no connection: 5 minutes, doubling, at most 4 hours, until
 * [transport] max_queue_lifetime days) or failed (5xx, expired: the address
 * is recorded as bouncing).
 */
#include "confmail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *
col(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	return s ? s : "-";
}

static int
list(struct store *st)
{
	g_autoptr(GError) error = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT id, created_at, state, kind, coalesce(template, '-'), recipient,"
				    " attempts, coalesce(last_error, '') FROM outbox ORDER BY id", -1, &stmt, NULL);
	while (rc != SQLITE_DONE && (rc == SQLITE_OK || rc == SQLITE_ROW) &&
	       (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		printf("%5lld  %s  %-8s %-7s %-20s %-32s %d %s\n",
		       (long long)sqlite3_column_int64(stmt, 0), col(stmt, 1), col(stmt, 2),
		       col(stmt, 3), col(stmt, 4), col(stmt, 5), sqlite3_column_int(stmt, 6),
		       col(stmt, 7));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "listing the outbox", &error);
		return cm_fail(error);
	}
	return 0;
}

static gint
compare_ids(const gint64 *a, const gint64 *b)
{
	return *a < *b ? -1 : *a > *b;
}

struct claimed {
	gint64 id;
	char *from, *to, *created_at, *splices;
	int attempts;
	GBytes *content;	/* as stored: shared parts not yet put back */
};

static void
claimed_clear(struct claimed *c)
{
	g_free(c->from);
	g_free(c->to);
	g_free(c->created_at);
	g_free(c->splices);
	if (c->content)
		g_bytes_unref(c->content);
	memset(c, 0, sizeof *c);
}

/* The runner's statements, each prepared once per run: a message then
 * costs SQLite a few steps, not the parsing of four statements. */
static GHashTable *statements;	/* its SQL text (a literal) -> sqlite3_stmt */

static void
finalize(gpointer stmt)
{
	sqlite3_finalize(stmt);
}

/* SQL's statement, ready to bind; NULL (and the error in the database
 * handle) when it cannot be prepared. */
static sqlite3_stmt *
statement(struct store *st, const char *sql)
{
	if (!statements)
		statements = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, finalize);
	sqlite3_stmt *stmt = g_hash_table_lookup(statements, sql);
	if (stmt) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	} else if (sqlite3_prepare_v3(store_db(st), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
				      NULL) == SQLITE_OK) {
		g_hash_table_insert(statements, (gpointer)sql, stmt);
	}
	return stmt;
}

/* Done with STMT until its next use (a reset statement holds no lock);
 * RC, or the reason STMT could not be prepared. */
static int
done(struct store *st, sqlite3_stmt *stmt, int rc)
{
	if (!stmt)
		return sqlite3_errcode(store_db(st));
	sqlite3_reset(stmt);
	return rc;
}

static void
statements_clear(void)
{
	g_clear_pointer(&statements, g_hash_table_destroy);
}

/* Takes up to BATCH due rows for ten minutes: another runner skips them,
 * and a runner that dies lets them go when the lease runs out.  One look
 * for many rows: looking for each row anew costs a scan of all due rows. */
#define BATCH 64

static gboolean
claim_batch(struct store *st, const char *now, const char *owner, gint64 upto, GArray *ids,
	    GError **error)
{
	g_array_set_size(ids, 0);
	if (!store_begin(st, error))
		return FALSE;
	sqlite3_stmt *stmt = statement(st, "UPDATE outbox SET lease_owner = ?2,"
				       " lease_until = strftime('%Y-%m-%dT%H:%M:%SZ', ?1, '+10 minutes')"
				       " WHERE id IN (SELECT id FROM outbox WHERE state IN ('queued', 'deferred')"
				       "  AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)"
				       "  AND id <= ?4 ORDER BY id LIMIT ?3)"
				       " RETURNING id");
	int rc = SQLITE_ERROR;
	if (stmt) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 3, BATCH);
		sqlite3_bind_int64(stmt, 4, upto);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			gint64 id = sqlite3_column_int64(stmt, 0);
			g_array_append_val(ids, id);
		}
	}
	rc = done(st, stmt, rc);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "claiming outbox messages", error);
		store_rollback(st);
		g_array_set_size(ids, 0);
		return FALSE;
	}
	if (!store_commit(st, error))
		return FALSE;
	/* RETURNING gives no order: send in the order queued */
	g_array_sort(ids, (GCompareFunc)compare_ids);
	return TRUE;
}

/* Reads claimed row ID. */
static gboolean
load_claimed(struct store *st, gint64 id, struct claimed *c, GError **error)
{
	memset(c, 0, sizeof *c);
	sqlite3_stmt *stmt = statement(st, "SELECT envelope_from, recipient, content, attempts,"
				       " created_at, splices FROM outbox WHERE id = ?");
	int rc = SQLITE_ERROR;
	if (stmt) {
		sqlite3_bind_int64(stmt, 1, id);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			c->id = id;
			c->from = g_strdup((const char *)sqlite3_column_text(stmt, 0));
			c->to = g_strdup((const char *)sqlite3_column_text(stmt, 1));
			c->content = g_bytes_new(sqlite3_column_blob(stmt, 2),
						 (gsize)sqlite3_column_bytes(stmt, 2));
			c->attempts = sqlite3_column_int(stmt, 3);
			c->created_at = g_strdup((const char *)sqlite3_column_text(stmt, 4));
			c->splices = g_strdup((const char *)sqlite3_column_text(stmt, 5));
			rc = SQLITE_DONE;
		}
	}
	rc = done(st, stmt, rc);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "reading an outbox message", error);
		return FALSE;
	}
	return TRUE;
}

/* Gives back the leases of rows claimed but not tried (a stop was asked). */
static void
release(struct store *st, const char *owner)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "UPDATE outbox SET lease_until = NULL, lease_owner = NULL"
			       " WHERE lease_owner = ? AND state IN ('queued', 'deferred')", -1, &stmt,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, owner, -1, SQLITE_STATIC);
		sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
}

/* Whether a message queued at CREATED has waited longer than DAYS at NOW. */
static bool
expired(const char *created, const char *now, int days)
{
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) c = g_date_time_new_from_iso8601(created, utc);
	g_autoptr(GDateTime) n = g_date_time_new_from_iso8601(now, utc);
	return c && n && g_date_time_difference(n, c) > (GTimeSpan)days * G_TIME_SPAN_DAY;
}

/* Whether RC is another connection holding the database past the busy
 * timeout: the same statement may well succeed when tried again. */
static bool
busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Records the outcome of one attempt; a deferral waits 5 minutes, doubling
 * each time up to 4 hours; a failure marks the address as bouncing.
 * *WAS_BUSY says whether it failed only because the database was busy. */
static gboolean
settle_once(struct store *st, const struct config *cfg, const struct claimed *c, enum delivery d,
	    const char *why, const char *now, bool *was_busy, GError **error)
{
	*was_busy = false;
	if (d == DELIVERY_DEFERRED && expired(c->created_at, now, cfg->max_queue_lifetime)) {
		d = DELIVERY_FAILED;
		why = "expired: undeliverable for longer than [transport] max_queue_lifetime";
	}
	int minutes = 5 << (c->attempts < 6 ? c->attempts : 6);
	if (minutes > 240)
		minutes = 240;
	g_autofree char *wait = g_strdup_printf("+%d minutes", minutes);
	static const char *const sql[] = {
		[DELIVERY_SENT] = "UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL,"
				  " sent_at = ?2, lease_until = NULL, lease_owner = NULL WHERE id = ?1",
		[DELIVERY_DEFERRED] = "UPDATE outbox SET state = 'deferred', attempts = attempts + 1,"
				      " last_error = ?3, next_attempt_at = strftime('%Y-%m-%dT%H:%M:%SZ', ?2, ?4),"
				      " lease_until = NULL, lease_owner = NULL WHERE id = ?1",
		[DELIVERY_FAILED] = "UPDATE outbox SET state = 'failed', attempts = attempts + 1,"
				    " last_error = ?3, lease_until = NULL, lease_owner = NULL WHERE id = ?1",
	};
	/* sent and deferred are one statement, its own transaction; a
	 * failure also records the bouncing address, in the same one */
	bool failed = d == DELIVERY_FAILED;
	if (failed && !store_begin(st, error)) {
		*was_busy = busy(sqlite3_errcode(store_db(st)));
		return FALSE;
	}
	sqlite3_stmt *stmt = statement(st, sql[d]);
	int rc = SQLITE_ERROR;
	if (stmt) {
		sqlite3_bind_int64(stmt, 1, c->id);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		if (d != DELIVERY_SENT)
			sqlite3_bind_text(stmt, 3, why, -1, SQLITE_STATIC);
		if (d == DELIVERY_DEFERRED)
			sqlite3_bind_text(stmt, 4, wait, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	rc = done(st, stmt, rc);
	if (rc == SQLITE_DONE && failed) {
		stmt = statement(st, "INSERT INTO bouncing (address, at, outbox, reason) VALUES (?, ?, ?, ?)");
		rc = SQLITE_ERROR;
		if (stmt) {
			sqlite3_bind_text(stmt, 1, c->to, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
			sqlite3_bind_int64(stmt, 3, c->id);
			sqlite3_bind_text(stmt, 4, why, -1, SQLITE_STATIC);
			rc = sqlite3_step(stmt);
		}
		rc = done(st, stmt, rc);
	}
	if (rc != SQLITE_DONE) {
		*was_busy = busy(rc);
		store_set_error(st, rc, "recording a delivery", error);
		if (failed)
			store_rollback(st);
		return FALSE;
	}
	return failed ? store_commit(st, error) : TRUE;
}

/* How many busy timeouts the outcome of a delivery is worth waiting for:
 * well under the ten minutes of the lease. */
#define SETTLE_TRIES 6

/* settle_once(), tried again while the database is busy.  The message has
 * gone (or its fate is known): an outcome given up on leaves the row queued
 * under its lease, and it is sent a second time when the lease runs out,
 * so a stream of intake transactions outlasting one busy timeout must not
 * be enough to lose it. */
static gboolean
settle(struct store *st, const struct config *cfg, const struct claimed *c, enum delivery d,
       const char *why, const char *now, GError **error)
{
	for (int tries = 1;; tries++) {
		bool was_busy;
		g_autoptr(GError) failure = NULL;
		if (settle_once(st, cfg, c, d, why, now, &was_busy, &failure))
			return TRUE;
		if (!was_busy || tries >= SETTLE_TRIES) {
			g_propagate_error(error, g_steal_pointer(&failure));
			return FALSE;
		}
	}
}

/* Set by SIGTERM or SIGINT: the message being sent is finished, then the
 * runner stops. */
static volatile sig_atomic_t stop_requested;

static void
request_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* How many messages are due at NOW: the total of the progress bar. */
static gint64
due_count(struct store *st, const char *now)
{
	sqlite3_stmt *stmt = NULL;
	gint64 n = 0;
	if (sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM outbox WHERE state IN"
			       " ('queued', 'deferred') AND next_attempt_at <= ?", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			n = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	return n;
}

/* The newest outbox row. */
static gint64
last_id(struct store *st)
{
	sqlite3_stmt *stmt = NULL;
	gint64 id = 0;
	if (sqlite3_prepare_v2(store_db(st), "SELECT coalesce(max(id), 0) FROM outbox", -1, &stmt,
			       NULL) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
		id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return id;
}

/* One line, rewritten in place on a terminal: done / total, rate, ETA. */
static void
progress(int done, gint64 total, gint64 started)
{
	double secs = (double)(g_get_monotonic_time() - started) / G_USEC_PER_SEC;
	double rate = secs > 0 ? done / secs : 0;
	double eta = rate > 0 ? (double)(total - done) / rate : 0;
	int width = 30, filled = total > 0 ? (int)(width * (double)done / (double)total) : width;
	fprintf(stderr, "\r[%.*s%*s] %d/%" G_GINT64_FORMAT "  %.0f msg/s  ETA %.0f s ",
		filled, "##############################", width - filled, "", done, total, rate, eta);
}

/* Whether rows A and B are the same message from the same sender: then
 * one SMTP transaction carries it to both. */
static bool
same_message(const struct claimed *a, const struct claimed *b)
{
	return a->id && b->id && strcmp(a->from, b->from) == 0 &&
	    g_strcmp0(a->splices, b->splices) == 0 && g_bytes_equal(a->content, b->content);
}

struct run {
	const struct config *cfg;
	struct store *st;
	const char *now;
	struct smtp *session;
	char *down;		/* why the relay cannot be reached, this run */
	GHashTable *parts;	/* shared parts, kept between messages */
	GByteArray *message;	/* the one being sent */
	bool bar;
	gint64 total, started;
	int done;
	int *counts;
};

/* Sends ROWS[0..N-1], one message to N recipients, and records each
 * outcome. */
static gboolean
deliver_group(struct run *r, struct claimed *rows, guint n, GError **error)
{
	const struct config *cfg = r->cfg;
	g_autofree enum delivery *outcome = g_new0(enum delivery, n);
	char **why = g_new0(char *, n + 1);
	g_autofree char **to = g_new0(char *, n + 1);
	g_autofree char *path = NULL;
	g_autoptr(GError) failure = NULL;

	for (guint i = 0; i < n; i++)
		to[i] = rows[i].to;
	gsize stored_len;
	const guint8 *stored = g_bytes_get_data(rows[0].content, &stored_len);
	if (!outbox_assemble(r->st, stored, stored_len, rows[0].splices, r->parts, r->message, &failure)) {
		/* a row that cannot be put together will never be sent */
		for (guint i = 0; i < n; i++) {
			outcome[i] = DELIVERY_FAILED;
			why[i] = g_strdup(failure->message);
		}
	} else if (strcmp(cfg->transport_kind, "sendmail") == 0) {
		char *said = NULL;
		enum delivery d = transport_sendmail(cfg, rows[0].from, to, n, r->message->data,
						     r->message->len, &said);
		for (guint i = 0; i < n; i++) {
			outcome[i] = d;
			why[i] = g_strdup(said);
		}
		g_free(said);
	} else if (strcmp(cfg->transport_kind, "smtp") != 0) {
		outcome[0] = transport_maildir(cfg->transport_maildir, rows[0].id, r->message->data,
					       r->message->len, &path, &failure)
		    ? DELIVERY_SENT : DELIVERY_DEFERRED;
		if (failure)
			why[0] = g_strdup(failure->message);
	} else {
		if (!r->down && !transport_smtp_alive(r->session)) {
			transport_smtp_close(r->session);
			r->session = transport_smtp_open(cfg, &r->down);
		}
		if (r->down) {
			for (guint i = 0; i < n; i++) {
				outcome[i] = DELIVERY_DEFERRED;
				why[i] = g_strdup(r->down);
			}
		} else {
			transport_smtp_send(r->session, rows[0].from, to, n, r->message->data,
					    r->message->len, outcome, why);
		}
	}
	gboolean ok = TRUE;
	for (guint i = 0; ok && i < n; i++) {
		ok = settle(r->st, cfg, &rows[i], outcome[i], why[i], r->now, error);
		static const char *const names[] = { "sent", "deferred", "failed" };
		if (r->bar && outcome[i] != DELIVERY_SENT)
			fputs("\r\033[K", stderr);
		if (!r->bar || outcome[i] != DELIVERY_SENT)
			printf("%" G_GINT64_FORMAT " %s %s%s%s\n", rows[i].id, names[outcome[i]], rows[i].to,
			       why[i] ? ": " : "", why[i] ? why[i] : "");
		if (r->bar)
			progress(++r->done, r->total, r->started);
		r->counts[outcome[i]]++;
	}
	fflush(stdout);
	for (guint i = 0; i < n; i++)
		g_free(why[i]);
	g_free(why);
	return ok;
}

/* Delivers every due message (until a stop is asked); COUNTS by outcome. */
static gboolean
deliver_due(const struct config *cfg, struct store *st, int counts[3], GError **error)
{
	g_autofree char *now = confmail_now_iso();
	g_autofree char *owner = g_strdup_printf("%d", (int)getpid());
	/* a person watching a long run sees a bar; logs get a line each */
	bool bar = isatty(STDERR_FILENO) && isatty(STDOUT_FILENO);
	struct run r = {
		.cfg = cfg, .st = st, .now = now, .bar = bar, .counts = counts,
		.parts = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
					       (GDestroyNotify)g_bytes_unref),
		.message = g_byte_array_new(),
		.total = bar ? due_count(st, now) : 0, .started = g_get_monotonic_time(),
	};
	/* a Maildir is one mailbox per row; the others take a message once
	 * for all its recipients */
	guint most = strcmp(cfg->transport_kind, "maildir") == 0 ? 1 : (guint)cfg->transport_max_recipients;
	gboolean ok = TRUE;

	/* what was queued when the pass began: one that arrives meanwhile
	 * waits for the next pass, so a pass ends even while mail pours in */
	gint64 upto = last_id(st);
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(struct claimed));
	g_array_set_clear_func(rows, (GDestroyNotify)claimed_clear);
	while (ok && !stop_requested) {
		if (!(ok = claim_batch(st, now, owner, upto, ids, error)) || ids->len == 0)
			break;
		g_array_set_size(rows, ids->len);
		for (guint i = 0; ok && i < ids->len; i++)
			ok = load_claimed(st, g_array_index(ids, gint64, i),
					  &g_array_index(rows, struct claimed, i), error);
		for (guint i = 0; ok && i < rows->len && !stop_requested;) {
			struct claimed *first = &g_array_index(rows, struct claimed, i);
			guint n = 1;
			if (!first->id) {	/* dropped meanwhile */
				i++;
				continue;
			}
			while (i + n < rows->len && n < most && same_message(first, first + n))
				n++;
			ok = deliver_group(&r, first, n, error);
			i += n;
		}
		g_array_set_size(rows, 0);
	}
	if (stop_requested)
		release(st, owner);
	transport_smtp_close(r.session);
	g_free(r.down);
	g_hash_table_destroy(r.parts);
	g_byte_array_unref(r.message);
	statements_clear();
	if (bar && r.done)
		fputc('\n', stderr);
	return ok;
}

static int
run_once(const struct config *cfg, struct store *st)
{
	g_autoptr(GError) error = NULL;
	int counts[3] = { 0 };

	if (!deliver_due(cfg, st, counts, &error))
		return cm_fail(error);
	printf("queue: %d sent, %d deferred, %d failed\n", counts[DELIVERY_SENT],
	       counts[DELIVERY_DEFERRED], counts[DELIVERY_FAILED]);
	return counts[DELIVERY_DEFERRED] ? EX_TEMPFAIL : 0;
}

/* Whether another connection committed since *SEEN (SQLite's
 * data_version): new rows to send, or a retry made due. */
static bool
database_changed(struct store *st, gint64 *seen)
{
	sqlite3_stmt *stmt = NULL;
	gint64 v = *seen;
	if (sqlite3_prepare_v2(store_db(st), "PRAGMA data_version", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	bool changed = v != *seen;
	*seen = v;
	return changed;
}

/* queue run --daemon: deliver, then wait for new rows (checked every
 * second) or INTERVAL seconds (retries coming due), until SIGTERM. */
static int
run_daemon(const struct config *cfg, struct store *st, int interval)
{
	/* SA_RESTART: a signal mid-message does not break the SMTP exchange */
	struct sigaction sa = { .sa_handler = request_stop, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	gint64 version = 0;
	while (!stop_requested) {
		g_autoptr(GError) error = NULL;
		int counts[3] = { 0 };
		/* seen before the pass: what others commit during it (its own
		 * commits do not count) sends the daemon round again at once */
		database_changed(st, &version);
		if (!deliver_due(cfg, st, counts, &error)) {
			/* a busy database or a full disk passes: try again later */
			cm_err("queue: %s", error->message);
		}
		if (counts[0] + counts[1] + counts[2])
			printf("queue: %d sent, %d deferred, %d failed\n", counts[DELIVERY_SENT],
			       counts[DELIVERY_DEFERRED], counts[DELIVERY_FAILED]);
		fflush(stdout);
		for (int waited = 0; waited < interval && !stop_requested; waited++) {
			sleep(1);
			if (database_changed(st, &version))
				break;
		}
	}
	printf("queue: stopped\n");
	return 0;
}

static int
show(struct store *st, gint64 id)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT id, created_at, kind, coalesce(template, '-'), envelope_from, recipient,"
				    " state, attempts, next_attempt_at, coalesce(last_error, '-'),"
				    " coalesce(sent_at, '-'), content, splices FROM outbox WHERE id = ?", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		rc = sqlite3_step(stmt);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		cm_err("queue show: no outbox message %" G_GINT64_FORMAT, id);
		return EX_NOINPUT;
	}
	static const char *const names[] = { "id", "queued", "kind", "template", "sender", "recipient",
					     "state", "attempts", "next attempt", "last error", "sent" };
	for (int i = 0; i < 11; i++)
		printf("%-13s %s\n", names[i], col(stmt, i));
	printf("\n");
	/* the message as it is sent, shared parts put back */
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) parts = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
							    (GDestroyNotify)g_bytes_unref);
	g_autoptr(GByteArray) message = g_byte_array_new();
	gboolean ok = outbox_assemble(st, sqlite3_column_blob(stmt, 11),
				      (gsize)sqlite3_column_bytes(stmt, 11),
				      (const char *)sqlite3_column_text(stmt, 12), parts, message, &error);
	sqlite3_finalize(stmt);
	if (!ok)
		return cm_fail(error);
	fwrite(message->data, 1, message->len, stdout);
	return 0;
}

/* queue retry ID: due now; queue drop ID: never to be sent. */
static int
change(struct store *st, const char *what, gint64 id)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *now = confmail_now_iso();
	bool retry = strcmp(what, "retry") == 0;
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), retry
				    ? "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, lease_until = NULL"
				      " WHERE id = ?1 AND state IN ('queued', 'deferred', 'failed')"
				    : "UPDATE outbox SET state = 'failed', last_error = 'dropped by an organiser'"
				      " WHERE id = ?1 AND state IN ('queued', 'deferred') AND ?2 IS NOT NULL",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "changing an outbox message", &error);
		return cm_fail(error);
	}
	if (sqlite3_changes(store_db(st)) == 0) {
		cm_err("queue %s: no outbox message %" G_GINT64_FORMAT " that can be %s", what, id,
		       retry ? "retried" : "dropped (sent ones cannot)");
		return EX_NOINPUT;
	}
	printf("%" G_GINT64_FORMAT " %s\n", id, retry ? "queued again" : "dropped");
	return 0;
}

/* The recipients of `queue add`: the arguments, then FILE's lines (one
 * address each; blank lines and '#' comments skipped), each once. */
static GPtrArray *
read_recipients(char **args, const char *file, GError **error)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (file) {
		if (!g_file_get_contents(file, &text, NULL, error))
			return NULL;
		lines = g_strsplit(text, "\n", -1);
	}
	for (int pass = 0; pass < 2; pass++) {
		char **list = pass == 0 ? args : lines;
		for (int i = 0; list && list[i]; i++) {
			g_autofree char *a = g_strstrip(g_strdup(list[i]));
			if (pass == 1 && (!*a || *a == '#'))
				continue;
			if (!compose_address_ok(a)) {
				g_set_error(error, CONFMAIL_ERROR, EX_DATAERR, "%s%s%d: not an address: '%s'",
					    pass ? file : "argument ", pass ? ":" : "", i + 1, a);
				return NULL;
			}
			g_autofree char *key = g_utf8_casefold(a, -1);
			if (g_hash_table_add(seen, g_steal_pointer(&key)))
				g_ptr_array_add(all, g_steal_pointer(&a));
		}
	}
	g_ptr_array_add(all, NULL);
	return g_steal_pointer(&all);
}

/* queue add [--verp] [--recipients FILE] MESSAGE [ADDRESS...]: a message
 * an organiser prepared, queued once per recipient (own To: and
 * Message-ID, large parts stored once), all or nothing. */
static int
add(const struct config *cfg, struct store *st, const char *path, char **args, const char *file,
    gboolean verp)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rcpts = read_recipients(args, file, &error);
	if (!rcpts) {
		cm_err("queue add: %s", error->message);
		return error->domain == G_FILE_ERROR ? EX_NOINPUT : EX_DATAERR;
	}
	if (rcpts->len == 1) {
		cm_err("queue add: no recipients");
		return EX_USAGE;
	}
	g_autoptr(GMimeStream) stream = NULL;
	if (strcmp(path, "-") == 0) {
		stream = g_mime_stream_fs_new(dup(STDIN_FILENO));
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cm_err("queue add: %s: %s", path, g_strerror(errno));
			return EX_NOINPUT;
		}
		stream = g_mime_stream_fs_new(fd);
	}
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
	g_autoptr(GMimeMessage) msg = g_mime_parser_construct_message(parser, NULL);
	if (!msg || !g_mime_message_get_mime_part(msg)) {
		cm_err("queue add: %s: not a MIME message", path);
		return EX_DATAERR;
	}
	GMimeObject *top = GMIME_OBJECT(msg);
	if (!g_mime_object_get_header(top, "From")) {
		InternetAddressList *from = g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_FROM);
		internet_address_list_add(from, internet_address_mailbox_new(cfg->name, cfg->from_address));
	}
	if (!g_mime_object_get_header(top, "Date")) {
		g_autoptr(GDateTime) now = confmail_now();
		g_mime_message_set_date(msg, now);
	}
	g_autofree char *now = confmail_now_iso();
	struct outgoing o = { .kind = "announce", .envelope_from = cfg->from_address };
	if (!store_begin(st, &error))
		return cm_fail(error);
	if (!outbox_put_each(st, &o, msg, (char *const *)rcpts->pdata, verp ? cfg->domain : NULL,
			     cfg->domain, now, &error)) {
		store_rollback(st);
		return cm_fail(error);
	}
	if (!store_commit(st, &error))
		return cm_fail(error);
	printf("queued %u message%s\n", rcpts->len - 1, rcpts->len == 2 ? "" : "s");
	return 0;
}

int
cmd_queue(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	gboolean once = FALSE, daemon = FALSE;
	int interval = 60;
	gboolean verp = FALSE;
	g_autofree char *recipients = NULL;
	GOptionEntry entries[] = {
		{ "once", 0, 0, G_OPTION_ARG_NONE, &once, "deliver what is due, then exit", NULL },
		{ "daemon", 0, 0, G_OPTION_ARG_NONE, &daemon,
		  "keep delivering: new messages at once, retries when due; SIGTERM stops", NULL },
		{ "interval", 0, 0, G_OPTION_ARG_INT, &interval,
		  "with --daemon: seconds between looks for retries coming due (60)", "S" },
		{ "verp", 0, 0, G_OPTION_ARG_NONE, &verp,
		  "add: each message's envelope sender is bounces+ID@ the conference domain", NULL },
		{ "recipients", 0, 0, G_OPTION_ARG_FILENAME, &recipients,
		  "add: a file of recipients, one address per line", "FILE" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("run --once|--daemon | list | show ID | retry ID | drop ID | add MESSAGE [ADDRESS...]");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("queue: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "";
	bool with_id = strcmp(what, "show") == 0 || strcmp(what, "retry") == 0 ||
	    strcmp(what, "drop") == 0;
	gint64 id = 0;
	if (with_id && argc == 3) {
		char *end;
		id = g_ascii_strtoll(argv[2], &end, 10);
		if (*end || id <= 0)
			id = 0;
	}
	bool adding = strcmp(what, "add") == 0;
	if ((strcmp(what, "run") == 0 && (argc != 2 || once == daemon || interval < 1)) ||
	    (strcmp(what, "list") == 0 && argc != 2) || (adding && argc < 3) || (with_id && !id) ||
	    (!with_id && !adding && strcmp(what, "run") != 0 && strcmp(what, "list") != 0)) {
		cm_err("usage: confmail queue run --once|--daemon | list | show ID | retry ID | drop ID\n"
		       "       confmail queue add [--verp] [--recipients FILE] MESSAGE [ADDRESS...]");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_CREATE, &cfg, &rc);
	if (!st)
		return rc;
	/* The runner's own commits (leases, outcomes) need not reach the disk
	 * before the next message: the rows were made durable by the intake,
	 * and losing the last outcomes to a power cut means a message is sent
	 * again, never lost (WAL keeps them through a crash of the runner). */
	if (strcmp(what, "run") == 0)
		sqlite3_exec(store_db(st), "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (strcmp(what, "list") == 0)
		return list(st);
	if (adding)
		return add(cfg, st, argv[2], argv + 3, recipients, verp);
	if (strcmp(what, "show") == 0)
		return show(st, id);
	if (with_id)
		return change(st, what, id);
	return daemon ? run_daemon(cfg, st, interval) : run_once(cfg, st);
}
