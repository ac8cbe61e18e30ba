/*
 * store.c - the SQLite file: opening it (WAL, busy timeout, foreign keys,
 * synchronous=FULL), schema migrations by PRAGMA user_version, transactions,
 * and turning SQLite's errors into the exit codes the MTA acts on.
 */
#include "confmail.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

struct store {
	sqlite3 *db;
	char *path;
	int busy_timeout_ms;
};

/* The WAL is truncated once it holds this many pages (about 0.5 MB). */
#define WAL_TRUNCATE_PAGES 128

/* Migration N (1-based) brings the schema from version N-1 to N.  Never
 * edit a migration that has shipped: add the next one. */
static const char *migrations[] = {
	/* 1: every message that reached us, once, with its raw bytes */
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	/* mid:<Message-ID> or sha256:<hex>; its index also serves look-ups
	 * by Message-ID, so there is no second one: every index is pages
	 * written by every delivery. */
	"  dedup_key TEXT NOT NULL UNIQUE,"
	"  message_id TEXT,"
	"  sha256 TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  received_at TEXT NOT NULL,"
	"  last_received_at TEXT NOT NULL,"
	"  deliveries INTEGER NOT NULL DEFAULT 1,"
	"  envelope_sender TEXT,"		/* '' is the null sender */
	"  envelope_recipient TEXT,"
	"  from_addr TEXT,"
	"  from_name TEXT,"
	"  subject TEXT,"
	"  date TEXT,"
	"  in_reply_to TEXT,"
	"  refs TEXT,"
	"  headers TEXT NOT NULL,"		/* JSON [[name, decoded value], ...] */
	"  state TEXT NOT NULL CHECK (state IN ('accepted', 'quarantined')),"
	"  quarantine_reason TEXT,"
	"  noreply_reason TEXT,"		/* why it must never be answered */
	"  class TEXT,"
	"  language TEXT,"
	"  topic TEXT"
	");"
	"CREATE INDEX messages_by_received ON messages(received_at);"
	/* Raw bytes apart, so that scanning messages never reads them. */
	"CREATE TABLE message_raw ("
	"  message INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
	"  raw BLOB NOT NULL"
	");"
	/* Every delivery, duplicates included: the same mail sent to two of
	 * our addresses arrives twice and both recipients matter. */
	"CREATE TABLE arrivals ("
	"  id INTEGER PRIMARY KEY,"
	"  message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  received_at TEXT NOT NULL,"
	"  envelope_sender TEXT,"
	"  envelope_recipient TEXT,"
	"  recipient_source TEXT"
	");",

	/* 2: registrations, with every change and the message behind it */
	"CREATE TABLE registrations ("
	"  id INTEGER PRIMARY KEY,"
	"  reference TEXT NOT NULL UNIQUE,"	/* ICSSI22-0042 */
	"  email TEXT NOT NULL,"		/* the registered address */
	"  name TEXT,"
	"  language TEXT,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('registered', 'incomplete', 'late', 'waitlisted', 'cancelled')),"
	"  pending TEXT CHECK (pending IN ('cancel')),"	/* awaiting the owner */
	"  fields TEXT NOT NULL,"		/* JSON: the values in force */
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  message INTEGER REFERENCES messages(id)"
	");"
	"CREATE INDEX registrations_by_email ON registrations(email);"
	"CREATE TABLE registration_changes ("
	"  id INTEGER PRIMARY KEY,"
	"  registration INTEGER NOT NULL REFERENCES registrations(id),"
	"  message INTEGER REFERENCES messages(id),"
	"  at TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('created', 'update', 'cancel', 'status')),"
	"  field TEXT,"
	"  old_value TEXT,"
	"  new_value TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('applied', 'pending', 'rejected')),"
	"  from_addr TEXT"
	");"
	"CREATE INDEX registration_changes_by_registration ON registration_changes(registration);"
	"ALTER TABLE messages ADD COLUMN registration INTEGER REFERENCES registrations(id);",

	/* 3: the outbox (the queue runner delivers it), replies withheld and
	 * why, and questions' tickets */
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  created_at TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('reply', 'forward', 'digest', 'announce')),"
	"  template TEXT,"
	"  envelope_from TEXT NOT NULL,"	/* '' is the null sender */
	"  recipient TEXT NOT NULL,"
	"  message_id TEXT,"
	"  source_message INTEGER REFERENCES messages(id),"
	"  registration INTEGER REFERENCES registrations(id),"
	"  content BLOB NOT NULL,"		/* the whole MIME message */
	"  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN"
	"    ('queued', 'deferred', 'sent', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at TEXT NOT NULL,"
	"  last_error TEXT,"
	"  sent_at TEXT"
	");"
	"CREATE INDEX outbox_due ON outbox(state, next_attempt_at);"
	"CREATE INDEX outbox_by_recipient ON outbox(recipient, created_at);"
	"CREATE TABLE replies_withheld ("
	"  id INTEGER PRIMARY KEY,"
	"  at TEXT NOT NULL,"
	"  message INTEGER REFERENCES messages(id),"
	"  recipient TEXT,"
	"  template TEXT,"
	"  reason TEXT NOT NULL"
	");"
	"CREATE TABLE tickets ("
	"  id INTEGER PRIMARY KEY,"
	"  reference TEXT NOT NULL UNIQUE,"	/* ICSSI22-Q-0012 */
	"  email TEXT NOT NULL,"
	"  name TEXT,"
	"  language TEXT,"
	"  topic TEXT,"
	"  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),"
	"  assignee TEXT,"
	"  message INTEGER REFERENCES messages(id),"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL"
	");"
	"ALTER TABLE messages ADD COLUMN ticket INTEGER REFERENCES tickets(id);",

	/* 4: the queue runner's leases, and the addresses that bounce */
	"ALTER TABLE outbox ADD COLUMN lease_until TEXT;"
	"ALTER TABLE outbox ADD COLUMN lease_owner TEXT;"
	"CREATE TABLE bouncing ("
	"  id INTEGER PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  at TEXT NOT NULL,"
	"  outbox INTEGER REFERENCES outbox(id),"
	"  reason TEXT NOT NULL"
	");"
	"CREATE INDEX bouncing_by_address ON bouncing(address);",

	/* 5: large parts stored once (outbox.c): a programme PDF sent to
	 * 10,000 people is one row here; each outbox row keeps only its own
	 * bytes and, in splices, where the shared parts go back in. */
	"CREATE TABLE outbox_parts ("
	"  id INTEGER PRIMARY KEY,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  content BLOB NOT NULL"
	");"
	"ALTER TABLE outbox ADD COLUMN splices TEXT;"	/* "OFFSET:PART ..." */
	/* the runner's look for due rows walks only the waiting ones, in
	 * the order queued, without reading the rows themselves: with the
	 * old index every look read every due row (10,000 queued meant 40
	 * page reads a message) */
	"DROP INDEX outbox_due;"
	"CREATE INDEX outbox_waiting ON outbox(id, state, next_attempt_at, lease_until)"
	"  WHERE state IN ('queued', 'deferred');",

	/* 6: the question desk: what happened to each ticket, which outgoing
	 * message belongs to which ticket (a reply to it is threaded by its
	 * Message-ID), and when coordinators were last reminded */
	"ALTER TABLE tickets ADD COLUMN reminded_at TEXT;"
	"ALTER TABLE outbox ADD COLUMN ticket INTEGER REFERENCES tickets(id);"
	"CREATE INDEX outbox_by_message_id ON outbox(message_id);"
	"CREATE TABLE ticket_events ("
	"  id INTEGER PRIMARY KEY,"
	"  ticket INTEGER NOT NULL REFERENCES tickets(id),"
	"  at TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('opened', 'forwarded', 'answered', 'comment',"
	"    'assigned', 'closed', 'follow-up', 'reminded', 'ignored')),"
	"  actor TEXT,"
	"  message INTEGER REFERENCES messages(id),"
	"  note TEXT"
	");"
	"CREATE INDEX ticket_events_by_ticket ON ticket_events(ticket);",

	/* 7: the announcement list: subscribers (with their bounce score),
	 * announcements with a body per language and files stored once
	 * (outbox_parts), and the bounces that came back to bounces+ID@ */
	"CREATE TABLE subscribers ("
	"  id INTEGER PRIMARY KEY,"
	"  address TEXT NOT NULL UNIQUE,"	/* lower-cased */
	"  name TEXT,"
	"  language TEXT,"
	"  status TEXT NOT NULL CHECK (status IN ('active', 'unsubscribed', 'disabled')),"
	"  source TEXT NOT NULL,"		/* registration, email, organiser */
	"  bounce_score REAL NOT NULL DEFAULT 0,"
	"  last_bounce_at TEXT,"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL"
	");"
	"CREATE TABLE announcements ("
	"  id INTEGER PRIMARY KEY,"
	"  created_at TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  audience TEXT NOT NULL CHECK (audience IN ('registered', 'list', 'all')),"
	"  document TEXT CHECK (document IN ('programme', 'guide')),"
	"  status TEXT NOT NULL CHECK (status IN ('held', 'sent', 'rejected')),"
	"  message INTEGER REFERENCES messages(id),"	/* the post, by email */
	"  author TEXT,"
	"  approved_by TEXT,"
	"  sent_at TEXT,"
	"  recipients INTEGER"
	");"
	"CREATE TABLE announcement_bodies ("
	"  announcement INTEGER NOT NULL REFERENCES announcements(id),"
	"  language TEXT NOT NULL,"
	"  body TEXT NOT NULL,"			/* a template: {{name}}, {{reference}} */
	"  PRIMARY KEY (announcement, language)"
	");"
	"CREATE TABLE announcement_files ("
	"  id INTEGER PRIMARY KEY,"
	"  announcement INTEGER NOT NULL REFERENCES announcements(id),"
	"  filename TEXT NOT NULL,"
	"  content_type TEXT NOT NULL,"
	"  part INTEGER NOT NULL REFERENCES outbox_parts(id)"	/* the MIME part, encoded */
	");"
	"CREATE TABLE bounces ("
	"  id INTEGER PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  at TEXT NOT NULL,"
	"  permanent INTEGER NOT NULL,"
	"  outbox INTEGER REFERENCES outbox(id),"
	"  message INTEGER REFERENCES messages(id)"
	");"
	"ALTER TABLE outbox ADD COLUMN announcement INTEGER REFERENCES announcements(id);",

	/* 8: what each digest covered, the incomplete registrations already
	 * reminded, and the record of each person's data erased */
	"CREATE TABLE digests ("
	"  id INTEGER PRIMARY KEY,"
	"  at TEXT NOT NULL,"
	"  since TEXT NOT NULL,"
	"  until TEXT NOT NULL,"
	"  kind TEXT NOT NULL"
	");"
	"ALTER TABLE registrations ADD COLUMN reminded_incomplete_at TEXT;"
	"CREATE TABLE erasures ("
	"  id INTEGER PRIMARY KEY,"
	"  at TEXT NOT NULL,"
	"  reference TEXT NOT NULL,"
	"  by TEXT,"
	"  messages INTEGER NOT NULL"		/* how many were removed with it */
	");",

	/* 9: what `confmail fetch` has taken from a mailbox: per IMAP folder
	 * its UIDVALIDITY and the last UID recorded (a message is read once,
	 * none is skipped), and the messages left on the server because they
	 * are over [limits] max_message_size (each reported once) */
	"CREATE TABLE fetch_state ("
	"  host TEXT NOT NULL,"
	"  user TEXT NOT NULL,"
	"  folder TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL,"
	"  last_uid INTEGER NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  PRIMARY KEY (host, user, folder)"
	");"
	"CREATE TABLE fetch_skipped ("
	"  host TEXT NOT NULL,"
	"  user TEXT NOT NULL,"
	"  folder TEXT NOT NULL,"
	"  id TEXT NOT NULL,"			/* IMAP: UIDVALIDITY/UID; POP3: the UIDL */
	"  size INTEGER NOT NULL,"
	"  at TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  PRIMARY KEY (host, user, folder, id)"
	");",

	/* 10: the replies of the last hour counted without a scan
	 * ([limits] max_replies_per_hour, against backscatter) */
	"CREATE INDEX outbox_by_kind ON outbox(kind, created_at);",
};

