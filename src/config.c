/*
 * config.c - the conference file: a GKeyFile read against a table of the
 * keys we know, so that every mistake is reported with file, line and what
 * was expected, and later issues add a key by adding a row.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

enum key_type {
	K_STRING,
	K_INT,
	K_SIZE,			/* bytes, with an optional K, M or G suffix */
	K_ENUM,			/* one of the '|'-separated words in extra */
	K_ADDRESS,		/* one addr-spec */
	K_ADDRESSES,		/* a list of addr-specs, ';' or ',' separated */
	K_PATH,			/* relative to the config file's directory */
	K_TIMEZONE,		/* an IANA zone name */
	K_DEADLINE,		/* ISO 8601 date or date-time, in the timezone */
	K_WORD,			/* letters, digits, '-' and '_' only */
};

struct key_spec {
	const char *group;
	const char *key;
	enum key_type type;
	size_t offset;		/* into struct config */
	const char *fallback;	/* default as text, or NULL */
	bool required;
	const char *extra;	/* enum words, or "min:max" for K_INT */
};

#define F(member) offsetof(struct config, member)

/* Order matters: [conference] timezone comes before the deadline that is
 * read in it, and [addresses] domain before the addresses that default
 * to it. */
static const struct key_spec keys[] = {
	{ "conference", "name", K_STRING, F(name), NULL, true, NULL },
	{ "conference", "reference_prefix", K_WORD, F(reference_prefix), NULL, true, NULL },
	{ "conference", "timezone", K_TIMEZONE, F(timezone), "UTC", false, NULL },
	{ "conference", "registration_deadline", K_DEADLINE, F(registration_deadline), NULL, true, NULL },
	{ "conference", "capacity", K_INT, F(capacity), "0", false, "0:1000000" },
	{ "conference", "default_language", K_ENUM, F(default_language), "en", false, "en|ar|ckb" },

	{ "addresses", "domain", K_STRING, F(domain), NULL, true, NULL },
	{ "addresses", "register", K_ADDRESS, F(register_address), "register@", false, NULL },
	{ "addresses", "info", K_ADDRESS, F(info_address), "info@", false, NULL },
	{ "addresses", "announce", K_ADDRESS, F(announce_address), "announce@", false, NULL },
	{ "addresses", "from", K_ADDRESS, F(from_address), "register@", false, NULL },
	{ "addresses", "organisers", K_ADDRESSES, F(organisers), NULL, true, NULL },
	{ "addresses", "tickets", K_ADDRESS, F(tickets_address), "tickets@", false, NULL },
	{ "addresses", "comments", K_ADDRESS, F(comments_address), "comment@", false, NULL },

	{ "tickets", "remind_after", K_INT, F(remind_after), "48", false, "1:8760" },

	{ "digest", "language", K_ENUM, F(digest_language), "en", false, "en|ar|ckb" },
	{ "digest", "remind_incomplete_days", K_INT, F(remind_incomplete_days), "5", false, "0:365" },

	{ "list", "subscribe_registered", K_ENUM, F(list_subscribe_registered), "true", false, "true|false" },
	{ "list", "unsubscribe_url", K_STRING, F(list_unsubscribe_url), NULL, false, NULL },
	{ "list", "rate", K_INT, F(list_rate), "0", false, "0:100000" },
	{ "list", "request", K_ADDRESS, F(list_request_address), "announce-request@", false, NULL },

	{ "store", "database", K_PATH, F(database), NULL, true, NULL },
	{ "store", "secret_file", K_PATH, F(secret_file), NULL, false, NULL },
	{ "store", "busy_timeout_ms", K_INT, F(busy_timeout_ms), "10000", false, "0:600000" },

	{ "limits", "max_message_size", K_SIZE, F(max_message_size), "25M", false, NULL },
	{ "limits", "forward_whole_max", K_SIZE, F(forward_whole_max), "10M", false, NULL },
	{ "limits", "max_replies_per_day", K_INT, F(max_replies_per_day), "10", false, "0:10000" },
	{ "limits", "max_replies_per_hour", K_INT, F(max_replies_per_hour), "300", false, "0:1000000" },

	{ "intake", "loop_id", K_STRING, F(loop_id), NULL, false, NULL },

	{ "transport", "kind", K_ENUM, F(transport_kind), "maildir", false, "smtp|sendmail|maildir" },
	{ "transport", "maildir", K_PATH, F(transport_maildir), "outbox-maildir", false, NULL },
	{ "transport", "host", K_STRING, F(transport_host), "127.0.0.1", false, NULL },
	{ "transport", "port", K_INT, F(transport_port), "25", false, "1:65535" },
	{ "transport", "sendmail", K_STRING, F(transport_sendmail), "/usr/sbin/sendmail", false, NULL },
	{ "transport", "max_queue_lifetime", K_INT, F(max_queue_lifetime), "5", false, "1:60" },
	{ "transport", "starttls", K_ENUM, F(transport_starttls), "opportunistic", false, "required|opportunistic|off" },
	{ "transport", "implicit_tls", K_ENUM, F(transport_implicit_tls), "false", false, "true|false" },
	{ "transport", "ca_file", K_PATH, F(transport_ca_file), NULL, false, NULL },
	{ "transport", "user", K_STRING, F(transport_user), NULL, false, NULL },
	{ "transport", "password_file", K_PATH, F(transport_password_file), NULL, false, NULL },
	{ "transport", "helo_name", K_STRING, F(transport_helo_name), NULL, false, NULL },
	{ "transport", "timeout", K_INT, F(transport_timeout), "300", false, "1:3600" },
	{ "transport", "max_recipients", K_INT, F(transport_max_recipients), "50", false, "1:1000" },

	{ "fetch", "protocol", K_ENUM, F(fetch_protocol), "imap", false, "imap|pop3" },
	{ "fetch", "host", K_STRING, F(fetch_host), NULL, false, NULL },
	/* unset: 993 (imap, implicit), 143 (imap), 995 (pop3, implicit), 110 */
	{ "fetch", "port", K_INT, F(fetch_port), NULL, false, "1:65535" },
	{ "fetch", "tls", K_ENUM, F(fetch_tls), "implicit", false, "implicit|starttls|off" },
	{ "fetch", "ca_file", K_PATH, F(fetch_ca_file), NULL, false, NULL },
	{ "fetch", "user", K_STRING, F(fetch_user), NULL, false, NULL },
	{ "fetch", "password_file", K_PATH, F(fetch_password_file), NULL, false, NULL },
	{ "fetch", "folder", K_STRING, F(fetch_folder), "INBOX", false, NULL },
	{ "fetch", "after", K_ENUM, F(fetch_after), "flag", false, "move|flag|delete" },
	{ "fetch", "processed_folder", K_STRING, F(fetch_processed_folder), NULL, false, NULL },
	{ "fetch", "interval", K_INT, F(fetch_interval), "60", false, "1:86400" },
	{ "fetch", "timeout", K_INT, F(fetch_timeout), "120", false, "1:3600" },
};

