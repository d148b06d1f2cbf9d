package main

// The central-office dashboard served by the axis (adapters/dashboard):
// its config section, its start, the demo admin of `truc dev`, and
// `truc dashboard-hash`, which makes the password hashes the section holds.

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"truc.vn/truc/adapters/dashboard"
)

// dashboardSection is the `dashboard:` section of the axis config. The
// dashboard is off when it lists no user.
type dashboardSection struct {
	// Users may sign in: name, role (admin or viewer) and the bcrypt hash
	// of the password (truc dashboard-hash prints one).
	Users []dashboard.User `yaml:"users,omitempty"`
	// SLA01: a recipient without status 01 this long after the axis
	// accepted the letter is overdue (default 24h; negative: none).
	SLA01 time.Duration `yaml:"sla_01,omitempty"`
	// SLA03: a recipient without 03 this long after acceptance is overdue,
	// for letters without a due date (default 72h; negative: none).
	SLA03 time.Duration `yaml:"sla_03,omitempty"`
	// SecureCookies marks the session cookie Secure on plain-HTTP
	// requests: set it when a TLS proxy serves the dashboard.
	SecureCookies bool `yaml:"secure_cookies,omitempty"`
	// SessionIdle and SessionMax bound a session (default 30m and 12h).
	SessionIdle time.Duration `yaml:"session_idle,omitempty"`
	SessionMax  time.Duration `yaml:"session_max,omitempty"`
	// Listen, when set, serves the dashboard on its own address (an
	// internal interface, say) instead of the axis listener.
	Listen string `yaml:"listen,omitempty"`
	// DB is the dashboard's file; default <data_dir>/dashboard.db.
	// Relative to the config file.
	DB string `yaml:"db,omitempty"`
}

func (s *dashboardSection) enabled() bool { return len(s.Users) > 0 }

func (s *dashboardSection) resolve(configFile string) { s.DB = resolvePath(configFile, s.DB) }

// validate checks the section; the field names are the YAML keys.
func (s *dashboardSection) validate() []error {
	if !s.enabled() {
		if s.Listen != "" || s.DB != "" || s.SLA01 != 0 || s.SLA03 != 0 {
			return []error{errors.New("dashboard.users: the dashboard section is set but lists no user who could sign in")}
		}
		return nil
	}
	var errs []error
	for _, err := range dashboard.ValidateUsers(s.Users) {
		errs = append(errs, fmt.Errorf("dashboard.%w", err))
	}
	if s.Listen != "" {
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			errs = append(errs, fmt.Errorf("dashboard.listen: host:port, got %q: %w", s.Listen, err))
		}
	}
	if s.SessionIdle < 0 || s.SessionMax < 0 {
		errs = append(errs, errors.New("dashboard.session_idle, session_max: must not be negative"))
	}
	return errs
}

// startDashboard prepares the dashboard of the axis config's `dashboard:`
// section (refusing a bad one): it mounts it on mux at /dashboard/ (or,
// with dashboard.listen, on its own listener), and returns run, which
// opens its file, indexes the log and serves until ctx is done, then
// closes the file. Until run has opened the file the pages answer 503; if
// the file cannot be opened run logs why and waits, so that a dashboard
// problem never stops the axis from routing. run returns an error only
// when dashboard.listen cannot be served. When the section lists no user
// the dashboard is off and run only waits for ctx.
func (n *axisNode) startDashboard(mux *http.ServeMux) (run func(context.Context) error, err error) {
	return n.startDashboardWith(n.dashboardConfig(), mux)
}

// dashboardConfig is the axis config's dashboard section. Wiring: once
// axisFile has its `Dashboard dashboardSection` field, the body is
// `return n.cfg.Dashboard`; until then the dashboard is off.
func (n *axisNode) dashboardConfig() dashboardSection { return n.cfg.Dashboard }

