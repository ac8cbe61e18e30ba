# The MTA examples in contrib/ (postfix-master.cf, aliases, exim.conf) and
# the man pages in contrib/man, checked with the real tools wherever they
# are installed, and by their content where not:
#   postconf, postmap  master.cf entry and main.cf lines parse, the tables
#                      send the conference addresses to the confmail service
#   postfix, sendmail  (as root) a private Postfix instance delivers through
#                      the entry into $CONFMAIL
#   postalias          the aliases file builds and every name looks up
#   exim / exim4       exim.conf inside a minimal configuration passes -bV,
#                      routes the addresses (-bt) and (as root) delivers
#   mandoc or groff    the man pages lint clean
# Whatever the tools, the argv of each example is run against $CONFMAIL with
# the envelope the MTA would give it, and the man pages must name every
# command and every configuration key the source knows.
# Debian packages: postfix (postconf, postmap, postalias, postfix), mandoc;
# exim4-daemon-light where it is installed instead of postfix.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

C=$ROOT/contrib
MASTER=$C/postfix-master.cf
ALIASES=$C/aliases
EXIM=$C/exim.conf
DOMAIN=icssi.example
NAMES="register info announce announce-request bounces confirm tickets comment"
FIXED="register info announce announce-request"	# named with -r
EXTENDED="bounces confirm tickets comment"	# carry +ID / +TOKEN / +REF

have() { command -v "$1" >/dev/null 2>&1; }
# pipe(8), local(8) and Exim start commands with a PATH of their own.
SYS_PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin

# mkmsg FILE MESSAGE-ID [HEADER...]: a small registration, with the given
# header lines (what the MTA prepends) at the top.
mkmsg() {
	local f=$1 id=$2
	shift 2
	{
		for h in "$@"; do printf '%s\n' "$h"; done
		printf 'From: Ali Hassan <ali@example.org>\n'
		printf 'To: register@icssi.example\n'
		printf 'Subject: registration\n'
		printf 'Date: Mon, 17 Jan 2022 10:00:00 +0300\n'
		printf 'Message-ID: <%s>\n' "$id"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Name: Ali Hassan\nOrganisation: Example Network\n'
	} >"$f"
}

# envelope DB MESSAGE-ID: "recipient|sender|source" of its last arrival.
envelope() {
	sqlite3 -batch "$1" "SELECT a.envelope_recipient || '|' ||
		coalesce(a.envelope_sender, '(none)') || '|' || a.recipient_source
		FROM arrivals a JOIN messages m ON m.id = a.message
		WHERE m.message_id = '$2' ORDER BY a.id DESC LIMIT 1" 2>&1
}

# A configuration of the sample conference whose database is DB; for the
# MTA runs, which do not pass $CONFMAIL_DATABASE on.
conf_for_db() {
	local out=$TMP/conf-db-$RANDOM.conf
	awk -v db="$1" '/^\[/ { g = $0 } g == "[store]" && $1 == "database" { print "database = " db; next } { print }' \
		"$CONFMAIL_CONF" >"$out"
	chmod 644 "$out"
	echo "$out"
}

"$CONFMAIL" init >/dev/null || notok "confmail init for the argv runs"

# ---------------------------------------------------------------------------
# Postfix: contrib/postfix-master.cf
# ---------------------------------------------------------------------------

