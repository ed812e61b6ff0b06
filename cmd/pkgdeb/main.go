package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	// Maintenance windows name IANA zones, checked at publish time on CI
	// machines that may lack tzdata: Go's copy is the fallback.
	_ "time/tzdata"

	"github.com/debfleet/debfleet/internal/cli"
)

// command is one pkgdeb subcommand.
type command struct {
	name    string
	summary string
	// run does the work. args excludes the subcommand's name. It returns a
	// *cli.UsageError for bad invocations, flag.ErrHelp after printing help.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"build", "build a .deb from a pkgdeb.yaml spec and/or flags", runBuild},
		{"inspect", "show a .deb's control fields and files, and verify its md5sums", runInspect},
		{"publish", "upload a .deb, or a service's configuration (--kind config), to S3 release channels", runPublish},
		{"history", "list every version of a release channel", runHistory},
		{"rollback", "make an earlier version of a release channel current again", runRollback},
		{"promote", "copy the exact bytes of one channel's release to another channel", runPromote},
		{"keygen", "create an ed25519 key pair for signing releases", runKeygen},
		{"status", "show how a channel's current release has reached the fleet", runStatus},
		{"wait", "follow a channel's rollout until every live host runs the release (for CI)", runWait},
		{"halt", "stop the rollout of a channel's release (hosts running it keep it)", runHalt},
		{"resume", "continue a halted rollout", runResume},
		{"dashboard", "serve a live, read-only web page of every channel under a prefix", runDashboard},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: pkgdeb COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'pkgdeb COMMAND --help' for a command's flags.\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one pkgdeb invocation and returns its exit status: 0 on
// success, 2 for a usage error, 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var ue *cli.UsageError
		var ee *cli.ExitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "pkgdeb %s: %s\nRun 'pkgdeb %s --help' for usage.\n", name, visibleLines(err.Error()), name)
			return 2
		case errors.As(err, &ee):
			fmt.Fprintf(stderr, "pkgdeb %s: %s\n", name, visibleLines(err.Error()))
			return ee.Code
		default:
			// Errors quote what others wrote (a package's paths, a
			// status object's host name) as often as not.
			fmt.Fprintf(stderr, "pkgdeb %s: %s\n", name, visibleLines(err.Error()))
			printAdvice(stderr, name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "pkgdeb: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}
