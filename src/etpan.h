/*
 * etpan.h - libetpan and GnuTLS as transport.c (SMTP) and fetch.c (IMAP,
 * POP3) call them: through a table of pointers that etpan_open() fills
 * from the shared libraries, opened at run time and not linked (the
 * intake, run once per delivered message, would otherwise load them and
 * their dependencies for nothing).  A second header because it needs the
 * libraries' own headers, which nothing else should see; after it, each
 * library function's own name calls through the table.
 */
#ifndef CONFMAIL_ETPAN_H
#define CONFMAIL_ETPAN_H

#include <stdbool.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>

/* Every function confmail calls, by library: one line each to add one. */
#define ETPAN_FUNCTIONS(X) \
	X(mailsmtp_new) X(mailsmtp_free) X(mailsmtp_set_timeout) X(mailsmtp_socket_connect) \
	X(mailsmtp_ssl_connect_with_callback) X(mailsmtp_socket_starttls_with_callback) \
	X(mailsmtp_data_message) X(mailsmtp_strerror) X(mailesmtp_auth_sasl) \
	X(mailstream_read_line_remove_eol) X(mailstream_write) X(mailstream_flush) \
	X(mailstream_close) X(mailstream_get_low) X(mailstream_low_set_timeout) \
	X(mailstream_get_certificate_chain) X(mailstream_certificate_chain_free) \
	X(mailstream_ssl_set_server_name) \
	X(mailimap_new) X(mailimap_free) X(mailimap_set_timeout) X(mailimap_socket_connect) \
	X(mailimap_ssl_connect_with_callback) X(mailimap_socket_starttls_with_callback) \
	X(mailimap_login) X(mailimap_logout) X(mailimap_capability) X(mailimap_capability_data_free) \
	X(mailimap_has_extension) X(mailimap_has_idle) X(mailimap_select) X(mailimap_list) \
	X(mailimap_list_result_free) X(mailimap_create) X(mailimap_uid_fetch) X(mailimap_fetch_list_free) \
	X(mailimap_set_new_single) X(mailimap_set_new_interval) X(mailimap_set_free) \
	X(mailimap_fetch_type_new_fetch_att_list_empty) X(mailimap_fetch_type_new_fetch_att_list_add) \
	X(mailimap_fetch_type_free) X(mailimap_fetch_att_new_uid) X(mailimap_fetch_att_new_rfc822_size) \
	X(mailimap_fetch_att_new_body_peek_section) X(mailimap_section_new) X(mailimap_uid_store) \
	X(mailimap_store_att_flags_new_add_flags_silent) X(mailimap_store_att_flags_free) \
	X(mailimap_flag_list_new_empty) X(mailimap_flag_list_add) X(mailimap_flag_new_seen) \
	X(mailimap_flag_new_deleted) X(mailimap_uid_move) X(mailimap_uid_copy) X(mailimap_uid_expunge) \
	X(mailimap_expunge) X(mailimap_idle) X(mailimap_idle_done) X(mailimap_idle_get_fd) \
	X(mailpop3_new) X(mailpop3_free) X(mailpop3_set_timeout) X(mailpop3_socket_connect) \
	X(mailpop3_ssl_connect_with_callback) X(mailpop3_socket_starttls_with_callback) \
	X(mailpop3_user) X(mailpop3_pass) X(mailpop3_list) X(mailpop3_retr) X(mailpop3_retr_free) \
	X(mailpop3_dele) X(mailpop3_quit)
#define GNUTLS_FUNCTIONS(X) \
	X(gnutls_x509_crt_init) X(gnutls_x509_crt_import) X(gnutls_x509_crt_deinit) \
	X(gnutls_x509_trust_list_init) X(gnutls_x509_trust_list_deinit) \
	X(gnutls_x509_trust_list_add_trust_file) X(gnutls_x509_trust_list_add_system_trust) \
	X(gnutls_x509_trust_list_verify_crt2) X(gnutls_certificate_verification_status_print)