G_DEFINE_QUARK(confmail-error-quark, confmail_error)

const char *
config_default_path(void)
{
	const char *env = g_getenv("CONFMAIL_CONF");

	return env && *env ? env : "confmail.conf";
}

int
config_line_of(const char *path, const char *group, const char *key)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	bool in_group = false;
	size_t klen = key ? strlen(key) : 0;
	for (int i = 0; lines[i]; i++) {
		const char *l = lines[i];
		while (*l == ' ' || *l == '\t')
			l++;
		if (*l == '[') {
			const char *end = strchr(l, ']');
			in_group = end && (size_t)(end - l - 1) == strlen(group) &&
			    strncmp(l + 1, group, strlen(group)) == 0;
			if (in_group && !key)
				return i + 1;
			continue;
		}
		if (!in_group || !key || strncmp(l, key, klen) != 0)
			continue;
		const char *p = l + klen;
		if (*p == '[') /* a localised key, key[ar]=... */
			p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '=')
			return i + 1;
	}
	return 0;
}

/* Sets an EX_CONFIG error that points at the line of GROUP/KEY. */
static void G_GNUC_PRINTF(5, 6)
config_error(GError **error, const char *path, const char *group,
	     const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	int line = config_line_of(path, group, key);
	if (line > 0)
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: [%s] %s%s%s",
			    path, line, group, key ? key : "", key ? ": " : "", what);
	else
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s: [%s] %s%s%s",
			    path, group, key ? key : "", key ? ": " : "", what);
}

