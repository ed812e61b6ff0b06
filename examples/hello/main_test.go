package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := handler()
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", http.StatusOK, "hello from dev (pid "},
		{"/healthz", http.StatusOK, "ok\n"},
		{"/version", http.StatusOK, "dev\n"},
		{"/sleep?d=10ms", http.StatusOK, "slept 10ms"},
		{"/sleep?d=2m", http.StatusBadRequest, "d: want a duration"},
		{"/sleep?d=x", http.StatusBadRequest, "d: want a duration"},
		{"/nope", http.StatusNotFound, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, rec.Code, rec.Body, tc.status, tc.body)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error or the usage
		help bool
	}{
		{[]string{"--help"}, "hello --listen 127.0.0.1:8080", true},
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
