# Bad input: each gets its documented exit code, nothing crashes, and what
# is accepted can be read back.  0 = recorded (quarantined when GMime finds
# no message), 65 = over [limits] max_message_size, 75 = try again later.
source "$(dirname "$0")/lib.sh"
"$CONFMAIL" init >/dev/null

hdr() { printf 'From: a@b.example\nTo: register@icssi.example\nMessage-ID: <%s@bad.example>\nSubject: %s\n' "$1" "$1"; }

# accept NAME: feed $TMP/NAME.eml; it must be recorded (exit 0) within 2 s.
accept() {
	local start=$SECONDS
	expect_rc 0 "$1 is accepted" timeout 10 "$CONFMAIL" filter <"$TMP/$1.eml"
	[ $((SECONDS - start)) -le 2 ] || notok "$1 took $((SECONDS - start)) s"
}

: >"$TMP/empty.eml"
accept empty
equal "empty input is quarantined, not lost" \
	"$(sql "SELECT state || ' ' || quarantine_reason || ' ' || size FROM messages WHERE size = 0")" "quarantined empty message 0"

hdr header-only header-only | sed '$d' >"$TMP/header-only.eml"
printf 'Subject: header-only\n' >>"$TMP/header-only.eml"
accept header-only

{ hdr long-header long-header; printf 'X-Long: '; head -c 1048576 /dev/zero | tr '\0' 'x'; printf '\n\nbody\n'; } >"$TMP/long-header.eml"
accept long-header
equal "1 MB header line kept whole" "$(sql "SELECT size > 1048576 FROM messages WHERE message_id = 'long-header@bad.example'")" 1

{ hdr broken-boundary broken-boundary
  printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="abc"\n\n'
  printf -- '--abc\nContent-Type: text/plain\n\nfirst part\n--abd\nContent-Type: text/html\n\n<p>never closed\n'; } >"$TMP/broken-boundary.eml"
accept broken-boundary

{ hdr no-boundary no-boundary; printf 'Content-Type: multipart/alternative\n\nno boundary at all\n'; } >"$TMP/no-boundary.eml"
accept no-boundary

{ hdr nul-bytes nul-bytes; printf '\nName: A\0mal\0\0\nCountry: Iraq\n'; } >"$TMP/nul-bytes.eml"
accept nul-bytes
"$CONFMAIL" parse --json "$TMP/nul-bytes.eml" >"$TMP/nul.json"
check "NUL bytes: parse --json prints valid JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/nul.json"

{ hdr bad-charset bad-charset; printf 'Content-Type: text/plain; charset=x-no-such-charset\nContent-Transfer-Encoding: 8bit\n\n'
  printf 'Caf\xe9 \xff\xfe invalid\n'; } >"$TMP/bad-charset.eml"
accept bad-charset
check "invalid charset: parse --json still valid UTF-8 JSON" \
	sh -c "'$CONFMAIL' parse --json '$TMP/bad-charset.eml' | python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))'"

{ printf 'From: =?x-bogus?B?////?= <a@b.example>\nSubject: =?utf-8?B?not base64!?=\nMessage-ID: <bad-2047@bad.example>\n\nbody\n'; } >"$TMP/bad-2047.eml"
accept bad-2047

python3 -c 'import random,sys; random.seed(42); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(4096)))' >"$TMP/binary.eml"
accept binary
equal "random bytes are kept in quarantine" \
	"$(sql "SELECT count(*) FROM messages WHERE state = 'quarantined' AND sha256 = '$(sha256sum <"$TMP/binary.eml" | cut -d' ' -f1)'")" 1

{ hdr bad-base64 bad-base64; printf 'Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n%%%%%% not base64 at all ===\n'; } >"$TMP/bad-base64.eml"
accept bad-base64

printf 'Subject: crlf\r\nMessage-ID: <crlf@bad.example>\r\n\r\nName: X\r\n' >"$TMP/crlf.eml"
accept crlf

printf '\n  From: a@b.example\nMessage-ID: <leading-space@bad.example>\nSubject: x\n\nbody\n' >"$TMP/leading-space.eml"
accept leading-space
equal "leading blank line and spaces: headers still read" \
	"$(sql "SELECT state || ' ' || subject FROM messages WHERE message_id = 'leading-space@bad.example'")" "accepted x"
equal "... and the stored bytes keep them" \
	"$(sql "SELECT size FROM messages WHERE message_id = 'leading-space@bad.example'")" "$(stat -c %s "$TMP/leading-space.eml")"

printf 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nA MIME part alone\n' >"$TMP/bare-entity.eml"
accept bare-entity
equal "a bare MIME entity is accepted, not quarantined" \
	"$(sql "SELECT state FROM messages WHERE sha256 = '$(sha256sum <"$TMP/bare-entity.eml" | cut -d' ' -f1)'")" accepted

