package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/bus"
)

const onboardSynopsis = "axis onboard --axis URL --token-file FILE --edge ID --cert PEM --agency ORGANID=NAME [--agency ...] [--parent ORGANID]"

const onboardExplain = `Register an edge with a running axis in one step: the edge, the agencies it
serves, and the binding of its seal certificate to each of them. The axis
creates the edge's inbox topic before it records the change (nothing is
recorded if that fails). Then print the Kafka user and the ACLs an operator
must create so that the edge can write truc.submit and read only its own
inbox.

The admin token comes from --token-file or --token-env, never from the
command line.

Example:
  truc axis onboard --axis http://127.0.0.1:8701 --token-file truc-data/tokens/admin.token \
      --edge quangninh --cert seal-quangninh.pem \
      --agency "000.00.00.H44=UBND tỉnh Quảng Ninh" \
      --agency "000.00.01.H44=Sở Nội vụ tỉnh Quảng Ninh" --parent 000.00.00.H44`

func runAxisOnboard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("axis onboard", onboardSynopsis, onboardExplain, stderr)
	axisURL := fs.String("axis", "", "base `URL` of the axis admin API")
	tokenFile := fs.String("token-file", "", "`file` holding the admin bearer token")
	tokenEnv := fs.String("token-env", "", "environment `variable` holding the admin bearer token")
	edgeID := fs.String("edge", "", "the edge `ID`")
	certFile := fs.String("cert", "", "PEM `file` with the edge's seal certificate(s)")
	parent := fs.String("parent", "", "parent `OrganId` of the agencies (except of itself)")
	prefix := fs.String("topic-prefix", "truc", "Kafka topic `prefix`")
	var agencies listFlag
	fs.Var(&agencies, "agency", "an agency the edge serves, `ORGANID=NAME` (repeat)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *axisURL == "" || *edgeID == "" || *certFile == "" || len(agencies) == 0 || fs.NArg() > 0 {
		return usageError("onboard needs --axis, --edge, --cert and at least one --agency")
	}
	if *tokenFile == "" && *tokenEnv == "" {
		return usageError("onboard needs --token-file or --token-env")
	}
	if err := bus.ValidateEdgeID(*edgeID); err != nil {
		return usageError("--edge: " + err.Error())
	}
	token, err := readToken(*tokenFile, *tokenEnv)
	if err != nil {
		return err
	}
	certs, err := readCertificates(*certFile)
	if err != nil {
		return err
	}
	req := directory.OnboardRequest{Edge: directory.EdgeRequest{ID: *edgeID}}
	for _, c := range certs {
		req.Edge.Certificates = append(req.Edge.Certificates, c.Raw)
	}
	for _, a := range agencies {
		id, name, ok := strings.Cut(a, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return usageError(fmt.Sprintf("--agency %q: want ORGANID=NAME", a))
		}
		ar := directory.AgencyRequest{OrganID: strings.TrimSpace(id), Name: strings.TrimSpace(name)}
		if *parent != "" && ar.OrganID != *parent {
			ar.Parent = *parent
		}
		req.Agencies = append(req.Agencies, ar)
	}
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*axisURL, "/")+"/admin/v1/onboard", bytes.NewReader(body))
	if err != nil {
		return usageError("--axis: " + err.Error())
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return fmt.Errorf("onboarding at %s: %w", *axisURL, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var p directory.Problem
		if json.Unmarshal(rb, &p) == nil && p.Detail != "" {
			field := ""
			if p.Field != "" {
				field = p.Field + ": "
			}
			return fmt.Errorf("the axis refused the onboarding (%d): %s%s", resp.StatusCode, field, p.Detail)
		}
		return fmt.Errorf("the axis refused the onboarding: %s", resp.Status)
	}
	var out directory.OnboardResponse
	if err := json.Unmarshal(rb, &out); err != nil {
		return fmt.Errorf("reading the axis's answer: %w", err)
	}
	topics, err := bus.NewTopics(*prefix)
	if err != nil {
		return usageError("--topic-prefix: " + err.Error())
	}
	inbox := out.Edge.InboxTopic
	if inbox == "" {
		inbox, _ = topics.Inbox(*edgeID)
	}
	fmt.Fprintf(stdout, "onboarded edge %s with %d agencies: directory version %d, inbox topic %s\n\n", *edgeID, len(out.Agencies), out.Version, inbox)
	printACLs(stdout, *edgeID, topics, inbox)
	return nil
}

// printACLs prints the Kafka principal and ACLs an edge needs, as
// kafka-acls.sh commands.
func printACLs(w io.Writer, edgeID string, topics bus.Topics, inbox string) {
	user := "truc-edge-" + edgeID
	group := "truc-edge-" + edgeID
	fmt.Fprintf(w, `Create the Kafka user and ACLs for it (SASL/SCRAM; use mTLS principals likewise):

  kafka-configs.sh --bootstrap-server $KAFKA --alter --add-config 'SCRAM-SHA-512=[password=...]' \
      --entity-type users --entity-name %[1]s
  kafka-acls.sh --bootstrap-server $KAFKA --add --allow-principal User:%[1]s \
      --operation Write --operation Describe --topic %[2]s
  kafka-acls.sh --bootstrap-server $KAFKA --add --allow-principal User:%[1]s \
      --operation Read --operation Describe --topic %[3]s
  kafka-acls.sh --bootstrap-server $KAFKA --add --allow-principal User:%[1]s \
      --operation Read --group %[4]s
  kafka-acls.sh --bootstrap-server $KAFKA --add --allow-principal User:%[1]s \
      --operation Write --operation Describe --topic %[5]s

The edge writes %[2]s (letters, statuses, acks, rejection notices) and %[5]s,
reads only %[3]s with consumer group %[4]s, and creates no topics.
`, user, topics.Submit(), inbox, group, topics.DLQ())
}
