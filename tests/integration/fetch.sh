# `confmail fetch` (issue 9) against a real Dovecot: a private instance
# started here on 127.0.0.1 (its own base_dir, log file, passwd-file users,
# Maildirs under $TMP, a certificate from a test CA made now), listening for
# IMAP (STARTTLS), IMAPS, POP3 (STLS) and POP3S.  The mailboxes are filled
# with the labelled corpus (../shared/corpus) over IMAP with Python's
# imaplib, which also checks what is left on the server afterwards.
# It proves: every message recorded once and moved / flagged / deleted on
# the server after its commit, exactly what `filter` records from the same
# files; nothing fetched twice; new mail taken by the next run and, with
# --daemon, by IDLE within seconds, also after Dovecot restarts; SIGTERM
# stops the daemon (exit 0); Dovecot stopped in the middle of a run loses
# nothing and the next run finishes the job; a UIDVALIDITY change is
# harmless; an untrusted certificate and a password file others may read
# are refused before any password is sent; oversized messages stay on the
# server, reported once; [fetch] mistakes are exit 78 with file:line.
source "$(dirname "$0")/lib.sh"
# Under ASan, LeakSanitizer's own tracer sometimes crashes (SIGSEGV inside
# LSan, "LeakSanitizer has encountered a fatal error") at the exit of a
# completed TLS session, POP3 or IMAP, the run itself clean: its leak
# check is off for this script, ASan's memory checks stay on.  The intake
# every fetched message goes through (deliver) is leak-checked by the
# other scripts and by valgrind.sh.  Not yet understood.
[ -n "${CONFMAIL_SANITIZED:-}" ] && export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
have() { command -v "$1" >/dev/null 2>&1; }
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
if [ ! -d "$CORPUS" ]; then
	skip "no $CORPUS beside the checkout"
	finish
fi
# Dovecot's master runs as root and its login processes as dovenull, its
# internal ones as dovecot (users its Debian package makes); the mail
# belongs to nobody, since Dovecot never serves mail as root.
if [ "$(id -u)" != 0 ] || ! have dovecot || ! have openssl || ! have python3 || ! have sqlite3 ||
	! id dovenull >/dev/null 2>&1 || ! id dovecot >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
	skip "needs root, Dovecot (dovecot-imapd, dovecot-pop3d), openssl, python3 and sqlite3"
	finish
fi
export CONFMAIL_NOW=2022-01-25T09:00:00Z
read -r IMAP IMAPS POP3 POP3S < <(free_ports 4)
chmod 755 "$TMP"	# Dovecot's unprivileged processes read below it
D=$TMP/dovecot
MAIL=$TMP/mail
T=$TMP/tls
trap 'stop_dovecot; rm -rf "$TMP"' EXIT

# --- A test CA, a certificate for localhost and another CA ----------------
if ! { test_ca "$T" && test_cert "$T" localhost "DNS:localhost, IP:127.0.0.1" &&
	test_ca "$T/other"; }; then
	notok "openssl makes a test CA and a server certificate"
	finish
fi
CA=$T/ca.pem

# --- The private Dovecot ---------------------------------------------------
mkdir -p "$D" "$MAIL"
chown nobody "$MAIL"
PASSWORD=sesame-fetch-9
for u in alice bob carol dave erin; do echo "$u:{PLAIN}$PASSWORD::::::"; done >"$D/passwd"
chmod 644 "$D/passwd"
cat >"$D/dovecot.conf" <<END
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <$T/localhost.pem
ssl_key = <$T/localhost.key
default_internal_user = dovecot
default_login_user = dovenull
auth_verbose = yes
first_valid_uid = 1
# IDLE learns of new mail by inotify; where a container has none (or its
# instances are used up), Dovecot looks every mailbox_idle_check_interval
# (30 s by default): once a second keeps the IDLE check within seconds
mailbox_idle_check_interval = 1 secs
# the process titles say which session is in IDLE (the --daemon test)
verbose_proctitle = yes
mail_location = maildir:$MAIL/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN $D/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=$(id -g nobody) home=$MAIL/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = $IMAP
  }
  inet_listener imaps {
    port = $IMAPS
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = $POP3
  }
  inet_listener pop3s {
    port = $POP3S
    ssl = yes
  }
}
END
start_dovecot() {
	dovecot -c "$D/dovecot.conf" >"$TMP/dovecot.out" 2>&1 &&
		wait_port "$IMAP" && wait_port "$IMAPS" && wait_port "$POP3" && wait_port "$POP3S"
}
# stops Dovecot as a crash would: the master and every process it started
# (the sessions) killed at once, by their ids
stop_dovecot() {
	local pid
	pid=$(cat "$D/run/master.pid" 2>/dev/null) || return 0
	kill -KILL $(pgrep -P "$pid") "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$D/run/master.pid"
}
if ! start_dovecot; then
	notok "a private Dovecot starts ($(cat "$TMP/dovecot.out"; tail -n 3 "$D/dovecot.log" 2>/dev/null))"
	finish
