/*
 * rules_cache.c - what loading the rules made of each pattern, kept in a
 * file beside the database so that the next `confmail filter` does not
 * make it again.  An MTA starts one process per message, and compiling
 * the 140 patterns of the rules (PCRE2) and reading the words each needs
 * (needles.c) cost more than everything else that process does.
 *
 * Other things made of a text are kept too, as bytes found by their kind
 * and that text: each table (countries, languages...) by the text of its
 * file, the folded labels of a "label" line by the line.
 *
 * The cache is an optimisation and nothing more: every entry is found by
 * the text of its pattern, so an edited rule misses and is made afresh; a
 * file written by another build of confmail (its ELF build ID differs),
 * by another PCRE2 (pcre2_serialize_decode refuses it), or damaged (its
 * checksum differs) is ignored whole; a file that cannot be written is
 * not an error.  Nothing in it is personal: patterns and words.
 *
 * The file, in this machine's byte order:
 *   "confmail rules cache 1\n"  build ID (u32 length, bytes)
 *   u64 checksum of everything after it
 *   u32 entries; each: u32 length, pattern; u8 needles (0 unknown, 1
 *     none, 2 words); u32 words; each word: u32 length, bytes
 *   u32 kept; each: u32 length, KIND ":" TEXT; u32 length, the bytes
 *     made of it (a table by values.c, labels by rules.c)
 *   u64 length, the entries' compiled patterns (pcre2_serialize_encode),
 *     in the same order
 */
#define _GNU_SOURCE	/* dl_iterate_phdr */
#include "rules_cache.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <link.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "confmail rules cache 2\n"

enum needles_known { NEEDLES_UNKNOWN, NEEDLES_NONE, NEEDLES_WORDS };

struct cached {
	char *pattern;
	pcre2_code *re;		/* from the file, until the rules take it */
	const pcre2_code *used;	/* what this run's rules hold */
	enum needles_known needles;
	GPtrArray *words;	/* of char *, when NEEDLES_WORDS */
};

struct kept_bytes {
	char *text;		/* KIND:TEXT */
	GBytes *bytes;		/* what was made of it */
	bool used;
};

struct rules_cache {
	char *path;
	GHashTable *entries;	/* pattern -> struct cached */
	GHashTable *tables;	/* KIND:TEXT -> struct kept_bytes */
	GPtrArray *used;	/* the entries of this run, in the order made */
	bool changed;		/* this run made something the file lacks */
	guint hits, misses;
};

static void
cached_free(gpointer p)
{
	struct cached *e = p;
	g_free(e->pattern);
	pcre2_code_free(e->re);
	if (e->words)
		g_ptr_array_free(e->words, TRUE);
	g_free(e);
}

static void
kept_bytes_free(gpointer p)
{
	struct kept_bytes *k = p;
	g_free(k->text);
	g_bytes_unref(k->bytes);
	g_free(k);
}

/* The GNU build ID of the running program: a rules cache is only good
 * for the build that wrote it, since the words of a pattern are what this
 * build's needles.c reads in it. */
struct build_id {
	const guint8 *bytes;
	guint32 len;
};

static int
find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
	struct build_id *id = data;
	(void)size;
	/* the first object is the program itself */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const guint8 *p = (const guint8 *)(info->dlpi_addr + ph->p_vaddr);
		const guint8 *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)(const void *)p;
			const guint8 *name = p + sizeof *n;
			const guint8 *desc = name + ((n->n_namesz + 3) & ~3u);
			if (desc + n->n_descsz > end)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0) {
				id->bytes = desc;
				id->len = n->n_descsz;
				return 1;
			}
			p = desc + ((n->n_descsz + 3) & ~3u);
		}
	}
	return 1;
}

static struct build_id
build_id(void)
{
	struct build_id id = { 0 };
	dl_iterate_phdr(find_build_id, &id);
	return id;
}

/* A checksum of P, eight bytes a step: each step is a bijection of the
 * state, so any one changed word changes the result. */
static guint64
checksum(const guint8 *p, size_t n)
{
	guint64 h = 0xcbf29ce484222325u ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		guint64 w;
		memcpy(&w, p + i, sizeof w);
		h = (h ^ w) * 0x100000001b3u;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

/* Reading ----------------------------------------------------------------- */

bool
cache_take(struct cache_reader *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return false;
	}
	memcpy(out, r->p, n);
	r->p += n;
	return true;
}

