# The needles (src/needles.c) only skip PCRE2 where a pattern cannot
# match.  With CONFMAIL_CHECK_NEEDLES=1 every text they rule out goes to
# PCRE2 all the same and a match aborts: run that over every message we
# have (tests/data, the labelled corpus, realmail and 300 generated mails
# in English, Arabic and Sorani), and compare the JSON with a run where
# the needles work as usual.
source "$(dirname "$0")/lib.sh"
SHARED=${SHARED:-$ROOT/../shared}

mkdir -p "$TMP/gen"
python3 -c "import sys; sys.path.insert(0, '$ROOT/tests/bench'); sys.dont_write_bytecode = True
import mailgen; mailgen.generate('$TMP/gen', 300)"
files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(
	find "$DATA" -maxdepth 1 -name '*.eml' -print0
	[ -d "$SHARED/corpus" ] && find "$SHARED/corpus" -name '*.eml' -print0
	[ -d "$SHARED/realmail" ] && find "$SHARED/realmail" -type f ! -iname 'LICENSE*' ! -name NOTICE ! -name README.md -print0
	find "$TMP/gen" -name '*.eml' -print0)

CONFMAIL_CHECK_NEEDLES=1 "$CONFMAIL" parse --json "${files[@]}" >"$TMP/checked.json" 2>"$TMP/err"
rc=$?
equal "parse --json of ${#files[@]} messages, each text the needles ruled out also given to PCRE2: no match there ($(grep -m1 needles "$TMP/err"))" "$rc" 0
"$CONFMAIL" parse --json "${files[@]}" >"$TMP/plain.json" 2>/dev/null
check "... and the same JSON as the run that trusts them" cmp -s "$TMP/checked.json" "$TMP/plain.json"
check "... which read the registrations ($(grep -c '"class":"registration"' "$TMP/plain.json") of them)" \
	test "$(grep -c '"class":"registration"' "$TMP/plain.json")" -ge 300
finish