# Every quarantined message is still there, byte for byte.
id=$(sql "SELECT id FROM messages WHERE sha256 = '$(sha256sum <"$TMP/binary.eml" | cut -d' ' -f1)'")
"$CONFMAIL" messages raw "$id" >"$TMP/back.bin"
check "quarantined message recoverable byte for byte" cmp -s "$TMP/back.bin" "$TMP/binary.eml"
"$CONFMAIL" messages list --quarantined >"$TMP/q.txt"
check "messages list --quarantined shows them" grep -q QUARANTINED "$TMP/q.txt"

# 30 MB attachment: over the 25 MiB default limit, refused with 65.
{ hdr big big; printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attachment\n--b\nContent-Type: application/pdf; name=prog.pdf\nContent-Transfer-Encoding: base64\n\n'
  head -c 23000000 /dev/urandom | base64 -w 76; printf -- '--b--\n'; } >"$TMP/big.eml"
before=$(sql 'SELECT count(*) FROM messages')
expect_rc 65 "a 30 MB message over the limit is refused with 65" "$CONFMAIL" filter <"$TMP/big.eml"
check "the refusal says why" grep -q 'max_message_size' "$TMP/err"
equal "nothing stored for the refused message" "$(sql 'SELECT count(*) FROM messages')" "$before"
big_conf=$(conf_with limits max_message_size 64M)
sed 's/big@bad.example/oom@bad.example/' "$TMP/big.eml" >"$TMP/locked.eml.big"
expect_rc 0 "the same message under a 64M limit is accepted" "$CONFMAIL" -c "$big_conf" filter <"$TMP/big.eml"
equal "its bytes are stored whole" "$(sql "SELECT length(raw) FROM message_raw r JOIN messages m ON m.id = r.message WHERE m.message_id = 'big@bad.example'")" "$(stat -c %s "$TMP/big.eml")"

# Transient failures are 75: a database locked past the busy timeout...
short=$(conf_with store busy_timeout_ms 100)
( echo 'BEGIN IMMEDIATE;'; sleep 2; echo 'COMMIT;' ) | sqlite3 "$CONFMAIL_DATABASE" &
sleep 0.5
hdr locked locked >"$TMP/locked.eml"
expect_rc 75 "database locked past the busy timeout: 75" "$CONFMAIL" -c "$short" filter <"$TMP/locked.eml"
check "... and says 4.3.0 first" grep -q '^4\.3\.0 confmail: .*database is locked' "$TMP/err"
wait
expect_rc 0 "the same message succeeds when retried" "$CONFMAIL" -c "$short" filter <"$TMP/locked.eml"

# ...a full disk...
if mkdir -p "$TMP/small" && mount -t tmpfs -o size=1M tmpfs "$TMP/small" 2>/dev/null; then
	CONFMAIL_DATABASE=$TMP/small/db.sqlite "$CONFMAIL" init >/dev/null
	{ hdr full full; printf '\n'; head -c 3000000 /dev/urandom | base64; } >"$TMP/full.eml"
	expect_rc 75 "disk full: 75" env CONFMAIL_DATABASE="$TMP/small/db.sqlite" "$CONFMAIL" filter <"$TMP/full.eml"
	equal "disk full: database still intact" "$(sqlite3 "$TMP/small/db.sqlite" 'PRAGMA integrity_check')" ok
	equal "disk full: nothing half-stored" "$(sqlite3 "$TMP/small/db.sqlite" 'SELECT count(*) FROM messages')" 0
	umount "$TMP/small"
else
	skip "disk full: cannot mount a small tmpfs here"
fi

# ...and memory running out (GLib aborts; we answer 75, not a crash).
if [ -z "${CONFMAIL_SANITIZED:-}" ]; then
	# The address space the program needs just to start (its libraries
	# grow with the project), then a little more: enough to start, too
	# little for a 30 MB message.  GLib giving up and SQLite giving up
	# must both end in 75.
	base=20000
	while [ $base -lt 400000 ] && ! sh -c "ulimit -v $base; exec '$CONFMAIL' --version" >/dev/null 2>&1; do
		base=$((base + 5000))
	done
	for kb in $((base + 5000)) $((base + 25000)); do
		expect_rc 75 "out of memory (${kb} KB address space): 75" \
			sh -c "ulimit -v $kb; exec '$CONFMAIL' -c '$big_conf' filter <'$TMP/locked.eml.big'"
	done
else
	skip "out of memory: address space limits do not work under ASan"
fi
equal "database passes integrity_check" "$(sql 'PRAGMA integrity_check')" ok
finish
