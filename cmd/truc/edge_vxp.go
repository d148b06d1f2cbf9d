package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"

	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
)

// vxpSection is the edge config's vxp: section: the VXP-compatible API,
// for DMS software written against the national axis's SDK (SDKVXP
// 2.0.1). It is served on the API listener (api.listen, with its TLS)
// under PathPrefix: the DMS sets service.endpoint to the listener's base
// URL followed by the prefix, and the SDK appends /<operation>. One
// listener means one port to open and one certificate; the prefix keeps
// the operations (sendEdoc, getEdoc, ...) apart from /v1 and the ops
// endpoints.
//
//	vxp:
//	  path_prefix: /vxp
//	  systems:
//	    - id: vxp.tayninh.01
//	      secret_file: secrets/vxp-tayninh-01.secret
//	      organ_ids: [000.00.00.H53, 000.00.01.H53]
//	      parent_codes: [000.00.00.H53]
//
// With no systems the API is not served.
type vxpSection struct {
	// PathPrefix is where the API is served: "/" and one or more path
	// segments, no trailing "/". Default "/vxp".
	PathPrefix string `yaml:"path_prefix"`
	// Systems, MaxBodyBytes and MaxSmallBodyBytes: see vxp.Config.
	// Secrets come from secret_file (relative to the config file) or
	// secret_env, never from the file itself.
	vxp.Config `yaml:",inline"`
}

const defaultVXPPrefix = "/vxp"

func (s *vxpSection) enabled() bool { return len(s.Systems) > 0 }

func (s *vxpSection) prefix() string {
	if s.PathPrefix == "" {
		return defaultVXPPrefix
	}
	return s.PathPrefix
}

func (s *vxpSection) resolve(configFile string) {
	for i := range s.Systems {
		s.Systems[i].SecretFile = resolvePath(configFile, s.Systems[i].SecretFile)
	}
}

// resolved returns a copy of the section's vxp.Config with the secrets
// read from their files or the environment.
func (s *vxpSection) resolved() (vxp.Config, error) {
	c := s.Config
	c.Systems = slices.Clone(s.Systems)
	if err := c.ResolveSecrets(os.LookupEnv); err != nil {
		return vxp.Config{}, vxpConfigError(err)
	}
	return c, nil
}

// vxpConfigError names a vxp.ConfigError's field by its path in the edge
// config.
func vxpConfigError(err error) error {
	var ce *vxp.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("vxp.%s: %s", ce.Field, ce.Rule)
	}
	return fmt.Errorf("vxp: %w", err)
}

// reservedPaths are the edge's own endpoints, which the prefix must not
// shadow.
var reservedPaths = []string{"/v1", "/healthz", "/readyz", "/metrics"}

func (s *vxpSection) validate() []error {
	if !s.enabled() {
		if s.PathPrefix != "" || s.MaxBodyBytes != 0 || s.MaxSmallBodyBytes != 0 {
			return []error{errors.New("vxp.systems: at least one system is required to serve the VXP API (or remove the vxp section)")}
		}
		return nil
	}
	var errs []error
	p := s.prefix()
	switch {
	case !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/") || path.Clean(p) != p:
		errs = append(errs, fmt.Errorf("vxp.path_prefix: %q is not a path like /vxp (a leading /, no trailing /, no . or .. segments)", p))
	case strings.ContainsAny(p, "?#%{} \t"):
		errs = append(errs, fmt.Errorf("vxp.path_prefix: %q has a character not allowed in it", p))
	default:
		for _, r := range reservedPaths {
			if p == r || strings.HasPrefix(p, r+"/") {
				errs = append(errs, fmt.Errorf("vxp.path_prefix: %q is under the edge's own %s", p, r))
			}
		}
	}
	c, err := s.resolved()
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		errs = append(errs, vxpConfigError(err))
	}
	return errs
}

// startVXP mounts the VXP-compatible API on mux under its prefix, if
// configured. registerAgency and deleteAgency go to the axis through the
// edge API (signed with the seal key, with the sync token); an edge
// without axis.url refuses them.
func (n *edgeNode) startVXP(mux *http.ServeMux) error {
	s := &n.cfg.VXP
	if !s.enabled() {
		return nil
	}
	cfg, err := s.resolved()
	if err != nil {
		return err
	}
	var axis vxp.AxisDirectory
	if n.cfg.Axis.URL != "" {
		token, err := readToken(n.cfg.Axis.TokenFile, n.cfg.Axis.TokenEnv)
		if err != nil {
			return fmt.Errorf("axis token: %w", err)
		}
		signer, err := notesig.NewSigner(bus.EdgeNoteName(n.cfg.ID), n.seal.key)
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		axis = &directory.EdgeClient{URL: n.cfg.Axis.URL, Token: token, Edge: n.cfg.ID, Signer: signer}
	}
	log := n.log.With("component", "vxp")
	backend, err := vxp.NewEdgeBackend(vxp.EdgeBackendConfig{Edge: n.edge, Axis: axis, Logger: log})
	if err != nil {
		return err
	}
	h, err := vxp.NewHandler(cfg, backend, log)
	if err != nil {
		return vxpConfigError(err)
	}
	prefix := s.prefix()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	for _, sys := range cfg.Systems {
		for _, o := range sys.OrganIDs {
			if a, ok := n.dir.Agency(o); !ok || a.Edge != n.cfg.ID {
				log.Warn("edge: a VXP system acts for an agency this edge does not serve (now); it cannot send as it or receive for it here",
					"system_id", sys.ID, "organ_id", o)
			}
		}
	}
	n.log.Info("edge: serving the VXP API", "path", prefix, "systems", len(cfg.Systems), "axis", axis != nil)
	return nil
}
