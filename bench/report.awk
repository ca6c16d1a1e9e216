# bench/report.awk - turns bench/run.sh's raw results into the terminal
# table, the CSV, the data of the chart and the Markdown of RESULTS.md.
# Plain POSIX awk (Debian's default is mawk).
#
# Input (tab-separated): "meta SIZE KEY VALUE", "floor SIZE read|pipe SECONDS",
# "time SIZE SCENARIO SERVER SECONDS RSS_KIB STATUS RUNS".
# Variables: csv, dat, md, txt, goals (output files), tiny (session count),
# bigmb (size of the single message).

function label(z, c,    b) {
	if (c ~ /_cache$/) { b = c; sub(/_cache$/, "", b); return label(z, b) ", pop3d with warm index cache" }
	if (c == "stat") return "login+STAT+QUIT"
	if (c == "stat_root") return "login+STAT+QUIT, pop3d root/privsep"
	if (c == "uidl") return "UIDL (all)"
	if (c == "list") return "LIST (all)"
	if (c == "top") return "TOP n 0 for all"
	if (c == "retr" && z == "bigmsg") return "RETR 1 of one " bigmb " MB message"
	if (c == "retr") return "RETR all"
	if (c == "dele_all") return "DELE all + QUIT"
	if (c == "dele_half") return "DELE every other + QUIT"
	if (c == "tiny") return tiny " tiny sessions (sha512-crypt)"
	if (c == "tiny_root") return tiny " tiny sessions, pop3d root/privsep"
	if (c == "tiny_yescrypt") return tiny " tiny sessions (yescrypt)"
	return c
}
function num(v) { return v != "" && v != "nan" && v ~ /^[0-9.e+-]+$/ }
function ms(v) { return num(v) ? sprintf("%.1f", v * 1000) : (v == "" ? "-" : v) }
function mib(v) { return num(v) ? sprintf("%.1f", v / 1024) : "-" }
function ratio(a, b) { return (num(a) && num(b) && b > 0) ? a / b : "" }
function rfmt(r) { return r == "" ? "-" : (r < 0.1 ? sprintf("%.3f", r) : sprintf("%.2f", r)) }
function addrow(k) { if (!(k in seen)) { seen[k] = 1; rows[++nrows] = k } }

