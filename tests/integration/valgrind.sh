# The intake (with its replies), the dry-run parser, the queue runner and
# the template commands under valgrind: no memory errors and nothing
# definitely lost, on the samples and on broken input.
source "$(dirname "$0")/lib.sh"
if [ -n "${CONFMAIL_SANITIZED:-}" ]; then
	skip "valgrind cannot run an ASan build; 'make check' runs this"
	finish
fi
if ! command -v valgrind >/dev/null; then
	notok "valgrind is not installed (contrib/install-deps installs it)"
	finish
fi
export G_SLICE=always-malloc G_DEBUG=gc-friendly
# valgrind cannot follow PCRE2's JIT code; the interpreter runs the same rules
export CONFMAIL_PCRE2_JIT=0
supp=/usr/share/glib-2.0/valgrind/glib.supp
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
[ -f "$supp" ] && VG+=(--suppressions="$supp")

"$CONFMAIL" init >/dev/null
mkdir -p "$TMP/in"
cp "$DATA"/*.eml "$TMP/in/"
: >"$TMP/in/empty.eml"
printf 'Subject: x\nContent-Type: multipart/mixed; boundary="q"\n\n--q\nContent-Type: text/plain; charset=bogus\n\n\xff\xfe\0x\n--qq\n' >"$TMP/in/broken.eml"
printf 'From: =?utf-8?B?####?= <a@b>\nMessage-ID: <vg@x>\n\n' >"$TMP/in/bad-2047.eml"

for f in "$TMP"/in/*.eml; do
	name=$(basename "$f")
	expect_rc 0 "filter $name: no valgrind error" "${VG[@]}" "$CONFMAIL" filter <"$f"
	[ -s "$TMP/err" ] && sed 's/^/# /' "$TMP/err" | head -20
done
expect_rc 0 "parse --json over all: no valgrind error" "${VG[@]}" "$CONFMAIL" parse --json "$TMP"/in/*.eml
[ -s "$TMP/err" ] && sed 's/^/# /' "$TMP/err" | head -20
expect_rc 0 "stats: no valgrind error" "${VG[@]}" "$CONFMAIL" stats --json
expect_rc 0 "messages list: no valgrind error" "${VG[@]}" "$CONFMAIL" messages list
# the replies the samples caused, composed above, delivered into a Maildir
box=$(conf_with transport maildir "$TMP/outbox")
expect_rc 0 "queue run (maildir): no valgrind error" "${VG[@]}" "$CONFMAIL" -c "$box" queue run --once
check "queue run: the replies were delivered" test -n "$(ls "$TMP/outbox/new")"
# the question desk: a coordinator's answer relayed, a comment, a reminder
ref=$(sql "SELECT lower(reference) FROM tickets ORDER BY id LIMIT 1")
if [ -n "$ref" ]; then
	# the forward's Reply-To, with the MAC that proves it
	sql "SELECT content FROM outbox WHERE kind = 'forward' AND ticket = 1 LIMIT 1" >"$TMP/fwd.eml"
	T=$(python3 -c 'import email,sys; print(email.message_from_binary_file(open(sys.argv[1],"rb"))["Reply-To"].strip("<> "))' "$TMP/fwd.eml")
	boss=$(sql "SELECT recipient FROM outbox WHERE kind = 'forward' AND ticket = 1 LIMIT 1")
	printf 'From: %s\nTo: %s\nSubject: Re: [%s]\nMessage-ID: <vg-answer@x>\n\nYes, on arrival.\n\n> quoted\n' "$boss" "$T" "$ref" >"$TMP/answer.eml"
	expect_rc 0 "a coordinator's answer: no valgrind error" "${VG[@]}" "$CONFMAIL" filter -r "$T" <"$TMP/answer.eml"
	equal "a coordinator's answer: relayed" "$(sql "SELECT count(*) FROM outbox WHERE template = 'answer'")" 1
	printf 'From: %s\nTo: %s\nSubject: Re: [%s]\nMessage-ID: <vg-comment@x>\n\n#assign nobody\n' "$boss" "$T" "$ref" >"$TMP/comment.eml"
	expect_rc 0 "a coordinator's wrong command: no valgrind error" "${VG[@]}" "$CONFMAIL" filter -r "$T" <"$TMP/comment.eml"
	sql "UPDATE tickets SET status = 'open'"
	expect_rc 0 "tickets remind: no valgrind error" env CONFMAIL_NOW=2030-01-01T00:00:00Z "${VG[@]}" "$CONFMAIL" tickets remind
	expect_rc 0 "tickets show: no valgrind error" "${VG[@]}" "$CONFMAIL" tickets show "$ref"
else
	notok "the samples opened no ticket"
fi
# an announcement with a file, and its delivery
printf 'Dear {{name}},\nThe programme.\n' >"$TMP/body.txt"
head -c 40000 /dev/urandom >"$TMP/programme.pdf"
"$CONFMAIL" list add vg@example.org -l ar >/dev/null
expect_rc 0 "announce with a file: no valgrind error" "${VG[@]}" "$CONFMAIL" announce --subject P --body "$TMP/body.txt" --body-ar "$TMP/body.txt" --attach "$TMP/programme.pdf" --document programme
expect_rc 0 "queue run of the announcement: no valgrind error" "${VG[@]}" "$CONFMAIL" -c "$box" queue run --once
expect_rc 0 "list members: no valgrind error" "${VG[@]}" "$CONFMAIL" list members
# the organisers' views
expect_rc 0 "digest --dry-run: no valgrind error" "${VG[@]}" "$CONFMAIL" digest --dry-run
expect_rc 0 "digest: no valgrind error" "${VG[@]}" "$CONFMAIL" digest
expect_rc 0 "export xlsx: no valgrind error" "${VG[@]}" "$CONFMAIL" registrations export --format xlsx -o "$TMP/r.xlsx"
expect_rc 0 "export json: no valgrind error" "${VG[@]}" "$CONFMAIL" registrations export --format json
expect_rc 0 "report: no valgrind error" "${VG[@]}" "$CONFMAIL" report --html "$TMP/r.html"
ref=$(sql "SELECT reference FROM registrations LIMIT 1")
if [ -n "$ref" ]; then
	expect_rc 0 "forget: no valgrind error" "${VG[@]}" "$CONFMAIL" registrations forget "$ref"
fi
expect_rc 0 "preview (Arabic, HTML): no valgrind error" "${VG[@]}" "$CONFMAIL" preview received -l ar
expect_rc 0 "check (configuration, rules, templates): no valgrind error" "${VG[@]}" "$CONFMAIL" check
conf=$(conf_with transport kind telegraph)
expect_rc 78 "config error path: no valgrind error" "${VG[@]}" "$CONFMAIL" -c "$conf" filter <"$DATA/question-en.eml"
small=$(conf_with limits max_message_size 100)
expect_rc 65 "oversize path: no valgrind error" "${VG[@]}" "$CONFMAIL" -c "$small" filter <"$DATA/question-en.eml"
# Other parsers' malformed test mails (../shared/realmail, issue 10): all
# of them through parse --json in one process and, stored first, through
# reprocess (parse, classify, registry and replies again) in one process;
# a sample of them through filter itself, one process each as an MTA runs
# it (all 241 would take minutes under valgrind; realmail.sh sends every
# one through filter with the sanitizers).
REALMAIL=${REALMAIL:-$ROOT/../shared/realmail}
if [ -d "$REALMAIL" ]; then
	export CONFMAIL_DATABASE=$TMP/realmail.sqlite
	"$CONFMAIL" init >/dev/null
	find "$REALMAIL" -type f ! -iname 'LICENSE*' ! -name NOTICE ! -name README.md -print0 | sort -z >"$TMP/realmail.list"
	n=$(tr -cd '\0' <"$TMP/realmail.list" | wc -c)
	xargs -0 "${VG[@]}" "$CONFMAIL" parse --json <"$TMP/realmail.list" >"$TMP/realmail.json" 2>"$TMP/err"
	rc=$?
	equal "realmail: parse --json over all $n: no valgrind error" "$rc $(wc -l <"$TMP/realmail.json")" "0 $n"
	[ -s "$TMP/err" ] && sed 's/^/# /' "$TMP/err" | head -20
	i=0 bad=0
	while IFS= read -r -d '' f; do
		i=$((i + 1))
		if [ $((i % 20)) = 1 ]; then
			"${VG[@]}" "$CONFMAIL" filter <"$f" >/dev/null 2>"$TMP/err" || { bad=$((bad + 1)); echo "# valgrind: $f"; head -20 "$TMP/err" | sed 's/^/#   /'; }
		else
			"$CONFMAIL" filter <"$f" >/dev/null 2>&1 || bad=$((bad + 1))
		fi
	done <"$TMP/realmail.list"
	equal "realmail: filter over all $n (every 20th under valgrind): accepted, no valgrind error" "$bad" 0
	expect_rc 0 "realmail: reprocess over all of them: no valgrind error" "${VG[@]}" "$CONFMAIL" reprocess
	[ -s "$TMP/err" ] && grep -v '^[0-9]' "$TMP/err" | sed 's/^/# /' | head -20
else
	skip "no $REALMAIL beside the checkout"
fi
finish