# The service entry: its first non-comment line and the indented lines
# that continue it, as one line of words.
entry=$(awk '/^#/ || /^[ \t]*$/ { next }
	/^[^ \t]/ { if (seen) exit; seen = 1 }
	seen { printf "%s ", $0 }' "$MASTER" | tr -s ' \t' ' ' | sed 's/ $//')
read -r -a F <<<"$entry"
equal "master.cf: confmail is a unix pipe service, unprivileged n, chroot n" \
	"${F[0]:-} ${F[1]:-} ${F[3]:-} ${F[4]:-} ${F[7]:-}" "confmail unix n n pipe"
flags='' user='' null_sender=unset argv=()
for ((i = 8; i < ${#F[@]}; i++)); do
	case ${F[i]} in
	flags=*) flags=${F[i]#flags=} ;;
	user=*) user=${F[i]#user=} ;;
	null_sender=*) null_sender=${F[i]#null_sender=} ;;
	argv=*) argv=("${F[i]#argv=}" "${F[@]:i+1}"); break ;;
	esac
done
check "master.cf: flags are pipe(8) flags (BDFORXhqu.>)" \
	grep -qE '^[BDFORXhqu.>]+$' <<<"$flags"
check "master.cf: flag R passes the envelope sender (Return-Path:)" grep -q R <<<"$flags"
check "master.cf: flag D prepends Delivered-To: and detects loops" grep -q D <<<"$flags"
equal "master.cf: null_sender= is empty, so a bounce arrives as Return-Path: <>" "$null_sender" ""
equal "master.cf: runs as user=confmail" "$user" confmail
# shellcheck disable=SC2016 # ${recipient} is pipe(8)'s, not the shell's
equal "master.cf: argv runs confmail filter -r \${recipient}" "${argv[*]}" \
	'/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf filter -r ${recipient}'

PF=$TMP/postfix
mkdir -p "$PF"
sed -n 's/^#> \{0,1\}//p' "$MASTER" >"$PF/main.cf"
cp "$MASTER" "$PF/master.cf"
check "main.cf lines: recipient_delimiter includes +" \
	grep -qE '^recipient_delimiter *= *[^ ]*\+' "$PF/main.cf"
check "main.cf lines: confmail_destination_recipient_limit = 1" \
	grep -qE '^confmail_destination_recipient_limit *= *1$' "$PF/main.cf"
for n in $NAMES; do
	check "main.cf lines: $n@$DOMAIN goes to confmail:" \
		grep -qE "^ +$n@$DOMAIN *= *confmail:" "$PF/main.cf"
done

if have postconf; then
	out=$(postconf -c "$PF" -M confmail/unix 2>"$TMP/err")
	equal "postconf -M prints the confmail service as written" \
		"$(tr -s ' \t' ' ' <<<"$out")" "$entry"
	check "postconf -M has no warnings" test ! -s "$TMP/err"
	postconf -c "$PF" -n >"$TMP/out" 2>"$TMP/err"
	check "postconf -n reads the main.cf lines without warnings (no unused parameter)" \
		test ! -s "$TMP/err"
	equal "postconf: confmail_destination_recipient_limit" \
		"$(postconf -c "$PF" -h confmail_destination_recipient_limit 2>&1)" 1
	tmap=$(postconf -c "$PF" -xh transport_maps 2>&1)
	vmap=$(postconf -c "$PF" -xh virtual_mailbox_maps 2>&1)
	for n in $NAMES; do
		equal "postmap: transport_maps sends $n@$DOMAIN to confmail:" \
			"$(postmap -c "$PF" -q "$n@$DOMAIN" "$tmap" 2>&1)" "confmail:"
	done
	equal "postmap: virtual_mailbox_maps accepts register@$DOMAIN" \
		"$(postmap -c "$PF" -q "register@$DOMAIN" "$vmap" 2>&1)" "confmail:"
	check "postmap: organisers@$DOMAIN is not a confmail address" \
		test -z "$(postmap -c "$PF" -q "organisers@$DOMAIN" "$tmap" 2>&1)"
else
	skip "postconf not installed (Debian package postfix): master.cf and main.cf checked by content only"
fi

# The argv as pipe(8) runs it: no environment but PATH, the recipient in
# -r, the sender in the Return-Path: that flag R prepends (D adds
# Delivered-To:).  pipe_run ADDRESS MESSAGE runs it with the paths of this
# test.
pipe_run() {
	local rcpt=$1 msg=$2 a out=()
	for a in "${argv[@]}"; do
		case $a in
		/usr/local/bin/confmail) out+=("$CONFMAIL") ;;
		/etc/confmail/icssi-2022.conf) out+=("$CONFMAIL_CONF") ;;
		"\${recipient}") out+=("$rcpt") ;;
		*) out+=("$a") ;;
		esac
	done
	env -i PATH="$SYS_PATH" CONFMAIL_DATABASE="$CONFMAIL_DATABASE" "${out[@]}" <"$msg"
}
mkmsg "$TMP/pipe1.eml" pipe-1@test.example \
	"Delivered-To: confirm+tok42@$DOMAIN" "Return-Path: <ali@example.org>"
