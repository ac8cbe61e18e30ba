/*
 * rules.c - the rule files in filters/: classification recipes
 * (classify.rules) and field rules (fields.rules), loaded and checked once,
 * PCRE2 patterns compiled with UTF and UCP (JIT where it works), and
 * applied to a message.  Organisers change what confmail understands by
 * editing these files; see confmail-rules(5).
 */
#include "rules_cache.h"

#include <stdio.h>
#include <string.h>

/* Classification ---------------------------------------------------------- */

enum where {
	W_RECIPIENT, W_SENDER, W_FROM, W_SUBJECT, W_HEADER, W_BODY, W_TEXT,
};

static const char *where_names[] = {
	"recipient", "sender", "from", "subject", "header", "body", "text",
};

struct condition {
	enum where where;
	char *header;		/* W_HEADER */
	bool negate;
	pcre2_code *re;
	struct needles *needles;	/* body and text: words it needs */
};

struct recipe {
	bool is_topic;		/* "topic" recipe, else "class" */
	char *name;
	int score;		/* 0: decides at once */
	GPtrArray *conditions;
	char *origin;		/* file:line, for messages */
};

/* Fields ------------------------------------------------------------------ */

struct prose {
	char *code;		/* enum/bool: the value it gives; else NULL */
	pcre2_code *re;		/* text types: group "v" or 1 is the value */
	struct needles *needles;
};

struct value_rule {
	char *code;
	pcre2_code *re;
};

struct field_rule {
	char *name;
	enum field_type type;
	GPtrArray *prose;	/* of struct prose */
	GPtrArray *values;	/* of struct value_rule */
};

struct rules {
	char *dir;
	GPtrArray *recipes;
	GPtrArray *fields;	/* of struct field_rule, in fields.rules order */
	GHashTable *labels;	/* folded label -> struct field_rule */
	struct table *countries, *languages, *months, *words;
	struct needle_index *needle_index;	/* the words of the patterns */
	struct rules_cache *cache;	/* while loading, when there is one */
};

static const char *type_names[] = {
	"text", "email", "phone", "country", "date", "bool", "enum", "list", "languages",
	"language", NULL,
};

/* Folded word sets, made on first use (means_nothing, is_conjunction). */
static GHashTable *nothing_set, *conjunction_set;

/* Freeing ----------------------------------------------------------------- */

static void
condition_free(gpointer p)
{
	struct condition *c = p;
	g_free(c->header);
	pcre2_code_free(c->re);
	needles_free(c->needles);
	g_free(c);
}

static void
recipe_free(gpointer p)
{
	struct recipe *r = p;
	g_free(r->name);
	g_free(r->origin);
	g_ptr_array_free(r->conditions, TRUE);
	g_free(r);
}

static void
prose_free(gpointer p)
{
	struct prose *pr = p;
	g_free(pr->code);
	pcre2_code_free(pr->re);
	needles_free(pr->needles);
	g_free(pr);
}

static void
value_rule_free(gpointer p)
{
	struct value_rule *v = p;
	g_free(v->code);
	pcre2_code_free(v->re);
	g_free(v);
}

static void
field_rule_free(gpointer p)
{
	struct field_rule *f = p;
	g_free(f->name);
	g_ptr_array_free(f->prose, TRUE);
	g_ptr_array_free(f->values, TRUE);
	g_free(f);
}

void
rules_free(struct rules *r)
{
	if (!r)
		return;
	/* the word sets are the process's, but valgrind should see them go */
	g_clear_pointer(&nothing_set, g_hash_table_destroy);
	g_clear_pointer(&conjunction_set, g_hash_table_destroy);
	g_free(r->dir);
	if (r->recipes)
		g_ptr_array_free(r->recipes, TRUE);
	if (r->labels)
		g_hash_table_destroy(r->labels);
	if (r->fields)
		g_ptr_array_free(r->fields, TRUE);
	table_free(r->countries);
	table_free(r->languages);
	table_free(r->months);
	table_free(r->words);
	needle_index_free(r->needle_index);
	rules_cache_free(r->cache);
	g_free(r);
}

/* Loading ----------------------------------------------------------------- */

static char *clean_label(const char *label);

/* Compiles PATTERN, or sets an EX_CONFIG error naming FILE:LINE and the
 * PCRE2 message. */
/* JIT compiling costs more than it saves on one message, so only runs
 * over many messages ask for it (rules_use_jit). */
static bool use_jit;

void
rules_use_jit(bool on)
{
	const char *env = g_getenv("CONFMAIL_PCRE2_JIT");
	use_jit = on && !(env && strcmp(env, "0") == 0);
}

static pcre2_code *
compile(struct rules *r, const char *pattern, const char *file, int line, GError **error)
{
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re = r->cache ? rules_cache_code(r->cache, pattern) : NULL;
	if (re) {
		if (use_jit)
			pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
		return re;
	}
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, RULES_PCRE2_OPTIONS,
			   &code, &offset, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: bad pattern at offset %zu: %s",
			    file, line, (size_t)offset, (const char *)msg);
		return NULL;
	}
	/* JIT is an optimisation: where it is not available, interpret.
	 * valgrind cannot follow JIT code and reports its reads as
	 * uninitialised: CONFMAIL_PCRE2_JIT=0 turns it off for such runs. */
	if (use_jit)
		pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	if (r->cache)
		rules_cache_keep_code(r->cache, pattern, re);
	return re;
}

/* The words PATTERN needs (needles_of), from the cache when it has them. */
static struct needles *
needles_for(struct rules *r, const char *pattern)
{
	return r->cache ? rules_cache_needles(r->cache, r->needle_index, pattern)
			: needles_of(r->needle_index, pattern);
}

/* pcre2_match, the same with or without JIT: JIT code has a stack of
 * its own (32 KiB) that a deep match can outgrow, where the interpreter
 * goes on; then the interpreter answers, as for filter, which never JITs. */
static int
match_at(const pcre2_code *re, const char *subject, PCRE2_SIZE start, pcre2_match_data *md)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, start, 0, md, NULL);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, start, PCRE2_NO_JIT,
				 md, NULL);
	return rc;
}

