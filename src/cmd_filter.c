/*
 * cmd_filter.c - `confmail filter`: the MDA.  One message on stdin becomes
 * one committed row, or the MTA is told to try again.  Exit 0 only after
 * COMMIT; anything transient is 75; bad configuration 78; a message over
 * the size limit 65 (the one case where a bounce is the right answer).
 */
#include "confmail.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* GLib ends the process when memory runs out (g_error: SIGTRAP, or
 * SIGABRT).  The message is not committed, so the right answer to the MTA
 * is "try again later", not a crash it may treat as a hard failure. */
static void
abort_is_tempfail(int sig)
{
	static const char msg[] = "4.3.0 confmail: internal failure (out of memory?); "
	    "the message was not recorded and will be retried\n";
	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(EX_TEMPFAIL);
}

/* Run by a leak checker, which wants every free: ASan's, or valgrind's
 * (it preloads its own malloc). */
static bool
leaks_are_checked(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#else
	const char *preload = g_getenv("LD_PRELOAD");
	return preload && strstr(preload, "vgpreload");
#endif
}

/* After the commit there is nothing left to do but free memory, close
 * the database and unmap what was mapped, and the kernel does all of it
 * at exit faster: measured, 1-3 ms of a ~25 ms delivery.  Closing the
 * database here would not checkpoint it either (store.c), so the next
 * delivery finds the same files. */
static G_NORETURN void
exit_committed(void)
{
	fflush(stdout);
	fflush(stderr);
	_exit(0);
}

int
cmd_filter(struct command_context *ctx, int argc, char **argv)
{
	/* FILENAME, not STRING: the bytes as given, whatever the locale (an
	 * MTA runs us with none), so a UTF-8 address is not refused. */
	g_autofree char *recipient = NULL, *sender = NULL;
	GOptionEntry entries[] = {
		{ "recipient", 'r', 0, G_OPTION_ARG_FILENAME, &recipient,
		  "envelope recipient (else $ORIGINAL_RECIPIENT, $RECIPIENT, Delivered-To)", "ADDR" },
		{ "sender", 'f', 0, G_OPTION_ARG_FILENAME, &sender,
		  "envelope sender, '' for the null sender (else $SENDER, the From_ line, Return-Path)", "ADDR" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("- record one message from stdin");

	/* A wrong command line in the MTA's configuration is a configuration
	 * error (78, deferred), not a reason to bounce everyone's mail. */
	cm_mda_mode = true;
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		g_prefix_error(&error, "filter: ");
		error->domain = CONFMAIL_ERROR;
		error->code = EX_CONFIG;
		return cm_fail(error);
	}
	if (argc > 1) {
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG,
			    "filter: the message comes on standard input, not as '%s'", argv[1]);
		return cm_fail(error);
	}
	if ((recipient && !g_utf8_validate(recipient, -1, NULL)) ||
	    (sender && !g_utf8_validate(sender, -1, NULL))) {
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG, "filter: -r or -f is not UTF-8");
		return cm_fail(error);
	}
	signal(SIGABRT, abort_is_tempfail);
	signal(SIGTRAP, abort_is_tempfail);

	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	g_autofree char *dir = rules_default_dir();
	g_autofree char *cache = rules_cache_path(cfg);
	g_autoptr(rules) r = rules_load_cached(dir, cache, &error);
	if (!r)
		return cm_fail(error);

	GByteArray *raw = NULL;
	switch (intake_read(STDIN_FILENO, cfg->max_message_size, &raw, &error)) {
	case READ_OK:
		break;
	case READ_TOO_BIG:
		g_set_error(&error, CONFMAIL_ERROR, EX_DATAERR,
			    "message refused: larger than the limit of %" G_GINT64_FORMAT
			    " bytes ([limits] max_message_size)", cfg->max_message_size);
		return cm_fail(error);
	case READ_FAILED:
		return cm_fail(error);
	}
	g_autoptr(store) st = store_open(cfg, STORE_CREATE, &error);
	if (!st) {
		g_byte_array_free(raw, TRUE);
		return cm_fail(error);
	}
	enum record_result rec = deliver(st, cfg, r, raw, recipient, sender, &error);
	if (rec != RECORD_ERROR && !leaks_are_checked())
		exit_committed();
	g_byte_array_free(raw, TRUE);
	return rec == RECORD_ERROR ? cm_fail(error) : 0;
}