expect_rc 0 "master.cf argv: confmail accepts the message" pipe_run "confirm+tok42@$DOMAIN" "$TMP/pipe1.eml"
equal "master.cf argv: recipient from -r, +extension kept; sender from Return-Path:" \
	"$(envelope "$CONFMAIL_DATABASE" pipe-1@test.example)" "confirm+tok42@$DOMAIN|ali@example.org|-r"
mkmsg "$TMP/pipe2.eml" pipe-2@test.example \
	"Delivered-To: bounces+7@$DOMAIN" "Return-Path: <>"
expect_rc 0 "master.cf argv: a bounce (null sender) is accepted" pipe_run "bounces+7@$DOMAIN" "$TMP/pipe2.eml"
equal "master.cf argv: Return-Path: <> is recorded as the null sender" \
	"$(envelope "$CONFMAIL_DATABASE" pipe-2@test.example)" "bounces+7@$DOMAIN||-r"

# ---------------------------------------------------------------------------
# aliases(5): contrib/aliases
# ---------------------------------------------------------------------------

# alias_cmd NAME: the command of NAME's alias, without quotes and "|".
alias_cmd() {
	sed -n "s/^$1:[ \t]*\"|\(.*\)\"[ \t]*\$/\1/p" "$ALIASES"
}
for n in $FIXED; do
	equal "aliases: $n pipes to confmail filter -r $n@$DOMAIN" "$(alias_cmd "$n")" \
		"/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf filter -r $n@$DOMAIN"
done
for n in $EXTENDED; do
	equal "aliases: $n pipes to confmail filter without -r (keeps +extension)" \
		"$(alias_cmd "$n")" "/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf filter"
done
check "aliases: every line is a comment, blank, or one of the six aliases" \
	test -z "$(grep -vE "^(#.*|[ \t]*|($(tr ' ' '|' <<<"$NAMES")): \"\|[^\"]*\")\$" "$ALIASES")"

if have postalias; then
	cp "$ALIASES" "$PF/aliases"
	if postalias -c "$PF" "hash:$PF/aliases" 2>"$TMP/err" && [ ! -s "$TMP/err" ]; then
		ok "postalias builds the aliases database without warnings"
	else
		notok "postalias builds the aliases database without warnings ($(head -c 300 "$TMP/err"))"
	fi
	for n in $NAMES; do
		equal "postalias -q $n" "$(postalias -c "$PF" -q "$n" "hash:$PF/aliases" 2>&1)" \
			"\"|$(alias_cmd "$n")\""
	done
else
	skip "postalias not installed (Debian package postfix): aliases checked by content only"
fi

# The alias command as local(8) runs it: word by word (no shell magic in
# it), with ORIGINAL_RECIPIENT, RECIPIENT and SENDER in the environment.
alias_run() {
	local name=$1 rcpt=$2 msg=$3 a out=()
	for a in $(alias_cmd "$name"); do
		case $a in
		/usr/local/bin/confmail) out+=("$CONFMAIL") ;;
		/etc/confmail/icssi-2022.conf) out+=("$CONFMAIL_CONF") ;;
		*) out+=("$a") ;;
		esac
	done
	env -i PATH="$SYS_PATH" CONFMAIL_DATABASE="$CONFMAIL_DATABASE" \
		ORIGINAL_RECIPIENT="$rcpt" RECIPIENT="$rcpt" SENDER=ali@example.org \
		"${out[@]}" <"$msg"
}
mkmsg "$TMP/alias1.eml" alias-1@test.example "Delivered-To: register@$DOMAIN"
expect_rc 0 "aliases: register's command accepts the message" \
	alias_run register "register@$DOMAIN" "$TMP/alias1.eml"