fi

# mbox USER COMMAND [ARGS]: the mailbox of USER as Dovecot has it, over
# IMAPS with Python's imaplib (not confmail):
#   append FOLDER FILE...   count FOLDER   seen FOLDER (how many are \Seen)
#   ids FOLDER (Message-IDs, sorted)   recreate FOLDER (a new UIDVALIDITY)
cat >"$TMP/mbox.py" <<'PY'
import imaplib, ssl, sys
port, ca, password, user, cmd, folder = sys.argv[1:7]
files = sys.argv[7:]
m = imaplib.IMAP4_SSL("localhost", int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, password)
if cmd == "recreate":
    m.delete(folder)
    m.create(folder)
elif cmd == "append":
    m.create(folder)
    for f in files:
        typ, _ = m.append(folder, None, None, open(f, "rb").read())
        assert typ == "OK", f
else:
    typ, data = m.select(folder, readonly=True)
    if typ != "OK":
        print(0 if cmd in ("count", "seen") else "")
    elif cmd == "count":
        print(int(data[0]))
    elif cmd == "seen":
        typ, data = m.search(None, "SEEN")
        print(len(data[0].split()))
    elif cmd == "ids":
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])") if int(data[0]) else ("OK", [])
        ids = [(p[1].decode().split(":", 1) + ["(none)"])[1].strip() for p in data if isinstance(p, tuple)]
        print("\n".join(sorted(ids)))
m.logout()
PY
mbox() { python3 "$TMP/mbox.py" "$IMAPS" "$CA" "$PASSWORD" "$@"; }

# The corpus in name order, and N more messages ("trickle" ones) made here.
mapfile -t FILES < <(find "$CORPUS" -name '*.eml' | sort)
N=${#FILES[@]}
# more PREFIX COUNT: COUNT new questions in $TMP/PREFIX-*.eml
more() {
	mkdir -p "$TMP/gen"
	for i in $(seq "$2"); do
		printf '%s\n' "Return-Path: <$1$i@example.org>" "Delivered-To: info@icssi.example" \
			"From: Participant $i <$1$i@example.org>" "To: info@icssi.example" \
			"Subject: $1 $i: hotel near the venue?" "Message-ID: <$1-$i@example.org>" \
			"Date: Mon, 24 Jan 2022 10:00:00 +0000" "" \
			"Hello, is there a hotel near the venue? ($1 $i)" >"$TMP/gen/$1-$i.eml"
	done
	find "$TMP/gen" -name "$1-*.eml" | sort -V
}

# --- Precondition: Dovecot does what the cases assume (checked with Python) -
if ! python3 - "$IMAP" "$POP3S" "$CA" "$PASSWORD" >"$TMP/pre" 2>&1 <<'PY'; then
import imaplib, poplib, ssl, sys
imap, pop3s, ca, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4("localhost", imap)
assert "STARTTLS" in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx); m.login("alice", pw)
assert "IDLE" in m.capabilities or "IDLE" in m.capability()[1][0].decode(), "no IDLE"
m.logout()
p = poplib.POP3_SSL("localhost", pop3s, context=ctx); p.user("bob"); p.pass_(pw); p.quit()
PY
	notok "precondition: Dovecot's IMAP (STARTTLS, IDLE) and POP3S for the test users: $(tail -n 2 "$TMP/pre") $(tail -n 3 "$D/dovecot.log")"
	finish
fi
ok "precondition: Dovecot offers IMAP STARTTLS and IDLE, IMAPS, POP3S (checked with Python)"

