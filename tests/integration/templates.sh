# The reply templates (issue 4): every template in every language renders
# exactly as reviewed (tests/golden, made by tests/golden/render), its HTML
# document is well-formed (libxml2's xmllint) and says its language and
# direction, and English stands in for a missing translation.
source "$(dirname "$0")/lib.sh"
export CONFMAIL_NOW=2022-01-25T09:00:00Z
CONFMAIL=$CONFMAIL "$ROOT/tests/golden/render" "$TMP/golden"
bad=0
for f in "$ROOT"/tests/golden/*/*.txt; do
	rel=${f#"$ROOT"/tests/golden/}
	if ! diff -u "$f" "$TMP/golden/$rel" >"$TMP/diff"; then
		notok "golden: $rel differs from the reviewed rendering"
		sed 's/^/# /' "$TMP/diff" | head -n 20
		bad=$((bad + 1))
	fi
done
n=$(ls "$ROOT"/tests/golden/*/*.txt | wc -l)
check "golden: $n renderings (17 templates x en, ar, ckb) match tests/golden" test "$bad" = 0 -a "$n" = 51

# The HTML part of each whole message: well-formed, with lang and dir.
bad=0 html=0
for lang in en ar ckb; do
	for t in "$ROOT"/templates/en/*.tmpl; do
		name=$(basename "$t" .tmpl)
		"$CONFMAIL" preview "$name" -l "$lang" >"$TMP/msg.eml" || { notok "preview $lang $name"; continue; }
		python3 - "$TMP/msg.eml" "$TMP/part.html" <<'PY' || continue
import sys, email, email.policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
part = m.get_body(preferencelist=("html",))
if part is None or part.get_content_type() != "text/html":
    sys.exit(1)
open(sys.argv[2], "w", encoding="utf-8").write(part.get_content())
PY
		html=$((html + 1))
		if ! xmllint --noout "$TMP/part.html" 2>"$TMP/xmlerr"; then
			notok "html: $lang/$name is not well-formed"; sed 's/^/# /' "$TMP/xmlerr" | head -5
			bad=$((bad + 1)); continue
		fi
		dir=ltr; [ "$lang" = en ] || dir=rtl
		grep -q "<html lang=\"$lang\" dir=\"$dir\">" "$TMP/part.html" || { notok "html: $lang/$name lacks lang=$lang dir=$dir"; bad=$((bad + 1)); }
	done
done
check "html: all $html HTML parts are well-formed XML with the right lang and dir" test "$bad" = 0 -a "$html" -ge 9

# A value with markup in it is escaped in HTML, verbatim in text.
"$CONFMAIL" preview received --part html >"$TMP/h"
check "html: values are escaped ('Tigris Voices &amp; Partners')" grep -q 'Tigris Voices &amp; Partners' "$TMP/h"
"$CONFMAIL" preview received --part text >"$TMP/t"
check "text: values are kept as written ('Tigris Voices & Partners')" grep -q 'Tigris Voices & Partners' "$TMP/t"

# A missing translation: English is sent, and the reply says it is English.
cp -R "$ROOT/templates" "$TMP/tpl"
rm "$TMP/tpl/ckb/question.tmpl"
CONFMAIL_TEMPLATES=$TMP/tpl "$CONFMAIL" preview question -l ckb >"$TMP/q.eml"
check "fallback: a missing Kurdish template is answered in English" grep -q '^Content-Language: en' "$TMP/q.eml"
expect_rc 64 "preview: an unknown language is refused" "$CONFMAIL" preview received -l fr
expect_rc 78 "preview: an unknown template is refused" "$CONFMAIL" preview no-such-template
finish
