package loopback

import "testing"

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost.", true},
		{"127.0.0.1", true},
		{"127.200.3.4", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"", false},
		{"10.0.0.5", false},
		{"128.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"localhost.example.com", false},
		{"127.0.0.1.nip.io", false},
		{"[::1]", false}, // a Hostname has no brackets
	} {
		if got := Host(tc.host); got != tc.want {
			t.Errorf("Host(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestPlainHTTPOff(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"", false}, // AWS's endpoint
		{"https://s3.example.com", false},
		{"https://10.0.0.5:9000", false},
		{"http://127.0.0.1:7070", false},
		{"http://127.8.9.10:7070", false},
		{"http://[::1]:7070/", false},
		{"http://[::ffff:127.0.0.1]:7070", false},
		{"http://localhost/hook", false},
		{"http://LOCALHOST.:7070", false},
		{"HTTP://127.0.0.1:7070", false},
		{"://bad", false},
		{"http://10.0.0.5:9000", true},
		{"http://192.168.1.2", true},
		{"http://[fd00::1]:9000", true},
		{"http://[::]:9000", true},
		{"http://0.0.0.0:9000", true},
		{"http://minio:9000", true},
		{"HTTP://s3.example.com/", true},
		{"http://user:pw@example.com/x?token=1", true},
		{"http://localhost.example.com:7070", true},
		{"http://127.0.0.1.example.com", true},
	} {
		if got := PlainHTTPOff(tc.url); got != tc.want {
			t.Errorf("PlainHTTPOff(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
}
