package main

import (
	"bufio"
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

// indent prints a command's output under the story line that ran it.
func (s *story) indent(out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fmt.Fprintf(s.w, "           %s\n", sc.Text())
	}
}
