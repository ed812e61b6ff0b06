package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudflare/tableflip"
)

func main() {
	listen := flag.String("listen", "localhost:8080", "address to listen on")
	pidFile := flag.String("pidfile", "", "PID file")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from tableflip (pid %d)\n", os.Getpid())
	})

	upg, _ := tableflip.New(tableflip.Options{PIDFile: *pidFile})
	defer upg.Stop()

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		for range sig {
			upg.Upgrade()
		}
	}()

	// Listen must be called before Ready
	ln, _ := upg.Listen("tcp", *listen)
	defer ln.Close()

	go http.Serve(ln, nil)

	if err := upg.Ready(); err != nil {
		panic(err)
	}

	<-upg.Exit()
}
