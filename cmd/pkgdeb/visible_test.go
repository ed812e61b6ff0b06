package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/debfleet/debfleet/fleet"
)

// Texts that whoever builds a package, runs an agent or writes to the
// bucket can put where pkgdeb prints them, each something a terminal acts
// on: a window title, a screen clear, a line overwritten by a carriage
// return, text turned around by a bidi override, and a CSI in its 8-bit
// form. The shown forms are how pkgdeb prints them.
const (
	setTitle  = "\x1b]0;pwned\x07"
	clearAll  = "\x1b[2J"
	overwrite = "ok\rFAKE"
	bidi      = "\u202egpj.exe"
	csi8      = "\u009b2J"

	setTitleShown  = `\x1b]0;pwned\a`
	clearAllShown  = `\x1b[2J`
	overwriteShown = `ok\rFAKE`
	bidiShown      = `\u202egpj.exe`
	csi8Shown      = `\u009b2J`
)

// checkShown fails t when out holds anything a terminal would act on
// rather than show (a rune other than a printable one, a space or a
// newline), or lacks one of want.
func checkShown(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for i, r := range out {
		if r == utf8.RuneError || (r != '\n' && !strconv.IsPrint(r)) {
			t.Errorf("%s: raw %q at byte %d, in:\n%q", what, r, i, out)
			break
		}
	}
	var missing []string
	for _, w := range want {
		if !strings.Contains(out, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks %s in:\n%s", what, strings.Join(missing, " and "), out)
	}
}

// hostileDeb writes by hand a package whose control fields, file names,
// symlink target, owner, conffile and md5sums hold terminal escapes, as
// anyone can (pkgdeb build refuses some of them), and returns its path.
// One file's checksum is wrong, so inspect lists it as a mismatch.
func hostileDeb(t *testing.T) string {
	t.Helper()
	dir := "./usr/share/evil/"
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	var sums strings.Builder
	for _, h := range []tar.Header{
		{Typeflag: tar.TypeDir, Name: "./"}, {Typeflag: tar.TypeDir, Name: "./usr/"}, {Typeflag: tar.TypeDir, Name: "./usr/share/"},
		{Typeflag: tar.TypeDir, Name: dir},
		{Typeflag: tar.TypeReg, Name: dir + setTitle},
		{Typeflag: tar.TypeReg, Name: dir + overwrite, Uname: "root" + clearAll},
		{Typeflag: tar.TypeReg, Name: dir + bidi},
		{Typeflag: tar.TypeReg, Name: dir + csi8},
		{Typeflag: tar.TypeSymlink, Name: dir + "link", Linkname: clearAll},
	} {
		h.Mode, h.Format, h.ModTime = 0o644, tar.FormatGNU, time.Unix(1700000000, 0)
		h.Uname, h.Gname = cmp.Or(h.Uname, "root"), "root"
		body := ""
		switch h.Typeflag {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeReg:
			body = h.Name
			sum := md5.Sum([]byte(body))
			if h.Name == dir+setTitle {
				sum[0] ^= 1
			}
			fmt.Fprintf(&sums, "%x  %s\n", sum, strings.TrimPrefix(h.Name, "./"))
		}
		h.Size = int64(len(body))
		mustDo(t, tw.WriteHeader(&h))
		_, err := tw.Write([]byte(body))
		mustDo(t, err)
	}
	mustDo(t, tw.Close())

	var control bytes.Buffer
	tw = tar.NewWriter(&control)
	for name, body := range map[string]string{
		"./control": "Package: evil\nVersion: 1.0\nArchitecture: all\nMaintainer: A " + setTitle + " <a@example.com>\n" +
			"Description: x" + clearAll + "\n " + overwrite + "\n " + bidi + "\n",
		"./conffiles": "/etc/evil" + clearAll + "\n",
		"./md5sums":   sums.String(),
	} {
		mustDo(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}))
		_, err := tw.Write([]byte(body))
		mustDo(t, err)
	}
	mustDo(t, tw.Close())

	path := filepath.Join(t.TempDir(), "evil.deb")
	mustDo(t, os.WriteFile(path, arArchive(arMember{"debian-binary", []byte("2.0\n")},
		arMember{"control.tar", control.Bytes()}, arMember{"data.tar", data.Bytes()}), 0o644))
	return path
}

// arMember is one member of an ar archive arArchive writes.
type arMember struct {
	name string
	body []byte
}

// arArchive writes an ar archive by hand, as a .deb's container.
func arArchive(members ...arMember) []byte {
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.body))
		ar.Write(m.body)
		if len(m.body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes()
}