equal "aliases: register's recipient comes from -r, the sender from \$SENDER" \
	"$(envelope "$CONFMAIL_DATABASE" alias-1@test.example)" "register@$DOMAIN|ali@example.org|-r"
mkmsg "$TMP/alias2.eml" alias-2@test.example "Delivered-To: bounces+42@$DOMAIN"
expect_rc 0 "aliases: bounces's command accepts the message" \
	alias_run bounces "bounces+42@$DOMAIN" "$TMP/alias2.eml"
equal "aliases: bounces+42 arrives whole through \$ORIGINAL_RECIPIENT" \
	"$(envelope "$CONFMAIL_DATABASE" alias-2@test.example)" \
	"bounces+42@$DOMAIN|ali@example.org|\$ORIGINAL_RECIPIENT"

# ---------------------------------------------------------------------------
# A private Postfix instance delivering through the master.cf entry (pipe(8))
# and the aliases (local(8)) into $CONFMAIL: no network listener, mail
# submitted with sendmail -C, its own queue and log under $TMP.
# ---------------------------------------------------------------------------

postfix_delivery() {
	local P=$TMP/pfx db m rcpt i
	if [ "$(id -u)" != 0 ]; then
		skip "Postfix delivery: needs root"
		return
	fi
	if ! have postfix || ! have sendmail || ! have postqueue || ! id postfix >/dev/null 2>&1; then
		skip "Postfix delivery: postfix is not installed (Debian package postfix)"
		return
	fi
	# pipe(8) refuses root and the postfix user; the test runs confmail as
	# nobody, who must be able to reach the binary.
	chmod 755 "$TMP"
	if ! runuser -u nobody -- test -x "$CONFMAIL"; then
		skip "Postfix delivery: user nobody cannot run $CONFMAIL"
		return
	fi
	mkdir -p "$P/etc" "$P/queue" "$P/data" "$P/db"
	db=$P/db/pfx.sqlite
	local conf
	conf=$(conf_for_db "$db")
	CONFMAIL_DATABASE=$db "$CONFMAIL" -c "$conf" init >/dev/null
	chown -R nobody "$P/db"
	chown postfix "$P/data"
	{
		sed -n 's/^#> \{0,1\}//p' "$MASTER"
		cat <<-EOF
		compatibility_level = 3.6
		queue_directory = $P/queue
		data_directory = $P/data
		myhostname = mx.$DOMAIN
		mydestination = local.test
		inet_interfaces = loopback-only
		inet_protocols = ipv4
		maillog_file = $P/maillog
		maillog_file_prefixes = $P
		alias_maps = hash:$P/etc/aliases
		alias_database = hash:$P/etc/aliases
		default_transport = error:no mail leaves this test
		relay_transport = error:no mail leaves this test
		EOF
	} >"$P/etc/main.cf"
	{
		postfix_services
		sed -e 's/user=confmail/user=nobody/' \
			-e "s#/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf#$CONFMAIL -c $conf#" "$MASTER"
	} >"$P/etc/master.cf"
	sed "s#/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf#$CONFMAIL -c $conf#" \
		"$ALIASES" >"$P/etc/aliases"
	# local(8) runs alias commands as the owner of the alias database.
	postalias -c "$P/etc" "$P/etc/aliases" && chown nobody "$P/etc/aliases.db"

	if ! postfix -c "$P/etc" start >"$TMP/out" 2>&1; then
		notok "Postfix delivery: a private instance starts ($(tail -n 3 "$P/maillog" 2>/dev/null))"
		return
	fi
	trap 'postfix -c "$TMP/pfx/etc" stop >/dev/null 2>&1; rm -rf "$TMP"' EXIT
	ok "Postfix delivery: a private instance starts"

	# submit MESSAGE-ID SENDER RECIPIENT
	submit() {
		mkmsg "$TMP/$1.eml" "$1"
		sendmail -C "$P/etc" -f "$2" "$3" <"$TMP/$1.eml"
	}
	submit pf-1@test.example ali@example.org "register@$DOMAIN"
	submit pf-2@test.example '<>' "bounces+42@$DOMAIN"
	submit pf-3@test.example ali@example.org "Confirm+Tok9@$DOMAIN"
	submit pf-4@test.example ali@example.org info@local.test
	submit pf-5@test.example sam@example.org bounces+7@local.test
	for ((i = 0; i < 60; i++)); do
		[ "$(sqlite3 -batch "$db" 'SELECT count(*) FROM messages' 2>/dev/null)" = 5 ] && break
		sleep 0.5
	done
	equal "postfix pipe(8): register@ recorded with -r \${recipient} and the sender from Return-Path:" \
		"$(envelope "$db" pf-1@test.example)" "register@$DOMAIN|ali@example.org|-r"
	equal "postfix pipe(8): bounces+42@ found through bounces@, null sender kept (null_sender=)" \
		"$(envelope "$db" pf-2@test.example)" "bounces+42@$DOMAIN||-r"
	equal "postfix pipe(8): confirm+TOKEN@ arrives whole" \
		"$(envelope "$db" pf-3@test.example)" "confirm+tok9@$DOMAIN|ali@example.org|-r"
	equal "postfix local(8): the info alias names its address with -r" \
		"$(envelope "$db" pf-4@test.example)" "info@$DOMAIN|ali@example.org|-r"
	equal "postfix local(8): the bounces alias gets bounces+7 from \$ORIGINAL_RECIPIENT" \
		"$(envelope "$db" pf-5@test.example)" "bounces+7@local.test|sam@example.org|\$ORIGINAL_RECIPIENT"
	check "postfix: pipe(8) added Delivered-To: (flag D)" \
		grep -q "^Delivered-To: register@$DOMAIN" <(CONFMAIL_DATABASE=$db "$CONFMAIL" -c "$conf" \
		messages raw "$(sqlite3 -batch "$db" "SELECT id FROM messages WHERE message_id = 'pf-1@test.example'")")

	# A broken configuration: confmail exits 78 and starts its output with
	# 4.3.5, so Postfix defers the message instead of bouncing it.
	{ cat "$conf"; printf '[nonsense]\nkey = 1\n'; } >"$conf.bad"
	chmod 644 "$conf.bad"
	cp "$conf" "$conf.good"
	cp "$conf.bad" "$conf"
	submit pf-6@test.example ali@example.org "announce@$DOMAIN"
	for ((i = 0; i < 60; i++)); do
		grep -q 'to=<announce@' "$P/maillog" 2>/dev/null && break
		sleep 0.5
	done
	cp "$conf.good" "$conf"
	check "postfix: confmail's exit 78 with 4.3.5 is deferred, not bounced" \
		grep -q "to=<announce@$DOMAIN>, relay=confmail.*dsn=4.3.5, status=deferred" "$P/maillog"

	postfix -c "$P/etc" stop >/dev/null 2>&1
	trap 'rm -rf "$TMP"' EXIT
}
postfix_delivery

