/* rules_cache.c: the compiled patterns kept between runs change nothing
 * a message becomes, and a file that is stale, damaged or not ours is
 * made afresh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <glib/gstdio.h>

#include "rules_cache.h"

#define RULES TOP_SRCDIR "/filters"

/* What the rules R make of every message of tests/data and the shared
 * corpus (when it is there): class, language, topic and fields, as one
 * string. */
static char *
outcome(const struct rules *r)
{
	static const char *dirs[] = { TOP_SRCDIR "/tests/data", TOP_SRCDIR "/../shared/corpus" };
	GString *all = g_string_new(NULL);
	struct config cfg = { .domain = (char *)"icssi.example" };

	for (size_t d = 0; d < G_N_ELEMENTS(dirs); d++) {
		g_autoptr(GDir) dir = g_dir_open(dirs[d], 0, NULL);
		const char *name;
		while (dir && (name = g_dir_read_name(dir))) {
			if (!g_str_has_suffix(name, ".eml"))
				continue;
			g_autofree char *path = g_build_filename(dirs[d], name, NULL);
			g_autofree char *text = NULL;
			gsize len;
			assert_true(g_file_get_contents(path, &text, &len, NULL));
			GByteArray *raw = g_byte_array_new_take((guint8 *)g_steal_pointer(&text), len);
			struct mail *m = mail_parse(raw);
			struct envelope env = { .recipient = (char *)"register@icssi.example" };
			struct verdict v;
			g_autofree char *participant = NULL;
			JsonObject *fields = classify_message(r, m, &env, &cfg, &v, &participant);
			g_string_append_printf(all, "%s: %s %s %s ", name, v.class, v.language,
					       v.topic ? v.topic : "-");
			if (fields) {
				g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), fields);
				g_autofree char *json = json_to_string(node, FALSE);
				g_string_append(all, json);
				json_object_unref(fields);
			}
			g_string_append_c(all, '\n');
			bounce_clear(&v.bounce);
			mail_free(m);
			g_byte_array_free(raw, TRUE);
		}
	}
	return g_string_free(all, FALSE);
}

static char *
copy_rules(const char *to)
{
	static const char *files[] = { "classify.rules", "fields.rules", "countries.table",
				       "languages.table", "months.table", "words.table" };
	g_mkdir_with_parents(to, 0700);
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *from = g_build_filename(RULES, files[i], NULL);
		g_autofree char *dest = g_build_filename(to, files[i], NULL);
		g_autofree char *text = NULL;
		gsize len;
		assert_true(g_file_get_contents(from, &text, &len, NULL));
		assert_true(g_file_set_contents(dest, text, (gssize)len, NULL));
	}
	return g_strdup(to);
}

/* Adds MORE at the end of the rules file NAME in DIR. */
static void
append_to(const char *dir, const char *name, const char *more)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *text = NULL;
	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_autofree char *edited = g_strconcat(text, more, NULL);
	assert_true(g_file_set_contents(path, edited, -1, NULL));
}

static void
load_counts(const char *dir, const char *cache, guint *hits, guint *misses)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(rules) r = rules_load_cached(dir, cache, &error);
	assert_non_null(r);
	rules_cache_last_counts(hits, misses);
}