# --- confmail ----------------------------------------------------------------
PW=$TMP/fetch-password
echo "$PASSWORD" >"$PW"
chmod 600 "$PW"
# fetch_conf KEY=VALUE...: the sample configuration with a [fetch] group of
# these keys (and, with limits.KEY=VALUE, a [limits] key)
fetch_conf() {
	local conf=$TMP/conf-$RANDOM.conf kv
	cp "$CONFMAIL_CONF" "$conf"
	for kv in "$@"; do
		case $kv in
		limits.*)
			kv=${kv#limits.}
			sed -i -e "/^${kv%%=*} *=/d" -e "/^\[limits\]/a ${kv%%=*} = ${kv#*=}" "$conf" ;;
		esac
	done
	echo "[fetch]" >>"$conf"
	for kv in "$@"; do
		case $kv in
		limits.*) ;;
		*) echo "${kv%%=*} = ${kv#*=}" >>"$conf" ;;
		esac
	done
	echo "$conf"
}
# use_db NAME: the database of the cases that follow, made by init (which
# also makes the secret that replies need)
use_db() {
	export CONFMAIL_DATABASE=$TMP/$1.sqlite
	"$CONFMAIL" init >/dev/null
}
# run CONF [ARGS]: fetch --once; exit status in $rc, output in $TMP/run.*
run() {
	local conf=$1
	shift
	rc=0
	timeout 120 "$CONFMAIL" -c "$conf" fetch --once "$@" >"$TMP/run.out" 2>"$TMP/run.err" || rc=$?
}
said() { tr '\n' ' ' <"$TMP/run.err"; tail -n 2 "$TMP/run.out" | tr '\n' ' '; }
# (the fetch may be writing: wait for the lock like confmail does)
count() { sqlite3 -batch -cmd '.timeout 10000' "$CONFMAIL_DATABASE" "SELECT count(*) FROM $1"; }
logins() { grep -c "Login: user=<$1>" "$D/dovecot.log"; }
# the classes and registration statuses of a database, for comparison
summary() {
	CONFMAIL_DATABASE=$1 "$CONFMAIL" stats --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(json.dumps([s["messages"], s["registrations"], s["tickets"]], sort_keys=True))'
}

# What `filter` records from the same files: fetch must record the same.
CONFMAIL_DATABASE=$TMP/filter.sqlite "$CONFMAIL" init >/dev/null
for f in "${FILES[@]}"; do
	CONFMAIL_DATABASE=$TMP/filter.sqlite "$CONFMAIL" filter <"$f" >/dev/null 2>&1 ||
		echo "# filter failed on $f"
done

# a. IMAP with STARTTLS, moved to a processed folder.
use_db a
mbox alice append INBOX "${FILES[@]}"
CONF_A=$(fetch_conf host=localhost "port=$IMAP" tls=starttls "ca_file=$CA" user=alice \
	"password_file=$PW" after=move processed_folder=Processed)
run "$CONF_A"
equal "a. IMAP STARTTLS: fetch --once exits 0 ($(said))" "$rc" 0
equal "a. ... every message of the corpus recorded once" "$(count messages)" "$N"
equal "a. ... each delivered once (arrivals)" "$(count arrivals)" "$N"
equal "a. ... the same classes, registrations and tickets as filter records from the files" \
	"$(summary "$CONFMAIL_DATABASE")" "$(summary "$TMP/filter.sqlite")"
equal "a. ... the envelope recipient from Delivered-To, the sender from Return-Path" \
	"$(sql "SELECT count(*) FROM arrivals WHERE recipient_source = 'Delivered-To'
		AND envelope_recipient IS NOT NULL AND envelope_sender IS NOT NULL")" "$N"
equal "a. ... INBOX is empty on the server" "$(mbox alice count INBOX)" 0
equal "a. ... all $N are in Processed" "$(mbox alice count Processed)" "$N"
# (one bounce of the corpus has no Message-ID)
equal "a. ... the Message-IDs in Processed are those recorded" \
	"$(mbox alice ids Processed | grep -vx '(none)' | tr -d '<>' | LC_ALL=C sort)" \
	"$(sql "SELECT message_id FROM messages WHERE message_id IS NOT NULL ORDER BY message_id" |
		LC_ALL=C sort)"