static bool
valid_address(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("<>()[]\\,;:\"", *p))
			return false;
	return true;
}

static bool
parse_size(const char *s, gint64 *out)
{
	char *end;
	guint64 n = g_ascii_strtoull(s, &end, 10);

	if (end == s)
		return false;
	guint64 mult = 1;
	switch (g_ascii_toupper(*end)) {
	case 'K': mult = 1024; end++; break;
	case 'M': mult = 1024 * 1024; end++; break;
	case 'G': mult = 1024 * 1024 * 1024; end++; break;
	}
	if (g_ascii_toupper(*end) == 'B' || g_ascii_toupper(*end) == 'I')
		end++;
	if (*end || n == 0 || n > G_MAXINT64 / mult)
		return false;
	*out = (gint64)(n * mult);
	return true;
}

/* A date alone means the end of that day: "until 15 February" includes it. */
static GDateTime *
parse_deadline(const char *s, GTimeZone *tz)
{
	if (strlen(s) == 10) {
		g_autofree char *full = g_strconcat(s, "T23:59:59", NULL);
		return g_date_time_new_from_iso8601(full, tz);
	}
	return g_date_time_new_from_iso8601(s, tz);
}

/* Fills in the address defaults that are relative to the domain: a
 * fallback of "register@" becomes "register@DOMAIN". */
static char *
expand_fallback(const struct config *cfg, const struct key_spec *k)
{
	if (k->type == K_ADDRESS && g_str_has_suffix(k->fallback, "@"))
		return g_strconcat(k->fallback, cfg->domain, NULL);
	return g_strdup(k->fallback);
}

/* "a@x; b@y" (or commas): the addresses, lower-cased, NULL-terminated;
 * NULL and an error naming GROUP and KEY when one is not an address. */
static char **
parse_addresses(const char *path, const char *group, const char *key, const char *value,
		GError **error)
{
	g_auto(GStrv) parts = g_strsplit_set(value, ";,", -1);
	GPtrArray *list = g_ptr_array_new();
	for (int i = 0; parts[i]; i++) {
		char *a = g_strstrip(parts[i]);
		if (!*a)
			continue;
		if (!valid_address(a)) {
			config_error(error, path, group, key,
				     "expected addresses separated by ';', but '%s' is not an address", a);
			g_ptr_array_free(list, TRUE);
			return NULL;
		}
		g_ptr_array_add(list, g_ascii_strdown(a, -1));
	}
	if (list->len == 0) {
		config_error(error, path, group, key, "expected at least one address");
		g_ptr_array_free(list, TRUE);
		return NULL;
	}
	g_ptr_array_add(list, NULL);
	return (char **)g_ptr_array_free(list, FALSE);
}