static bool
matches(const pcre2_code *re, const char *subject, pcre2_match_data *md)
{
	return match_at(re, subject, 0, md) >= 0;
}

/* CONFMAIL_CHECK_NEEDLES=1: every text the needles rule out goes to PCRE2
 * all the same, and a match there aborts (tests/integration/needles.sh). */
static bool check_needles;

/* Whether RE may match SUBJECT, by N's words among HITS (those of
 * SUBJECT): false means it cannot. */
static bool
may_match(const struct rules *r, const pcre2_code *re, const struct needles *n,
	  const char *subject, const struct needle_hits *hits, pcre2_match_data *md)
{
	if (needles_in(n, hits))
		return true;
	if (check_needles && matches(re, subject, md))
		g_error("needles: the words '%s' (and %u more) ruled out a text that the pattern matches",
			needles_word(r->needle_index, n, 0), needles_count(n) - 1);
	return false;
}

/* The lines of a rules file, without comments, as (number, text) pairs;
 * indented lines keep one leading space as the marker of a body line. */
struct line {
	int no;
	bool indented;
	char *text;
};

static GArray *
read_lines(const char *path, GError **error)
{
	g_autofree char *text = rules_read_text(path, error);
	if (!text)
		return NULL;
	GArray *lines = g_array_new(FALSE, FALSE, sizeof(struct line));
	g_auto(GStrv) raw = g_strsplit(text, "\n", -1);
	for (int i = 0; raw[i]; i++) {
		const char *l = raw[i];
		bool indented = *l == ' ' || *l == '\t';
		g_autofree char *t = g_strstrip(g_strdup(l));
		if (!*t || *t == '#')
			continue;
		struct line ln = { i + 1, indented, g_steal_pointer(&t) };
		g_array_append_val(lines, ln);
	}
	return lines;
}

static void
free_lines(GArray *lines)
{
	for (guint i = 0; i < lines->len; i++)
		g_free(g_array_index(lines, struct line, i).text);
	g_array_free(lines, TRUE);
}

/* Splits "WORD REST" into WORD and REST (REST stripped, may be ""). */
static char *
first_word(const char *s, const char **rest)
{
	size_t n = strcspn(s, " \t");
	const char *r = s + n;
	while (*r == ' ' || *r == '\t')
		r++;
	*rest = r;
	return g_strndup(s, n);
}

static bool
parse_condition(struct rules *r, struct recipe *rc, const char *text, const char *file, int no,
		GError **error)
{
	struct condition *c = g_new0(struct condition, 1);
	const char *rest;
	g_autofree char *w = first_word(text, &rest);

	if (strcmp(w, "not") == 0) {
		c->negate = true;
		g_free(w);
		w = first_word(rest, &rest);
	}
	size_t i;
	for (i = 0; i < G_N_ELEMENTS(where_names); i++)
		if (strcmp(w, where_names[i]) == 0)
			break;
	if (i == G_N_ELEMENTS(where_names)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "%s:%d: '%s' is not something to match: expected recipient, sender, "
			    "from, subject, header NAME, body or text", file, no, w);
		condition_free(c);
		return false;
	}
	c->where = (enum where)i;
	if (c->where == W_HEADER) {
		c->header = first_word(rest, &rest);
		if (!*c->header) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: header needs a name", file, no);
			condition_free(c);
			return false;
		}
	}
	if (*rest != '~' || (rest[1] != ' ' && rest[1] != '\t')) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "%s:%d: expected '~ PATTERN' after '%s'", file, no, w);
		condition_free(c);
		return false;
	}
	const char *pattern = g_strstrip((char *)(rest + 2));
	c->re = compile(r, pattern, file, no, error);
	if (!c->re) {
		condition_free(c);
		return false;
	}
	if (c->where == W_BODY || c->where == W_TEXT)
		c->needles = needles_for(r, pattern);
	g_ptr_array_add(rc->conditions, c);
	return true;
}

/* A rules file is blocks: a head line, then indented body lines.  HEAD
 * makes the block a head line starts (NULL and *ERROR on a bad one); BODY
 * reads one body line into it. */
typedef void *(*head_fn)(struct rules *r, const char *text, const char *path, int no,
			 GError **error);
typedef bool (*body_fn)(struct rules *r, void *block, const char *text, const char *path,
			int no, GError **error);

static bool
load_blocks(struct rules *r, const char *path, const char *outside, head_fn head,
	    body_fn body, GError **error)
{
	GArray *lines = read_lines(path, error);
	void *cur = NULL;
	bool ok = true;

	if (!lines)
		return false;
	for (guint i = 0; ok && i < lines->len; i++) {
		struct line *ln = &g_array_index(lines, struct line, i);
		if (!ln->indented) {
			cur = head(r, ln->text, path, ln->no, error);
			ok = cur != NULL;
		} else if (!cur) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: %s", path, ln->no, outside);
			ok = false;
		} else {
			ok = body(r, cur, ln->text, path, ln->no, error);
		}
	}
	free_lines(lines);
	return ok;
}

/* "class NAME SCORE" or "topic NAME SCORE"; SCORE "!" decides. */
static void *
recipe_head(struct rules *r, const char *text, const char *path, int no, GError **error)
{
	char kind[16], name[64], score[16];
	if (sscanf(text, "%15s %63s %15s", kind, name, score) != 3 ||
	    (strcmp(kind, "class") != 0 && strcmp(kind, "topic") != 0) ||
	    (strcmp(score, "!") != 0 && atoi(score) == 0)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "%s:%d: expected 'class NAME SCORE' or 'topic NAME SCORE' "
			    "(SCORE a number, or '!' to decide at once)", path, no);
		return NULL;
	}
	struct recipe *rc = g_new0(struct recipe, 1);
	rc->is_topic = strcmp(kind, "topic") == 0;
	rc->name = g_strdup(name);
	rc->score = strcmp(score, "!") == 0 ? 0 : atoi(score);
	rc->conditions = g_ptr_array_new_with_free_func(condition_free);
	rc->origin = g_strdup_printf("%s:%d", path, no);
	g_ptr_array_add(r->recipes, rc);
	return rc;
}