equal "a. ... the folder's UIDVALIDITY and last UID are kept" \
	"$(sql "SELECT user || ' ' || folder || ' ' || last_uid || ' ' || (uidvalidity > 0) FROM fetch_state")" \
	"alice INBOX $N 1"
check "a. ... it says how many it took" grep -q ": $N new, 0 already recorded" "$TMP/run.out"
run "$CONF_A"
equal "a. a second run exits 0" "$rc" 0
check "a. ... and takes nothing ($(said))" grep -q ': 0 new, 0 already recorded' "$TMP/run.out"
equal "a. ... still $N messages, $N arrivals" "$(count messages) $(count arrivals)" "$N $N"
mapfile -t NEW < <(more new 1)
mbox alice append INBOX "${NEW[@]}"
run "$CONF_A"
equal "a. a message appended later is taken by the next run" "$rc $(count messages)" "0 $((N + 1))"
equal "a. ... and moved" "$(mbox alice count INBOX) $(mbox alice count Processed)" "0 $((N + 1))"

# b. IMAPS (implicit TLS), another folder, flagged \Seen and left there.
use_db b
mbox bob append Conference "${FILES[@]}"
CONF_B=$(fetch_conf host=localhost "port=$IMAPS" tls=implicit "ca_file=$CA" user=bob \
	"password_file=$PW" folder=Conference after=flag interval=300)
run "$CONF_B"
equal "b. IMAPS: fetch --once exits 0 ($(said))" "$rc" 0
equal "b. ... every message recorded once" "$(count messages) $(count arrivals)" "$N $N"
equal "b. ... all left in the folder, flagged \\Seen" \
	"$(mbox bob count Conference) $(mbox bob seen Conference)" "$N $N"
run "$CONF_B"
check "b. a second run takes nothing ($(said))" grep -q ': 0 new, 0 already recorded' "$TMP/run.out"
equal "b. ... still $N arrivals (flagged messages are not read again)" "$(count arrivals)" "$N"

