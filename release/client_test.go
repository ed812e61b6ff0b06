package release

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewRefusesInsecureEndpoint: New applies the rule to the endpoint the
// S3 client resolves, whether given in Options or found by the SDK in the
// environment or the shared config, and allows it only when asked to.
func TestNewRefusesInsecureEndpoint(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(config, []byte("[default]\nendpoint_url = http://10.9.8.7:9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		endpoint string            // Options.Endpoint
		env      map[string]string // besides an empty shared config
		want     string            // the endpoint named in the error; "" when allowed
	}{
		{"given", "http://10.0.0.5:9000", nil, "http://10.0.0.5:9000"},
		{"given, loopback", "http://127.0.0.1:9000", nil, ""},
		{"given, https", "https://10.0.0.5:9000", nil, ""},
		{"AWS_ENDPOINT_URL_S3", "", map[string]string{"AWS_ENDPOINT_URL_S3": "http://10.0.0.6:9000"}, "http://10.0.0.6:9000 (from"},
		{"AWS_ENDPOINT_URL", "", map[string]string{"AWS_ENDPOINT_URL": "http://10.0.0.7:9000"}, "http://10.0.0.7:9000 (from"},
		{"AWS_ENDPOINT_URL_S3 on loopback", "", map[string]string{"AWS_ENDPOINT_URL_S3": "http://localhost:9000"}, ""},
		{"shared config", "", map[string]string{"AWS_CONFIG_FILE": config}, "http://10.9.8.7:9000 (from"},
		{"given wins over the environment", "https://s3.example.com", map[string]string{"AWS_ENDPOINT_URL_S3": "http://10.0.0.6:9000"}, ""},
		{"AWS", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"} {
				t.Setenv(k, "")
				os.Unsetenv(k) // the SDK tells unset from empty for these
			}
			t.Setenv("AWS_CONFIG_FILE", os.DevNull)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			for _, allow := range []bool{false, true} {
				_, err := New(t.Context(), Options{Endpoint: tt.endpoint, Region: "us-east-1", AllowInsecureEndpoint: allow})
				if tt.want == "" || allow {
					if err != nil {
						t.Errorf("New(AllowInsecureEndpoint: %v): %v", allow, err)
					}
					continue
				}
				if !errors.Is(err, ErrInsecureEndpoint) || !strings.Contains(err.Error(), "endpoint "+tt.want) {
					t.Errorf("New: %v, want ErrInsecureEndpoint naming %s", err, tt.want)
				}
			}
		})
	}
}
