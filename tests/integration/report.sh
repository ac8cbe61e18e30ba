# The organisers' report (confmail report --html), opened in headless
# Chromium: it renders, it holds a row per registration and the charts,
# its script throws nothing and sorts, an Arabic name keeps its own
# direction, and a name written to break the page is shown as text.
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
export CONFMAIL_NOW=2022-01-25T09:00:00Z
CONF=$CONFMAIL_CONF

expect_rc 64 "report without --html: usage error" "$CONFMAIL" report
expect_rc 64 "report --html without a file: usage error" "$CONFMAIL" report --html
expect_rc 64 "report with a stray argument: usage error" "$CONFMAIL" report --html "$TMP/x.html" extra

if [ ! -d "$CORPUS" ]; then
	skip "no corpus at $CORPUS"
	finish
fi
"$CONFMAIL" -c "$CONF" init >/dev/null
for f in "$CORPUS"/reg-*.eml; do
	"$CONFMAIL" -c "$CONF" filter -r register@icssi.example <"$f" || notok "filter $(basename "$f")"
done

# Someone whose name and organisation are markup.
cat >"$TMP/markup.eml" <<'END'
From: "Eve <b>&\"Mallory" <eve.mallory@example.net>
To: register@icssi.example
Subject: Registration - ICSSI 11th International Conference
Message-ID: <report-markup-1@example.net>
Date: Tue, 25 Jan 2022 11:00:00 +0300
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8

Please register me for the conference.

Full name: Eve <b>&"Mallory
Email: eve.mallory@example.net
Organisation: <script>document.title = "owned"</script> Watch & Co
Type of organisation: International NGO
Country: France
Travel costs: we cover our own travel
Arrival date: 10 March 2022
Departure date: 16 March 2022
I accept the principles of the conference: Yes
END
"$CONFMAIL" -c "$CONF" filter -r register@icssi.example <"$TMP/markup.eml"
markup_name='Eve <b>&"Mallory'
equal "the markup name is stored as written" "$(sql "SELECT name FROM registrations WHERE email = 'eve.mallory@example.net'")" "$markup_name"
total=$(sql "SELECT count(*) FROM registrations")

expect_rc 0 "report --html FILE" "$CONFMAIL" -c "$CONF" report --html "$TMP/report.html"
check "the report is not empty" test -s "$TMP/report.html"
# every registration's reference, address and arrival date are in the table
missing=$(sql "SELECT reference || ' ' || email || ' ' || coalesce(json_extract(fields, '\$.arrival'), '') FROM registrations" |
	while read -r ref mail arrival; do
		grep -qF ">$ref<" "$TMP/report.html" && grep -qF ">$mail<" "$TMP/report.html" &&
			{ [ -z "$arrival" ] || grep -qF ">$arrival<" "$TMP/report.html"; } || echo "$ref"
	done)
equal "the table has each registration's reference, address and arrival" "$missing" ""
equal "the report is for its owner only (names and addresses)" "$(stat -c %a "$TMP/report.html")" 600
check "report --html - writes the same page to stdout" \
	sh -c "'$CONFMAIL' -c '$CONF' report --html - | cmp -s - '$TMP/report.html'"
expect_rc 73 "report into a missing directory: cannot create" \
	"$CONFMAIL" -c "$CONF" report --html "$TMP/missing/report.html"
check "the page loads nothing from outside (no src or href attribute)" \
	sh -c "! grep -qiE '<[^>]*[[:space:]](src|href)[[:space:]]*=' '$TMP/report.html'"
check "the markup name never reaches the page as markup" \
	sh -c "! grep -qF '<b>&' '$TMP/report.html' && ! grep -qF '<script>document' '$TMP/report.html'"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
if [ -z "$CHROMIUM" ]; then
	skip "chromium not installed (Debian package chromium): the page is not rendered"
	finish
