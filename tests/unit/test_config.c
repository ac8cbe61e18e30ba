/* config.c: the sample loads; every mistake names file, line, expectation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "confmail.h"

static const char *sample = TOP_SRCDIR "/contrib/icssi-2022.conf";

static char *
write_conf(const char *text)
{
	char *path = g_build_filename(g_get_tmp_dir(), "confmail-test-XXXXXX.conf", NULL);
	int fd = g_mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static const char minimal[] =
	"[conference]\nname = Test\nreference_prefix = T22\nregistration_deadline = 2022-02-15\n"
	"timezone = Asia/Baghdad\n[addresses]\ndomain = t.example\norganisers = o@t.example\n"
	"[store]\ndatabase = t.sqlite\n";

static void
test_sample_loads(void **state)
{
	(void)state;
	g_autoptr(GError) error = NULL;
	g_unsetenv("CONFMAIL_DATABASE");
	g_autoptr(config) cfg = config_load(sample, &error);
	assert_non_null(cfg);
	assert_string_equal(cfg->reference_prefix, "ICSSI22");
	assert_string_equal(cfg->domain, "icssi.example");
	assert_string_equal(cfg->organisers[0], "organisers@icssi.example");
	assert_string_equal(cfg->organisers[1], "coordination@icssi.example");
	assert_null(cfg->organisers[2]);
	assert_int_equal(cfg->max_message_size, 25 * 1024 * 1024);
	assert_string_equal(cfg->transport_kind, "maildir");
}

static void
test_defaults_follow_domain(void **state)
{
	(void)state;
	g_autofree char *path = write_conf(minimal);
	g_autoptr(GError) error = NULL;
	g_autoptr(config) cfg = config_load(path, &error);
	assert_non_null(cfg);
	assert_string_equal(cfg->register_address, "register@t.example");
	assert_string_equal(cfg->info_address, "info@t.example");
	assert_string_equal(cfg->loop_id, "register@t.example");
	assert_int_equal(cfg->busy_timeout_ms, 10000);
	/* relative to the file's directory */
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *want = g_build_filename(dir, "t.sqlite", NULL);
	assert_string_equal(cfg->database, want);
	unlink(path);
}

static void
test_deadline_is_end_of_day_in_zone(void **state)
{
	(void)state;
	g_autofree char *path = write_conf(minimal);
	g_autoptr(GError) error = NULL;
	g_autoptr(config) cfg = config_load(path, &error);
	assert_non_null(cfg);
	g_autoptr(GDateTime) utc = g_date_time_to_utc(cfg->registration_deadline);
	g_autofree char *s = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S");
	assert_string_equal(s, "2022-02-15T20:59:59");	/* 23:59:59 at +03 */
	unlink(path);
}

/* Loads MINIMAL with LINE appended to GROUP; returns the error text. */
static char *
error_for(const char *group, const char *line, int *code)
{
	g_autofree char *needle = g_strdup_printf("[%s]\n", group);
	g_autofree char *repl = g_strdup_printf("[%s]\n%s\n", group, line);
	g_autoptr(GString) text = g_string_new(minimal);
	if (strstr(text->str, needle))
		g_string_replace(text, needle, repl, 1);
	else
		g_string_append(text, repl);
	g_autofree char *path = write_conf(text->str);
	GError *error = NULL;
	struct config *cfg = config_load(path, &error);
	assert_null(cfg);
	assert_non_null(error);
	*code = error->code;
	char *msg = g_strdup(error->message);
	g_error_free(error);
	unlink(path);
	return msg;
}

