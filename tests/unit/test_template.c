/* template.c: the template language of confmail-templates(5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "confmail.h"

static char *
write_template(const char *text)
{
	char *path = g_build_filename(g_get_tmp_dir(), "confmail-test-XXXXXX.tmpl", NULL);
	int fd = g_mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Loads TEXT; NULL and *MESSAGE set when it does not parse. */
static struct template *
load(const char *text, char **message)
{
	g_autofree char *path = write_template(text);
	GError *error = NULL;
	struct template *t = template_load(path, &error);
	unlink(path);
	if (message)
		*message = error ? g_strdup(error->message) : NULL;
	g_clear_error(&error);
	return t;
}

static JsonObject *
vars(void)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "name", "Amal <b>&</b>");
	json_object_set_string_member(o, "reference", "ICSSI22-0042");
	json_object_set_string_member(o, "empty", "");
	json_object_set_boolean_member(o, "late", FALSE);
	JsonArray *a = json_array_new();
	for (int i = 0; i < 2; i++) {
		JsonObject *item = json_object_new();
		json_object_set_string_member(item, "label", i ? "Country" : "Name");
		json_object_set_string_member(item, "value", i ? "Iraq" : "Amal");
		json_array_add_object_element(a, item);
	}
	json_object_set_array_member(o, "fields", a);
	json_object_set_array_member(o, "missing", json_array_new());
	return o;
}

static char *
render(const char *text, enum template_part part)
{
	g_autoptr(template) t = load(text, NULL);
	assert_non_null(t);
	g_autoptr(JsonObject) v = vars();
	return template_render(t, part, v);
}

static void
test_variables_and_subject(void **state)
{
	(void)state;
	g_autofree char *subject = render("Subject: Hello {{name}}\n\nBody {{reference}}.\n", PART_SUBJECT);
	assert_string_equal(subject, "Hello Amal <b>&</b>");
	g_autofree char *body = render("Subject: x\n\nBody {{reference}}.\n", PART_TEXT);
	assert_string_equal(body, "Body ICSSI22-0042.\n");
}

static void
test_if_else_and_negation(void **state)
{
	(void)state;
	g_autofree char *a = render("Subject: x\n\n{{#if late}}late{{else}}in time{{/if}}|"
				    "{{#if !late}}yes{{/if}}|{{#if empty}}E{{/if}}|"
				    "{{#if missing}}M{{else}}none{{/if}}|{{#if fields}}F{{/if}}\n", PART_TEXT);
	assert_string_equal(a, "in time|yes||none|F\n");
}

static void
test_each_and_standalone_lines(void **state)
{
	(void)state;
	g_autofree char *a = render("Subject: x\n\nRecorded:\n{{#each fields}}\n"
				    "  {{label}}: {{value}} ({{reference}})\n{{/each}}\n"
				    "{{! a comment line leaves nothing }}\nEnd.\n", PART_TEXT);
	assert_string_equal(a, "Recorded:\n  Name: Amal (ICSSI22-0042)\n"
			    "  Country: Iraq (ICSSI22-0042)\nEnd.\n");
}

static void
test_html_escapes_values_not_markup(void **state)
{
	(void)state;
	g_autoptr(template) t = load("Subject: x\n\ntext {{name}}\n%% html\n<p>{{name}}</p>\n", NULL);
	assert_non_null(t);
	assert_true(template_has_html(t));
	g_autoptr(JsonObject) v = vars();
	g_autofree char *text = template_render(t, PART_TEXT, v);
	g_autofree char *html = template_render(t, PART_HTML, v);
	assert_string_equal(text, "text Amal <b>&</b>\n");
	assert_string_equal(html, "<p>Amal &lt;b&gt;&amp;&lt;/b&gt;</p>\n");
}

static void
test_syntax_errors_name_the_line(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "Subject: x\n\nline\n{{#if late}}\nnever closed\n", ":4: {{#if late}} is never closed" },
		{ "Subject: x\n\n{{/if}}\n", ":3: {{/if}} without its {{#if}}" },
		{ "Subject: x\n\n{{#each fields}}{{/if}}\n", ":3: {{/if}} without its {{#if}}" },
		{ "Subject: x\n\nok\n{{name\n", ":4: '{{' without '}}'" },
		{ "Subject: x\n\n{{na me}}\n", ":3: {{na me}}: not a variable" },
		{ "Subject: x\n\n{{#if}}\n", ":3: {{#if}}: not a variable" },
		{ "Subject: x\n\n{{#if a}}{{else}}{{else}}{{/if}}\n", ":3: a second {{else}}" },
		{ "From: x\n\nbody\n", ":1: only a Subject: header" },
		{ "Subject: x\nbody without a blank line", ":2: expected" },
		{ "\nbody\n", ":1: no Subject:" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *message = NULL;
		struct template *t = load(cases[i].text, &message);
		assert_null(t);
		assert_non_null(message);
		if (!strstr(message, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, message, cases[i].want);
	}
}

static const char *const globals[] = { "name", "reference", "fields", "late", NULL };
static const char *const items[] = { "label", "value", NULL };

static const char *const *
items_of(const char *list)
{
	return strcmp(list, "fields") == 0 ? items : NULL;
}

static void
test_check_reports_unknown_variables(void **state)
{
	(void)state;
	g_autoptr(template) t = load("Subject: Hi {{nmae}}\n\n{{#each fields}}\n{{label}} {{valeu}}\n"
				     "{{/each}}\n{{label}}\n{{#each name}}{{/each}}\n%% html\n"
				     "<p>{{#if late}}{{refrence}}{{/if}}</p>\n", NULL);
	assert_non_null(t);
	struct template_schema schema = { globals, items_of };
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	template_check(t, &schema, problems);
	const char *want[] = {
		":1: unknown variable 'nmae'", ":4: unknown variable 'valeu'",
		":6: unknown variable 'label'", ":7: 'name' is not a list",
		":9: unknown variable 'refrence'",
	};
	assert_int_equal(problems->len, G_N_ELEMENTS(want));
	for (guint i = 0; i < problems->len; i++)
		if (!strstr(g_ptr_array_index(problems, i), want[i]))
			fail_msg("problem %u: '%s' lacks '%s'", i, (char *)g_ptr_array_index(problems, i), want[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_variables_and_subject),
		cmocka_unit_test(test_if_else_and_negation),
		cmocka_unit_test(test_each_and_standalone_lines),
		cmocka_unit_test(test_html_escapes_values_not_markup),
		cmocka_unit_test(test_syntax_errors_name_the_line),
		cmocka_unit_test(test_check_reports_unknown_variables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