static bool
recipe_body(struct rules *r, void *block, const char *text, const char *path, int no,
	    GError **error)
{
	(void)r;
	return parse_condition(r, block, text, path, no, error);
}

static bool
load_recipes(struct rules *r, const char *path, GError **error)
{
	bool ok = load_blocks(r, path, "a condition outside a recipe", recipe_head, recipe_body, error);
	for (guint i = 0; ok && i < r->recipes->len; i++) {
		struct recipe *rc = g_ptr_array_index(r->recipes, i);
		if (rc->conditions->len == 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s: recipe has no condition",
				    rc->origin);
			ok = false;
		}
	}
	return ok;
}

/* The labels of "label A | B | ..." (LIST), folded, as NUL-terminated
 * strings one after the other ("" for a label that folds to nothing). */
static GBytes *
folded_labels(const char *list)
{
	g_auto(GStrv) labels = g_strsplit(list, "|", -1);
	GByteArray *b = g_byte_array_new();
	for (int i = 0; labels[i]; i++) {
		g_autofree char *key = clean_label(g_strstrip(labels[i]));
		g_byte_array_append(b, (const guint8 *)key, (guint)strlen(key) + 1);
	}
	return g_byte_array_free_to_bytes(b);
}

/* Files the labels of LIST under F; a label of another field is an error. */
static bool
add_labels(struct rules *r, struct field_rule *f, const char *list, const char *path, int no,
	   GError **error)
{
	GBytes *kept = r->cache ? rules_cache_bytes(r->cache, "labels", list) : NULL;
	gsize size = 0;
	const char *keys = kept ? g_bytes_get_data(kept, &size) : NULL;
	g_autoptr(GBytes) made = NULL;
	if (!keys || !size || keys[size - 1]) {
		made = folded_labels(list);
		keys = g_bytes_get_data(made, &size);
		if (r->cache)
			rules_cache_keep_bytes(r->cache, "labels", list, made);
	}
	int i = 0;
	for (const char *key = keys; key < keys + size; key += strlen(key) + 1, i++) {
		if (!*key)
			continue;
		struct field_rule *other = g_hash_table_lookup(r->labels, key);
		if (other && other != f) {
			g_auto(GStrv) labels = g_strsplit(list, "|", -1);
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: label '%s' is already a label of %s", path, no,
				    i < (int)g_strv_length(labels) ? g_strstrip(labels[i]) : key,
				    other->name);
			return false;
		}
		g_hash_table_replace(r->labels, g_strdup(key), f);
	}
	return true;
}

static bool
field_line(struct rules *r, struct field_rule *f, const char *text, const char *path,
	   int no, GError **error)
{
	const char *rest;
	g_autofree char *kw = first_word(text, &rest);

	if (strcmp(kw, "label") == 0)
		return add_labels(r, f, rest, path, no, error);
	bool coded = f->type == FIELD_ENUM || f->type == FIELD_BOOL;
	if (strcmp(kw, "prose") == 0) {
		struct prose *p = g_new0(struct prose, 1);
		if (coded)
			p->code = first_word(rest, &rest);
		p->re = compile(r, rest, path, no, error);
		p->needles = p->re ? needles_for(r, rest) : NULL;
		if (!p->re || (coded && !*p->code)) {
			if (p->re)
				g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
					    "%s:%d: prose of a %s field needs a value first", path, no,
					    type_names[f->type]);
			prose_free(p);
			return false;
		}
		g_ptr_array_add(f->prose, p);
		return true;
	}
	if (strcmp(kw, "value") == 0 && coded) {
		struct value_rule *v = g_new0(struct value_rule, 1);
		v->code = first_word(rest, &rest);
		if (f->type == FIELD_BOOL && strcmp(v->code, "true") != 0 && strcmp(v->code, "false") != 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: a bool field's value is 'true' or 'false', not '%s'", path, no, v->code);
			value_rule_free(v);
			return false;
		}
		v->re = compile(r, rest, path, no, error);
		if (!v->re) {
			value_rule_free(v);
			return false;
		}
		g_ptr_array_add(f->values, v);
		return true;
	}
	g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
		    "%s:%d: expected 'label', 'prose'%s", path, no,
		    coded ? " or 'value'" : "");
	return false;
}

/* "field NAME TYPE" */
static void *
field_head(struct rules *r, const char *text, const char *path, int no, GError **error)
{
	char kw[16], name[64], type[16];
	if (sscanf(text, "%15s %63s %15s", kw, name, type) != 3 || strcmp(kw, "field") != 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: expected 'field NAME TYPE'", path, no);
		return NULL;
	}
	size_t t;
	for (t = 0; type_names[t]; t++)
		if (strcmp(type, type_names[t]) == 0)
			break;
	if (!type_names[t]) {
		g_autofree char *known = g_strjoinv(", ", (char **)type_names);
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "%s:%d: unknown type '%s' (expected one of %s)", path, no, type, known);
		return NULL;
	}
	struct field_rule *f = g_new0(struct field_rule, 1);
	f->name = g_strdup(name);
	f->type = (enum field_type)t;
	f->prose = g_ptr_array_new_with_free_func(prose_free);
	f->values = g_ptr_array_new_with_free_func(value_rule_free);
	g_ptr_array_add(r->fields, f);
	return f;
}

static bool
field_body(struct rules *r, void *block, const char *text, const char *path, int no,
	   GError **error)
{
	return field_line(r, block, text, path, no, error);
}

static bool
load_fields(struct rules *r, const char *path, GError **error)
{
	return load_blocks(r, path, "a rule outside a field", field_head, field_body, error);
}

char *
rules_default_dir(void)
{
	const char *env = g_getenv("CONFMAIL_RULES");

	if (env && *env)
		return g_strdup(env);
	/* A build run from its source tree uses the rules beside it. */
	g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
	if (exe) {
		g_autofree char *dir = g_path_get_dirname(exe);
		char *beside = g_build_filename(dir, "filters", NULL);
		g_autofree char *probe = g_build_filename(beside, "fields.rules", NULL);
		if (g_file_test(probe, G_FILE_TEST_EXISTS))
			return beside;
		g_free(beside);
	}
	return g_strdup(CONFMAIL_RULES_DIR);
}