int
store_latest_version(void)
{
	return (int)G_N_ELEMENTS(migrations);
}

/* Anything the store cannot do right now is worth retrying: the MTA keeps
 * the message and tries again, so nothing is lost. */
static int
exit_code_for(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_MISUSE:
	case SQLITE_ERROR:
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return EX_SOFTWARE;
	default:
		return EX_TEMPFAIL;	/* busy, locked, full, I/O, nomem, ... */
	}
}

void
store_set_error(struct store *st, int rc, const char *what, GError **error)
{
	const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	g_set_error(error, CONFMAIL_ERROR, exit_code_for(rc), "%s: %s: %s",
		    st ? st->path : "database", what, msg);
}

static gboolean
exec(struct store *st, const char *sql, GError **error)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		store_set_error(st, rc, sql, error);
		return FALSE;
	}
	return TRUE;
}

int
store_schema_version(struct store *st)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Applies missing migrations inside one write transaction, re-reading the
 * version once the lock is held: fifty MDAs may start on a fresh file. */
static gboolean
migrate(struct store *st, GError **error)
{
	int v = store_schema_version(st);

	if (v > store_latest_version()) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "%s: schema version %d is newer than this confmail knows (%d); "
			    "install the newer confmail", st->path, v, store_latest_version());
		return FALSE;
	}
	if (v == store_latest_version())
		return TRUE;
	if (!store_begin(st, error))
		return FALSE;
	v = store_schema_version(st);
	for (; v >= 0 && v < store_latest_version(); v++) {
		g_autofree char *bump = g_strdup_printf("PRAGMA user_version = %d", v + 1);
		if (!exec(st, migrations[v], error) || !exec(st, bump, error)) {
			store_rollback(st);
			return FALSE;
		}
	}
	return store_commit(st, error);
}