guint32
cache_take_u32(struct cache_reader *r)
{
	guint32 v = 0;
	cache_take(r, &v, sizeof v);
	return v;
}

char *
cache_take_string(struct cache_reader *r)
{
	guint32 n = cache_take_u32(r);
	if (r->bad || (size_t)(r->end - r->p) < n || memchr(r->p, 0, n)) {
		r->bad = true;
		return g_strdup("");
	}
	char *s = g_strndup((const char *)r->p, n);
	r->p += n;
	return s;
}

/* The entries of the file at C->path, when it is one this build wrote. */
static void
read_file(struct rules_cache *c)
{
	/* mapped, not read: the kernel maps many pages of it at a time */
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat sb;
	/* PCRE2 trusts the code it decodes: only a file of ours that nobody
	 * else may write is read (as for the database itself) */
	g_autoptr(GMappedFile) map = fstat(fd, &sb) == 0 && sb.st_uid == geteuid() &&
	    !(sb.st_mode & 022) && S_ISREG(sb.st_mode) && sb.st_size > 0 ?
	    g_mapped_file_new_from_fd(fd, FALSE, NULL) : NULL;
	close(fd);
	if (!map)
		return;
	const guint8 *data = (const guint8 *)g_mapped_file_get_contents(map);
	size_t size = g_mapped_file_get_length(map);
	struct cache_reader r = { data, data + size, false };
	struct build_id id = build_id();
	char magic[sizeof MAGIC - 1];
	guint64 sum = 0;
	if (!id.len || !cache_take(&r, magic, sizeof magic) || memcmp(magic, MAGIC, sizeof magic) != 0 ||
	    cache_take_u32(&r) != id.len || (size_t)(r.end - r.p) < id.len ||
	    memcmp(r.p, id.bytes, id.len) != 0)
		return;
	r.p += id.len;
	if (!cache_take(&r, &sum, sizeof sum) || checksum(r.p, (size_t)(r.end - r.p)) != sum)
		return;

	guint32 n = cache_take_u32(&r);
	g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(cached_free);
	for (guint32 i = 0; i < n && !r.bad; i++) {
		struct cached *e = g_new0(struct cached, 1);
		g_ptr_array_add(entries, e);
		guint8 known = 0;
		e->pattern = cache_take_string(&r);
		cache_take(&r, &known, 1);
		guint32 words = cache_take_u32(&r);
		if (known > NEEDLES_WORDS || (known != NEEDLES_WORDS && words)) {
			r.bad = true;
			break;
		}
		e->needles = known;
		if (known == NEEDLES_WORDS)
			e->words = g_ptr_array_new_with_free_func(g_free);
		for (guint32 k = 0; k < words && !r.bad; k++) {
			g_ptr_array_add(e->words, cache_take_string(&r));
		}
	}
	guint32 ntables = cache_take_u32(&r);
	g_autoptr(GPtrArray) tables = g_ptr_array_new_with_free_func(kept_bytes_free);
	for (guint32 i = 0; i < ntables && !r.bad; i++) {
		struct kept_bytes *k = g_new0(struct kept_bytes, 1);
		g_ptr_array_add(tables, k);
		k->text = cache_take_string(&r);
		guint32 len = cache_take_u32(&r);
		if (r.bad || (size_t)(r.end - r.p) < len) {
			r.bad = true;
			break;
		}
		k->bytes = g_bytes_new(r.p, len);
		r.p += len;
	}
	guint64 blob = 0;
	/* PCRE2 reads its own header of the blob before it checks anything */
	if (r.bad || !cache_take(&r, &blob, sizeof blob) || blob != (guint64)(r.end - r.p) ||
	    blob < 64 || n == 0)
		return;
	if (pcre2_serialize_get_number_of_codes(r.p) != (int32_t)n)
		return;
	g_autofree pcre2_code **codes = g_new0(pcre2_code *, n);
	if (pcre2_serialize_decode(codes, (int32_t)n, r.p, NULL) != (int32_t)n)
		return;
	for (guint32 i = 0; i < n; i++) {
		struct cached *e = g_ptr_array_steal_index(entries, 0);
		e->re = codes[i];
		/* two entries of one pattern: the file is not ours */
		if (g_hash_table_contains(c->entries, e->pattern)) {
			cached_free(e);
			continue;
		}
		g_hash_table_insert(c->entries, e->pattern, e);
	}
	while (tables->len) {
		struct kept_bytes *k = g_ptr_array_steal_index_fast(tables, tables->len - 1);
		g_hash_table_replace(c->tables, k->text, k);
	}
}