static guint last_hits, last_misses;

char *
rules_cache_path(const struct config *cfg)
{
	return g_strconcat(cfg->database, ".rules-cache", NULL);
}

void
rules_cache_last_counts(guint *hits, guint *misses)
{
	*hits = last_hits;
	*misses = last_misses;
}

struct rules *
rules_load(const char *dir, GError **error)
{
	return rules_load_cached(dir, NULL, error);
}

struct rules *
rules_load_cached(const char *dir, const char *cache, GError **error)
{
	struct rules *r = g_new0(struct rules, 1);
	r->cache = cache ? rules_cache_open(cache) : NULL;
	check_needles = g_strcmp0(g_getenv("CONFMAIL_CHECK_NEEDLES"), "1") == 0;
	r->needle_index = needle_index_new();
	static const struct {
		const char *file;
		size_t offset;
	} tables[] = {
		{ "countries.table", offsetof(struct rules, countries) },
		{ "languages.table", offsetof(struct rules, languages) },
		{ "months.table", offsetof(struct rules, months) },
		{ "words.table", offsetof(struct rules, words) },
	};

	r->dir = g_strdup(dir);
	r->recipes = g_ptr_array_new_with_free_func(recipe_free);
	r->fields = g_ptr_array_new_with_free_func(field_rule_free);
	r->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(tables); i++) {
		g_autofree char *path = g_build_filename(dir, tables[i].file, NULL);
		struct table *t = table_load_cached(path, r->cache, error);
		if (!t) {
			rules_free(r);
			return NULL;
		}
		*(struct table **)((char *)r + tables[i].offset) = t;
	}
	g_autofree char *classify = g_build_filename(dir, "classify.rules", NULL);
	g_autofree char *fields = g_build_filename(dir, "fields.rules", NULL);
	if (!load_recipes(r, classify, error) || !load_fields(r, fields, error)) {
		rules_free(r);
		return NULL;
	}
	if (r->cache) {
		/* a cache that cannot be written costs time, not mail */
		rules_cache_save(r->cache, NULL);
		rules_cache_counts(r->cache, &last_hits, &last_misses);
		g_clear_pointer(&r->cache, rules_cache_free);
	}
	return r;
}

const struct table *
rules_table(const struct rules *r, const char *name)
{
	if (strcmp(name, "countries") == 0)
		return r->countries;
	if (strcmp(name, "languages") == 0)
		return r->languages;
	if (strcmp(name, "months") == 0)
		return r->months;
	return r->words;
}

/* Classifying ------------------------------------------------------------- */

static char *
header_values(const struct mail *m, const char *name)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; m->headers && i < m->headers->len; i++) {
		const struct header *h = &g_array_index(m->headers, struct header, i);
		if (g_ascii_strcasecmp(h->name, name) == 0)
			g_string_append(g_string_append(s, h->value), "\n");
	}
	return g_string_free(s, FALSE);
}

/* What the body and text conditions read, made once per message: the
 * text (subject and body), and the words of the patterns in each. */
struct texts {
	char *all;
	struct needle_hits *all_hits, *body_hits;
};

static bool
condition_holds(const struct rules *r, const struct condition *c, const struct message_view *mv,
		const struct texts *t, pcre2_match_data *md)
{
	g_autofree char *owned = NULL;
	const char *subject = "";
	const struct needle_hits *hits = NULL;

	switch (c->where) {
	case W_RECIPIENT: subject = mv->env->recipient; break;
	case W_SENDER: subject = mv->env->sender; break;
	case W_FROM:
		owned = g_strdup_printf("%s <%s>", mv->mail->from_name ? mv->mail->from_name : "",
					mv->mail->from_addr ? mv->mail->from_addr : "");
		subject = owned;
		break;
	case W_SUBJECT: subject = mv->mail->subject; break;
	case W_HEADER: subject = owned = header_values(mv->mail, c->header); break;
	case W_BODY: subject = mv->text; hits = t->body_hits; break;
	case W_TEXT: subject = t->all; hits = t->all_hits; break;
	}
	if (!subject)
		subject = "";
	bool m = may_match(r, c->re, c->needles, subject, hits, md) && matches(c->re, subject, md);
	return c->negate ? !m : m;
}

static bool
recipe_holds(const struct rules *r, const struct recipe *rc, const struct message_view *mv,
	     const struct texts *t, pcre2_match_data *md)
{
	for (guint i = 0; i < rc->conditions->len; i++)
		if (!condition_holds(r, g_ptr_array_index(rc->conditions, i), mv, t, md))
			return false;
	return true;
}

/* The name with the highest score in SCORES, or NULL. */
static const char *
best_of(GHashTable *scores)
{
	GHashTableIter it;
	gpointer k, v;
	const char *best = NULL;
	int top = 0;

	g_hash_table_iter_init(&it, scores);
	while (g_hash_table_iter_next(&it, &k, &v))
		if (GPOINTER_TO_INT(v) > top || (GPOINTER_TO_INT(v) == top && best && strcmp(k, best) < 0)) {
			top = GPOINTER_TO_INT(v);
			best = k;
		}
	return top > 0 ? best : NULL;
}