static void
test_same_outcome(void **state)
{
	(void)state;
	g_autofree char *tmp = g_dir_make_tmp("confmail-cache-XXXXXX", NULL);
	g_autofree char *cache = g_build_filename(tmp, "db.sqlite.rules-cache", NULL);
	g_autoptr(GError) error = NULL;
	guint hits, misses;

	g_autoptr(rules) plain = rules_load(RULES, &error);
	assert_non_null(plain);
	g_autofree char *want = outcome(plain);
	assert_true(strlen(want) > 100);

	/* the first run compiles everything and writes the file */
	g_autoptr(rules) cold = rules_load_cached(RULES, cache, &error);
	assert_non_null(cold);
	rules_cache_last_counts(&hits, &misses);
	assert_int_equal(hits, 0);
	assert_true(misses > 50);
	assert_true(g_file_test(cache, G_FILE_TEST_EXISTS));
	GStatBuf sb;
	assert_int_equal(g_stat(cache, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	g_autofree char *got_cold = outcome(cold);
	assert_string_equal(got_cold, want);

	/* the second compiles nothing, and its rules do the same */
	guint all = misses;
	g_autoptr(rules) warm = rules_load_cached(RULES, cache, &error);
	assert_non_null(warm);
	rules_cache_last_counts(&hits, &misses);
	assert_int_equal(misses, 0);
	assert_int_equal(hits, all);
	g_autofree char *got_warm = outcome(warm);
	assert_string_equal(got_warm, want);

	g_unlink(cache);
	g_rmdir(tmp);
}

static void
test_edited_damaged_foreign(void **state)
{
	(void)state;
	g_autofree char *tmp = g_dir_make_tmp("confmail-cache-XXXXXX", NULL);
	g_autofree char *rdir = g_build_filename(tmp, "filters", NULL);
	g_autofree char *dir = copy_rules(rdir);
	g_autofree char *cache = g_build_filename(tmp, "c", NULL);
	guint hits, misses, all;

	load_counts(dir, cache, &hits, &all);
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(hits, all);

	/* one rule edited: that pattern alone is compiled again */
	append_to(dir, "classify.rules", "\nclass question 1\n  subject ~ \\bzzyzx\\b\n");
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(misses, 1);
	assert_int_equal(hits, all);
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(misses, 0);
	assert_int_equal(hits, all + 1);

	/* one table edited: that table alone is made again */
	append_to(dir, "words.table", "\nyes\tzzyzx\n");
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(misses, 1);
	assert_int_equal(hits, all);
	g_autoptr(GError) error = NULL;
	g_autoptr(rules) edited_rules = rules_load_cached(dir, cache, &error);
	assert_non_null(edited_rules);
	rules_cache_last_counts(&hits, &misses);
	assert_int_equal(misses, 0);
	assert_string_equal(table_lookup(rules_table(edited_rules, "words"), "ZZYZX"), "yes");

	/* a damaged file (one byte changed, or cut short) is not used */
	g_autofree char *bytes = NULL;
	gsize len;
	assert_true(g_file_get_contents(cache, &bytes, &len, NULL));
	for (gsize at = 40; at < len; at += len / 7) {
		g_autofree char *bad = g_memdup2(bytes, len);
		bad[at] ^= 0x20;
		assert_true(g_file_set_contents(cache, bad, (gssize)len, NULL));
		load_counts(dir, cache, &hits, &misses);
		assert_int_equal(hits, 0);
		assert_int_equal(misses, all + 1);
	}
	assert_true(g_file_set_contents(cache, bytes, (gssize)(len / 2), NULL));
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(hits, 0);
	/* and is made again */
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(misses, 0);

	/* another build's file (its build ID differs) is not used */
	g_clear_pointer(&bytes, g_free);
	assert_true(g_file_get_contents(cache, &bytes, &len, NULL));
	bytes[sizeof "confmail rules cache 1\n" - 1 + 4] ^= 1;
	assert_true(g_file_set_contents(cache, bytes, (gssize)len, NULL));
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(hits, 0);

	/* a file others may write is not trusted (PCRE2 runs what it holds) */
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(g_chmod(cache, 0620), 0);
	load_counts(dir, cache, &hits, &misses);
	assert_int_equal(hits, 0);
	GStatBuf sb;
	assert_int_equal(g_stat(cache, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);	/* made again, as it should be */

	/* a cache that cannot be written is no error */
	g_autofree char *nowhere = g_build_filename(tmp, "no-such-dir", "c", NULL);
	load_counts(dir, nowhere, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_false(g_file_test(nowhere, G_FILE_TEST_EXISTS));

	static const char *files[] = { "classify.rules", "fields.rules", "countries.table",
				       "languages.table", "months.table", "words.table" };
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *p = g_build_filename(dir, files[i], NULL);
		g_unlink(p);
	}
	g_rmdir(dir);
	g_unlink(cache);
	g_rmdir(tmp);
}

/* The encoding of what is kept: what goes in comes out; reading past the
 * end or a string holding a NUL says so and gives 0 or "". */
static void
test_encoding(void **state)
{
	(void)state;
	GByteArray *b = g_byte_array_new();
	cache_put_u32(b, 7);
	cache_put_string(b, "هناء");
	cache_put_string(b, "");
	struct cache_reader r = { b->data, b->data + b->len, false };
	assert_int_equal(cache_take_u32(&r), 7);
	g_autofree char *name = cache_take_string(&r);
	g_autofree char *empty = cache_take_string(&r);
	assert_string_equal(name, "هناء");
	assert_string_equal(empty, "");
	assert_false(r.bad);
	assert_true(r.p == r.end);
	assert_int_equal(cache_take_u32(&r), 0);
	assert_true(r.bad);

	/* a length past the end, then a string with a NUL inside */
	struct cache_reader cut = { b->data, b->data + 10, false };	/* 2 bytes of the name */
	cache_take_u32(&cut);
	g_autofree char *short_name = cache_take_string(&cut);
	assert_string_equal(short_name, "");
	assert_true(cut.bad);
	g_byte_array_set_size(b, 0);
	cache_put_u32(b, 3);
	g_byte_array_append(b, (const guint8 *)"a\0b", 3);
	struct cache_reader nul = { b->data, b->data + b->len, false };
	g_autofree char *with_nul = cache_take_string(&nul);
	assert_string_equal(with_nul, "");
	assert_true(nul.bad);
	g_byte_array_free(b, TRUE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_outcome),
		cmocka_unit_test(test_edited_damaged_foreign),
		cmocka_unit_test(test_encoding),
	};
	g_mime_init();
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return failed;
}