struct rules_cache *
rules_cache_open(const char *path)
{
	struct rules_cache *c = g_new0(struct rules_cache, 1);
	c->path = g_strdup(path);
	c->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, cached_free);
	c->tables = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, kept_bytes_free);
	c->used = g_ptr_array_new();
	read_file(c);
	return c;
}

void
rules_cache_free(struct rules_cache *c)
{
	if (!c)
		return;
	g_ptr_array_free(c->used, TRUE);
	g_hash_table_destroy(c->entries);
	g_hash_table_destroy(c->tables);
	g_free(c->path);
	g_free(c);
}

/* Lookups ----------------------------------------------------------------- */

static struct cached *
entry(struct rules_cache *c, const char *pattern)
{
	struct cached *e = g_hash_table_lookup(c->entries, pattern);
	if (!e) {
		e = g_new0(struct cached, 1);
		e->pattern = g_strdup(pattern);
		g_hash_table_insert(c->entries, e->pattern, e);
	}
	return e;
}

pcre2_code *
rules_cache_code(struct rules_cache *c, const char *pattern)
{
	struct cached *e = g_hash_table_lookup(c->entries, pattern);
	/* the same pattern twice in the rules: a copy of the first (counted
	 * neither way) */
	if (e && !e->re && e->used)
		return pcre2_code_copy(e->used);
	if (!e || !e->re) {
		c->misses++;
		return NULL;
	}
	c->hits++;
	e->used = e->re;
	g_ptr_array_add(c->used, e);
	return g_steal_pointer(&e->re);
}

void
rules_cache_keep_code(struct rules_cache *c, const char *pattern, const pcre2_code *re)
{
	struct cached *e = entry(c, pattern);
	if (e->used)
		return;
	e->used = re;
	g_ptr_array_add(c->used, e);
	c->changed = true;
}

struct needles *
rules_cache_needles(struct rules_cache *c, struct needle_index *idx, const char *pattern)
{
	struct cached *e = entry(c, pattern);
	switch (e->needles) {
	case NEEDLES_NONE:
		return NULL;
	case NEEDLES_WORDS:
		return needles_of_words(idx, e->words);
	case NEEDLES_UNKNOWN:
		break;
	}
	struct needles *n = needles_of(idx, pattern);
	e->needles = n ? NEEDLES_WORDS : NEEDLES_NONE;
	if (n) {
		e->words = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; i < needles_count(n); i++)
			g_ptr_array_add(e->words, g_strdup(needles_word(idx, n, i)));
	}
	c->changed = true;
	return n;
}

GBytes *
rules_cache_bytes(struct rules_cache *c, const char *kind, const char *text)
{
	g_autofree char *key = g_strconcat(kind, ":", text, NULL);
	struct kept_bytes *k = g_hash_table_lookup(c->tables, key);
	if (!k) {
		c->misses++;
		return NULL;
	}
	c->hits++;
	k->used = true;
	return k->bytes;
}

void
rules_cache_keep_bytes(struct rules_cache *c, const char *kind, const char *text, GBytes *bytes)
{
	struct kept_bytes *k = g_new0(struct kept_bytes, 1);
	k->text = g_strconcat(kind, ":", text, NULL);
	k->bytes = g_bytes_ref(bytes);
	k->used = true;
	g_hash_table_replace(c->tables, k->text, k);
	c->changed = true;
}

void
rules_cache_counts(const struct rules_cache *c, guint *hits, guint *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}

/* Writing ----------------------------------------------------------------- */

void
cache_put_u32(GByteArray *b, guint32 v)
{
	g_byte_array_append(b, (const guint8 *)&v, sizeof v);
}

void
cache_put_string(GByteArray *b, const char *s)
{
	size_t n = strlen(s);
	cache_put_u32(b, (guint32)n);
	g_byte_array_append(b, (const guint8 *)s, (guint)n);
}

