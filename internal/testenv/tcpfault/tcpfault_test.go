package tcpfault

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCutAndHeal: requests pass, get no answer while the proxy cuts, and
// pass again once healed; none reaches the server while cut.
func TestCutAndHeal(t *testing.T) {
	reached := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	p := Start(t, srv.URL)
	get := func() (string, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(p.URL + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); body != "ok" || err != nil {
		t.Fatalf("before the cut: %q, %v", body, err)
	}
	<-reached
	p.Cut(t)
	if body, err := get(); err == nil {
		t.Errorf("while cut: got %q, want an error", body)
	}
	select {
	case <-reached:
		t.Error("a request reached the server while cut")
	default:
	}
	p.Heal()
	if body, err := get(); body != "ok" || err != nil {
		t.Errorf("after Heal: %q, %v", body, err)
	}
}