# ---------------------------------------------------------------------------
# Exim: contrib/exim.conf
# ---------------------------------------------------------------------------

# opt DRIVER OPTION: the value of OPTION in the router or transport
# DRIVER, "(set)" for a boolean that is set, nothing when it is absent.
opt() {
	awk -v name="$1:" -v o="$2" '
		/^[^ \t#]/ { in_d = ($1 == name) }
		in_d && $1 == o {
			if ($0 ~ /=/) { sub(/^[^=]*=[ \t]*/, ""); print } else print "(set)"
			exit
		}' "$EXIM"
}
check "exim.conf: has a routers and a transports section" \
	test "$(grep -cE '^begin (routers|transports)$' "$EXIM")" = 2
equal "exim.conf: router confmail is an accept router" "$(opt confmail driver)" accept
equal "exim.conf: it takes the six conference local parts" "$(opt confmail local_parts)" \
	"${NAMES// / : }"
equal "exim.conf: with an optional +suffix" \
	"$(opt confmail local_part_suffix) $(opt confmail local_part_suffix_optional)" "+* (set)"
equal "exim.conf: routes to the confmail_pipe transport" "$(opt confmail transport)" confmail_pipe
equal "exim.conf: confmail_pipe is a pipe transport" "$(opt confmail_pipe driver)" pipe
ecmd=$(opt confmail_pipe command)
equal "exim.conf: command runs confmail filter" "$ecmd" \
	"/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf filter"
check "exim.conf: command has no tainted variable (Exim 4.94+ fails the delivery)" \
	test -z "$(grep -oE '\$\{?(local_part|local_part_suffix|local_part_prefix|domain|sender_address|original_local_part)\b' <<<"$ecmd")"
equal "exim.conf: user = confmail" "$(opt confmail_pipe user)" confmail
check "exim.conf: temp_errors includes 75 (EX_TEMPFAIL defers)" \
	grep -qE '(^|[ :])75([ :]|$)' <<<"$(opt confmail_pipe temp_errors)"
check "exim.conf: temp_errors includes 78 (a broken configuration defers)" \
	grep -qE '(^|[ :])78([ :]|$)' <<<"$(opt confmail_pipe temp_errors)"
check "exim.conf: temp_errors leaves 65 (too large) to bounce" \
	test -z "$(grep -oE '(^|[ :])65([ :]|$)' <<<"$(opt confmail_pipe temp_errors)")"
equal "exim.conf: return_fail_output" "$(opt confmail_pipe return_fail_output)" "(set)"

# Exim sets RECIPIENT and SENDER; the command has no -r.
exim_run() {
	local a out=()
	for a in $ecmd; do
		case $a in
		/usr/local/bin/confmail) out+=("$CONFMAIL") ;;
		/etc/confmail/icssi-2022.conf) out+=("$CONFMAIL_CONF") ;;
		*) out+=("$a") ;;
		esac
	done
	env -i PATH=/bin:/usr/bin CONFMAIL_DATABASE="$CONFMAIL_DATABASE" \
		LOCAL_PART=confirm LOCAL_PART_SUFFIX=+x9 DOMAIN="$DOMAIN" \
		RECIPIENT="confirm+x9@$DOMAIN" SENDER= "${out[@]}" <"$1"
}
mkmsg "$TMP/exim1.eml" exim-1@test.example "Return-path: <>"
expect_rc 0 "exim.conf command: confmail accepts the message" exim_run "$TMP/exim1.eml"
equal "exim.conf command: recipient from \$RECIPIENT with its suffix, null sender from \$SENDER" \
	"$(envelope "$CONFMAIL_DATABASE" exim-1@test.example)" "confirm+x9@$DOMAIN||\$RECIPIENT"