bool
rules_cache_save(struct rules_cache *c, GError **error)
{
	GHashTableIter it;
	gpointer text, kept;
	guint ntables = 0;
	g_hash_table_iter_init(&it, c->tables);
	while (g_hash_table_iter_next(&it, &text, &kept))
		ntables += ((struct kept_bytes *)kept)->used;
	/* nothing new, and nothing in the file this run did not use */
	if (!c->changed && c->used->len == g_hash_table_size(c->entries) &&
	    ntables == g_hash_table_size(c->tables))
		return true;
	struct build_id id = build_id();
	if (!id.len || c->used->len == 0)
		return true;
	guint n_codes = c->used->len;
	g_autofree const pcre2_code **codes = g_new(const pcre2_code *, n_codes);
	for (guint i = 0; i < n_codes; i++)
		codes[i] = ((struct cached *)g_ptr_array_index(c->used, i))->used;
	uint8_t *blob = NULL;
	PCRE2_SIZE blob_size = 0;
	int32_t rc = pcre2_serialize_encode(codes, (int32_t)n_codes, &blob, &blob_size, NULL);
	if (rc == PCRE2_ERROR_MIXEDTABLES) {
		/* Codes from the file share its copy of the character tables,
		 * new ones PCRE2's own, and one file holds one set: compile
		 * them all afresh, which happens only when the rules changed. */
		g_autofree pcre2_code **fresh = g_new0(pcre2_code *, n_codes);
		bool ok = true;
		for (guint i = 0; i < n_codes && ok; i++) {
			const struct cached *e = g_ptr_array_index(c->used, i);
			int err;
			PCRE2_SIZE at;
			fresh[i] = pcre2_compile((PCRE2_SPTR)e->pattern, PCRE2_ZERO_TERMINATED,
						 RULES_PCRE2_OPTIONS, &err, &at, NULL);
			ok = fresh[i] != NULL;
			codes[i] = fresh[i];
		}
		rc = ok ? pcre2_serialize_encode(codes, (int32_t)n_codes, &blob, &blob_size, NULL) : -1;
		for (guint i = 0; i < n_codes; i++)
			pcre2_code_free(fresh[i]);
	}
	if (rc < 0)
		return true;	/* not kept; the next run compiles */

	GByteArray *b = g_byte_array_new();
	g_byte_array_append(b, (const guint8 *)MAGIC, sizeof MAGIC - 1);
	cache_put_u32(b, id.len);
	g_byte_array_append(b, id.bytes, id.len);
	guint sum_at = b->len;
	guint64 sum = 0;
	g_byte_array_append(b, (const guint8 *)&sum, sizeof sum);
	cache_put_u32(b, c->used->len);
	for (guint i = 0; i < c->used->len; i++) {
		const struct cached *e = g_ptr_array_index(c->used, i);
		guint8 known = (guint8)e->needles;
		cache_put_string(b, e->pattern);
		g_byte_array_append(b, &known, 1);
		cache_put_u32(b, e->words ? e->words->len : 0);
		for (guint k = 0; e->words && k < e->words->len; k++)
			cache_put_string(b, g_ptr_array_index(e->words, k));
	}
	cache_put_u32(b, ntables);
	g_hash_table_iter_init(&it, c->tables);
	while (g_hash_table_iter_next(&it, &text, &kept)) {
		const struct kept_bytes *k = kept;
		if (!k->used)
			continue;
		gsize len;
		const guint8 *bytes = g_bytes_get_data(k->bytes, &len);
		cache_put_string(b, k->text);
		cache_put_u32(b, (guint32)len);
		g_byte_array_append(b, bytes, (guint)len);
	}
	guint64 n = blob_size;
	g_byte_array_append(b, (const guint8 *)&n, sizeof n);
	g_byte_array_append(b, blob, (guint)blob_size);
	pcre2_serialize_free(blob);
	sum = checksum(b->data + sum_at + sizeof sum, b->len - sum_at - sizeof sum);
	memcpy(b->data + sum_at, &sum, sizeof sum);

	/* a new file renamed over the old: a reader sees one or the other */
	bool ok = g_file_set_contents_full(c->path, (const char *)b->data, b->len,
					   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
	g_byte_array_free(b, TRUE);
	return ok;
}
