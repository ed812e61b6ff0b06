package release

import (
	"errors"
	"testing"
)

func TestStatusObjects(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	ch := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	type status struct {
		Host, Version, State string
	}
	for _, host := range []string{"web-1", "web-2"} {
		if err := c.PutJSON(testCtx(t), StatusAddress(ch, host), status{host, "1.0", "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// Overwrite: the last writer wins.
	if err := c.PutJSON(testCtx(t), StatusAddress(ch, "web-2"), status{"web-2", "1.1", "failed"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListStatus(testCtx(t), ch)
	if err != nil || len(list) != 2 || list[0].Host != "web-1" || list[1].Host != "web-2" {
		t.Fatalf("ListStatus: %+v, %v", list, err)
	}
	var got status
	if err := c.GetJSON(testCtx(t), list[1].Addr, &got); err != nil || got.State != "failed" || got.Version != "1.1" {
		t.Errorf("GetJSON: %+v, %v", got, err)
	}
	if err := c.GetJSON(testCtx(t), StatusAddress(ch, "web-3"), &got); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing status: %v", err)
	}
}
