package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error or the usage
		help bool
	}{
		{[]string{"--help"}, "-drain-timeout", true},
		{[]string{"extra"}, `unexpected argument "extra"`, false},
		{[]string{"--listen"}, "flag needs an argument", false},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stderr)
		if err == nil || errors.Is(err, flag.ErrHelp) != tc.help || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("run %v = %v, stderr %q; want an error mentioning %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}
