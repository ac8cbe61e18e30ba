/*
 * etpan.c - what sending (transport.c, SMTP) and fetching (fetch.c, IMAP
 * and POP3) share about talking to a mail server: libetpan and GnuTLS
 * opened at run time, the server's certificate verified (Debian's
 * libetpan does not), and the password file only its owner may read.
 */
#define ETPAN_TABLE
#include "confmail.h"
#include "etpan.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

struct etpan_api etpan;

bool
etpan_open(const char *what, char **why)
{
	static GModule *lib_etpan, *lib_tls;
	if (lib_etpan && lib_tls)
		return true;
#define SYM(m, name) { m, #name, (gpointer *)&etpan.name },
#define ETPAN_SYM(name) SYM(&lib_etpan, name)
#define GNUTLS_SYM(name) SYM(&lib_tls, name)
	struct {
		GModule **module;
		const char *name;
		gpointer *slot;
	} symbols[] = {
		ETPAN_FUNCTIONS(ETPAN_SYM)
		GNUTLS_FUNCTIONS(GNUTLS_SYM)
		ETPAN_SYM(mailstream_network_delay)
		GNUTLS_SYM(gnutls_free)
	};
#undef GNUTLS_SYM
#undef ETPAN_SYM
#undef SYM
	if (!lib_etpan)
		lib_etpan = g_module_open(LIBETPAN_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (!lib_tls)
		lib_tls = g_module_open(LIBGNUTLS_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	const char *missing = !lib_etpan ? LIBETPAN_SONAME : !lib_tls ? LIBGNUTLS_SONAME : NULL;
	for (size_t i = 0; !missing && i < G_N_ELEMENTS(symbols); i++)
		if (!g_module_symbol(*symbols[i].module, symbols[i].name, symbols[i].slot))
			missing = symbols[i].name;
	if (missing) {
		*why = g_strdup_printf("%s needs %s: %s", what, missing, g_module_error());
		g_clear_pointer(&lib_etpan, g_module_close);
		g_clear_pointer(&lib_tls, g_module_close);
		return false;
	}
	return true;
}

bool
etpan_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	    g_ascii_strcasecmp(host, "localhost") == 0;
}

/* A server that cannot prove who it is never gets a message or a
 * password. */
char *
etpan_verify_peer(mailstream *stream, const char *host, const char *ca_file)
{
	carray *chain = etpan.mailstream_get_certificate_chain(stream);
	if (!chain || carray_count(chain) == 0) {
		if (chain)
			etpan.mailstream_certificate_chain_free(chain);
		return g_strdup_printf("%s sent no certificate", host);
	}
	unsigned n = carray_count(chain) < 16 ? carray_count(chain) : 16, imported = 0;
	gnutls_x509_crt_t crts[16];
	for (; imported < n; imported++) {
		MMAPString *der = carray_get(chain, imported);
		gnutls_datum_t d = { (unsigned char *)der->str, (unsigned)der->len };
		if (etpan.gnutls_x509_crt_init(&crts[imported]) < 0)
			break;
		if (etpan.gnutls_x509_crt_import(crts[imported], &d, GNUTLS_X509_FMT_DER) < 0) {
			etpan.gnutls_x509_crt_deinit(crts[imported]);
			break;
		}
	}
	etpan.mailstream_certificate_chain_free(chain);
	char *why = NULL;
	gnutls_x509_trust_list_t trust = NULL;
	int r = imported == n ? etpan.gnutls_x509_trust_list_init(&trust, 0) : -1;
	if (r < 0)
		why = g_strdup_printf("the certificate of %s could not be read", host);
	else if (ca_file)
		r = etpan.gnutls_x509_trust_list_add_trust_file(trust, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	else
		r = etpan.gnutls_x509_trust_list_add_system_trust(trust, 0, 0);
	if (!why && r <= 0)
		why = g_strdup_printf("no trusted certificates in %s", ca_file ? ca_file : "the system CA store");
	unsigned status = 0;
	gnutls_typed_vdata_st data[] = {
		{ GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)host, 0 },
		{ GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0 },
	};
	if (!why && etpan.gnutls_x509_trust_list_verify_crt2(trust, crts, n, data, 2, 0, &status, NULL) < 0)
		why = g_strdup_printf("the certificate of %s could not be verified", host);
	if (!why && status) {
		gnutls_datum_t out = { NULL, 0 };
		etpan.gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		why = g_strdup_printf("the certificate of %s is not trusted (%s)", host,
				      out.data ? (char *)out.data : "?");
		(*etpan.gnutls_free)(out.data);
	}
	if (trust)
		etpan.gnutls_x509_trust_list_deinit(trust, 1);
	for (unsigned i = 0; i < imported; i++)
		etpan.gnutls_x509_crt_deinit(crts[i]);
	return why;
}

void
etpan_server_name(struct mailstream_ssl_context *ctx, void *host)
{
	if (!g_hostname_is_ip_address(host))
		etpan.mailstream_ssl_set_server_name(ctx, host);
}

char *
etpan_read_password(const char *group, const char *path, char **why)
{
	struct stat st;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	if (stat(path, &st) != 0) {
		*why = g_strdup_printf("[%s] password_file %s: %s", group, path, g_strerror(errno));
		return NULL;
	}
	if (st.st_mode & 0077) {
		*why = g_strdup_printf("[%s] password_file %s: readable by others (mode %03o);"
				       " chmod 600 it", group, path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if (!g_file_get_contents(path, &text, NULL, &error)) {
		*why = g_strdup_printf("[%s] password_file: %s", group, error->message);
		return NULL;
	}
	text[strcspn(text, "\r\n")] = '\0';
	return g_steal_pointer(&text);
}
