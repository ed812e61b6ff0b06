package release

import "testing"

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    Address
		wantErr bool
	}{
		{"s3://acme/hello/production.deb", Address{"acme", "hello/production.deb"}, false},
		{"s3://acme/x.deb", Address{"acme", "x.deb"}, false},
		{"s3://acme/", Address{}, true},
		{"s3://acme", Address{}, true},
		{"s3:///k.deb", Address{}, true},
		{"s3://acme/dir/", Address{}, true},
		{"https://acme/x.deb", Address{}, true},
		{"acme/x.deb", Address{}, true},
	}
	for _, tt := range tests {
		got, err := ParseAddress(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseAddress(%q) = %v, %v", tt.in, got, err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestCopySourceEscapes(t *testing.T) {
	a := Address{Bucket: "b", Key: "apps/hello world+1/prod.deb"}
	if got, want := a.copySource("v+1/="), "b/apps/hello%20world+1/prod.deb?versionId=v%2B1%2F%3D"; got != want {
		t.Errorf("copySource = %q, want %q", got, want)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		code   string
		status int
		want   error
	}{
		{"NoSuchBucket", 404, ErrNotFound},
		{"", 404, ErrNotFound},
		{"NoSuchVersion", 404, ErrNotFound},
		{"SignatureDoesNotMatch", 403, ErrAccessDenied},
		{"", 403, ErrAccessDenied},
		{"PreconditionFailed", 412, ErrPreconditionFailed},
		{"ConditionalRequestConflict", 409, ErrPreconditionFailed},
		{"BucketAlreadyExists", 409, nil},
		{"BadDigest", 400, ErrChecksumMismatch},
		{"SlowDown", 503, nil},
		{"InternalError", 500, nil},
	}
	for _, tt := range tests {
		if got := kindOf(tt.code, tt.status); got != tt.want {
			t.Errorf("kindOf(%q, %d) = %v, want %v", tt.code, tt.status, got, tt.want)
		}
	}
}