static void
test_bad_values_name_line_and_expectation(void **state)
{
	(void)state;
	static const struct {
		const char *group, *line, *expect;
	} cases[] = {
		{ "store", "busy_timeout_ms = soon", ":10: [store] busy_timeout_ms: expected a whole number" },
		{ "conference", "capacity = -5", ":2: [conference] capacity: expected a whole number from 0" },
		{ "limits", "max_message_size = 0", "[limits] max_message_size: expected a size" },
		{ "transport", "kind = smtp2", "[transport] kind: expected one of smtp, sendmail, maildir, got 'smtp2'" },
		{ "addresses", "register = nobody", ":7: [addresses] register: expected an address" },
		{ "addresses", "colour = blue", ":7: [addresses] colour: is not a key confmail knows" },
		{ "nosuch", "a = b", "[nosuch] is not a group confmail knows" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		int code = 0;
		g_autofree char *msg = error_for(cases[i].group, cases[i].line, &code);
		assert_int_equal(code, EX_CONFIG);
		if (!strstr(msg, cases[i].expect))
			fail_msg("'%s': got '%s', want '%s'", cases[i].line, msg, cases[i].expect);
	}
}

static void
test_line_of(void **state)
{
	(void)state;
	g_autofree char *path = write_conf("# c\n[a]\nx=1\n[b]\n  x = 2\ny[ar] = 3\n");
	assert_int_equal(config_line_of(path, "a", "x"), 3);
	assert_int_equal(config_line_of(path, "b", "x"), 5);
	assert_int_equal(config_line_of(path, "b", "y"), 6);
	assert_int_equal(config_line_of(path, "b", NULL), 4);
	assert_int_equal(config_line_of(path, "c", "x"), 0);
	unlink(path);
}

static void
test_database_override(void **state)
{
	(void)state;
	g_setenv("CONFMAIL_DATABASE", "/tmp/override.sqlite", TRUE);
	g_autoptr(GError) error = NULL;
	g_autoptr(config) cfg = config_load(sample, &error);
	g_unsetenv("CONFMAIL_DATABASE");
	assert_non_null(cfg);
	assert_string_equal(cfg->database, "/tmp/override.sqlite");
}

/* [fetch]: each key checks itself; config_check_fetch what needs several */
static void
check_fetch(const char *keys, const char *want)
{
	g_autofree char *text = g_strconcat(minimal, "[fetch]\n", keys, NULL);
	g_autofree char *path = write_conf(text);
	g_autoptr(GError) error = NULL;
	g_autoptr(config) cfg = config_load(path, &error);
	assert_non_null(cfg);
	gboolean ok = config_check_fetch(cfg, &error);
	if (!want) {
		assert_true(ok);
	} else {
		assert_false(ok);
		assert_int_equal(error->code, EX_CONFIG);
		assert_true(g_str_has_prefix(error->message, path));
		assert_non_null(strstr(error->message, want));
	}
	unlink(path);
}

static void
test_fetch_keys(void **state)
{
	(void)state;
	g_autofree char *path = write_conf(minimal);
	g_autoptr(GError) error = NULL;
	g_autoptr(config) cfg = config_load(path, &error);
	assert_non_null(cfg);
	assert_int_equal(cfg->fetch_port, 0);	/* the protocol's own */
	assert_int_equal(cfg->fetch_interval, 60);
	assert_string_equal(cfg->fetch_after, "flag");
	unlink(path);
	const char *login = "host = imap.t.example\nuser = u\npassword_file = pw\n";
	g_autofree char *move = g_strconcat(login, "after = move\n", NULL);
	g_autofree char *moved = g_strconcat(move, "processed_folder = Done\n", NULL);
	g_autofree char *pop_flag = g_strconcat(login, "protocol = pop3\nafter = flag\n", NULL);
	g_autofree char *pop = g_strconcat(login, "protocol = pop3\n", NULL);
	g_autofree char *clear = g_strconcat(login, "tls = off\n", NULL);
	check_fetch(login, NULL);
	check_fetch(moved, NULL);
	check_fetch(pop, NULL);
	check_fetch("host = imap.t.example\nuser = u\n", "password_file is required");
	check_fetch(move, "processed_folder");
	check_fetch(pop_flag, "POP3 can only delete");
	check_fetch(clear, "in the clear");
	check_fetch("host = localhost\nuser = u\npassword_file = pw\ntls = off\n", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_loads),
		cmocka_unit_test(test_defaults_follow_domain),
		cmocka_unit_test(test_deadline_is_end_of_day_in_zone),
		cmocka_unit_test(test_bad_values_name_line_and_expectation),
		cmocka_unit_test(test_line_of),
		cmocka_unit_test(test_database_override),
		cmocka_unit_test(test_fetch_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
