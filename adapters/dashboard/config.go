package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/crypto/bcrypt"

	"truc.vn/truc/bus"
)

// Defaults applied to zero Config fields.
const (
	DefaultSLA01       = 24 * time.Hour
	DefaultSLA03       = 72 * time.Hour
	DefaultBatch       = 512
	DefaultPoll        = 250 * time.Millisecond
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
	DefaultLockTimeout = time.Second
	// MinBcryptCost is the lowest bcrypt cost a password hash may have.
	MinBcryptCost = bcrypt.DefaultCost
)

// Role is what a signed-in user may do.
type Role string

// Roles. Wire values (config files, the JSON API).
const (
	// RoleViewer sees every page and calls every read endpoint.
	RoleViewer Role = "viewer"
	// RoleAdmin also manages the dashboard's sign-in sessions (lists them
	// and signs them out). The dashboard has no other admin action yet.
	RoleAdmin Role = "admin"
)

// User is a central-office user who may sign in.
type User struct {
	// Name is the sign-in name: 1–64 bytes of [A-Za-z0-9._@-].
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	// PasswordBcrypt is the bcrypt hash of the password ($2a$, $2b$ or
	// $2y$, cost at least MinBcryptCost), as `truc dashboard-hash` or
	// `htpasswd -nBC 12 ""` print it.
	PasswordBcrypt string `yaml:"password_bcrypt"`
}

// Config is everything Open needs.
type Config struct {
	// Path is the dashboard's own bbolt file (dashboard.db next to the
	// axis store). Required. It holds only derived data: deleting it
	// makes the next Open rebuild it from the log.
	Path string
	// Ledger is the axis ledger; the dashboard tails its transparency log
	// and reads entries and packages from it. Required.
	Ledger bus.Ledger
	// Directory names agencies and edges and lists those without traffic.
	// Optional.
	Directory bus.Directory

	// SLA01: a recipient with no status 01 this long after the axis
	// accepted the letter is overdue (unless the letter's DueDate comes
	// first). Default DefaultSLA01; negative: no such deadline.
	SLA01 time.Duration
	// SLA03: a recipient with no status 03 (or later) this long after the
	// axis accepted the letter is overdue, for letters without a DueDate
	// (with one, the end of that day in Vietnam time is the deadline).
	// Default DefaultSLA03; negative: no such deadline. Deadlines are
	// fixed when a letter is indexed: a changed SLA applies to letters
	// indexed afterwards.
	SLA03 time.Duration

	// Batch is how many log leaves one transaction indexes. Default
	// DefaultBatch.
	Batch int
	// Poll is how often the indexer looks at the log when it has caught
	// up. Default DefaultPoll.
	Poll time.Duration

	// Users may sign in. At least one is required.
	Users []User
	// SecureCookies marks the cookies Secure even on plain-HTTP requests:
	// set it when a TLS proxy terminates HTTPS in front of the axis.
	// Cookies set over TLS are always Secure.
	SecureCookies bool
	// SessionIdle signs a session out after this long without a request;
	// default DefaultSessionIdle. SessionMax signs it out this long after
	// sign-in whatever happens; default DefaultSessionMax.
	SessionIdle time.Duration
	SessionMax  time.Duration

	// LockTimeout is how long Open waits for another process to release
	// the file. Default DefaultLockTimeout.
	LockTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational events; nil discards them. Passwords
	// and session tokens are never logged.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	setDefault(&c.SLA01, DefaultSLA01)
	setDefault(&c.SLA03, DefaultSLA03)
	setDefault(&c.Batch, DefaultBatch)
	setDefault(&c.Poll, DefaultPoll)
	setDefault(&c.SessionIdle, DefaultSessionIdle)
	setDefault(&c.SessionMax, DefaultSessionMax)
	setDefault(&c.LockTimeout, DefaultLockTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate checks the configuration after defaults and returns every
// problem found, each naming its field (the YAML key where there is one).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: the dashboard file is required"))
	}
	if c.Ledger == nil {
		errs = append(errs, errors.New("ledger: required"))
	}
	if c.Batch < 1 || c.Batch > 100_000 {
		errs = append(errs, fmt.Errorf("batch: 1–100000 leaves, got %d", c.Batch))
	}
	if c.Poll < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll: at least 10ms, got %s", c.Poll))
	}
	if c.SessionIdle < time.Minute || c.SessionMax < c.SessionIdle {
		errs = append(errs, fmt.Errorf("session_idle: at least 1m and at most session_max (%s), got %s", c.SessionMax, c.SessionIdle))
	}
	errs = append(errs, ValidateUsers(c.Users)...)
	return errors.Join(errs...)
}

// ValidateUsers checks a user list: at least one user, names valid and
// unique, known roles, bcrypt hashes of at least MinBcryptCost.
func ValidateUsers(users []User) []error {
	if len(users) == 0 {
		return []error{errors.New("users: at least one user is required to sign in")}
	}
	var errs []error
	seen := map[string]int{}
	for i, u := range users {
		field := fmt.Sprintf("users[%d]", i)
		if err := checkUserName(u.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", field, err))
		} else if j, dup := seen[u.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is also users[%d]", field, u.Name, j))
		}
		seen[u.Name] = i
		if u.Role != RoleViewer && u.Role != RoleAdmin {
			errs = append(errs, fmt.Errorf("%s.role: %q or %q, got %q", field, RoleViewer, RoleAdmin, u.Role))
		}
		cost, err := bcrypt.Cost([]byte(u.PasswordBcrypt))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s.password_bcrypt: not a bcrypt hash ($2a$/$2b$/$2y$): %w", field, err))
		case cost < MinBcryptCost:
			errs = append(errs, fmt.Errorf("%s.password_bcrypt: cost %d is below the minimum %d", field, cost, MinBcryptCost))
		}
	}
	return errs
}

func checkUserName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("1–64 bytes, got %d", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return fmt.Errorf("only [A-Za-z0-9._@-], got %q", name)
		}
	}
	return nil
}