EXIM_BIN=
for e in exim4 exim; do have "$e" && EXIM_BIN=$(command -v "$e") && break; done
if [ -n "$EXIM_BIN" ]; then
	EX=$TMP/exim
	mkdir -p "$EX/spool" "$EX/log" "$EX/db"
	chmod 711 "$TMP"
	# A run with -C gives up root: it is done as the Exim user, who then
	# is also the only user the transport can run as.
	euser=$("$EXIM_BIN" -bP exim_user 2>/dev/null | sed -n 's/^exim_user = //p')
	euser=${euser:-Debian-exim}
	egroup=$(id -gn "$euser" 2>/dev/null || echo "$euser")
	econf=$(conf_for_db "$EX/db/exim.sqlite")
	{
		echo "primary_hostname = mx.$DOMAIN"
		echo "qualify_domain = $DOMAIN"
		echo "spool_directory = $EX/spool"
		echo "log_file_path = $EX/log/%slog"
		echo "keep_environment ="
		sed -e "s/^  user = confmail\$/  user = $euser/" \
			-e "s/^  group = confmail\$/  group = $egroup/" \
			-e "s#/usr/local/bin/confmail -c /etc/confmail/icssi-2022.conf#$CONFMAIL -c $econf#" \
			"$EXIM"
		# Without a retry rule Exim gives up on a deferral at once.
		printf 'begin retry\n*  *  F,1d,1h\n'
	} >"$EX/exim.conf"
	"$EXIM_BIN" -C "$EX/exim.conf" -bV >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc = 0 ] && ! grep -q 'configuration error' "$TMP/err"; then
		ok "exim -bV accepts exim.conf (in a minimal configuration)"
	else
		notok "exim -bV accepts exim.conf (exit $rc: $(grep -A1 'error' "$TMP/err" | head -c 300))"
	fi
	for a in register info announce announce-request bounces+42 confirm+AbC bounces confirm tickets+icssi22-q-0001 comment+icssi22-q-0001; do
		"$EXIM_BIN" -C "$EX/exim.conf" -bt "$a@$DOMAIN" >"$TMP/out" 2>/dev/null
		check "exim -bt: $a@$DOMAIN goes to router confmail, transport confmail_pipe" \
			grep -q 'router = confmail, transport = confmail_pipe' "$TMP/out"
	done
	"$EXIM_BIN" -C "$EX/exim.conf" -bt "organisers@$DOMAIN" >"$TMP/out" 2>/dev/null
	check "exim -bt: organisers@$DOMAIN is not routed to confmail" \
		test -z "$(grep 'confmail_pipe' "$TMP/out")"

	if [ "$(id -u)" = 0 ] && id "$euser" >/dev/null 2>&1; then
		CONFMAIL_DATABASE=$EX/db/exim.sqlite "$CONFMAIL" -c "$econf" init >/dev/null
		chown -R "$euser:$egroup" "$EX/spool" "$EX/log" "$EX/db"
		mkmsg "$TMP/exim2.eml" exim-2@test.example
		"$EXIM_BIN" -C "$EX/exim.conf" -odi -oi -f ali@example.org "bounces+42@$DOMAIN" \
			<"$TMP/exim2.eml" >/dev/null 2>&1
		equal "exim delivers bounces+42@$DOMAIN: recorded with its suffix and the sender" \
			"$(envelope "$EX/db/exim.sqlite" exim-2@test.example)" \
			"bounces+42@$DOMAIN|ali@example.org|\$RECIPIENT"
		# A broken confmail configuration (exit 78) defers, nothing bounces.
		bad=$TMP/exim-bad.conf
		{ cat "$econf"; echo "[nonsense]"; echo "key = 1"; } >"$bad"
		chmod 644 "$bad"
		sed "s#$CONFMAIL -c $econf#$CONFMAIL -c $bad#" "$EX/exim.conf" >"$EX/exim-bad.conf"
		mkmsg "$TMP/exim3.eml" exim-3@test.example
		"$EXIM_BIN" -C "$EX/exim-bad.conf" -odi -oi -f ali@example.org "info@$DOMAIN" \
			<"$TMP/exim3.eml" >/dev/null 2>&1
		check "exim: confmail's exit 78 defers the message (temp_errors)" \
			grep -q "== info@$DOMAIN .*T=confmail_pipe defer" "$EX/log/mainlog"
		check "exim: and does not bounce it" \
			test -z "$(grep "\*\* info@$DOMAIN" "$EX/log/mainlog")"
	else
		skip "exim delivery: needs root and the Exim user"
	fi