#define ETPAN_SLOT(name) __typeof__(name) *name;
struct etpan_api {
	ETPAN_FUNCTIONS(ETPAN_SLOT)
	GNUTLS_FUNCTIONS(ETPAN_SLOT)
	/* two variables: libetpan's read timeout, GnuTLS's free() */
	ETPAN_SLOT(mailstream_network_delay)
	ETPAN_SLOT(gnutls_free)
};
#undef ETPAN_SLOT
extern struct etpan_api etpan;

/* Opens libetpan and GnuTLS once; false, and why (a new string), when
 * one or a function in it is missing.  WHAT names the need ("SMTP"). */
bool etpan_open(const char *what, char **why);
/* The peer's certificate chain on STREAM, verified with GnuTLS against
 * CA_FILE (PEM; NULL: the system's CA store) and for HOST (a name or an
 * address).  Debian's libetpan verifies nothing itself.  NULL when
 * verified, else why not. */
char *etpan_verify_peer(mailstream *stream, const char *host, const char *ca_file);
/* A TLS callback naming the server (SNI) unless HOST is an address. */
void etpan_server_name(struct mailstream_ssl_context *ctx, void *host);
/* The first line of PATH, the password for [GROUP] password_file, which
 * only its owner may read; NULL and *WHY otherwise. */
char *etpan_read_password(const char *group, const char *path, char **why);

