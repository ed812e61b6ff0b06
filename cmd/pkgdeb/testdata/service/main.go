// Command greeter is the tiny Go service the lintian test packages: a real
// CGO_ENABLED=0 binary, as every Go service shipped with pkgdeb is.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello from", os.Getenv("GREETER_NAME"))
}
