// Command truc is the national inter-agency document exchange bus: one
// binary for the axis, the edge nodes, the embedded broker and the tools
// around them. Run "truc help" for the list of commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// command is one subcommand. The table in commands is the only place where
// subcommands are wired.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run broker, axis and demo edges on this machine, with a demo PKI", runDev},
		{"axis", "run the central axis (and onboard edges)", runAxis},
		{"edge", "run an edge node for an agency's DMS", runEdge},
		{"send", "send edXML packages through an edge and follow their delivery", runSend},
		{"inbox", "list, save and acknowledge what arrived at an edge", runInbox},
		{"status", "post a status about a received document, or recall a sent one (13)", runStatus},
		{"track", "show or follow a sent message's delivery, recipient by recipient", runTrack},
		{"dashboard-hash", "print the bcrypt hash of a dashboard password (axis config)", runDashboardHash},
		{"audit", "export and verify evidence bundles of letters (offline audit)", runAudit},
		{"bench", "measure the throughput and latency of the bus", runBench},
		{"edoc", "read, validate and inspect edXML packages", runEdoc},
		{"pki", "create and run a demo PKI shaped like the government one", runPKI},
		{"sign", "sign an edXML package with an agency key", runSign},
		{"verify", "verify the signature, chain and revocation of signed packages", runVerify},
		{"broker", "run the embedded Kafka-protocol broker with a data directory", runBroker},
		{"version", "print the version of this binary", runVersion},
		{"help", "explain a command", nil},
	}
}

// run is the whole program behind main, callable from tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return usageError("no command given")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			usage(stdout)
			return nil
		}
		name, rest = rest[0], []string{"-h"}
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	usage(stderr)
	return usageError(fmt.Sprintf("unknown command %q", name))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `truc: the national inter-agency electronic document exchange bus.

Usage: truc <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "truc help <command>" or "truc <command> -h" for a command's flags.

Exit status: 0 success; 1 the input was invalid or an operation failed;
2 the command line was wrong.
`)
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 && args[0] != "-h" {
		return usageError("version takes no arguments")
	}
	fmt.Fprintf(stdout, "truc %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFailure = 1 // invalid input, failed verification, failed operation
	exitUsage   = 2 // wrong command line
)

// exitError carries the exit code a command wants. silent means the command
// already told the user what went wrong.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(msg string) error {
	return &exitError{code: exitUsage, err: errors.New(msg)}
}

// failed reports that the command printed its own account of a failure and
// only the exit code is left to set.
func failed(code int) error {
	return &exitError{code: code, err: fmt.Errorf("exit status %d", code), silent: true}
}

// report prints err (unless the command already did) and returns the exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent {
			fmt.Fprintf(stderr, "truc: %v\n", ee.err)
		}
		return ee.code
	}
	if errors.Is(err, flagHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "truc: %v\n", err)
	return exitFailure
}
