/*
 * main.c - the global options and the table of commands.  Commands parse
 * their own options; only they and this file print or choose exit codes.
 */
#include "confmail.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*run)(struct command_context *, int, char **);
	const char *summary;
} commands[] = {
	{ "init", cmd_init, "create or migrate the database" },
	{ "filter", cmd_filter, "intake of one message on stdin (MDA)" },
	{ "serve", cmd_serve, "the intake kept running, for confmail-filter (until SIGTERM)" },
	{ "fetch", cmd_fetch, "intake from an IMAP or POP3 mailbox (--once, --daemon)" },
	{ "parse", cmd_parse, "dry run: one JSON object per file" },
	{ "registrations", cmd_registrations, "list registrations, or show one with its history" },
	{ "reprocess", cmd_reprocess, "re-run the rules over stored messages" },
	{ "stats", cmd_stats, "counts of what is recorded" },
	{ "messages", cmd_messages, "list, show or recover stored messages" },
	{ "queue", cmd_queue, "deliver the outbox (run --once), or list it" },
	{ "tickets", cmd_tickets, "questions: list, show, assign, close, remind" },
	{ "announce", cmd_announce, "send an announcement to the participants and the list" },
	{ "list", cmd_list, "the announcement list: members, add, remove" },
	{ "report", cmd_report, "one-page HTML report for the organisers" },
	{ "digest", cmd_digest, "the organisers' daily digest (and coordinators', reminders)" },
	{ "preview", cmd_preview, "show a reply template filled with a sample registration" },
	{ "check", cmd_check, "validate the configuration" },
};

void
cm_err(const char *fmt, ...)
{
	va_list ap;

	fputs("confmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cm_mda_mode;

/* The enhanced status code (RFC 3463) an MTA should log for an exit code.
 * Postfix's pipe(8) takes it from the start of our output and defers or
 * bounces by its class; without it, Postfix bounces exit 78. */
static const char *
dsn_for(int code)
{
	switch (code) {
	case EX_DATAERR:
		return "5.3.4";		/* message too big for the system */
	case EX_CONFIG:
		return "4.3.5";		/* system incorrectly configured */
	default:
		return "4.3.0";		/* other or undefined mail system status */
	}
}

static int
exit_code_of(const GError *error)
{
	return error && error->domain == CONFMAIL_ERROR && error->code > 0 ? error->code : EX_SOFTWARE;
}

int
cm_fail(GError *error)
{
	int code = exit_code_of(error);

	if (cm_mda_mode)
		fprintf(stderr, "%s ", dsn_for(code));
	cm_err("%s", error ? error->message : "internal error");
	return code;
}

char *
cm_fail_text(const GError *error, int *code)
{
	*code = exit_code_of(error);
	return g_strdup_printf("%s confmail: %s", dsn_for(*code),
			       error ? error->message : "internal error");
}

struct config *
cm_load_config(struct command_context *ctx)
{
	g_autoptr(GError) error = NULL;
	struct config *cfg = config_load(ctx->config_path, &error);

	if (!cfg)
		cm_fail(error);
	return cfg;
}

struct store *
cm_open(struct command_context *ctx, enum store_mode mode, struct config **cfg, int *rc)
{
	g_autoptr(GError) error = NULL;
	*cfg = cm_load_config(ctx);
	if (!*cfg) {
		*rc = EX_CONFIG;
		return NULL;
	}
	struct store *st = store_open(*cfg, mode, &error);
	if (!st)
		*rc = cm_fail(error);
	return st;
}

static char *
usage_text(void)
{
	GString *s = g_string_new("Commands:\n");

	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		g_string_append_printf(s, "  %-10s %s\n", commands[i].name, commands[i].summary);
	g_string_append(s, "\nRun 'confmail COMMAND --help' for a command's options.");
	return g_string_free(s, FALSE);
}

int
main(int argc, char **argv)
{
	g_autofree char *config_path = NULL;
	gboolean version = FALSE;
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
		  "configuration file (default $CONFMAIL_CONF, then ./confmail.conf)", "FILE" },
		{ "version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;

	g_autoptr(GOptionContext) oc = g_option_context_new("COMMAND [ARGS...]");
	g_autofree char *usage = usage_text();
	g_option_context_set_description(oc, usage);
	g_option_context_add_main_entries(oc, entries, NULL);
	g_option_context_set_strict_posix(oc, TRUE);	/* options after COMMAND are its own */
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("%s", error->message);
		return EX_USAGE;
	}
	if (version) {
		printf("confmail %s\n", CONFMAIL_VERSION);
		return 0;
	}
	if (argc < 2) {
		g_autofree char *help = g_option_context_get_help(oc, TRUE, NULL);
		fputs(help, stderr);
		return EX_USAGE;
	}
	struct command_context ctx = {
		.config_path = config_path ? config_path : config_default_path(),
		.prog = argv[0],
	};
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		/* The MDA needs no locale (the MTA gives it none) and loading
		 * one costs every delivery; people's commands get theirs.  A
		 * delivery's heap fits one huge page (heap.c). */
		if (commands[i].run == cmd_filter)
			heap_use_huge_pages();
		else if (commands[i].run != cmd_serve)	/* it delivers as filter does */
			setlocale(LC_ALL, "");
		g_mime_init();
		int rc = commands[i].run(&ctx, argc - 1, argv + 1);
		g_mime_shutdown();
		return rc;
	}
	cm_err("unknown command '%s'; try 'confmail --help'", argv[1]);
	return EX_USAGE;
}
