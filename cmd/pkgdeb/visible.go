package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// visible returns s as a terminal should show it: every rune a terminal
// would act on rather than show is written as a Go escape ("\x1b", "\r",
// "\n", "\t", "\u202e"), every byte that is not UTF-8 as "\xNN", and
// printable text, non-ASCII letters included, is unchanged. Acted on are
// the C0 and C1 controls (ESC starts sequences that set the window title
// or clear the screen, CR overwrites a line), DEL, Unicode format
// characters (bidi overrides and isolates U+202A-U+202E and
// U+2066-U+2069, zero-width ones), line and paragraph separators, and
// spaces other than U+0020: every rune strconv.IsPrint refuses.
//
// Every string pkgdeb prints in human form that someone else wrote goes
// through it: a package's paths and control fields, an agent's status
// object, failure records, update slots and halt records, error texts.
// Backslashes are not doubled, so that printable text reads as written
// and visible(visible(s)) == visible(s): a line built from such strings
// and pkgdeb's own text can be passed through it again as a whole. The
// exact bytes are in the --json output.
func visible(s string) string { return escapeRunes(s, strconv.IsPrint, goEscape) }

// visibleLines is visible keeping newlines and tabs, for text meant to
// span lines: a control field with continuation lines, an error. A
// newline cannot rewrite what is on the screen, but it can start a line
// that looks like pkgdeb's own: anything shown on one line goes through
// visible.
func visibleLines(s string) string {
	return escapeRunes(s, func(r rune) bool { return r == '\n' || r == '\t' || strconv.IsPrint(r) }, goEscape)
}

// writeJSON writes v to w as JSON, indented or on one line. Beyond what
// encoding/json escapes (the C0 controls, U+2028 and U+2029), the runes
// visible escapes are written as \u escapes too (DEL, the C1 controls
// such as the 8-bit CSI U+009B, bidi overrides), so that JSON read on a
// terminal cannot act on it either. It decodes to the same values.
func writeJSON(w io.Writer, v any, indent bool) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	// encoding/json writes valid UTF-8, and outside strings only ASCII
	// (whitespace included), so every rune escaped here is in a string.
	_, err := io.WriteString(w, escapeRunes(b.String(), func(r rune) bool { return r < 0x7f || strconv.IsPrint(r) }, jsonEscape))
	return err
}

// escapeRunes returns s with every rune that shown refuses written as
// quote writes it, and every byte that is not UTF-8 as "\xNN".
func escapeRunes(s string, shown func(rune) bool, quote func(rune) string) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		invalid := r == utf8.RuneError && n == 1
		if !invalid && shown(r) {
			i += n
			continue
		}
		b.WriteString(s[done:i])
		if invalid {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(quote(r))
		}
		i += n
		done = i
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// goEscape writes r as in a Go string literal: \a, \r, \x1b, \u202e.
func goEscape(r rune) string {
	q := strconv.QuoteRune(r)
	return q[1 : len(q)-1]
}

// jsonEscape writes r as a JSON \u escape, a surrogate pair beyond the
// Basic Multilingual Plane.
func jsonEscape(r rune) string {
	if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
		return fmt.Sprintf(`\u%04x\u%04x`, r1, r2)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
