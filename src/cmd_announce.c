/*
 * cmd_announce.c - `confmail announce --subject S --body FILE [--body-ar
 * FILE] [--body-ckb FILE] [--attach FILE]... [--to registered|list|all]
 * [--document programme|guide]`: an organiser at the terminal sends an
 * announcement (announce.c); `confmail list members|add|remove` keeps
 * the list by hand.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

static char *
read_body(const char *path, GError **error)
{
	char *text = NULL;
	gsize len = 0;
	if (!path)
		return NULL;
	if (!g_file_get_contents(path, &text, &len, error))
		return NULL;
	if (!g_utf8_validate(text, (gssize)len, NULL) || strlen(text) != len) {
		g_set_error(error, CONFMAIL_ERROR, EX_DATAERR, "%s: not UTF-8 text", path);
		g_free(text);
		return NULL;
	}
	return text;
}

int
cmd_announce(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *subject = NULL, *to = NULL, *document = NULL;
	g_autofree char *body_en = NULL, *body_ar = NULL, *body_ckb = NULL;
	g_auto(GStrv) files = NULL;
	GOptionEntry entries[] = {
		{ "subject", 's', 0, G_OPTION_ARG_STRING, &subject, "the subject (may use {{name}})", "S" },
		{ "body", 'b', 0, G_OPTION_ARG_FILENAME, &body_en, "the text in English (a template)", "FILE" },
		{ "body-ar", 0, 0, G_OPTION_ARG_FILENAME, &body_ar, "the text in Arabic", "FILE" },
		{ "body-ckb", 0, 0, G_OPTION_ARG_FILENAME, &body_ckb, "the text in Kurdish (Sorani)", "FILE" },
		{ "attach", 'a', 0, G_OPTION_ARG_FILENAME_ARRAY, &files, "a file for everyone (repeat)", "FILE" },
		{ "to", 0, 0, G_OPTION_ARG_STRING, &to, "registered, list or all (default)", "WHO" },
		{ "document", 0, 0, G_OPTION_ARG_STRING, &document,
		  "programme or guide: the current one, also sent to those who register later", "KIND" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("- send an announcement");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error) || argc != 1) {
		cm_err("announce: %s", error ? error->message : "unexpected arguments");
		return EX_USAGE;
	}
	const char *audience = to ? to : "all";
	if (!subject || !*subject || (!body_en && !body_ar && !body_ckb) ||
	    (strcmp(audience, "registered") != 0 && strcmp(audience, "list") != 0 &&
	     strcmp(audience, "all") != 0) ||
	    (document && strcmp(document, "programme") != 0 && strcmp(document, "guide") != 0)) {
		cm_err("usage: confmail announce --subject S --body FILE [--body-ar FILE] [--body-ckb FILE]"
		       " [--attach FILE]... [--to registered|list|all] [--document programme|guide]");
		return EX_USAGE;
	}
	g_autofree char *en = read_body(body_en, &error);
	g_autofree char *ar = error ? NULL : read_body(body_ar, &error);
	g_autofree char *ckb = error ? NULL : read_body(body_ckb, &error);
	if (error) {
		cm_err("announce: %s", error->message);
		return error->domain == G_FILE_ERROR ? EX_NOINPUT : EX_DATAERR;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_CREATE, &cfg, &rc);
	if (!st)
		return rc;
	g_autofree char *now = confmail_now_iso();
	struct announcement_draft d = {
		.subject = subject, .audience = audience, .document = document,
		.author = g_get_user_name(), .bodies = { en, ar, ckb }, .files = files,
	};
	gint64 id = 0;
	int sent = 0;
	if (!store_begin(st, &error) || !announce_create(st, cfg, &d, &id, &error) ||
	    !announce_send(st, cfg, id, NULL, g_get_user_name(), now, &sent, &error) ||
	    !store_commit(st, &error)) {
		store_rollback(st);
		return cm_fail(error);
	}
	printf("announcement %" G_GINT64_FORMAT ": queued for %d recipient%s\n", id, sent,
	       sent == 1 ? "" : "s");
	return 0;
}

static int
members(struct store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "SELECT address, status, coalesce(language, '-'),"
				    " source, bounce_score, coalesce(name, '') FROM subscribers ORDER BY address",
				    -1, &stmt, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(stmt)) != SQLITE_ROW)
			break;
		printf("%-40s %-12s %-3s %-12s %4.1f  %s\n", sqlite3_column_text(stmt, 0),
		       sqlite3_column_text(stmt, 1), sqlite3_column_text(stmt, 2),
		       sqlite3_column_text(stmt, 3), sqlite3_column_double(stmt, 4),
		       sqlite3_column_text(stmt, 5));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		g_autoptr(GError) error = NULL;
		store_set_error(st, rc, "listing subscribers", &error);
		return cm_fail(error);
	}
	return 0;
}

int
cmd_list(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *name = NULL, *language = NULL;
	GOptionEntry entries[] = {
		{ "name", 0, 0, G_OPTION_ARG_STRING, &name, "add: the member's name", "NAME" },
		{ "language", 'l', 0, G_OPTION_ARG_STRING, &language, "add: en, ar or ckb", "LANG" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("members | add ADDRESS | remove ADDRESS");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("list: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "";
	bool with_address = strcmp(what, "add") == 0 || strcmp(what, "remove") == 0;
	if ((with_address && argc != 3) || (!with_address && (strcmp(what, "members") != 0 || argc != 2)) ||
	    (language && strcmp(language, "en") != 0 && strcmp(language, "ar") != 0 &&
	     strcmp(language, "ckb") != 0)) {
		cm_err("usage: confmail list members | add ADDRESS [--name NAME] [-l en|ar|ckb] | remove ADDRESS");
		return EX_USAGE;
	}
	if (with_address && !compose_address_ok(argv[2])) {
		cm_err("list %s: not an address: %s", what, argv[2]);
		return EX_DATAERR;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_CREATE, &cfg, &rc);
	if (!st)
		return rc;
	if (!with_address)
		return members(st);
	g_autofree char *now = confmail_now_iso();
	bool removed = true;
	gboolean ok = store_begin(st, &error) &&
	    (strcmp(what, "add") == 0
	     ? list_add(st, argv[2], name, language, "organiser", now, &error)
	     : list_remove(st, argv[2], now, &removed, &error)) &&
	    store_commit(st, &error);
	if (!ok) {
		store_rollback(st);
		return cm_fail(error);
	}
	if (!removed) {
		cm_err("list remove: %s is not on the list", argv[2]);
		return EX_NOINPUT;
	}
	printf("%s %s\n", argv[2], strcmp(what, "add") == 0 ? "added" : "removed");
	return 0;
}