BEGIN { FS = "\t"; nrows = 0; nsizes = 0 }
$1 == "meta" { meta[$2, $3] = $4; if (!(($2) in sz)) { sz[$2] = 1; sizes[++nsizes] = $2 } next }
$1 == "floor" { flr[$2, $3] = $4; next }
$1 == "time" {
	z = $2; c = $3; s = $4
	if (s == "pop3d-root") { c = c "_root"; s = "pop3d" }
	if (s == "pop3d-cache") { c = c "_cache"; s = "pop3d" }
	k = z SUBSEP c
	addrow(k)
	t[k, s] = ($7 == "ok") ? $5 : "FAIL"
	r[k, s] = $6
	nr[k, s] = $8
	next
}
END {
	# the size the goals and the chart are about: large, else the largest
	gz = ""
	for (i = 1; i <= nsizes; i++) if (sizes[i] == "large") gz = "large"
	if (gz == "") for (i = 1; i <= nsizes; i++) if (sizes[i] == "medium") gz = "medium"
	if (gz == "") gz = "small"

	print "size,messages,mbox_bytes,scenario,pop3d_s,popa3d_s,dovecot_cold_s,dovecot_warm_s,best_peer,best_peer_s,ratio_best,ratio_popa3d,floor,floor_s,ratio_floor,rss_pop3d_kib,rss_popa3d_kib,rss_dovecot_cold_kib,rss_dovecot_warm_kib,mib_per_s,runs_pop3d,runs_popa3d,runs_dovecot_cold,runs_dovecot_warm" > csv

	hdr = sprintf("%-7s %-38s %9s %9s %9s %9s  %-12s %6s %6s %6s  %6s %6s %6s %6s", \
		"size", "scenario", "pop3d", "popa3d", "dc-cold", "dc-warm", "best peer", "/best", "/popa", "/floor", \
		"RSS p3d", "popa3d", "dc-cold", "dc-warm")
	print "times in ms (medians), RSS in MiB; ratios are pop3d's time over the other's" > txt
	print hdr > txt
	print "| size | scenario | pop3d | popa3d | Dovecot cold | Dovecot warm | best peer | pop3d/best | pop3d/popa3d | pop3d/floor | RSS pop3d | RSS popa3d | RSS Dovecot cold | RSS Dovecot warm |" > md
	print "|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|" > md
	print "# label ratio_best ratio_popa3d goal" > dat

	for (i = 1; i <= nrows; i++) {
		k = rows[i]
		split(k, kk, SUBSEP); z = kk[1]; c = kk[2]
		base = c; sub(/_root$/, "", base); sub(/_cache$/, "", base)
		bk = z SUBSEP base
		p = t[k, "pop3d"]
		pa = t[bk, "popa3d"]; dcc = t[bk, "dovecot-cold"]; dcw = t[bk, "dovecot-warm"]
		# best peer: Dovecot's tiny sessions check no password, so they
		# do not count there
		best = ""; bname = "-"
		if (num(pa)) { best = pa; bname = "popa3d" }
		if (base !~ /^tiny/) {
			if (num(dcc) && (best == "" || dcc < best)) { best = dcc; bname = "dovecot-cold" }
			if (num(dcw) && (best == "" || dcw < best)) { best = dcw; bname = "dovecot-warm" }
		}
		fkind = (base == "retr") ? "pipe" : (base ~ /^tiny/ ? "" : "read")
		fl = (fkind == "") ? "" : flr[z, fkind]
		rb = ratio(p, best); rp = ratio(p, pa); rf = ratio(p, fl)
		mibs = ""
		if (base == "retr" && num(p) && p > 0 && num(meta[z, "octets"])) mibs = meta[z, "octets"] / 1048576 / p
		R[k, "best"] = rb; R[k, "popa"] = rp; R[k, "floor"] = rf; R[k, "mibs"] = mibs
		R[k, "dcw"] = ratio(p, dcw)
		dcl = dcw; if (base ~ /^tiny/ && num(dcw)) dcl = dcw " (no auth)"
		zl = z; if (z == "bigmsg") zl = "1 msg"
		printf "%-7s %-38s %9s %9s %9s %9s  %-12s %6s %6s %6s  %6s %6s %6s %6s\n", zl, label(z, c), \
			ms(p), ms(pa), ms(dcc), (base ~ /^tiny/ && num(dcw)) ? ms(dcw) "*" : ms(dcw), bname, rfmt(rb), rfmt(rp), rfmt(rf), \
			mib(r[k, "pop3d"]), mib(r[bk, "popa3d"]), mib(r[bk, "dovecot-cold"]), mib(r[bk, "dovecot-warm"]) > txt
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", zl, label(z, c), \
			ms(p), ms(pa), ms(dcc), (base ~ /^tiny/ && num(dcw)) ? ms(dcw) " (no auth)" : ms(dcw), bname, rfmt(rb), rfmt(rp), rfmt(rf), \
			mib(r[k, "pop3d"]), mib(r[bk, "popa3d"]), mib(r[bk, "dovecot-cold"]), mib(r[bk, "dovecot-warm"]) > md
		printf "%s,%s,%s,\"%s\",%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", z, meta[z, "messages"], meta[z, "bytes"], \
			label(z, c), p, pa, dcc, dcw, bname, best, rb, rp, fkind, fl, rf, \
			r[k, "pop3d"], r[bk, "popa3d"], r[bk, "dovecot-cold"], r[bk, "dovecot-warm"], mibs, \
			nr[k, "pop3d"], nr[bk, "popa3d"], nr[bk, "dovecot-cold"], nr[bk, "dovecot-warm"] > csv
		# the chart: the goal size's scenarios, the tiny sessions, the big message
		if (z == gz || base ~ /^tiny/ || z == "bigmsg") {
			g = "NaN"
			if (base == "stat" || base == "uidl" || base == "list" || base == "top" || base == "retr") g = 0.5
			if (base == "dele_all" || base == "dele_half") g = 1
			if (c == "tiny") g = 0.7
			if (z == "bigmsg" || c ~ /_root$/ || c == "tiny_yescrypt") g = "NaN"
			printf "\"%s\" %s %s %s\n", label(z, c), (rb == "" ? "NaN" : rb), (rp == "" ? "NaN" : rp), g > dat
		}
	}
	print "* Dovecot's tiny sessions are pre-authenticated (no password check): shown, not a peer." > txt
	print "" > txt
	print "floors (ms): size, cat FILE >/dev/null, cat FILE | cat >/dev/null, mbox bytes, messages" > txt
	print "" > md
	print "Floors (ms, median): reading the mbox once, and pushing it through a pipe." > md
	print "" > md
	print "| size | messages | mbox bytes | `cat FILE > /dev/null` | `cat FILE \\| cat > /dev/null` |" > md
	print "|---|--:|--:|--:|--:|" > md
	for (i = 1; i <= nsizes; i++) {
		z = sizes[i]
		if (!((z, "read") in flr)) continue
		zl = z; if (z == "bigmsg") zl = "1 msg"
		printf "%-7s %9s %9s %12s %9s\n", zl, ms(flr[z, "read"]), ms(flr[z, "pipe"]), meta[z, "bytes"], meta[z, "messages"] > txt
		printf "| %s | %s | %s | %s | %s |\n", zl, meta[z, "messages"], meta[z, "bytes"], ms(flr[z, "read"]), ms(flr[z, "pipe"]) > md
	}
	print "plotsize\t" gz > (dat ".meta")

	# ---- goals
	ng = 0
	note = (gz == "large") ? "" : " (on the " gz " mbox: large was not run)"
	print "## Goals" note > goals
	print "" > goals
	print "Interpretation: where a goal gives only a ratio (\"at most 0.5\") it is pop3d's time over the best peer's." > goals
	print "" > goals
	print "| goal | measured | met? |" > goals
	print "|---|---|---|" > goals
	split("stat uidl list stat_cache uidl_cache list_cache", tri, " ")
	for (j = 1; j <= 6; j++) {
		k = gz SUBSEP tri[j]
		goal(label(gz, tri[j]) ": at most 0.5 of popa3d's time", R[k, "popa"], 0.5)
		goal(label(gz, tri[j]) ": no slower than Dovecot warm", R[k, "dcw"], 1)
		goal(label(gz, tri[j]) ": within 1.5x the cat floor", R[k, "floor"], 1.5)
	}
	goal("TOP n 0 for all: at most 0.5 of the best peer", R[gz SUBSEP "top", "best"], 0.5)
	goal("TOP n 0 for all, with the index cache: at most 0.5 of the best peer", R[gz SUBSEP "top_cache", "best"], 0.5)
	split("retr retr_cache", rr, " ")
	for (j = 1; j <= 2; j++) {
		k = gz SUBSEP rr[j]
		goal(label(gz, rr[j]) ": at most 0.5 of the best peer", R[k, "best"], 0.5)
		m = R[k, "mibs"]
		# the issue's unit: 1 GB/s = 10^9 bytes a second
		printf "| %s: at least 1 GB/s into a pipe | %s | %s |\n", label(gz, rr[j]), \
			(m == "" ? "-" : sprintf("%.2f GB/s (%.0f MiB/s)", m * 1048576 / 1e9, m)), \
			(m == "" ? "no data" : (m * 1048576 >= 1e9 ? "met" : "**missed**")) > goals
	}
	split("dele_half dele_all dele_half_cache dele_all_cache", dd, " ")
	for (j = 1; j <= 4; j++)
		goal(label(gz, dd[j]) ": no slower than popa3d", R[gz SUBSEP dd[j], "popa"], 1)
	goal(tiny " tiny sessions (sha512-crypt): at most 0.7 of popa3d", R["small" SUBSEP "tiny", "popa"], 0.7)
	yr = R["small" SUBSEP "tiny_yescrypt", "popa"]
	printf "| (for reference) %d tiny sessions with yescrypt: pop3d / popa3d | %s | - |\n", tiny, rfmt(yr) > goals
	# memory: growth over the small mbox per message, and none with message size
	small_rss = ""; big = ""
	for (i = 1; i <= nrows; i++) {
		split(rows[i], kk, SUBSEP)
		v = r[rows[i], "pop3d"]
		if (!num(v) || kk[2] ~ /_root$/ || kk[2] ~ /_cache$/) continue
		if (kk[1] == "small" && (small_rss == "" || v + 0 > small_rss + 0)) small_rss = v
		if (kk[1] == gz && (big == "" || v + 0 > big + 0)) big = v
		if (kk[1] == "bigmsg") bm = v
	}
	n = meta[gz, "messages"]
	if (num(small_rss) && num(big) && n > 0) {
		per = (big - small_rss) * 1024 / n
		printf "| peak memory: at most ~100 bytes a message plus a few MB | %.1f MiB on %d messages (%.1f MiB on 10): %.0f bytes a message | %s |\n", \
			big / 1024, n, small_rss / 1024, per, (per <= 100 ? "met" : "**missed**") > goals
	}
	if (num(bm) && num(small_rss))
		printf "| peak memory does not grow with message size | %.1f MiB for RETR of one %s MB message (%.1f MiB on the small mbox) | %s |\n", \
			bm / 1024, bigmb, small_rss / 1024, (bm - small_rss <= 2048 ? "met" : "**missed**") > goals
}
function goal(what, v, lim) {
	printf "| %s | %s | %s |\n", what, rfmt(v), (v == "" ? "no data" : (v <= lim ? "met" : "**missed**")) > goals
}