// TestInspectShowsEscapes: inspect prints what an untrusted package holds
// without letting it act on the terminal; --json keeps the exact names.
func TestInspectShowsEscapes(t *testing.T) {
	path := hostileDeb(t)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"inspect", path}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1 (a checksum does not match)\n%s", code, errb.String())
	}
	checkShown(t, "inspect", out.String(),
		"Maintainer: A "+setTitleShown+" <a@example.com>\n",
		"Description: x"+clearAllShown+"\n "+overwriteShown+"\n "+bidiShown+"\n",
		" ./usr/share/evil/"+setTitleShown+"\n",
		" root"+clearAllShown+"/root ",
		" ./usr/share/evil/"+overwriteShown+"\n",
		" ./usr/share/evil/"+bidiShown+"\n",
		" ./usr/share/evil/"+csi8Shown+"\n",
		" ./usr/share/evil/link -> "+clearAllShown+"\n",
		"Conffiles:\n  /etc/evil"+clearAllShown+"\n",
		"md5sums: FAILED: md5sums do not match: usr/share/evil/"+setTitleShown+"\n",
		"  mismatch: usr/share/evil/"+setTitleShown+"\n",
	)
	checkShown(t, "inspect's error", errb.String(), "do not match: usr/share/evil/"+setTitleShown+"\n")

	out.Reset()
	errb.Reset()
	run(t.Context(), []string{"inspect", "--json", path}, &out, &errb)
	checkShown(t, "inspect --json", out.String(), `\u001b]0;pwned\u0007`, `\u202egpj.exe`, `\u009b2J`)
	var got inspectJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, f := range got.Files {
		paths[f.Path] = true
	}
	for _, p := range []string{setTitle, overwrite, bidi, csi8} {
		if !paths["./usr/share/evil/"+p] {
			t.Errorf("--json lacks the exact path %q: %v", p, paths)
		}
	}
	if got.Control["Maintainer"] != "A "+setTitle+" <a@example.com>" {
		t.Errorf("--json Maintainer %q", got.Control["Maintainer"])
	}
}

// TestStatusShowsEscapes: status, halt and resume print what agents and
// other writers of the bucket put in status objects, failure records,
// update slots and halt records without letting it act on the terminal;
// --json keeps the exact texts. Host names of status objects and failure
// records come from their keys, which the S3 server's listing cannot carry
// C0 controls in: those hosts have non-ASCII ones.
func TestStatusShowsEscapes(t *testing.T) {
	srv := relS3(t)
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	mustRun(t, "publish", relDeb(t, t.TempDir(), "1.0"), dst, "--max-updating", "2", "--halt-after", "5")
	c, a := cmdClient(t, dst)
	obj, err := c.Head(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	m := obj.Manifest
	fc := fleet.New(c.Records(), nil)
	now := time.Now().UTC()
	for _, st := range []fleet.HostStatus{
		{Host: "web-1" + csi8, Version: "0.9" + clearAll, State: fleet.StateFailed,
			Target: &fleet.HostRelease{Version: m.Version + bidi, SHA256: m.SHA256}, Error: "boom " + clearAll + " " + overwrite},
		{Host: "web-2" + bidi, State: fleet.StateWaiting, Target: &fleet.HostRelease{Version: m.Version, SHA256: m.SHA256},
			Rollout: &fleet.HostRollout{Waiting: "slot " + csi8}},
		{Host: "web-3", Version: m.Version + setTitle, State: "odd" + clearAll},
	} {
		st.Package, st.Since, st.Time = "hello", now, now
		mustDo(t, fc.PutStatus(t.Context(), a, &st))
	}
	mustDo(t, fc.RecordFailure(t.Context(), a, fleet.FailureRecord{Host: "web-4" + bidi, Version: m.Version, SHA256: m.SHA256,
		Outcome: "rolled-back" + setTitle, Error: "health " + bidi, Time: now}))
	_, err = fc.AcquireLease(t.Context(), a, fleet.LeaseRequest{Slots: 2, Holder: "web-5" + setTitle, Version: m.Version, SHA256: m.SHA256, TTL: time.Hour})
	mustDo(t, err)
	_, _, err = fc.Halt(t.Context(), a, m.SHA256, m.Version, "mallory"+clearAll, "because "+setTitle)
	mustDo(t, err)

	code, out, errs := relRun(t, "status", dst)
	if code != 1 {
		t.Errorf("exit %d, want 1 (halted)\n%s", code, errs)
	}
	checkShown(t, "status", out,
		"web-1"+csi8Shown+" ", "0.9"+clearAllShown+" ", m.Version+bidiShown+" ", "boom "+clearAllShown+" ok FAKE",
		"web-2"+bidiShown+" ", "slot "+csi8Shown,
		m.Version+setTitleShown+" ", "odd"+clearAllShown+" ",
		"updating web-5"+setTitleShown+" (slot ",
		"failures 1: web-4"+bidiShown+" (rolled-back"+setTitleShown+" at ", ": health "+bidiShown+")",
		"HALTED   halted by mallory"+clearAllShown+" at ", ": because "+setTitleShown+"\n",
		"\nHALTED: halted by mallory"+clearAllShown,
		"1 failed: web-1"+csi8Shown+" ("+m.Version+bidiShown+"): boom "+clearAllShown+" ok FAKE",
		"waiting for their wave or an update slot: web-2"+bidiShown,
	)
	checkShown(t, "status's error", errs, "HALTED: halted by mallory"+clearAllShown)

	code, out, errs = relRun(t, "status", "--json", dst)
	if code != 1 {
		t.Errorf("--json: exit %d, want 1\n%s", code, errs)
	}
	checkShown(t, "status --json", out, `web-1\u009b2J`, `web-2\u202egpj.exe`, `web-5\u001b]0;pwned\u0007`)
	var r fleet.Summary
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Hosts) != 3 || r.Hosts[0].Host != "web-1"+csi8 || r.Hosts[1].Host != "web-2"+bidi || r.Hosts[0].Error != "boom "+clearAll+" "+overwrite {
		t.Errorf("--json hosts are not the exact texts: %+v", r.Hosts)
	}
	if r.Rollout == nil || len(r.Rollout.Failures) != 1 || r.Rollout.Failures[0].Error != "health "+bidi {
		t.Errorf("--json rollout is not the exact texts: %+v", r.Rollout)
	}

	out, err = runCmd(t, runHalt, dst)
	if err != nil {
		t.Fatal(err)
	}
	checkShown(t, "halt", out, "already halted by mallory"+clearAllShown+" at ", ": because "+setTitleShown+"\n")
	out, err = runCmd(t, runResume, dst)
	if err != nil {
		t.Fatal(err)
	}
	checkShown(t, "resume", out, "(was: halted by mallory"+clearAllShown+" at ", ": because "+setTitleShown+"); ")
}