fi
# chrome URL OUT ERR ARGS...: one headless run; console messages of the
# page go to ERR as 'INFO:CONSOLE:LINE] "message", source: URL (LINE)'.
chrome() {
	local url=$1 out=$2 err=$3
	shift 3
	timeout 60 "$CHROMIUM" --no-sandbox --headless=new --disable-gpu --disable-dev-shm-usage --no-first-run \
		--user-data-dir="$TMP/chrome" --enable-logging=stderr --v=0 "$@" "$url" >"$out" 2>"$err"
}
# console_clean ERR: nothing from the page's console: no uncaught
# exception, no console.error, no refused load (the CSP reports there).
console_clean() { ! grep -E 'CONSOLE|Uncaught' "$1"; }

# The check below must be able to fail: a page with a planted exception,
# console.error and an outside image is caught.
sed 's|</body>|<script>console.error("planted"); notDefined();</script><img alt="" src="http://example.invalid/x.png"></body>|' \
	"$TMP/report.html" >"$TMP/planted.html"
chrome "file://$TMP/planted.html" "$TMP/planted.dom" "$TMP/planted.err" --dump-dom
check "the console check catches a planted exception" grep -q 'Uncaught ReferenceError: notDefined' "$TMP/planted.err"
check "... a console.error" grep -q 'CONSOLE.*"planted"' "$TMP/planted.err"
check "... and an outside image refused by the page's CSP" grep -q 'CONSOLE.*example.invalid.*Content Security Policy' "$TMP/planted.err"
if console_clean "$TMP/planted.err" >/dev/null; then
	notok "console_clean passes the planted page"
else
	ok "console_clean rejects the planted page"
fi

chrome "file://$TMP/report.html" "$TMP/shot.out" "$TMP/shot.err" --screenshot="$TMP/shot.png" --window-size=1280,2000
check "screenshot: a PNG" python3 -c \
	'import sys; sys.exit(open(sys.argv[1], "rb").read(8) != b"\x89PNG\r\n\x1a\n")' "$TMP/shot.png"
check "screenshot: nothing on the page's console" console_clean "$TMP/shot.err"

chrome "file://$TMP/report.html" "$TMP/dom.html" "$TMP/dom.err" --dump-dom
check "dump-dom: nothing on the page's console" console_clean "$TMP/dom.err"

# What the DOM holds, as "key<TAB>value" lines.
inspect() {
	python3 - "$1" <<'END'
import sys
from html.parser import HTMLParser

class Page(HTMLParser):
	def __init__(self):
		super().__init__(convert_charrefs=True)
		self.stack = []          # (tag, attrs) of the open elements
		self.rows = 0            # tr in tbody of #registrations
		self.charts = 0          # svg.chart with a title and a rect
		self.chart = None        # [has title, has rect] of the open chart
		self.tags = {}           # count of each element
		self.auto = []           # texts of elements with dir=auto or bdi
		self.texts = []          # their text, being collected
		self.body = {}
	def inside(self, tag, **want):
		return any(t == tag and all(a.get(k) == v for k, v in want.items()) for t, a in self.stack)
	def handle_starttag(self, tag, attrs):
		a = dict(attrs)
		self.tags[tag] = self.tags.get(tag, 0) + 1
		if tag == "body":
			self.body = a
		if tag == "tr" and self.inside("tbody") and self.inside("table", id="registrations"):
			self.rows += 1
		if tag == "svg" and "chart" in (a.get("class") or "").split():
			self.chart = [False, False]
		if self.chart is not None and tag == "title" and self.stack and self.stack[-1][0] == "svg":
			self.chart[0] = True
		if self.chart is not None and tag == "rect":
			self.chart[1] = True
		self.stack.append((tag, a))
		if a.get("dir") == "auto" or tag == "bdi":
			self.texts.append([])
	def handle_startendtag(self, tag, attrs):
		self.tags[tag] = self.tags.get(tag, 0) + 1
		if self.chart is not None and tag == "rect":
			self.chart[1] = True
	def handle_endtag(self, tag):
		while self.stack:
			t, a = self.stack.pop()
			if a.get("dir") == "auto" or t == "bdi":
				self.auto.append("".join(self.texts.pop()))
			if t == tag:
				break
		if tag == "svg" and self.chart is not None:
			self.charts += all(self.chart)
			self.chart = None
	def handle_data(self, data):
		for t in self.texts:
			t.append(data)

p = Page()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
print("rows\t%d" % p.rows)
print("charts\t%d" % p.charts)
for tag in ("b", "script", "img", "link", "iframe"):
	print("%s\t%d" % (tag, p.tags.get(tag, 0)))
for k, v in p.body.items():
	if k.startswith("data-"):
		print("%s\t%s" % (k, v))
for t in p.auto:
	print("auto\t%s" % t)
END
}
field() { awk -F '\t' -v k="$1" '$1 == k { print $2; exit }' "$TMP/dom.txt"; }
inspect "$TMP/dom.html" >"$TMP/dom.txt"
equal "dump-dom: one row per registration in #registrations tbody" "$(field rows)" "$total"
charts=$(field charts)
check "dump-dom: at least 11 svg.chart with a title and bars (got $charts)" test "${charts:-0}" -ge 11
equal "dump-dom: no <b> element from the markup name" "$(field b)" 0
equal "dump-dom: only the page's own script" "$(field script)" 1
check "dump-dom: the markup name shown as text, in a dir=auto cell" grep -qxF "auto"$'\t'"$markup_name" "$TMP/dom.txt"