# b. --daemon: IDLE wakes it for a new message (interval is 300 s, so
# nothing else would); it survives Dovecot restarting; SIGTERM stops it.
# wait_count N: until the database holds N messages (at most 20 s)
wait_count() {
	for _ in $(seq 200); do
		[ "$(count messages)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
before=$(logins bob)
"$CONFMAIL" -c "$CONF_B" fetch --daemon >"$TMP/daemon.out" 2>"$TMP/daemon.err" &
daemon=$!
for _ in $(seq 100); do [ "$(logins bob)" -gt "$before" ] && break; sleep 0.1; done
# the daemon has logged in, looked once and is in IDLE (Dovecot's title
# for the session says so), or after 10 s the test goes on regardless
for _ in $(seq 100); do
	pgrep -f "imap \[bob .*IDLE" >/dev/null && break
	sleep 0.1
done
mapfile -t NEW < <(more idle 1)
mbox bob append Conference "${NEW[@]}"
start=$(date +%s)
check "b. --daemon takes a new message within seconds (IDLE)" wait_count $((N + 1))
check "b. ... within 10 s (took $(( $(date +%s) - start )) s)" test $(( $(date +%s) - start )) -le 10
stop_dovecot
sleep 1
start_dovecot
mapfile -t NEW < <(more restart 1)
mbox bob append Conference "${NEW[@]}"
check "b. ... Dovecot restarted: the daemon reconnects and takes the next one ($(tail -n 1 "$TMP/daemon.err"))" \
	wait_count $((N + 2))
kill -TERM "$daemon"
rc=0
for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon" 2>/dev/null; then
	notok "b. ... SIGTERM stops the daemon within 10 s"
	kill -KILL "$daemon"
fi
wait "$daemon" || rc=$?
equal "b. ... SIGTERM: the daemon exits 0" "$rc" 0
check "b. ... and says it stopped" grep -q 'fetch: stopped' "$TMP/daemon.out"
equal "b. ... each message once: $((N + 2)) messages, $((N + 2)) arrivals" \
	"$(count messages) $(count arrivals)" "$((N + 2)) $((N + 2))"

# b. The folder deleted and made again has a new UIDVALIDITY: the run reads
# it all again, and what was recorded is recognised, not recorded again.
mbox bob recreate Conference
mapfile -t NEW < <(more renumbered 1)
mbox bob append Conference "${FILES[@]:0:5}" "${NEW[@]}"
run "$CONF_B"
equal "b. a new UIDVALIDITY: the run exits 0" "$rc" 0
check "b. ... and says the folder is read again ($(said))" grep -q 'UIDVALIDITY changed' "$TMP/run.err"
check "b. ... 1 new, 5 already recorded" grep -q ': 1 new, 5 already recorded' "$TMP/run.out"
equal "b. ... $((N + 3)) messages" "$(count messages)" "$((N + 3))"

# c. POP3 with STLS: every message taken and deleted.
use_db c
mbox carol append INBOX "${FILES[@]}"
CONF_C=$(fetch_conf protocol=pop3 host=localhost "port=$POP3" tls=starttls "ca_file=$CA" user=carol \
	"password_file=$PW")
run "$CONF_C"
equal "c. POP3 STLS: fetch --once exits 0 ($(said))" "$rc" 0
equal "c. ... every message recorded once" "$(count messages) $(count arrivals)" "$N $N"
equal "c. ... the same as filter records" "$(summary "$CONFMAIL_DATABASE")" "$(summary "$TMP/filter.sqlite")"
equal "c. ... the maildrop is empty: all deleted" "$(mbox carol count INBOX)" 0
mapfile -t NEW < <(more pop 2)
mbox carol append INBOX "${NEW[@]}"
run "$CONF_C"
equal "c. the next run takes the 2 new ones" "$rc $(count messages)" "0 $((N + 2))"
run "$CONF_C"
check "c. ... and then nothing ($(said))" grep -q ': 0 new, 0 already recorded' "$TMP/run.out"

# d. Dovecot stops in the middle of a run: nothing lost, nothing twice,
# the next run (Dovecot back) finishes.
use_db d
mapfile -t MANY < <(more trickle 150)
TOTAL=$((N + 150))
mbox dave append INBOX "${FILES[@]}" "${MANY[@]}"
CONF_D=$(fetch_conf host=localhost "port=$IMAPS" "ca_file=$CA" user=dave "password_file=$PW" \
	after=move processed_folder=Done)
rc=0
timeout 120 "$CONFMAIL" -c "$CONF_D" fetch --once >"$TMP/run.out" 2>"$TMP/run.err" &
pid=$!
for _ in $(seq 600); do
	[ "$(count messages)" -ge 20 ] && break
	sleep 0.05
done
stop_dovecot
wait "$pid" || rc=$?
before=$(count messages)
equal "d. Dovecot stopped mid-run: fetch exits 75 ($(said))" "$rc" 75
check "d. ... after some messages, not all ($before of $TOTAL)" test "$before" -gt 0 -a "$before" -lt "$TOTAL"
start_dovecot
moved=$(mbox dave ids Done | grep -vx '(none)' | tr -d '<>' | LC_ALL=C sort)
unrecorded=$(comm -23 <(echo "$moved") <(sql "SELECT message_id FROM messages" | LC_ALL=C sort) | grep -c .)
equal "d. ... every message moved on the server had been recorded first" "$unrecorded" 0
run "$CONF_D"
equal "d. the next run (Dovecot back) exits 0 ($(said))" "$rc" 0
equal "d. ... all $TOTAL recorded, each once" "$(count messages)" "$TOTAL"
check "d. ... at most the one message in flight delivered twice ($(count arrivals) arrivals)" \
	test "$(count arrivals)" -le $((TOTAL + 1))
# (a MOVE cut short by the kill may have copied without expunging: the
# message is moved again by the next run, and Done holds it twice)
equal "d. ... all moved, none left" "$(mbox dave count INBOX) $(mbox dave ids Done | LC_ALL=C sort -u | grep -c .)" \
	"0 $TOTAL"

# e. A certificate the configuration does not trust: refused before LOGIN.
use_db e
mbox erin append INBOX "${FILES[@]:0:3}"
before=$(logins erin)
run "$(fetch_conf host=localhost "port=$IMAPS" user=erin "password_file=$PW")"
equal "e. IMAPS, no ca_file (the system store does not know the test CA): exit 75" "$rc" 75
check "e. ... the error names the certificate ($(said))" grep -qi 'certificate.*not trusted' "$TMP/run.err"
run "$(fetch_conf host=localhost "port=$IMAP" tls=starttls "ca_file=$T/other/ca.pem" user=erin "password_file=$PW")"
equal "e. STARTTLS, ca_file of another CA: exit 75" "$rc" 75
check "e. ... the error names the certificate ($(said))" grep -qi 'certificate.*not trusted' "$TMP/run.err"
run "$(fetch_conf protocol=pop3 host=localhost "port=$POP3S" user=erin "password_file=$PW")"
equal "e. POP3S, no ca_file: exit 75" "$rc" 75
equal "e. ... no login was attempted (Dovecot logged none for erin)" "$(logins erin)" "$before"
check "e. ... Dovecot saw connections close without authentication" \
	grep -q 'Disconnected.*no auth attempts' "$D/dovecot.log"
equal "e. ... nothing recorded, nothing taken" "$(count messages 2>/dev/null || echo 0) $(mbox erin count INBOX)" "0 3"

# f. A password file others may read: refused before connecting.
cp "$PW" "$TMP/open-password"
chmod 644 "$TMP/open-password"
lines=$(wc -l <"$D/dovecot.log")
run "$(fetch_conf host=localhost "port=$IMAPS" "ca_file=$CA" user=erin "password_file=$TMP/open-password")"
equal "f. password_file mode 0644: exit 78" "$rc" 78
check "f. ... the error names it ($(said))" grep -q 'password_file.*readable by others' "$TMP/run.err"
equal "f. ... Dovecot saw no connection at all" "$(wc -l <"$D/dovecot.log")" "$lines"

# g. Oversized messages stay on the server, reported once, not retried.
use_db g
python3 -c 'import sys; sys.stdout.write("From: big@example.org\nMessage-ID: <big@example.org>\nSubject: big\n\n" + ("x" * 76 + "\n") * 3000)' >"$TMP/big.eml"
mbox erin append Big "$TMP/big.eml" "${FILES[@]:0:2}"
CONF_G=$(fetch_conf host=localhost "port=$IMAPS" "ca_file=$CA" user=erin "password_file=$PW" \
	folder=Big after=move processed_folder=Done limits.max_message_size=100K)
run "$CONF_G"
equal "g. a message over max_message_size: the run exits 0" "$rc" 0
check "g. ... it says so, with its size ($(said))" grep -q 'left on the server.*max_message_size' "$TMP/run.err"
equal "g. ... the others recorded, it not" "$(count messages)" 2
equal "g. ... it stays in the folder, unread; the others moved" \
	"$(mbox erin count Big) $(mbox erin seen Big) $(mbox erin count Done)" "1 0 2"
equal "g. ... kept in fetch_skipped" "$(sql "SELECT count(*) FROM fetch_skipped WHERE size > 200000")" 1
run "$CONF_G"
equal "g. the next run is quiet about it and takes nothing" "$rc $(grep -c . "$TMP/run.err")" "0 0"

# h. [fetch] mistakes: exit 78 with file and line, before any connection.
use_db h
# bad WANT KEY=VALUE...: exit 78, and the message names file:line and WANT
bad() {
	local want=$1 conf
	shift
	conf=$(fetch_conf "$@")
	run "$conf"
	if [ "$rc" = 78 ] && grep -q "^confmail: $conf:[0-9]*: \[fetch\].*$want" "$TMP/run.err"; then
		ok "h. [fetch] $*: exit 78, file:line, '$want'"
	else
		notok "h. [fetch] $*: exit 78, file:line, '$want' (exit $rc: $(said))"
	fi
}
common=(host=localhost "port=$IMAPS" "ca_file=$CA" user=erin "password_file=$PW")
bad "expected one of imap, pop3" "${common[@]}" protocol=smtp
bad "expected one of implicit, starttls, off" "${common[@]}" tls=maybe
bad "expected a whole number" "${common[@]}" interval=soon
bad "processed_folder" "${common[@]}" after=move
bad "POP3 can only delete" "${common[@]}" protocol=pop3 after=flag
bad "in the clear" "${common[@]/host=localhost/host=mail.example.org}" tls=off
bad "user is required" host=localhost "password_file=$PW"
expect_rc 64 "h. fetch with neither --once nor --daemon: usage (64)" "$CONFMAIL" -c "$CONF_A" fetch
finish