func (n *axisNode) startDashboardWith(sec dashboardSection, mux *http.ServeMux) (func(context.Context) error, error) {
	if !sec.enabled() {
		return func(ctx context.Context) error { <-ctx.Done(); return nil }, nil
	}
	if errs := sec.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	path := sec.DB
	if path == "" {
		path = filepath.Join(n.cfg.DataDir, "dashboard.db")
	}
	log := n.log.With("component", "dashboard")
	cfg := dashboard.Config{
		Path: path, Ledger: n.store.Ledger(), Directory: n.dir,
		SLA01: sec.SLA01, SLA03: sec.SLA03, Users: sec.Users, SecureCookies: sec.SecureCookies,
		SessionIdle: sec.SessionIdle, SessionMax: sec.SessionMax, Logger: log,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var current atomic.Pointer[http.Handler]
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := current.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "2")
		http.Error(w, "the dashboard is starting", http.StatusServiceUnavailable)
	})
	own := http.NewServeMux()
	own.Handle(dashboard.Prefix, front)
	if sec.Listen == "" {
		mux.Handle(dashboard.Prefix, front)
	}
	return func(ctx context.Context) error {
		d, err := dashboard.Open(cfg)
		if err != nil {
			// The axis keeps routing: the dashboard answers 503 and the
			// log says why.
			log.Error("dashboard: cannot open its file; the dashboard is off until the axis restarts", "path", path, "err", err)
			<-ctx.Done()
			return nil
		}
		h := d.Handler()
		current.Store(&h)
		log.Info("dashboard: serving", "path", path, "users", len(sec.Users), "indexed", d.State().Cursor, "log_size", d.State().LogSize)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var serveErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.Run(ctx) // retries its failures itself; returns when ctx is done
		}()
		if sec.Listen != "" {
			serveErr = serveHTTP(ctx, sec.Listen, own, log, func(a net.Addr) {
				log.Info("dashboard: listening", "addr", a.String())
			})
			if serveErr != nil {
				serveErr = fmt.Errorf("dashboard.listen: %w", serveErr)
			}
			cancel()
		}
		wg.Wait()
		current.Store(nil)
		return errors.Join(serveErr, d.Close())
	}, nil
}

// devDashboardPasswordFile is where `truc dev` writes the demo admin's
// password, relative to the data directory.
const devDashboardPasswordFile = "tokens/dashboard-admin.password"

// devDashboard returns the dashboard section of the demo axis: one admin,
// "admin", with a fresh random password written to
// devDashboardPasswordFile (0600) under dir.
func devDashboard(dir string) (dashboardSection, error) {
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), dashboard.MinBcryptCost)
	if err != nil {
		return dashboardSection{}, err
	}
	path := filepath.Join(dir, devDashboardPasswordFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return dashboardSection{}, err
	}
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return dashboardSection{}, err
	}
	return dashboardSection{Users: []dashboard.User{{Name: "admin", Role: dashboard.RoleAdmin, PasswordBcrypt: string(hash)}}}, nil
}

const dashboardHashSynopsis = "dashboard-hash [--cost N] < password"

const dashboardHashExplain = `Print the bcrypt hash of a dashboard password, for the password_bcrypt of
a user in the axis config's dashboard: section. The password is read from
the first line of standard input (never from the command line, where other
users could see it in the process list).

Example:
  printf '%s\n' 'a long passphrase' | truc dashboard-hash
  truc dashboard-hash --cost 12 < /run/secrets/dashboard-password

and in axis.yaml:
  dashboard:
    users:
      - name: nguyenvana
        role: admin          # or viewer
        password_bcrypt: "$2a$12$..."`

// runDashboardHash is `truc dashboard-hash`.
func runDashboardHash(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dashboardHash(args, os.Stdin, stdout, stderr)
}

func dashboardHash(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("dashboard-hash", dashboardHashSynopsis, dashboardHashExplain, stderr)
	cost := fs.Int("cost", 12, fmt.Sprintf("bcrypt cost, %d–%d", dashboard.MinBcryptCost, bcrypt.MaxCost))
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("dashboard-hash reads the password from standard input, not from arguments")
	}
	if *cost < dashboard.MinBcryptCost || *cost > bcrypt.MaxCost {
		return usageError(fmt.Sprintf("--cost: %d–%d, got %d", dashboard.MinBcryptCost, bcrypt.MaxCost, *cost))
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	switch {
	case len(password) < 12:
		return usageError("the password must have at least 12 bytes")
	case len(password) > 72:
		return usageError("the password must have at most 72 bytes (bcrypt ignores the rest)")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(hash))
	return nil
}