func TestVisible(t *testing.T) {
	for _, tt := range []struct{ in, want, lines string }{
		{"web-1.example.com", "web-1.example.com", ""},
		{"Grüße aus 東京, café", "Grüße aus 東京, café", ""},
		{`C:\dir\x1b`, `C:\dir\x1b`, ""}, // backslashes are not doubled
		{setTitle, setTitleShown, ""},
		{clearAll, clearAllShown, ""},
		{overwrite, overwriteShown, ""},
		{bidi, bidiShown, ""},
		{csi8, csi8Shown, ""},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069`, ""},
		{"zero\u200bwidth, no\u00a0break, line\u2028sep", `zero\u200bwidth, no\u00a0break, line\u2028sep`, ""},
		{"del\x7f nul\x00 tag\U000e0041", `del\x7f nul\x00 tag\U000e0041`, ""},
		{"bad \xff\xfe utf-8, good \ufffd", `bad \xff\xfe utf-8, good ` + "\ufffd", ""},
		{"two\nlines\tand a tab\x1b", `two\nlines\tand a tab\x1b`, "two\nlines\tand a tab\\x1b"},
	} {
		got := visible(tt.in)
		if got != tt.want {
			t.Errorf("visible(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := visible(got); again != got {
			t.Errorf("visible(visible(%q)) = %q, want %q", tt.in, again, got)
		}
		lines := cmp.Or(tt.lines, tt.want)
		if got := visibleLines(tt.in); got != lines {
			t.Errorf("visibleLines(%q) = %q, want %q", tt.in, got, lines)
		}
	}
}

// TestWriteJSON: what a terminal would act on is \u-escaped, and the JSON
// decodes to the exact texts.
func TestWriteJSON(t *testing.T) {
	in := map[string][]string{"texts": {setTitle, overwrite, bidi, csi8, "del\x7f tag\U000e0041 line\u2028", "Grüße 東京 " + `C:\x`}}
	for _, indent := range []bool{false, true} {
		var b bytes.Buffer
		mustDo(t, writeJSON(&b, in, indent))
		checkShown(t, "JSON", b.String(), `\u001b]0;pwned\u0007`, `ok\rFAKE`, `\u202egpj.exe`, `\u009b2J`, `del\u007f tag\udb40\udc41 line\u2028`,
			`"Grüße 東京 C:\\x"`)
		var out map[string][]string
		if err := json.Unmarshal(b.Bytes(), &out); err != nil || !slices.Equal(out["texts"], in["texts"]) {
			t.Errorf("decodes to %q (%v), want %q", out["texts"], err, in["texts"])
		}
		if lines := strings.Count(b.String(), "\n"); indent != (lines > 1) {
			t.Errorf("indent %v: %d lines:\n%s", indent, lines, b.String())
		}
	}
}