static bool
set_value(struct config *cfg, const struct key_spec *k, const char *value,
	  GError **error)
{
	char *slot = (char *)cfg + k->offset;
	const char *path = cfg->path;

	switch (k->type) {
	case K_STRING:
		if (strpbrk(value, "\r\n")) {
			config_error(error, path, k->group, k->key, "expected one line of text");
			return false;
		}
		*(char **)slot = g_strdup(value);
		return true;
	case K_WORD:
		for (const char *p = value; *p; p++)
			if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_') {
				config_error(error, path, k->group, k->key,
					     "expected letters, digits, '-' or '_', got '%s'", value);
				return false;
			}
		if (!*value) {
			config_error(error, path, k->group, k->key, "expected a word, got nothing");
			return false;
		}
		*(char **)slot = g_strdup(value);
		return true;
	case K_INT: {
		gint64 n, lo = 0, hi = G_MAXINT;
		sscanf(k->extra, "%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, &lo, &hi);
		if (!g_ascii_string_to_signed(value, 10, lo, hi, &n, NULL)) {
			config_error(error, path, k->group, k->key,
				     "expected a whole number from %" G_GINT64_FORMAT
				     " to %" G_GINT64_FORMAT ", got '%s'", lo, hi, value);
			return false;
		}
		*(int *)slot = (int)n;
		return true;
	}
	case K_SIZE:
		if (!parse_size(value, (gint64 *)slot)) {
			config_error(error, path, k->group, k->key,
				     "expected a size such as 25M, 512K or 1048576, got '%s'", value);
			return false;
		}
		return true;
	case K_ENUM: {
		g_auto(GStrv) words = g_strsplit(k->extra, "|", -1);
		if (!g_strv_contains((const char *const *)words, value)) {
			g_autofree char *list = g_strjoinv(", ", words);
			config_error(error, path, k->group, k->key,
				     "expected one of %s, got '%s'", list, value);
			return false;
		}
		*(char **)slot = g_strdup(value);
		return true;
	}
	case K_ADDRESS:
		if (!valid_address(value)) {
			config_error(error, path, k->group, k->key,
				     "expected an address such as name@example.org, got '%s'", value);
			return false;
		}
		*(char **)slot = g_ascii_strdown(value, -1);
		return true;
	case K_ADDRESSES:
		*(char ***)slot = parse_addresses(path, k->group, k->key, value, error);
		return *(char ***)slot != NULL;
	case K_PATH:
		if (!*value) {
			config_error(error, path, k->group, k->key, "expected a file name, got nothing");
			return false;
		}
		*(char **)slot = g_path_is_absolute(value) ? g_strdup(value)
		    : g_build_filename(cfg->dir, value, NULL);
		return true;
	case K_TIMEZONE:
		cfg->tz = g_time_zone_new_identifier(value);
		if (!cfg->tz) {
			config_error(error, path, k->group, k->key,
				     "expected a time zone such as Asia/Baghdad or UTC, got '%s'", value);
			return false;
		}
		*(char **)slot = g_strdup(value);
		return true;
	case K_DEADLINE:
		*(GDateTime **)slot = parse_deadline(value, cfg->tz);
		if (!*(GDateTime **)slot) {
			config_error(error, path, k->group, k->key,
				     "expected a date such as 2022-02-15 or 2022-02-15T18:00, got '%s'", value);
			return false;
		}
		return true;
	}
	return false;
}

static bool
known_key(const char *group, const char *key)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].group, group) == 0 && strcmp(keys[i].key, key) == 0)
			return true;
	return false;
}

static bool
known_group(const char *group)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].group, group) == 0)
			return true;
	return false;
}

/* Rejects groups and keys we do not know: a typo must not silently fall
 * back to a default. */
static bool
check_unknown(GKeyFile *kf, const char *path, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

	for (int g = 0; groups[g]; g++) {
		if (!known_group(groups[g]) && strcmp(groups[g], "coordinators") != 0) {
			config_error(error, path, groups[g], NULL, "is not a group confmail knows");
			return false;
		}
		/* [coordinators]: the names are the organisers' own */
		if (strcmp(groups[g], "coordinators") == 0)
			continue;
		g_auto(GStrv) names = g_key_file_get_keys(kf, groups[g], NULL, NULL);
		for (int i = 0; names && names[i]; i++) {
			if (!known_key(groups[g], names[i])) {
				config_error(error, path, groups[g], names[i],
					     "is not a key confmail knows in [%s]", groups[g]);
				return false;
			}
		}
	}
	return true;
}

