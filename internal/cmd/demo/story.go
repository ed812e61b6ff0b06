package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// story prints numbered lines with the time since the start.
type story struct {
	w     io.Writer
	start time.Time
}

func (s *story) say(format string, args ...any) {
	fmt.Fprintf(s.w, "[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// lineWriter prints a command's output under the story line that ran it,
// line by line as it comes, and keeps all of it.
type lineWriter struct {
	s       *story
	partial []byte
	all     strings.Builder
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.s.indent(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
}

// flush prints what is left of a last line without a newline.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.s.indent(string(w.partial))
		w.partial = nil
	}
}

// indent prints a command's output under the story line that ran it.
func (s *story) indent(out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fmt.Fprintf(s.w, "           %s\n", sc.Text())
	}
}
