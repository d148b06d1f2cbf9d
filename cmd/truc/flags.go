package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagHelp is returned when the user asked for -h; it exits 0.
var flagHelp = flag.ErrHelp

// newFlagSet returns a flag set whose usage is the synopsis, the text that
// explains the command, then the flags; parseFlags prints it to stdout on -h.
func newFlagSet(name, synopsis, explain string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: truc %s\n\n%s\n", synopsis, strings.TrimSpace(explain))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; -h prints the usage to stdout and returns
// flagHelp, any other problem is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return flagHelp
		}
		if a == "--" {
			break
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %v (see truc %s -h)", fs.Name(), err, fs.Name())}
	}
	return nil
}