void
rules_classify(const struct rules *r, const struct message_view *mv, struct verdict *v)
{
	pcre2_match_data *md = pcre2_match_data_create(8, NULL);
	g_autoptr(GHashTable) classes = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) topics = g_hash_table_new(g_str_hash, g_str_equal);
	const char *decided = NULL, *topic = NULL;
	/* "text" is the subject and the body: made once, not per condition */
	struct texts t = {
		.all = g_strconcat(mv->mail->subject ? mv->mail->subject : "", "\n",
				   mv->text ? mv->text : "", NULL),
	};
	/* the text's words are the subject's and the body's: a word holds
	 * no line break (tests/unit/test_needles.c) */
	g_autofree char *subject_folded = needles_fold(mv->mail->subject ? mv->mail->subject : "");
	g_autofree char *body_folded = needles_fold(mv->text ? mv->text : "");
	t.body_hits = needle_hits_of(r->needle_index, body_folded);
	t.all_hits = subject_folded && body_folded ? needle_hits_of(r->needle_index, subject_folded) : NULL;
	needle_hits_add(t.all_hits, t.body_hits);

	/* the class first; the topic only matters to a question, so its
	 * recipes are read only for one (they are most of the patterns that
	 * run over the whole text) */
	for (int pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < r->recipes->len; i++) {
			const struct recipe *rc = g_ptr_array_index(r->recipes, i);
			if (rc->is_topic != (pass == 1) || (pass == 0 && decided) || (pass == 1 && topic))
				continue;
			if (!recipe_holds(r, rc, mv, &t, md))
				continue;
			if (rc->score == 0) {
				*(pass == 1 ? &topic : &decided) = rc->name;
				continue;
			}
			GHashTable *scores = pass == 1 ? topics : classes;
			int old = GPOINTER_TO_INT(g_hash_table_lookup(scores, rc->name));
			g_hash_table_insert(scores, rc->name, GINT_TO_POINTER(old + rc->score));
		}
		if (pass == 0) {
			const char *cls = decided ? decided : best_of(classes);
			if (cls)
				v->class = cls;
			if (strcmp(v->class, "question") != 0)
				break;
		}
	}
	pcre2_match_data_free(md);
	g_free(t.all);
	needle_hits_free(t.all_hits);
	needle_hits_free(t.body_hits);
	if (strcmp(v->class, "question") == 0) {
		const char *best = topic ? topic : best_of(topics);
		v->topic = best ? best : "other";
	} else {
		v->topic = NULL;
	}
}

/* Extracting fields ------------------------------------------------------- */

/* An address inside a value: compiled once, not per field (a GRegex is
 * safe to share), and not JIT-compiled (that costs more than the few
 * addresses of a message save). */
static GRegex *
email_regex(void)
{
	static GRegex *re;
	if (g_once_init_enter(&re))
		g_once_init_leave(&re, g_regex_new("[[:alnum:]._%+'-]+@[[:alnum:].-]+\\.[[:alpha:]]{2,}",
						   0, 0, NULL));
	return re;
}

/* Whether the character at P is one of the characters of SET (UTF-8). */
static bool
char_in(const char *p, const char *set)
{
	gunichar c = g_utf8_get_char(p);
	return c && g_utf8_strchr(set, -1, c) != NULL;
}

/* Whether S ends with one of the characters of SET. */
static bool
ends_with_char(const char *s, const char *set)
{
	if (!*s)
		return false;
	return char_in(g_utf8_prev_char(s + strlen(s)), set);
}

/* Skips leading characters of SET. */
static const char *
skip_chars(const char *s, const char *set)
{
	while (*s && char_in(s, set))
		s = g_utf8_next_char(s);
	return s;
}

/* Words that answer "nothing" and so give null, not a value. */
static const char *nothing_words[] = {
	"-", "--", "—", "n/a", "na", "none", "no", "nil", "not needed", "not applicable",
	"nothing", "لا يوجد", "لايوجد", "لا", "لا شيء", "لا شي", "غير مطلوب", "نییە", "نیە",
	"هیچ", "نەخێر", "پێویست نییە", "no need", "not required",
};

/* Whether VALUE, folded, is one of WORDS (folded once, on first use). */
static bool
is_one_of(const char *value, const char *const *words, size_t n, GHashTable **set)
{
	if (!*set) {
		*set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		for (size_t i = 0; i < n; i++)
			g_hash_table_add(*set, value_fold(words[i]));
	}
	g_autofree char *f = value_fold(value);
	size_t len = strlen(f);
	while (len > 0 && strchr(".!,;", f[len - 1]))
		f[--len] = '\0';
	return g_hash_table_contains(*set, f);
}

static bool
means_nothing(const char *value)
{
	return is_one_of(value, nothing_words, G_N_ELEMENTS(nothing_words), &nothing_set);
}

/* Collapses white space; NULL for an empty result. */
static char *
collapse(const char *s)
{
	GString *out = g_string_new(NULL);
	bool space = false;

	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (g_unichar_isspace(c)) {
			space = out->len > 0;
			continue;
		}
		if (space)
			g_string_append_c(out, ' ');
		space = false;
		g_string_append_unichar(out, c);
	}
	if (out->len == 0) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* The label of a form line, folded: no bullets, numbering, parentheses,
 * question marks or "your". */
static char *
clean_label(const char *label)
{
	GString *s = g_string_new(NULL);
	int depth = 0;

	for (const char *p = label; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == '(' || c == '[')
			depth++;
		else if ((c == ')' || c == ']') && depth > 0)
			depth--;
		else if (!depth && c != '?' && c != 0x061F && c != '*' && c != '"')
			g_string_append_unichar(s, c);
	}
	g_autofree char *t = g_string_free(s, FALSE);
	const char *start = skip_chars(t, "0123456789 \t.-)•·>–—▪◦‣");
	char *folded = value_fold(start);
	static const char *prefixes[] = { "your ", "my ", "participant ", "participant's " };
	for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++)
		if (g_str_has_prefix(folded, prefixes[i]))
			memmove(folded, folded + strlen(prefixes[i]), strlen(folded) - strlen(prefixes[i]) + 1);
	return folded;
}

static struct field_rule *
field_for_label(const struct rules *r, const char *label)
{
	g_autofree char *key = clean_label(label);
	struct field_rule *f = g_hash_table_lookup(r->labels, key);

	if (f || !*key)
		return f;
	/* Bilingual labels: "Name / الاسم", "Country - البلد" */
	g_autoptr(GString) dashes = g_string_new(key);
	g_string_replace(dashes, " - ", "/", 0);
	g_string_replace(dashes, " – ", "/", 0);
	g_string_replace(dashes, " — ", "/", 0);
	g_auto(GStrv) sides = g_strsplit_set(dashes->str, "/|", -1);
	for (int i = 0; sides[i] && !f; i++) {
		g_autofree char *side = value_fold(sides[i]);
		f = g_hash_table_lookup(r->labels, side);
	}
	return f;
}

