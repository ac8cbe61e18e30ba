/*
 * cmd_report.c - `confmail report --html FILE`: the organisers' one-page
 * report (report.c) of the figures and the registrations; FILE "-" is
 * standard output.
 */
#include "confmail.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Writes TEXT to PATH ("-": stdout).  A file replaces the old one only
 * once it is complete, and is readable by its owner only: it lists the
 * participants' names and addresses. */
static gboolean
write_report(const char *path, const char *text, GError **error)
{
	if (strcmp(path, "-") == 0) {
		if (fputs(text, stdout) == EOF || fflush(stdout) != 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_IOERR, "report: writing to standard output: %s",
				    g_strerror(errno));
			return FALSE;
		}
		return TRUE;
	}
	g_autoptr(GError) why = NULL;
	if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &why)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CANTCREAT, "report: %s", why->message);
		return FALSE;
	}
	return TRUE;
}

int
cmd_report(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *html_path = NULL;
	GOptionEntry entries[] = {
		{ "html", 0, 0, G_OPTION_ARG_FILENAME, &html_path,
		  "write the report as one HTML page to FILE (- for standard output)", "FILE" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("--html FILE - the organisers' report");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("report: %s", error->message);
		return EX_USAGE;
	}
	if (!html_path || !*html_path || argc != 1) {
		cm_err("usage: confmail report --html FILE");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_READ, &cfg, &rc);
	if (!st)
		return rc;
	store_for_scans(st);
	g_autofree char *now = confmail_now_iso();
	g_autofree char *html = report_html(cfg, st, now);
	if (!write_report(html_path, html, &error))
		return cm_fail(error);
	return 0;
}