struct config *
config_load(const char *path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s: %s", path, local->message);
		return NULL;
	}
	if (!check_unknown(kf, path, error))
		return NULL;

	g_autoptr(config) cfg = g_new0(struct config, 1);
	cfg->path = g_strdup(path);
	g_autofree char *dir = g_path_get_dirname(path);
	cfg->dir = g_canonicalize_filename(dir, NULL);

	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const struct key_spec *k = &keys[i];
		g_autofree char *value = NULL;
		g_autoptr(GError) kerr = NULL;

		if (g_key_file_has_key(kf, k->group, k->key, NULL)) {
			value = g_key_file_get_string(kf, k->group, k->key, &kerr);
			if (!value) {
				config_error(error, path, k->group, k->key, "%s", kerr->message);
				return NULL;
			}
			g_strstrip(value);
		} else if (k->required) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s: [%s] %s is required but not set", path, k->group, k->key);
			return NULL;
		} else if (k->fallback) {
			value = expand_fallback(cfg, k);
		} else {
			continue;
		}
		if (!set_value(cfg, k, value, error))
			return NULL;
	}
	/* [coordinators] NAME = addresses: who answers questions on what
	 * filters/routing.rules sends to NAME */
	cfg->coordinators = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						  (GDestroyNotify)g_strfreev);
	g_auto(GStrv) names = g_key_file_get_keys(kf, "coordinators", NULL, NULL);
	for (int i = 0; names && names[i]; i++) {
		g_autofree char *value = g_key_file_get_string(kf, "coordinators", names[i], NULL);
		char **list = value ? parse_addresses(path, "coordinators", names[i], g_strstrip(value), error)
		    : NULL;
		if (!list)
			return NULL;
		g_hash_table_insert(cfg->coordinators, g_ascii_strdown(names[i], -1), list);
	}
	/* Tests and `make demo` run the sample conference on a database of
	 * their own without editing its file. */
	const char *db = g_getenv("CONFMAIL_DATABASE");
	if (db && *db) {
		g_free(cfg->database);
		cfg->database = g_canonicalize_filename(db, NULL);
	}
	if (!cfg->loop_id)
		cfg->loop_id = g_strdup(cfg->register_address);
	return g_steal_pointer(&cfg);
}

gboolean
config_check_fetch(const struct config *cfg, GError **error)
{
	static const char *const needed[] = { "host", "user", "password_file" };
	const char *const values[] = { cfg->fetch_host, cfg->fetch_user, cfg->fetch_password_file };
	for (size_t i = 0; i < G_N_ELEMENTS(needed); i++) {
		if (!values[i] || !*values[i]) {
			config_error(error, cfg->path, "fetch", NULL, "%s is required to fetch mail", needed[i]);
			return FALSE;
		}
	}
	bool pop3 = strcmp(cfg->fetch_protocol, "pop3") == 0;
	/* POP3 knows no folders and no flags: a message taken is deleted.
	 * An `after` written down for POP3 that says otherwise is a mistake. */
	if (pop3 && strcmp(cfg->fetch_after, "delete") != 0 &&
	    config_line_of(cfg->path, "fetch", "after") > 0) {
		config_error(error, cfg->path, "fetch", "after",
			     "POP3 can only delete what it has taken: 'delete', or leave it out");
		return FALSE;
	}
	if (!pop3 && strcmp(cfg->fetch_after, "move") == 0 && !cfg->fetch_processed_folder) {
		config_error(error, cfg->path, "fetch", "after",
			     "'move' needs processed_folder, the folder to move messages to");
		return FALSE;
	}
	if (!pop3 && cfg->fetch_processed_folder && strcmp(cfg->fetch_processed_folder, cfg->fetch_folder) == 0) {
		config_error(error, cfg->path, "fetch", "processed_folder",
			     "is the folder read from ('%s')", cfg->fetch_folder);
		return FALSE;
	}
	/* The password never goes over the network in the clear. */
	if (strcmp(cfg->fetch_tls, "off") == 0 && !etpan_loopback(cfg->fetch_host)) {
		config_error(error, cfg->path, "fetch", "tls",
			     "'off' only to this machine: %s would get the password in the clear",
			     cfg->fetch_host);
		return FALSE;
	}
	return TRUE;
}

void
config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		char *slot = (char *)cfg + keys[i].offset;
		switch (keys[i].type) {
		case K_INT:
		case K_SIZE:
			break;
		case K_DEADLINE:
			if (*(GDateTime **)slot)
				g_date_time_unref(*(GDateTime **)slot);
			break;
		case K_ADDRESSES:
			g_strfreev(*(char ***)slot);
			break;
		default:
			g_free(*(char **)slot);
			break;
		}
	}
	if (cfg->tz)
		g_time_zone_unref(cfg->tz);
	if (cfg->coordinators)
		g_hash_table_destroy(cfg->coordinators);
	g_free(cfg->path);
	g_free(cfg->dir);
	g_free(cfg);
}
