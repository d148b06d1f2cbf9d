package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"truc.vn/truc/edoc"
)

const edocUsage = `Usage: truc edoc <command> [flags] FILE...

Read edXML packages (QCVN 102:2016) without sending them anywhere.

Commands:
  validate   check packages against the edXML rules, one line per problem
  inspect    show who sends a package to whom, what it is and what it carries

Run "truc edoc <command> -h" for a command's flags.
`

// runEdoc dispatches "truc edoc validate|inspect".
func runEdoc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, edocUsage)
		return usageError("edoc: no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, edocUsage)
		return nil
	case "validate":
		return runEdocValidate(ctx, args[1:], stdout, stderr)
	case "inspect":
		return runEdocInspect(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, edocUsage)
	return usageError(fmt.Sprintf("edoc: unknown command %q", args[0]))
}

// edocFlags are the flags both commands take.
type edocFlags struct {
	json     bool
	maxBytes int64
}

func (f *edocFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
	fs.Int64Var(&f.maxBytes, "max-bytes", edoc.DefaultMaxBytes, "refuse packages larger than this many bytes")
}

func (f *edocFlags) limits() edoc.Limits { return edoc.Limits{MaxBytes: f.maxBytes} }

// readPackage reads and parses one file. A failure is returned as the
// problem that describes it, so that every command reports it the same way.
func readPackage(path string, lim edoc.Limits) (*edoc.Package, *edoc.Problem) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &edoc.Problem{Path: "-", Rule: "read", Severity: edoc.Error, Message: err.Error()}
	}
	defer f.Close()
	p, err := edoc.ParseReader(f, lim)
	if err == nil {
		return p, nil
	}
	var (
		pe *edoc.ParseError
		le *edoc.LimitError
		se *edoc.SyntaxError
	)
	pr := &edoc.Problem{Severity: edoc.Error, Message: err.Error()}
	switch {
	case errors.As(err, &pe):
		pr.Path, pr.Rule, pr.Message = pe.Path, pe.Rule, pe.Msg
	case errors.As(err, &le):
		pr.Path, pr.Rule, pr.Message = "xml", le.Limit+"-limit", strings.TrimPrefix(le.Error(), "xml: ")
	case errors.As(err, &se):
		pr.Path, pr.Rule, pr.Message = "xml", "xml-syntax", fmt.Sprintf("%s (at byte %d)", se.Msg, se.Offset)
	default:
		pr.Path, pr.Rule = "-", "read"
	}
	return nil, pr
}

const validateExplain = `
Check each edXML package (document or status) against the rules of QCVN
102:2016 as far as they are known: required fields, lengths, OrganId
grammar, recipients, dates, status codes, and that the manifest and the
attachments match and decode. Every problem is reported, one line each:

  FILE: PATH: RULE: SEVERITY: MESSAGE

An error makes a package unacceptable; a warning only flags something
unusual (for example an OrganId outside the 13-character QCVN form). A file
that cannot be read as edXML (not XML, a DOCTYPE, over the size limit) is
one error line with the path "xml" or the element concerned. A summary goes
to standard error.

Exit status: 0 when no file has an error, 1 otherwise, 2 for a wrong command
line.

Example:
  truc edoc validate inbox/*.edxml
  truc edoc validate --json letter.edxml | jq '.[].problems[]'
`

// validateResult is one file in the JSON output of validate.
type validateResult struct {
	File     string         `json:"file"`
	Kind     string         `json:"kind,omitempty"`
	Valid    bool           `json:"valid"`
	Problems []edoc.Problem `json:"problems"`
}

func runEdocValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var fl edocFlags
	fs := newFlagSet("edoc validate", "edoc validate [--json] [--max-bytes N] FILE...", validateExplain, stderr)
	fl.register(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("edoc validate: no file given")
	}
	var results []validateResult
	var nerr, nwarn, bad int
	for _, path := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		res := validateResult{File: path, Problems: []edoc.Problem{}}
		p, failure := readPackage(path, fl.limits())
		if failure != nil {
			res.Problems = append(res.Problems, *failure)
		} else {
			res.Kind = p.Kind.String()
			res.Problems = append(res.Problems, p.Validate()...)
		}
		res.Valid = !edoc.HasErrors(res.Problems)
		if !res.Valid {
			bad++
		}
		for _, pr := range res.Problems {
			if pr.Severity == edoc.Error {
				nerr++
			} else {
				nwarn++
			}
			if !fl.json {
				fmt.Fprintf(stdout, "%s: %s: %s: %s: %s\n", path, pr.Path, pr.Rule, pr.Severity, pr.Message)
			}
		}
		results = append(results, res)
	}
	if fl.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "truc edoc validate: %s, %d invalid; %s, %s\n",
		plural(len(results), "file"), bad, plural(nerr, "error"), plural(nwarn, "warning"))
	if bad > 0 {
		return failed(exitFailure)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

const inspectExplain = `
Show what an edXML package is: who sends it, to whom, its document id,
code, subject, type and business type (new, revocation, update,
replacement), or for a status package which document it answers and the
status code; then each attachment with its size, SHA-256 and whether it is
a ZIP archive (by its bytes, not by the declared type), and how many
problems validate would report. Nothing is written anywhere.

Exit status: 0 when the package could be read (even with validation
errors), 1 when it could not, 2 for a wrong command line.

Example:
  truc edoc inspect letter.edxml
  truc edoc inspect --json letter.edxml | jq .attachments
`

// inspectOrg, inspectAttachment and inspectResult are the JSON output of
// inspect.
type inspectOrg struct {
	OrganID string `json:"organId"`
	Name    string `json:"name,omitempty"`
}

type inspectAttachment struct {
	ContentID   string `json:"contentId"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	ZIP         bool   `json:"zip"`
	Error       string `json:"error,omitempty"`
}

type inspectResponseFor struct {
	OrganID          string `json:"organId"`
	Code             string `json:"code"`
	PromulgationDate string `json:"promulgationDate,omitempty"`
	DocumentID       string `json:"documentId"`
}

type inspectResult struct {
	File      string       `json:"file"`
	Kind      string       `json:"kind"`
	Signature string       `json:"signature"`
	Sender    inspectOrg   `json:"sender"`
	To        []inspectOrg `json:"recipients,omitempty"`

	DocumentID   string `json:"documentId,omitempty"`
	Code         string `json:"code,omitempty"`
	Date         string `json:"promulgationDate,omitempty"`
	Subject      string `json:"subject,omitempty"`
	Type         string `json:"type,omitempty"`
	TypeName     string `json:"typeName,omitempty"`
	Business     string `json:"businessType,omitempty"`
	BusinessText string `json:"businessMeaning,omitempty"`

	ResponseFor *inspectResponseFor `json:"responseFor,omitempty"`
	StatusCode  string              `json:"statusCode,omitempty"`
	StatusText  string              `json:"statusMeaning,omitempty"`
	Description string              `json:"description,omitempty"`
	Timestamp   string              `json:"timestamp,omitempty"`

	Attachments []inspectAttachment `json:"attachments"`
	Errors      int                 `json:"errors"`
	Warnings    int                 `json:"warnings"`
}

func runEdocInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var fl edocFlags
	fs := newFlagSet("edoc inspect", "edoc inspect [--json] [--max-bytes N] FILE", inspectExplain, stderr)
	fl.register(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError("edoc inspect: give exactly one file")
	}
	path := fs.Arg(0)
	p, failure := readPackage(path, fl.limits())
	if failure != nil {
		fmt.Fprintf(stderr, "%s: %s: %s: %s: %s\n", path, failure.Path, failure.Rule, failure.Severity, failure.Message)
		return failed(exitFailure)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res := describe(path, p)
	if fl.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printInspect(stdout, res)
	return nil
}

func describe(path string, p *edoc.Package) inspectResult {
	res := inspectResult{File: path, Kind: p.Kind.String(), Signature: p.Signature.String(), Attachments: []inspectAttachment{}}
	switch p.Kind {
	case edoc.KindStatus:
		s := p.Status
		res.Sender = inspectOrg{s.From.OrganID, s.From.OrganName}
		rf := s.ResponseFor
		res.ResponseFor = &inspectResponseFor{rf.OrganID, rf.Code, rf.PromulgationDate.Raw, rf.DocumentID}
		res.StatusCode, res.StatusText = string(s.Code), s.Code.Meaning()
		res.Description, res.Timestamp = s.Description, s.Timestamp.Raw
	default:
		h := &p.Header
		res.Sender = inspectOrg{h.From.OrganID, h.From.OrganName}
		for _, to := range h.To {
			res.To = append(res.To, inspectOrg{to.OrganID, to.OrganName})
		}
		res.DocumentID, res.Code, res.Date = h.DocumentID, h.Code.String(), h.Promulgation.Date.Raw
		res.Subject, res.Type, res.TypeName = h.Subject, h.DocumentType.Type, h.DocumentType.TypeName
		bt := p.BusinessType()
		res.Business, res.BusinessText = string(bt), bt.Meaning()
	}
	for _, a := range p.Attachments {
		ia := inspectAttachment{ContentID: a.ContentID, Name: a.Name, ContentType: a.ContentType}
		sum, size, err := a.Digest()
		if err != nil {
			ia.Error = err.Error()
		} else {
			ia.Size, ia.SHA256 = size, hex.EncodeToString(sum[:])
			ia.ZIP, _ = a.IsZIP()
		}
		res.Attachments = append(res.Attachments, ia)
	}
	for _, pr := range p.Validate() {
		if pr.Severity == edoc.Error {
			res.Errors++
		} else {
			res.Warnings++
		}
	}
	return res
}

func printInspect(w io.Writer, r inspectResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", label, value)
		}
	}
	org := func(o inspectOrg) string { return strings.TrimSpace(o.OrganID + "  " + o.Name) }
	with := func(code, meaning string) string {
		if meaning == "" {
			return code
		}
		return code + " (" + meaning + ")"
	}
	line("file", r.File)
	line("kind", r.Kind)
	line("signature", r.Signature)
	line("sender", org(r.Sender))
	for i, to := range r.To {
		label := ""
		if i == 0 {
			label = "recipients:"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, org(to))
	}
	line("document id", r.DocumentID)
	line("code", r.Code)
	line("promulgated", r.Date)
	line("subject", r.Subject)
	line("type", strings.TrimSpace(r.Type+" "+r.TypeName))
	line("business", with(r.Business, r.BusinessText))
	if rf := r.ResponseFor; rf != nil {
		line("responds to", strings.TrimSpace(rf.OrganID+"  "+rf.DocumentID))
		line("its code", rf.Code)
	}
	line("status", with(r.StatusCode, r.StatusText))
	line("description", r.Description)
	line("timestamp", r.Timestamp)
	fmt.Fprintf(tw, "attachments:\t%d\n", len(r.Attachments))
	tw.Flush()
	for _, a := range r.Attachments {
		if a.Error != "" {
			fmt.Fprintf(w, "  %s  %s  %s  unreadable: %s\n", a.ContentID, a.Name, a.ContentType, a.Error)
			continue
		}
		zip := ""
		if a.ZIP {
			zip = ", zip"
		}
		fmt.Fprintf(w, "  %s  %s  %s%s  %d bytes  sha256:%s\n", a.ContentID, a.Name, a.ContentType, zip, a.Size, a.SHA256)
	}
	fmt.Fprintf(w, "problems: %s, %s (run truc edoc validate for details)\n", plural(r.Errors, "error"), plural(r.Warnings, "warning"))
}
