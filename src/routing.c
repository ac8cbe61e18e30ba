/*
 * routing.c - who answers a question: filters/routing.rules maps each
 * topic to names of the [coordinators] section (or addresses), and the
 * organisers stand in for any topic without one.  Organisers edit the
 * file; nothing is compiled.
 */
#include "confmail.h"

#include <string.h>

static const char *const topics[] = {
	"travel", "visa", "accommodation", "programme", "registration", "funding", "other", NULL
};

struct routing {
	char *path;
	GHashTable *routes;	/* topic -> NULL-terminated names */
	GHashTable *lines;	/* topic -> its line number, for messages */
};

bool
routing_is_topic(const char *word)
{
	return word && g_strv_contains(topics, word);
}

void
routing_free(struct routing *r)
{
	if (!r)
		return;
	g_free(r->path);
	g_hash_table_destroy(r->routes);
	g_hash_table_destroy(r->lines);
	g_free(r);
}

struct routing *
routing_load(const char *dir, GError **error)
{
	g_autoptr(routing) r = g_new0(struct routing, 1);
	g_autofree char *text = NULL;
	g_autoptr(GError) local = NULL;

	r->path = g_build_filename(dir, "routing.rules", NULL);
	r->routes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
	r->lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (!g_file_get_contents(r->path, &text, NULL, &local)) {
		/* no file: every question goes to the organisers */
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&r);
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s", local->message);
		return NULL;
	}
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (int i = 0; lines[i]; i++) {
		char *hash = strchr(lines[i], '#');
		if (hash)
			*hash = '\0';
		g_auto(GStrv) words = g_strsplit_set(g_strstrip(lines[i]), " \t,;", -1);
		GPtrArray *names = g_ptr_array_new();
		for (int w = 1; words[0] && words[w]; w++)
			if (*words[w])
				g_ptr_array_add(names, g_ascii_strdown(words[w], -1));
		g_ptr_array_add(names, NULL);
		g_auto(GStrv) list = (char **)g_ptr_array_free(names, FALSE);
		if (!words[0] || !*words[0])
			continue;
		if (!routing_is_topic(words[0])) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: '%s' is not a topic (travel, visa, accommodation, programme,"
				    " registration, funding, other)", r->path, i + 1, words[0]);
			return NULL;
		}
		if (!list[0]) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: topic '%s' names no coordinators", r->path, i + 1, words[0]);
			return NULL;
		}
		if (g_hash_table_contains(r->routes, words[0])) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: topic '%s' appears twice",
				    r->path, i + 1, words[0]);
			return NULL;
		}
		g_hash_table_insert(r->lines, g_strdup(words[0]), GINT_TO_POINTER(i + 1));
		g_hash_table_insert(r->routes, g_strdup(words[0]), g_steal_pointer(&list));
	}
	return g_steal_pointer(&r);
}

/* Adds NAME's addresses (a [coordinators] name, "organisers", or an
 * address) to OUT, each once; false when NAME means nobody. */
static bool
add_name(const struct config *cfg, const char *name, GPtrArray *out)
{
	char **list = NULL;
	char *one[] = { (char *)name, NULL };
	if (strcmp(name, "organisers") == 0)
		list = cfg->organisers;
	else if (strchr(name, '@'))
		list = compose_address_ok(name) ? one : NULL;
	else
		list = cfg->coordinators ? g_hash_table_lookup(cfg->coordinators, name) : NULL;
	for (int i = 0; list && list[i]; i++) {
		bool seen = false;
		for (guint j = 0; j < out->len && !seen; j++)
			seen = g_ascii_strcasecmp(g_ptr_array_index(out, j), list[i]) == 0;
		if (!seen)
			g_ptr_array_add(out, g_ascii_strdown(list[i], -1));
	}
	return list && list[0];
}

char **
routing_coordinators(const struct routing *r, const struct config *cfg, const char *who)
{
	GPtrArray *out = g_ptr_array_new();
	if (who && strchr(who, '@')) {
		add_name(cfg, who, out);
	} else if (who) {
		/* a topic through the rules; or a [coordinators] name itself */
		char **names = r ? g_hash_table_lookup(r->routes, who) : NULL;
		for (int i = 0; names && names[i]; i++)
			add_name(cfg, names[i], out);
		if (!names && !routing_is_topic(who))
			add_name(cfg, who, out);
	}
	if (out->len == 0)
		add_name(cfg, "organisers", out);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

bool
routing_is_staff(const struct config *cfg, const char *addr)
{
	if (!addr)
		return false;
	for (int i = 0; cfg->organisers && cfg->organisers[i]; i++)
		if (g_ascii_strcasecmp(cfg->organisers[i], addr) == 0)
			return true;
	GHashTableIter it;
	gpointer list;
	if (!cfg->coordinators)
		return false;
	g_hash_table_iter_init(&it, cfg->coordinators);
	while (g_hash_table_iter_next(&it, NULL, &list))
		for (char **l = list; *l; l++)
			if (g_ascii_strcasecmp(*l, addr) == 0)
				return true;
	return false;
}

void
routing_check(const struct routing *r, const struct config *cfg, GPtrArray *problems)
{
	GHashTableIter it;
	gpointer topic, names;
	g_hash_table_iter_init(&it, r->routes);
	while (g_hash_table_iter_next(&it, &topic, &names)) {
		int line = GPOINTER_TO_INT(g_hash_table_lookup(r->lines, topic));
		for (char **n = names; *n; n++) {
			if (strcmp(*n, "organisers") == 0)
				continue;
			if (strchr(*n, '@') ? !compose_address_ok(*n)
			    : !cfg->coordinators || !g_hash_table_contains(cfg->coordinators, *n))
				g_ptr_array_add(problems, g_strdup_printf(
					"%s:%d: '%s' is not in [coordinators] of %s: questions on %s"
					" go to the others named, or to the organisers", r->path, line, *n,
					cfg->path, (char *)topic));
		}
	}
}
