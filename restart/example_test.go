package restart_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/debfleet/debfleet/restart"
)

// A service's main: listen through the Upgrader, serve with Serve, say
// Ready, and return when Serve does. SIGHUP then upgrades it in place and
// SIGTERM stops it; here the example stops itself after one request.
func Example() {
	upg, err := restart.New(restart.Options{PIDFile: "" /* e.g. /run/hello/hello.pid */})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()

	ln, err := upg.Listen("tcp", "127.0.0.1:0") // e.g. ":8080"
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})}
	served := make(chan error, 1)
	go func() { served <- upg.Serve(context.Background(), srv, ln) }()
	if err := upg.Ready(); err != nil {
		log.Fatal(err)
	}

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))

	upg.Stop() // what SIGTERM does
	if err := <-served; err != nil {
		log.Fatal(err)
	}
	// Output: hello
}