/* Splits a form line into label and value: "Label: value", "Label ....
 * value", "| Label | value |", "Label<TAB>value".  Returns false for a
 * line that is not one. */
static bool
split_form_line(const char *line, char **label, char **value)
{
	g_autofree char *l = g_strstrip(g_strdup(line));
	char *sep;

	char *pipe = strchr(l, '|');
	char *colon = strpbrk(l, ":");
	if (pipe && strchr(pipe + 1, '|') && !(colon && colon < pipe)) {
		g_auto(GStrv) cells = g_strsplit(l, "|", -1);
		GPtrArray *kept = g_ptr_array_new();
		for (int i = 0; cells[i]; i++)
			if (*g_strstrip(cells[i]))
				g_ptr_array_add(kept, cells[i]);
		bool two = kept->len == 2;
		if (two) {
			*label = g_strdup(g_ptr_array_index(kept, 0));
			*value = g_strdup(g_ptr_array_index(kept, 1));
		}
		g_ptr_array_free(kept, TRUE);
		return two;
	}
	/* the first colon, unless it is in a time or a URL */
	for (sep = l; (sep = strpbrk(sep, ":")) || (sep = strstr(l, "：")); sep++) {
		bool time = sep > l && g_ascii_isdigit(sep[-1]) && g_ascii_isdigit(sep[1]);
		bool url = sep[1] == '/' && sep[2] == '/';
		if (!time && !url)
			break;
	}
	char *dots = strstr(l, "...");
	char *ellipsis = strstr(l, "…");
	char *tab = strchr(l, '\t');
	size_t seplen = 1;
	if (!sep || (dots && dots < sep) || (ellipsis && ellipsis < sep)) {
		char *lead = dots && (!ellipsis || dots < ellipsis) ? dots : ellipsis;
		if (lead) {
			sep = lead;
			char *end = lead;
			while (*end == '.' || g_str_has_prefix(end, "…") || *end == ' ')
				end += g_str_has_prefix(end, "…") ? strlen("…") : 1;
			seplen = (size_t)(end - lead);
		} else if (tab) {
			sep = tab;
		}
	} else if (g_str_has_prefix(sep, "：")) {
		seplen = strlen("：");
	}
	if (!sep || sep == l)
		return false;
	g_autofree char *lab = g_strndup(l, (gsize)(sep - l));
	g_strstrip(lab);
	if (!*lab || g_utf8_strlen(lab, -1) > 60)
		return false;
	*label = g_steal_pointer(&lab);
	*value = g_strstrip(g_strdup(sep + seplen));
	return true;
}

static bool
is_conjunction(const char *item)
{
	static const char *words[] = { "and", "&", "or", "و", "أو", "او", "یان" };
	return is_one_of(item, words, G_N_ELEMENTS(words), &conjunction_set);
}

/* The items of a written list, split at , ; ، ؛ • and stripped of the
 * quotes around them; words like "none" are not items. */
static GPtrArray *
split_items(const char *v)
{
	GPtrArray *items = g_ptr_array_new_with_free_func(g_free);
	GString *cur = g_string_new(NULL);

	for (const char *p = v;; p = g_utf8_next_char(p)) {
		gunichar c = *p ? g_utf8_get_char(p) : 0;
		if (c == 0 || c == ',' || c == ';' || c == 0x060C || c == 0x061B || c == 0x2022) {
			g_autofree char *item = collapse(cur->str);
			g_string_truncate(cur, 0);
			if (item && !means_nothing(item) && !is_conjunction(item))
				g_ptr_array_add(items, g_steal_pointer(&item));
			if (!c)
				break;
			continue;
		}
		/* quotation marks around a title are not part of it, and a
		 * closing one ends it: «A» و«B», "A" and "B" */
		if (c == 0x201D || c == 0x00BB || c == '"' || c == 0x201C || c == 0x00AB) {
			g_autofree char *item = collapse(cur->str);
			g_string_truncate(cur, 0);
			if (item && !means_nothing(item) && !is_conjunction(item))
				g_ptr_array_add(items, g_steal_pointer(&item));
			continue;
		}
		g_string_append_unichar(cur, c);
	}
	g_string_free(cur, TRUE);
	return items;
}

static void
set_string(JsonObject *o, const char *name, const char *value)
{
	if (value)
		json_object_set_string_member(o, name, value);
	else
		json_object_set_null_member(o, name);
}

static const char *
coded_value(const struct field_rule *f, const char *value, pcre2_match_data *md)
{
	for (guint i = 0; i < f->values->len; i++) {
		const struct value_rule *v = g_ptr_array_index(f->values, i);
		if (matches(v->re, value, md))
			return v->code;
	}
	return NULL;
}

/* In "☐ Yes ☒ No" or "[ ] male [x] female", the ticked option; else NULL. */
static char *
ticked_choice(const char *v)
{
	static const char *ticked[] = { "☒", "☑", "✔", "✓", "[x]", "[X]", "(x)", "(X)" };
	static const char *marks[] = { "☒", "☑", "✔", "✓", "☐", "[x]", "[X]", "[ ]", "(x)", "(X)", "( )" };
	const char *at = NULL;
	size_t len = 0;

	for (size_t i = 0; i < G_N_ELEMENTS(ticked); i++) {
		const char *p = strstr(v, ticked[i]);
		if (p && (!at || p < at)) {
			at = p;
			len = strlen(ticked[i]);
		}
	}
	if (!at || (!strstr(v, "☐") && !strstr(v, "[ ]") && !strstr(v, "( )")))
		return NULL;
	const char *start = at + len, *end = start + strlen(start);
	for (size_t i = 0; i < G_N_ELEMENTS(marks); i++) {
		const char *p = strstr(start, marks[i]);
		if (p && p < end)
			end = p;
	}
	return g_strstrip(g_strndup(start, (gsize)(end - start)));
}