else
	skip "exim not installed (it conflicts with postfix in Debian): exim.conf checked by content only"
fi

# ---------------------------------------------------------------------------
# Man pages: contrib/man/confmail.1, confmail.conf.5 and confmail-rules.5
# ---------------------------------------------------------------------------

MAN1=$C/man/confmail.1
MAN5=$C/man/confmail.conf.5
MAN5_RULES=$C/man/confmail-rules.5
for m in "$MAN1" "$MAN5" "$MAN5_RULES"; do
	name=${m#"$ROOT"/}
	if [ ! -f "$m" ]; then
		notok "$name exists"
		continue
	fi
	if have mandoc; then
		# Cross-references to pages not installed here (pipe(8) without
		# postfix) and a stale mandoc.db are notes about this machine,
		# not about the page.
		mandoc -Tlint -Wstyle "$m" 2>&1 |
			grep -v -e 'referenced manual not found' -e 'mandoc\.db' >"$TMP/out"
		check "mandoc -Tlint: $name is clean" test ! -s "$TMP/out"
		[ -s "$TMP/out" ] && head -n 20 "$TMP/out"
	elif have groff; then
		groff -mandoc -Tutf8 -ww -z "$m" >"$TMP/out" 2>&1
		check "groff -ww: $name has no warnings" test ! -s "$TMP/out"
		[ -s "$TMP/out" ] && head -n 20 "$TMP/out"
	else
		skip "$name: neither mandoc nor groff is installed (Debian package mandoc)"
	fi
done

# Every command of main.c's table is described in confmail(1).
if [ -f "$MAN1" ]; then
	for c in $(sed -n 's/^[ \t]*{ "\([a-z-]*\)", cmd_[a-z_]*,.*/\1/p' "$ROOT/src/main.c"); do
		check "confmail.1 describes the command '$c'" grep -qE "^\.It Cm $c( |\$)" "$MAN1"
	done
fi
# Every key of config.c's table is described in confmail.conf(5), in the
# section of its group.
if [ -f "$MAN5" ]; then
	sed -n 's/^[ \t]*{ "\([a-z_]*\)", "\([a-z_]*\)", K_.*/\1 \2/p' "$ROOT/src/config.c" >"$TMP/keys"
	check "config.c's key table is readable" test -s "$TMP/keys"
	while read -r g k; do
		check "confmail.conf.5 describes [$g] $k" test -n "$(awk -v g="$g" -v k="$k" '
			/^\.Ss / { in_g = ($0 ~ "\\[" g "\\]") }
			in_g && $1 == ".It" && $2 == "Cm" && $3 == k { print; exit }' "$MAN5")"
	done <"$TMP/keys"
fi

# The systemd units (digest and reminder timers, the queue daemon):
# systemd-analyze verify, with ExecStart pointed at the binary under test.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/units"
	for u in "$C"/systemd/*.service "$C"/systemd/*.timer; do
		sed "s#/usr/local/bin/confmail#$CONFMAIL#" "$u" >"$TMP/units/$(basename "$u")"
	done
	check "systemd-analyze verify: the units and timers" sh -c "systemd-analyze verify --man=no '$TMP'/units/* >'$TMP/sd.out' 2>&1 && ! grep -qi 'error\|warning\|unknown' '$TMP/sd.out'"
	check "the timers name their services" sh -c "test -f '$C/systemd/confmail-digest.service' && test -f '$C/systemd/confmail-remind.service'"
else
	skip "systemd-analyze not installed: the units are not checked"
fi
# man -l renders each page without a warning (groff -wall, preconv for
# the Arabic and Kurdish examples).
if command -v groff >/dev/null; then
	for m in "$C"/man/*.[15]; do
		check "groff -wall: $(basename "$m") renders without warnings" \
			sh -c "groff -wall -k -mandoc -Tutf8 '$m' 2>&1 >/dev/null | grep -q . && exit 1 || exit 0"
	done
fi
finish