/* etpan.c itself, which fills the table, says etpan.NAME */
#ifndef ETPAN_TABLE
#define mailsmtp_new etpan.mailsmtp_new
#define mailsmtp_free etpan.mailsmtp_free
#define mailsmtp_set_timeout etpan.mailsmtp_set_timeout
#define mailsmtp_socket_connect etpan.mailsmtp_socket_connect
#define mailsmtp_ssl_connect_with_callback etpan.mailsmtp_ssl_connect_with_callback
#define mailsmtp_socket_starttls_with_callback etpan.mailsmtp_socket_starttls_with_callback
#define mailsmtp_data_message etpan.mailsmtp_data_message
#define mailsmtp_strerror etpan.mailsmtp_strerror
#define mailesmtp_auth_sasl etpan.mailesmtp_auth_sasl
#define mailstream_read_line_remove_eol etpan.mailstream_read_line_remove_eol
#define mailstream_write etpan.mailstream_write
#define mailstream_flush etpan.mailstream_flush
#define mailstream_close etpan.mailstream_close
#define mailstream_get_low etpan.mailstream_get_low
#define mailstream_low_set_timeout etpan.mailstream_low_set_timeout
#define mailstream_get_certificate_chain etpan.mailstream_get_certificate_chain
#define mailstream_certificate_chain_free etpan.mailstream_certificate_chain_free
#define mailstream_ssl_set_server_name etpan.mailstream_ssl_set_server_name
#define mailimap_new etpan.mailimap_new
#define mailimap_free etpan.mailimap_free
#define mailimap_set_timeout etpan.mailimap_set_timeout
#define mailimap_socket_connect etpan.mailimap_socket_connect
#define mailimap_ssl_connect_with_callback etpan.mailimap_ssl_connect_with_callback
#define mailimap_socket_starttls_with_callback etpan.mailimap_socket_starttls_with_callback
#define mailimap_login etpan.mailimap_login
#define mailimap_logout etpan.mailimap_logout
#define mailimap_capability etpan.mailimap_capability
#define mailimap_capability_data_free etpan.mailimap_capability_data_free
#define mailimap_has_extension etpan.mailimap_has_extension
#define mailimap_has_idle etpan.mailimap_has_idle
#define mailimap_select etpan.mailimap_select
#define mailimap_list etpan.mailimap_list
#define mailimap_list_result_free etpan.mailimap_list_result_free
#define mailimap_create etpan.mailimap_create
#define mailimap_uid_fetch etpan.mailimap_uid_fetch
#define mailimap_fetch_list_free etpan.mailimap_fetch_list_free
#define mailimap_set_new_single etpan.mailimap_set_new_single
#define mailimap_set_new_interval etpan.mailimap_set_new_interval
#define mailimap_set_free etpan.mailimap_set_free
#define mailimap_fetch_type_new_fetch_att_list_empty etpan.mailimap_fetch_type_new_fetch_att_list_empty
#define mailimap_fetch_type_new_fetch_att_list_add etpan.mailimap_fetch_type_new_fetch_att_list_add
#define mailimap_fetch_type_free etpan.mailimap_fetch_type_free
#define mailimap_fetch_att_new_uid etpan.mailimap_fetch_att_new_uid
#define mailimap_fetch_att_new_rfc822_size etpan.mailimap_fetch_att_new_rfc822_size
#define mailimap_fetch_att_new_body_peek_section etpan.mailimap_fetch_att_new_body_peek_section
#define mailimap_section_new etpan.mailimap_section_new
#define mailimap_uid_store etpan.mailimap_uid_store
#define mailimap_store_att_flags_new_add_flags_silent etpan.mailimap_store_att_flags_new_add_flags_silent
#define mailimap_store_att_flags_free etpan.mailimap_store_att_flags_free
#define mailimap_flag_list_new_empty etpan.mailimap_flag_list_new_empty
#define mailimap_flag_list_add etpan.mailimap_flag_list_add
#define mailimap_flag_new_seen etpan.mailimap_flag_new_seen
#define mailimap_flag_new_deleted etpan.mailimap_flag_new_deleted
#define mailimap_uid_move etpan.mailimap_uid_move
#define mailimap_uid_copy etpan.mailimap_uid_copy
#define mailimap_uid_expunge etpan.mailimap_uid_expunge
#define mailimap_expunge etpan.mailimap_expunge
#define mailimap_idle etpan.mailimap_idle
#define mailimap_idle_done etpan.mailimap_idle_done
#define mailimap_idle_get_fd etpan.mailimap_idle_get_fd
#define mailpop3_new etpan.mailpop3_new
#define mailpop3_free etpan.mailpop3_free
#define mailpop3_set_timeout etpan.mailpop3_set_timeout
#define mailpop3_socket_connect etpan.mailpop3_socket_connect
#define mailpop3_ssl_connect_with_callback etpan.mailpop3_ssl_connect_with_callback
#define mailpop3_socket_starttls_with_callback etpan.mailpop3_socket_starttls_with_callback
#define mailpop3_user etpan.mailpop3_user
#define mailpop3_pass etpan.mailpop3_pass
#define mailpop3_list etpan.mailpop3_list
#define mailpop3_retr etpan.mailpop3_retr
#define mailpop3_retr_free etpan.mailpop3_retr_free
#define mailpop3_dele etpan.mailpop3_dele
#define mailpop3_quit etpan.mailpop3_quit
#define gnutls_x509_crt_init etpan.gnutls_x509_crt_init
#define gnutls_x509_crt_import etpan.gnutls_x509_crt_import
#define gnutls_x509_crt_deinit etpan.gnutls_x509_crt_deinit
#define gnutls_x509_trust_list_init etpan.gnutls_x509_trust_list_init
#define gnutls_x509_trust_list_deinit etpan.gnutls_x509_trust_list_deinit
#define gnutls_x509_trust_list_add_trust_file etpan.gnutls_x509_trust_list_add_trust_file
#define gnutls_x509_trust_list_add_system_trust etpan.gnutls_x509_trust_list_add_system_trust
#define gnutls_x509_trust_list_verify_crt2 etpan.gnutls_x509_trust_list_verify_crt2
#define gnutls_certificate_verification_status_print etpan.gnutls_certificate_verification_status_print
#define mailstream_network_delay (*etpan.mailstream_network_delay)
#define gnutls_free (*etpan.gnutls_free)
#endif

#endif
