// Command refusals prints, one per line, what tableflip (third_party/tableflip)'s Upgrade answers
// before Ready and after Ready while the previous generation has not
// exited. restart's tests start it as a new generation (the tableflip
// environment variable set, its pipes on fds 3 and 4) of a parent that
// never exits, and compare the answers with the texts restart retries on.
package main

import (
	"fmt"
	"os"

	"github.com/debfleet/debfleet/third_party/tableflip"
)

func main() {
	tf, err := tableflip.New(tableflip.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "refusals:", err)
		os.Exit(1)
	}
	fmt.Println(tf.Upgrade())
	if err := tf.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "refusals:", err)
		os.Exit(1)
	}
	// Right after Ready, tableflip's loop may not have seen it yet and
	// answer as before Ready; once it has, it must refuse for the parent.
	for range 10000 {
		err = tf.Upgrade()
		if err == nil || err.Error() != "process is not ready yet" {
			break
		}
	}
	fmt.Println(err)
}