/* Sets FIELD from a labelled VALUE; false when VALUE says nothing usable. */
static bool
set_field(const struct rules *r, JsonObject *o, const struct field_rule *f,
	  const char *value, const struct message_view *mv, pcre2_match_data *md)
{
	g_autofree char *out = NULL;
	/* separators left over from dot leaders or tables: ".... : value" */
	while (*value == ':' || *value == '-' || *value == ' ' || *value == '\t' ||
	       g_str_has_prefix(value, "："))
		value += g_str_has_prefix(value, "：") ? strlen("：") : 1;
	g_autofree char *choice = ticked_choice(value);
	g_autofree char *v = collapse(choice ? choice : value);

	if (!v)
		return false;
	switch (f->type) {
	case FIELD_TEXT:
		if (means_nothing(v))
			return false;
		/* a city is its first part: "Rome, Italy", "بغداد، العراق" */
		if (strcmp(f->name, "city") == 0) {
			char *cut = strstr(v, "،");
			if (!cut || (strchr(v, ',') && strchr(v, ',') < cut))
				cut = strchr(v, ',');
			if (cut && cut > v)
				*cut = '\0';
			g_strchomp(v);
		}
		/* a trailing full stop or comma closes a sentence, not the value,
		 * unless it ends an abbreviation: "e.V.", "Ltd.", "St." */
		for (;;) {
			const char *last = strrchr(v, ' ');
			last = last ? last + 1 : v;
			bool abbrev = g_str_has_suffix(v, ".") &&
			    (strchr(last, '.') != v + strlen(v) - 1 || strlen(last) <= 4);
			if ((g_str_has_suffix(v, ".") && !g_str_has_suffix(v, "..") && !abbrev) ||
			    g_str_has_suffix(v, ",") || g_str_has_suffix(v, ";"))
				v[strlen(v) - 1] = '\0';
			else if (g_str_has_suffix(v, "،") || g_str_has_suffix(v, "؛"))
				v[strlen(v) - strlen("،")] = '\0';
			else
				break;
			g_strchomp(v);
		}
		if (!*v)
			return false;
		set_string(o, f->name, v);
		return true;
	case FIELD_EMAIL: {
		g_autoptr(GMatchInfo) mi = NULL;
		if (!g_regex_match(email_regex(), v, 0, &mi))
			return false;
		g_autofree char *addr = g_match_info_fetch(mi, 0);
		out = g_utf8_strdown(addr, -1);
		set_string(o, f->name, out);
		return true;
	}
	case FIELD_PHONE:
		out = value_phone(v, "964");
		if (!out)
			return false;
		set_string(o, f->name, out);
		return true;
	case FIELD_COUNTRY: {
		const char *code = table_search(r->countries, v);
		if (!code)
			return false;
		set_string(o, f->name, code);
		return true;
	}
	case FIELD_DATE:
		out = value_date(v, mv->default_year, r->months);
		if (!out)
			return false;
		set_string(o, f->name, out);
		return true;
	case FIELD_BOOL: {
		/* a plain yes or no first; then the field's own wording */
		int b = value_bool(v, r->words);
		const char *code = b < 0 ? coded_value(f, v, md) : NULL;
		if (code)
			b = strcmp(code, "true") == 0;
		if (b < 0)
			return false;
		json_object_set_boolean_member(o, f->name, b);
		return true;
	}
	case FIELD_ENUM: {
		const char *code = coded_value(f, v, md);
		if (!code || means_nothing(v))
			return false;
		set_string(o, f->name, code);
		return true;
	}
	case FIELD_LANGUAGE: {
		if (means_nothing(v) || value_bool(v, r->words) == 0)
			return false;
		g_autoptr(GPtrArray) codes = table_search_all(r->languages, v);
		if (codes->len == 0)
			return false;
		set_string(o, f->name, g_ptr_array_index(codes, 0));
		return true;
	}
	case FIELD_LANGUAGES: {
		g_autoptr(GPtrArray) codes = table_search_all(r->languages, v);
		if (codes->len == 0)
			return false;
		JsonArray *a = json_array_new();
		for (guint i = 0; i < codes->len; i++)
			json_array_add_string_element(a, g_ptr_array_index(codes, i));
		json_object_set_array_member(o, f->name, a);
		return true;
	}
	case FIELD_LIST: {
		if (means_nothing(v))
			return false;
		g_autoptr(GPtrArray) items = split_items(v);
		if (items->len == 0)
			return false;
		JsonArray *a = json_array_new();
		for (guint i = 0; i < items->len; i++)
			json_array_add_string_element(a, g_ptr_array_index(items, i));
		json_object_set_array_member(o, f->name, a);
		return true;
	}
	}
	return false;
}