/* Called after each commit.  The message is already safe; the checkpoint
 * only waits a little for other connections, and if it cannot run now a
 * later commit does it. */
static int
truncate_long_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *st = arg;

	if (pages < WAL_TRUNCATE_PAGES)
		return SQLITE_OK;
	sqlite3_busy_timeout(db, MIN(st->busy_timeout_ms, 200));
	sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(db, st->busy_timeout_ms);
	return SQLITE_OK;
}

struct store *
store_open(const struct config *cfg, enum store_mode mode, GError **error)
{
	struct store *st = g_new0(struct store, 1);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	static gsize configured;

	/* Each connection is used by one thread, but SQLite's count of its
	 * memory takes one global lock on every allocation: with two
	 * connections at work (figures_start) they queue on it.  Only
	 * possible before SQLite's first use. */
	if (g_once_init_enter(&configured)) {
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
		g_once_init_leave(&configured, 1);
	}

	st->path = g_strdup(cfg->database);
	if (mode == STORE_CREATE) {
		flags |= SQLITE_OPEN_CREATE;
		g_autofree char *dir = g_path_get_dirname(st->path);
		if (g_mkdir_with_parents(dir, 0700) != 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "%s: cannot create: %s",
				    dir, g_strerror(errno));
			store_close(st);
			return NULL;
		}
	} else if (!g_file_test(st->path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, CONFMAIL_ERROR, EX_NOINPUT,
			    "%s: no database here; run 'confmail init' first", st->path);
		store_close(st);
		return NULL;
	}
	int rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
	if (rc != SQLITE_OK) {
		store_set_error(st, rc, "open", error);
		store_close(st);
		return NULL;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* Each MDA run is usually the only connection.  Left alone, its
	 * close would checkpoint the WAL into the database and delete it:
	 * three syncs and an unlink per message.  Instead the WAL stays, and
	 * is checkpointed and truncated every WAL_TRUNCATE_PAGES pages.  It
	 * must be kept short: the first connection rebuilds the WAL index
	 * from the whole file, and a passive checkpoint's progress is
	 * forgotten when the last connection closes, so a WAL that is never
	 * truncated grows without end (measured: 20 MB and twice the time per
	 * delivery after 600 messages). */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_wal_hook(st->db, truncate_long_wal, st);
	st->busy_timeout_ms = cfg->busy_timeout_ms;
	sqlite3_busy_timeout(st->db, cfg->busy_timeout_ms);
	/* Personal data of activists: the file is for its owner only. */
	if (mode == STORE_CREATE)
		g_chmod(st->path, 0600);
	if (!exec(st, "PRAGMA journal_mode = WAL", error) ||
	    !exec(st, "PRAGMA synchronous = FULL", error) ||
	    !exec(st, "PRAGMA foreign_keys = ON", error) ||
	    !exec(st, "PRAGMA secure_delete = ON", error)) {
		store_close(st);
		return NULL;
	}

	if (mode == STORE_CREATE ? !migrate(st, error)
	    : store_schema_version(st) != store_latest_version() && !migrate(st, error)) {
		store_close(st);
		return NULL;
	}
	return st;
}

void
store_close(struct store *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close_v2(st->db);
	g_free(st->path);
	g_free(st);
}

sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

/* IMMEDIATE takes the write lock up front: a reader that later wants to
 * write could otherwise deadlock with another and get SQLITE_BUSY at once,
 * without the busy timeout. */
gboolean
store_begin(struct store *st, GError **error)
{
	return exec(st, "BEGIN IMMEDIATE", error);
}

gboolean
store_commit(struct store *st, GError **error)
{
	if (exec(st, "COMMIT", error))
		return TRUE;
	store_rollback(st);
	return FALSE;
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

void
store_for_scans(struct store *st)
{
	/* the organisers' views scan every registration a dozen times:
	 * mapped pages instead of a read each, sorting in memory */
	sqlite3_exec(st->db, "PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;"
		     " PRAGMA cache_size = -65536", NULL, NULL, NULL);
}