# An Arabic name from the corpus, as stored, shown intact in its own
# direction.
ar_email=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fields"]["email"])' "$CORPUS/reg-ar-001.json")
ar_name=$(sql "SELECT name FROM registrations WHERE email = '$ar_email'")
check "the Arabic name is in Arabic script ($ar_name)" python3 -c \
	'import sys, unicodedata; sys.exit(not any("ARABIC" in unicodedata.name(c, "") for c in sys.argv[1]))' "$ar_name"
check "dump-dom: the Arabic name intact in a dir=auto cell" grep -qxF "auto"$'\t'"$ar_name" "$TMP/dom.txt"

# Sorting: the table comes in reference order, so a click on Reference
# reverses it and a second restores it; then Arrival once.  The first
# cells after each click tell what the script did.
cat >"$TMP/click.js" <<'END'
(function () {
	var b = document.querySelectorAll("#registrations th button");
	function first(column) { return document.querySelector("#registrations tbody tr").cells[column].textContent; }
	b[0].click();
	document.body.setAttribute("data-reference-down", first(0));
	b[0].click();
	document.body.setAttribute("data-reference-up", first(0));
	b[6].click();
	document.body.setAttribute("data-arrival-up", first(6));
	document.body.setAttribute("data-rows", document.querySelectorAll("#registrations tbody tr").length);
})();
END
python3 -c 'import sys; page, js = (open(f, encoding="utf-8").read() for f in sys.argv[1:3]); print(page.replace("</body>", "<script>" + js + "</script></body>"), end="")' \
	"$TMP/report.html" "$TMP/click.js" >"$TMP/sorted.html"
chrome "file://$TMP/sorted.html" "$TMP/sorted.dom" "$TMP/sorted.err" --dump-dom
check "sorting: nothing on the page's console" console_clean "$TMP/sorted.err"
inspect "$TMP/sorted.dom" >"$TMP/dom.txt"
equal "sorting: Reference clicked once puts the last reference first" "$(field data-reference-down)" \
	"$(sql "SELECT max(reference) FROM registrations")"
equal "sorting: ... and twice the first" "$(field data-reference-up)" \
	"$(sql "SELECT min(reference) FROM registrations")"
equal "sorting: Arrival puts the earliest arrival first" "$(field data-arrival-up)" \
	"$(sql "SELECT min(json_extract(fields, '$.arrival')) FROM registrations")"
equal "sorting: no row lost" "$(field data-rows)" "$total"
finish
