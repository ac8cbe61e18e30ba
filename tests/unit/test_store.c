/* store.c and messages.c: migrations, deduplication, error mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "confmail.h"

static struct config *
temp_config(void)
{
	struct config *cfg = g_new0(struct config, 1);
	g_autofree char *dir = g_dir_make_tmp("confmail-store-XXXXXX", NULL);
	cfg->database = g_build_filename(dir, "sub", "db.sqlite", NULL);
	cfg->busy_timeout_ms = 0;
	return cfg;
}

static void
remove_db(struct config *cfg)
{
	g_autofree char *wal = g_strconcat(cfg->database, "-wal", NULL);
	g_autofree char *shm = g_strconcat(cfg->database, "-shm", NULL);
	unlink(cfg->database);
	unlink(wal);
	unlink(shm);
	g_autofree char *sub = g_path_get_dirname(cfg->database);
	g_autofree char *dir = g_path_get_dirname(sub);
	rmdir(sub);
	rmdir(dir);
}

static gint64
count(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	gint64 n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static void
test_create_and_migrate(void **state)
{
	(void)state;
	g_autoptr(config) cfg = temp_config();
	g_autoptr(GError) error = NULL;

	struct store *st = store_open(cfg, STORE_READ, &error);
	assert_null(st);
	assert_int_equal(error->code, EX_NOINPUT);
	g_clear_error(&error);

	st = store_open(cfg, STORE_CREATE, &error);
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), store_latest_version());
	assert_int_equal(count(st, "SELECT count(*) FROM sqlite_master WHERE name = 'messages'"), 1);
	/* a schema from the future is not touched */
	assert_int_equal(sqlite3_exec(store_db(st), "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
	store_close(st);
	st = store_open(cfg, STORE_CREATE, &error);
	assert_null(st);
	assert_int_equal(error->code, EX_CONFIG);
	remove_db(cfg);
}

static int
record_text(struct store *st, const char *text, const char *rcpt, gint64 *id)
{
	GByteArray *raw = g_byte_array_new();
	g_byte_array_append(raw, (const guint8 *)text, (guint)strlen(text));
	struct mail *m = mail_parse(raw);
	struct envelope env = { .recipient = (char *)rcpt, .sender = (char *)"a@x.example" };
	struct verdict v = { .class = "other", .language = "en" };
	struct message_row row = { m, &env, raw, &v, NULL, "2022-01-01T00:00:00Z" };
	g_autoptr(GError) error = NULL;

	assert_true(store_begin(st, &error));
	enum record_result r = messages_record(st, &row, id, &error);
	assert_true(store_commit(st, &error));
	mail_free(m);
	g_byte_array_free(raw, TRUE);
	return r;
}

static void
test_dedup(void **state)
{
	(void)state;
	g_autoptr(config) cfg = temp_config();
	g_autoptr(GError) error = NULL;
	g_autoptr(store) st = store_open(cfg, STORE_CREATE, &error);
	gint64 a, b, c, d;

	assert_int_equal(record_text(st, "Message-ID: <1@x>\nSubject: a\n\nx\n", "register@i", &a), RECORD_NEW);
	assert_int_equal(record_text(st, "Received: by relay\nMessage-ID: <1@x>\nSubject: a\n\nx\n", "info@i", &b),
			 RECORD_DUPLICATE);
	assert_int_equal(a, b);
	assert_int_equal(record_text(st, "Subject: no id\n\nx\n", "register@i", &c), RECORD_NEW);
	assert_int_equal(record_text(st, "Subject: no id\n\nx\n", "register@i", &d), RECORD_DUPLICATE);
	assert_int_equal(c, d);
	/* the same, delivered to another address through another relay */
	assert_int_equal(record_text(st, "Return-Path: <a@x>\nDelivered-To: info@i\nReceived: from a\n"
				     "\tby b; Mon, 1 Jan 2022\nSubject: no id\n\nx\n", "info@i", &d), RECORD_DUPLICATE);
	assert_int_equal(c, d);
	assert_int_equal(record_text(st, "Subject: no id\n\ny\n", "register@i", &d), RECORD_NEW);
	assert_int_equal(count(st, "SELECT count(*) FROM messages"), 3);
	assert_int_equal(count(st, "SELECT count(*) FROM message_raw"), 3);
	assert_int_equal(count(st, "SELECT count(*) FROM arrivals"), 6);
	/* both recipients of the duplicate are kept */
	assert_int_equal(count(st, "SELECT count(DISTINCT envelope_recipient) FROM arrivals WHERE message = 1"), 2);
	store_close(g_steal_pointer(&st));
	remove_db(cfg);
}

static void
test_busy_is_tempfail(void **state)
{
	(void)state;
	g_autoptr(config) cfg = temp_config();
	g_autoptr(GError) error = NULL;
	g_autoptr(store) a = store_open(cfg, STORE_CREATE, &error);
	g_autoptr(store) b = store_open(cfg, STORE_CREATE, &error);

	assert_true(store_begin(a, &error));
	assert_false(store_begin(b, &error));
	assert_int_equal(error->code, EX_TEMPFAIL);
	assert_non_null(strstr(error->message, "locked"));
	store_rollback(a);
	store_close(g_steal_pointer(&a));
	store_close(g_steal_pointer(&b));
	remove_db(cfg);
}

/* The cap on replies to one address counts them by outbox_by_recipient:
 * with 400 replies of the hour queued to others, counting those to one
 * address reads a few pages, not every reply (it once read them all, at
 * every delivery). */
static void
test_reply_count_reads_little(void **state)
{
	(void)state;
	g_autoptr(config) cfg = temp_config();
	g_autoptr(GError) error = NULL;
	struct store *st = store_open(cfg, STORE_CREATE, &error);
	assert_non_null(st);
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(store_db(st),
		"INSERT INTO outbox (created_at, kind, envelope_from, recipient, content, next_attempt_at)"
		" VALUES ('2022-01-25T09:00:00Z', 'reply', 'register@icssi.example', ?1, zeroblob(6000),"
		" '2022-01-25T09:00:00Z')", -1, &stmt, NULL), SQLITE_OK);
	for (int i = 0; i < 400; i++) {
		g_autofree char *to = g_strdup_printf("r%d@example.org", i);
		sqlite3_bind_text(stmt, 1, to, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	store_close(st);

	st = store_open(cfg, STORE_READ, &error);	/* nothing cached */
	assert_non_null(st);
	int misses, high;
	sqlite3_db_status(store_db(st), SQLITE_DBSTATUS_CACHE_MISS, &misses, &high, 1);
	assert_int_equal(outbox_replies_since(st, "r7@example.org", "2022-01-25T09:30:00Z", "-1 hour"), 1);
	assert_int_equal(outbox_replies_since(st, "new@example.org", "2022-01-25T09:30:00Z", "-1 hour"), 0);
	sqlite3_db_status(store_db(st), SQLITE_DBSTATUS_CACHE_MISS, &misses, &high, 0);
	if (misses > 40)
		fail_msg("counting one address's replies read %d pages", misses);
	/* all replies of the hour: the index alone */
	assert_int_equal(outbox_replies_since(st, NULL, "2022-01-25T09:30:00Z", "-1 hour"), 400);
	store_close(st);
	remove_db(cfg);
}

int
main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_migrate),
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_busy_is_tempfail),
		cmocka_unit_test(test_reply_count_reads_little),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return rc;
}