static struct field_rule *
field_named(const struct rules *r, const char *name)
{
	for (guint i = 0; i < r->fields->len; i++) {
		struct field_rule *f = g_ptr_array_index(r->fields, i);
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

static void
set_city_from(const struct rules *r, JsonObject *o, const char *value,
	      const struct message_view *mv, pcre2_match_data *md, GHashTable *done)
{
	struct field_rule *city = field_named(r, "city");
	g_autofree char *first = g_strndup(value, strcspn(value, ","));
	if (city && !g_hash_table_contains(done, city) && !table_search(r->countries, first) &&
	    set_field(r, o, city, first, mv, md))
		g_hash_table_add(done, city);
}

/* "Country / city: USA / Portland": a label naming two fields, and a value
 * in as many parts, fill both.  False when LABEL is not such a pair. */
static bool
set_paired_fields(const struct rules *r, JsonObject *o, const char *label, const char *value,
		  const struct message_view *mv, pcre2_match_data *md, GHashTable *done)
{
	g_auto(GStrv) labels = g_strsplit(label, "/", -1);
	g_auto(GStrv) values = g_strsplit(value, "/", -1);
	guint n = g_strv_length(labels);

	if (n != 2 || g_strv_length(values) != 2)
		return false;
	struct field_rule *a = field_for_label(r, labels[0]);
	struct field_rule *b = field_for_label(r, labels[1]);
	if (!a || !b || a == b)
		return false;
	struct field_rule *fs[2] = { a, b };
	for (int i = 0; i < 2; i++)
		if (!g_hash_table_contains(done, fs[i]) && set_field(r, o, fs[i], values[i], mv, md))
			g_hash_table_add(done, fs[i]);
	return true;
}

static bool
is_label_line(const struct rules *r, const char *line)
{
	g_autofree char *label = NULL, *value = NULL;
	return split_form_line(line, &label, &value) && field_for_label(r, label);
}

/* Joins the lines of hard-wrapped paragraphs (a line of 40 or more
 * characters followed by one that starts with a letter or digit); form
 * lines, list items and short lines keep their ends. */
static char *
unwrap(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);

	for (int i = 0; lines[i]; i++) {
		g_autofree char *prev = i > 0 ? g_strstrip(g_strdup(lines[i - 1])) : NULL;
		const char *cur = lines[i];
		while (*cur == ' ' || *cur == '\t')
			cur++;
		gunichar first = g_utf8_get_char(cur);
		bool join = prev && g_utf8_strlen(prev, -1) >= 40 && *cur &&
		    g_unichar_isalnum(first) && !ends_with_char(prev, ":：");
		if (i > 0)
			g_string_append_c(out, join ? ' ' : '\n');
		g_string_append(out, join ? cur : lines[i]);
	}
	return g_string_free(out, FALSE);
}

JsonObject *
rules_extract(const struct rules *r, const struct message_view *mv)
{
	JsonObject *o = json_object_new();
	pcre2_match_data *md = pcre2_match_data_create(16, NULL);
	g_auto(GStrv) lines = g_strsplit(mv->text ? mv->text : "", "\n", -1);

	for (guint i = 0; i < r->fields->len; i++)
		json_object_set_null_member(o, ((struct field_rule *)g_ptr_array_index(r->fields, i))->name);

	/* Forms: "Label: value" lines; the first one for a field counts. */
	g_autoptr(GHashTable) done = g_hash_table_new(g_direct_hash, g_direct_equal);
	for (int i = 0; lines[i]; i++) {
		g_autofree char *label = NULL, *value = NULL;
		if (!split_form_line(lines[i], &label, &value))
			continue;
		struct field_rule *f = field_for_label(r, label);
		if (!f || g_hash_table_contains(done, f))
			continue;
		/* "Label:" alone, the value on the lines below (a list, a
		 * Word form) */
		g_autoptr(GString) below = g_string_new(value);
		for (int j = i + 1; !*value && lines[j] && !is_label_line(r, lines[j]); j++) {
			g_autofree char *t = g_strstrip(g_strdup(lines[j]));
			if (!*t) {
				if (below->len)
					break;
				continue;
			}
			const char *item = skip_chars(t, "-*•·–—▪◦‣ ");
			memmove(t, item, strlen(item) + 1);
			bool many = f->type == FIELD_LIST || f->type == FIELD_LANGUAGES;
			if (below->len)
				g_string_append(below, many ? ", " : " ");
			g_string_append(below, g_strstrip(t));
			if (!many)
				break;
		}
		/* a long value wrapped onto the next line: "Travel: we cover our
		 * own travel and would like to sponsor the\n travel of ..." */
		for (int j = i + 1; *value && g_utf8_strlen(below->str, -1) >= 50 && lines[j] &&
		     !ends_with_char(below->str, ".!?؟"); j++) {
			g_autofree char *t = g_strstrip(g_strdup(lines[j]));
			g_autofree char *l2 = NULL, *v2 = NULL;
			if (!*t || split_form_line(lines[j], &l2, &v2))
				break;
			g_string_append_c(below, ' ');
			g_string_append(below, t);
			if (g_utf8_strlen(t, -1) < 50)
				break;
		}
		if (set_paired_fields(r, o, label, below->str, mv, md, done))
			continue;
		if (set_field(r, o, f, below->str, mv, md))
			g_hash_table_add(done, f);
		/* "Based in: Lyon, France": the place before the country is the city */
		if (f->type == FIELD_COUNTRY && strchr(below->str, ','))
			set_city_from(r, o, below->str, mv, md, done);
	}

	/* Prose, for what no form line gave, read with hard-wrapped lines
	 * joined: "I work with the\nShatt al-Arab Society" is one phrase. */
	g_autofree char *prose = unwrap(mv->text ? mv->text : "");
	g_autofree char *prose_folded = needles_fold(prose);
	g_autoptr(needle_hits) prose_hits = needle_hits_of(r->needle_index, prose_folded);
	for (guint i = 0; i < r->fields->len; i++) {
		struct field_rule *f = g_ptr_array_index(r->fields, i);
		for (guint k = 0; !g_hash_table_contains(done, f) && k < f->prose->len; k++) {
			const struct prose *p = g_ptr_array_index(f->prose, k);
			if (!may_match(r, p->re, p->needles, prose, prose_hits, md))
				continue;
			int rc = match_at(p->re, prose, 0, md);
			if (rc < 0)
				continue;
			if (p->code) {
				if (f->type == FIELD_BOOL)
					json_object_set_boolean_member(o, f->name, strcmp(p->code, "true") == 0);
				else
					set_string(o, f->name, p->code);
				g_hash_table_add(done, f);
				continue;
			}
			/* every match of the pattern, until one gives a value */
			PCRE2_SIZE start = 0;
			const char *subject = prose;
			while (rc >= 0 && !g_hash_table_contains(done, f)) {
				PCRE2_UCHAR *val = NULL;
				PCRE2_SIZE len = 0;
				if (pcre2_substring_get_byname(md, (PCRE2_SPTR) "v", &val, &len) == 0 ||
				    pcre2_substring_get_bynumber(md, 1, &val, &len) == 0) {
					if (set_field(r, o, f, (const char *)val, mv, md))
						g_hash_table_add(done, f);
					pcre2_substring_free(val);
				}
				PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
				start = ov[1] > start ? ov[1] : start + 1;
				if (start >= strlen(subject))
					break;
				rc = match_at(p->re, subject, start, md);
			}
		}
	}
	pcre2_match_data_free(md);

	/* The participant's own address: a stated one, else the sender's. */
	if (json_object_has_member(o, "email") && json_object_get_null_member(o, "email") && mv->participant)
		json_object_set_string_member(o, "email", mv->participant);
	return o;
}
