/*
 * fuzz_template.c - libFuzzer target: the input as a template file
 * (template.c): parsed, checked against the variables compose.c offers,
 * and each part rendered over a fixed set of values.
 */
#include "fuzz.h"

#include <string.h>

static const char *const globals[] = {
	"conference", "reference", "name", "email", "status", "status_text", "incomplete",
	"late", "deadline", "fields", "missing", "count", "empty", "nothing", NULL,
};
static const char *const field_items[] = { "field", "label", "value", NULL };
static const char *const missing_items[] = { "field", "label", NULL };

static const char *const *
items_of(const char *list)
{
	if (strcmp(list, "fields") == 0)
		return field_items;
	if (strcmp(list, "missing") == 0)
		return missing_items;
	return NULL;
}

static const struct template_schema schema = { globals, items_of };
static JsonObject *vars;

static JsonObject *
item(const char *field, const char *label, const char *value)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "field", field);
	json_object_set_string_member(o, "label", label);
	if (value)
		json_object_set_string_member(o, "value", value);
	return o;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	vars = json_object_new();
	json_object_set_string_member(vars, "conference", "Starting Over from Solidarity");
	json_object_set_string_member(vars, "reference", "ICSSI22-0042");
	json_object_set_string_member(vars, "name", "<Layla> \"Hassan\" & 'co' \xd9\x84\xdb\x8c\xd9\x84\xd8\xa7");
	json_object_set_string_member(vars, "email", "layla@example.org");
	json_object_set_string_member(vars, "status", "incomplete");
	json_object_set_string_member(vars, "status_text", "incomplete");
	json_object_set_boolean_member(vars, "incomplete", TRUE);
	json_object_set_boolean_member(vars, "late", FALSE);
	json_object_set_string_member(vars, "deadline", "15 February 2022");
	json_object_set_int_member(vars, "count", 3);
	json_object_set_string_member(vars, "empty", "");
	json_object_set_null_member(vars, "nothing");
	JsonArray *fields = json_array_new();
	json_array_add_object_element(fields, item("name", "Name", "Layla Hassan"));
	json_array_add_object_element(fields, item("country", "Country", "Iraq"));
	json_array_add_object_element(fields, item("phone", "Phone", "+9647701234567"));
	json_object_set_array_member(vars, "fields", fields);
	JsonArray *missing = json_array_new();
	json_array_add_object_element(missing, item("funding", "Funding", NULL));
	json_array_add_string_element(missing, "not an object");
	json_object_set_array_member(vars, "missing", missing);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* template_load hands template_parse a NUL-terminated buffer */
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(template) t = template_parse("fuzz.tmpl", text, size, &error);
	if (!t) {
		if (!error || error->code != EX_CONFIG)
			abort();
		return 0;
	}
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	template_check(t, &schema, problems);
	g_autofree char *subject = template_render(t, PART_SUBJECT, vars);
	g_autofree char *body = template_render(t, PART_TEXT, vars);
	g_autofree char *html = template_has_html(t) ? template_render(t, PART_HTML, vars) : NULL;
	/* a template is UTF-8 and so are the values; a Subject is one line */
	if (!g_utf8_validate(subject, -1, NULL) || strchr(subject, '\n') ||
	    !g_utf8_validate(body, -1, NULL) || (html && !g_utf8_validate(html, -1, NULL)))
		abort();
	return 0;
}
